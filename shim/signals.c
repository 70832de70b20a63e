// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Reading the application's memory without trusting it, and the signals
 * that takes.
 *
 * The kernel answers a bad pointer with EFAULT; a copy of ours would die
 * of SIGSEGV.  sm_copy_in() and sm_copy_out() copy under a SIGSEGV/SIGBUS
 * handler that turns a fault inside them into -EFAULT, with no system call
 * on the way: held headers exist to save system calls, and checking each
 * write with process_vm_readv() would add one back per response.
 *
 * Every other fault belongs to the application.  Once the handler is in
 * (lazily, at the first copy), the shim keeps the application's own action
 * for SIGSEGV and SIGBUS: the sigaction family reads and writes that one,
 * and a fault outside our copies goes to it exactly as the kernel would
 * have delivered it -- its handler with its mask and flags, or the default
 * action (a core dump), or, for a fault, the kernel's refusal to ignore it.
 * Actions set through raw syscalls are not seen (docs/semantics.md, Known
 * differences).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "sm.h"

static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t act_lock = PTHREAD_MUTEX_INITIALIZER;
static bool installed;
/* The application's view of SIGSEGV's and SIGBUS's actions. */
static struct sigaction app_act[2];

/* The copy in progress on this thread, if any. */
static SM_TLS sigjmp_buf *copy_env;

static int slot(int sig)
{
	return sig == SIGSEGV ? 0 : sig == SIGBUS ? 1 : -1;
}

void sm_raise(int sig)
{
	sm_real.syscall(SYS_tgkill, getpid(), gettid(), sig);
}

/* The kernel's delivery, for a fault that is not ours. */
static void deliver(int sig, siginfo_t *si, void *uc)
{
	struct sigaction a = app_act[slot(sig)], dfl = { 0 };
	bool fault = si->si_code > 0;	/* sent by the kernel, not kill() */

	if (a.sa_handler == SIG_IGN && !fault)
		return;
	if (a.sa_handler == SIG_DFL || a.sa_handler == SIG_IGN) {
		/*
		 * The default action: the instruction faults again once we
		 * return and kills the process as it would have; a kill()
		 * is sent again, pending until our handler returns.  A fault
		 * cannot be ignored: the kernel forces the default there too.
		 */
		dfl.sa_handler = SIG_DFL;
		sm_real.sigaction(sig, &dfl, NULL);
		if (!fault)
			sm_raise(sig);
		return;
	}
	if (a.sa_flags & SA_RESETHAND)
		app_act[slot(sig)].sa_handler = SIG_DFL;
	if (a.sa_flags & SA_SIGINFO)
		a.sa_sigaction(sig, si, uc);
	else
		a.sa_handler(sig);
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	sigjmp_buf *env = copy_env;

	if (env && si->si_code > 0) {
		/* Ours: back out of the copy with the mask of its caller. */
		copy_env = NULL;
		pthread_sigmask(SIG_SETMASK,
				&((ucontext_t *)uc)->uc_sigmask, NULL);
		siglongjmp(*env, 1);
	}
	deliver(sig, si, uc);
}

/* Our handler, with the application's mask and flags for its own. */
static void set_ours(int sig, const struct sigaction *app)
{
	struct sigaction sa = { 0 };

	sa.sa_sigaction = on_fault;
	sa.sa_mask = app->sa_mask;
	sa.sa_flags = SA_SIGINFO |
		      (app->sa_flags & (SA_ONSTACK | SA_NODEFER | SA_RESTART));
	sm_real.sigaction(sig, &sa, NULL);
}

static void install(void)
{
	int i;

	pthread_mutex_lock(&act_lock);
	for (i = 0; i < 2; i++) {	/* slot(): 0 SIGSEGV, 1 SIGBUS */
		int sig = i ? SIGBUS : SIGSEGV;

		sm_real.sigaction(sig, NULL, &app_act[i]);
		set_ours(sig, &app_act[i]);
	}
	__atomic_store_n(&installed, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&act_lock);
}

/* A word at any alignment (held headers start anywhere). */
typedef uint64_t sm_word __attribute__((may_alias, aligned(1)));

/*
 * The copy itself: never the libc memcpy, which a sanitizer intercepts and
 * checks before touching the memory (it would report where the kernel
 * answers EFAULT), and which the compiler must not turn this loop into.
 * A word at a time: byte by byte, a 250-byte header cost more instructions
 * than all the rest of a coalesced response (callgrind, docs/bench.md).
 * The accesses stay volatile, so that every one of them happens between
 * guarded_copy()'s fences and none is merged into a library call.
 */
__attribute__((no_sanitize("address", "undefined"),
	       optimize("no-tree-loop-distribute-patterns")))
static void copy_bytes(volatile char *d, const volatile char *s, size_t n)
{
	for (; n >= sizeof(sm_word); n -= sizeof(sm_word)) {
		*(volatile sm_word *)d = *(const volatile sm_word *)s;
		d += sizeof(sm_word);
		s += sizeof(sm_word);
	}
	while (n--)
		*d++ = *s++;
}

static int guarded_copy(void *dst, const void *src, size_t n)
{
	sigjmp_buf env;

	if (!n)
		return 0;
	/* once installed, no call into libc to learn it */
	if (sm_unlikely(!__atomic_load_n(&installed, __ATOMIC_ACQUIRE)))
		pthread_once(&install_once, install);
	if (sigsetjmp(env, 0))
		return -EFAULT;
	copy_env = &env;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	copy_bytes(dst, src, n);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	copy_env = NULL;
	return 0;
}

int sm_copy_in(void *dst, const void *app_src, size_t n)
{
	return guarded_copy(dst, app_src, n);
}

int sm_copy_out(void *app_dst, const void *src, size_t n)
{
	return guarded_copy(app_dst, src, n);
}

/* ---- the application's view of the sigaction family ------------------ */

int sm_sig_action(int sig, struct sigaction *old)
{
	if (slot(sig) < 0 || !__atomic_load_n(&installed, __ATOMIC_ACQUIRE))
		return sm_real.sigaction(sig, NULL, old) < 0 ? -errno : 0;
	pthread_mutex_lock(&act_lock);
	*old = app_act[slot(sig)];
	pthread_mutex_unlock(&act_lock);
	return 0;
}

bool sm_sigaction(int sig, const struct sigaction *act,
		  struct sigaction *old, int *res)
{
	struct sigaction a, prev;

	if (slot(sig) < 0 || !__atomic_load_n(&installed, __ATOMIC_ACQUIRE))
		return false;
	/* the kernel reads and writes these: EFAULT, not SIGSEGV */
	if (act && sm_copy_in(&a, act, sizeof(a))) {
		*res = -EFAULT;
		return true;
	}
	pthread_mutex_lock(&act_lock);
	prev = app_act[slot(sig)];
	if (act) {
		app_act[slot(sig)] = a;
		set_ours(sig, &a);
	}
	pthread_mutex_unlock(&act_lock);
	*res = old && sm_copy_out(old, &prev, sizeof(prev)) ? -EFAULT : 0;
	return true;
}

bool sm_signal(int sig, sighandler_t handler, int flags, sighandler_t *old)
{
	struct sigaction a = { .sa_handler = handler, .sa_flags = flags }, o;
	int res;

	sigemptyset(&a.sa_mask);
	if (!(flags & SA_NODEFER))
		sigaddset(&a.sa_mask, sig);
	if (!sm_sigaction(sig, &a, &o, &res))
		return false;
	*old = o.sa_handler;
	return true;
}
