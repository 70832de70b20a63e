// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Counters and their output.
 *
 * The counters live in one struct.  With SPLICEMSG_STATS set that struct is a
 * shared mapping of /dev/shm/splicemsg-PID, so an operator's tool can read a
 * running server's counters; the JSON file is written at exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sm.h"

static struct sm_counters private_counters;
struct sm_counters *sm_stats = &private_counters;
static char live_path[64];
static int live_state;		/* 0 not yet, 1 tried */

static void counters_reset(struct sm_counters *c)
{
	memset(c, 0, sizeof(*c));
	c->magic = SM_STATS_MAGIC;
	c->version = SM_STATS_VERSION;
	c->pid = getpid();
}

/* Map the live counters file; on any failure keep the private struct. */
#define SM_LIVE_FLAGS (O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC)

static void live_open(void)
{
	struct sm_counters *c;
	int fd;

	snprintf(live_path, sizeof(live_path), "/dev/shm/splicemsg-%ld",
		 (long)getpid());
	/*
	 * /dev/shm is world-writable: never follow or reuse what is there.
	 * A file of a dead process that had our pid is removed first.
	 */
	fd = sm_real.open(live_path, SM_LIVE_FLAGS, 0644);
	if (fd < 0 && errno == EEXIST && !unlink(live_path))
		fd = sm_real.open(live_path, SM_LIVE_FLAGS, 0644);
	if (fd < 0)
		goto fail;
	if (sm_real.ftruncate(fd, sizeof(*c)) < 0) {
		sm_real.close(fd);
		unlink(live_path);
		goto fail;
	}
	c = mmap(NULL, sizeof(*c), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	sm_real.close(fd);
	if (c == MAP_FAILED) {
		unlink(live_path);
		goto fail;
	}
	/* Counts made before the first call was complete stay counted. */
	memcpy(c, &private_counters, sizeof(*c));
	__atomic_store_n(&sm_stats, c, __ATOMIC_RELEASE);
	return;
fail:
	sm_info("live counters unavailable: %s", strerror(errno));
	live_path[0] = 0;
}

void sm_stats_init(void)
{
	counters_reset(&private_counters);
	live_state = 0;
}

/*
 * Called by sm_sendfile: the live file appears with the first sendfile, so
 * the many processes that inherit LD_PRELOAD and never send a file (shells,
 * helpers) leave no trace.
 */
void sm_stats_go_live(void)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

	pthread_mutex_lock(&lock);
	if (!live_state && sm_opt.STATS && *sm_opt.STATS)
		live_open();
	__atomic_store_n(&live_state, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&lock);
}

bool sm_stats_live_pending(void)
{
	return !__atomic_load_n(&live_state, __ATOMIC_ACQUIRE);
}

/* A process that neither sent a file nor held a byte writes no file. */
static bool counters_empty(const struct sm_counters *c)
{
	int i;

	for (i = 0; i < SM_PATH_MAX; i++)
		if (c->calls[i])
			return false;
	return !c->hold_writes;
}

void sm_stats_after_fork(void)
{
	/* The child counts its own calls: a fresh file, not the parent's. */
	if (sm_stats != &private_counters)
		munmap(sm_stats, sizeof(*sm_stats));
	sm_stats = &private_counters;
	live_path[0] = 0;
	sm_stats_init();
}

/* Returns the length the JSON needs (like snprintf). */
int sm_stats_json(char *buf, size_t len)
{
	return sm_counters_json(buf, len, sm_stats, (long)getpid(),
				program_invocation_short_name,
				sm_options_word("ENGINE", sm_opt.ENGINE), NULL);
}

static void live_close(void)
{
	/* A forked child's inherited view is not its file to remove. */
	if (live_path[0] && sm_stats->pid == (uint64_t)getpid())
		unlink(live_path);
	live_path[0] = 0;
}

void sm_stats_write(void)
{
	char path[4096], json[4096];
	int fd, n;

	/* A vfork child shares these counters: they are not its to write. */
	if (sm_stats->pid != (uint64_t)getpid())
		return;
	live_close();
	if (!sm_opt.STATS || !*sm_opt.STATS || counters_empty(sm_stats))
		return;
	n = sm_stats_json(json, sizeof(json));
	if (n >= (int)sizeof(json))
		n = sizeof(json) - 1;
	if (!strcmp(sm_opt.STATS, "stderr")) {
		fd = 2;
	} else {
		if (sm_expand_path(path, sizeof(path), sm_opt.STATS,
				   getpid())) {
			sm_warn("SPLICEMSG_STATS path too long");
			return;
		}
		/* Write a temp file and rename: a reader never sees half. */
		strcat(path, ".tmp");
		fd = sm_real.open(path,
				  O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
				  0644);
		if (fd < 0) {
			sm_warn("cannot write stats to %s: %s", path,
				strerror(errno));
			return;
		}
	}
	if (sm_real.write(fd, json, n) != n)
		sm_warn("short write of stats");
	if (fd != 2) {
		char final[4096];

		sm_real.close(fd);
		snprintf(final, sizeof(final), "%.*s", (int)strlen(path) - 4,
			 path);
		if (rename(path, final) < 0)
			sm_warn("cannot rename stats file: %s",
				strerror(errno));
	}
}
