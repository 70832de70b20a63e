// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Start-up, fork and exit.
 *
 * The configuration is read once, in the constructor, while the environment
 * is still the one the program was started with (nginx rebuilds it for its
 * workers).  A wrapper called before our constructor, from another
 * library's, initialises on the spot.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm.h"

char sm_program[SM_PROGRAM_MAX];
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static bool active;
static bool sandboxed;
int sm_live;

bool sm_sandboxed(void)
{
	return __atomic_load_n(&sandboxed, __ATOMIC_RELAXED);
}

void sm_sandbox(void)
{
	if (__atomic_exchange_n(&sandboxed, true, __ATOMIC_SEQ_CST))
		return;
	__atomic_store_n(&sm_live, SM_LIVE_OFF, __ATOMIC_RELEASE);
	sm_hold_sandbox();
}

/*
 * A fork: what is held goes first (both processes would send it), a cork
 * recorded lazily is applied (both may read or change it), and every
 * socket that exists now may be written by both (hold.c).  Also
 * called around a raw clone(2) that copies the address space (syscall.c),
 * which runs no pthread_atfork handler.
 */
void sm_fork_prepare(void)
{
	if (!active || sm_sandboxed())
		return;
	sm_hold_before_fork();
	sm_rings_prepare_fork();
}

void sm_fork_parent(void)
{
	if (!active || sm_sandboxed())
		return;
	sm_rings_parent_fork();
	sm_fd_forked();
}

void sm_fork_child(void)
{
	if (!active || sm_sandboxed())
		return;
	sm_fd_after_fork();
	sm_hold_after_fork();
	sm_fd_forked();
	sm_rings_after_fork();
	sm_sendfile_after_fork();
	sm_stats_after_fork();
}

static void sm_init(void)
{
	int saved = errno, unknown = SM_LIVE_UNKNOWN;

	sm_real_resolve();
	/* Before main(): nginx later writes its process title over argv. */
	snprintf(sm_program, sizeof(sm_program), "%s",
		 program_invocation_short_name);
	sm_options_load(&sm_opt);
	active = sm_options_selects(&sm_opt, sm_program);
	if (active) {
		sm_stats_init();
		pthread_atfork(sm_fork_prepare, sm_fork_parent,
			       sm_fork_child);
		sm_debug("active in %s: engine %d, zc %d, zc_min %llu",
			 sm_program, sm_opt.ENGINE,
			 sm_opt.ZC, (unsigned long long)sm_opt.ZC_MIN);
	}
	/* a sandbox that came meanwhile has the last word */
	__atomic_compare_exchange_n(&sm_live, &unknown,
				    active ? SM_LIVE_ON : SM_LIVE_OFF, false,
				    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
	errno = saved;
}

bool sm_active_slow(void)
{
	pthread_once(&init_once, sm_init);
	return active && !sm_sandboxed();
}

__attribute__((constructor)) static void sm_constructor(void)
{
	sm_active();
}

/*
 * _exit and _Exit skip the destructor: what is held still goes (the kernel
 * would send a corked socket's bytes at close) and the counters are written,
 * so a program that leaves this way (rsync's children) keeps neither bytes
 * nor a live file behind.
 */
void sm_exit_fast(void)
{
	sm_hold_flush_all();
	if (active && !sm_sandboxed())
		sm_stats_write();
}

__attribute__((destructor)) static void sm_destructor(void)
{
	if (!active || sm_sandboxed())
		return;
	sm_hold_flush_all();
	sm_rings_exit();
	sm_stats_write();
}
