// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Counters and their output.
 *
 * The counters live in one struct.  With SPLICEMSG_STATS set that struct is a
 * shared mapping of /dev/shm/splicemsg-PID, so an operator's tool can read a
 * running server's counters; the JSON file is written at exit.
 *
 * Both files are reached through directory descriptors opened at start:
 * a server may chroot before its first sendfile (vsftpd), and must still
 * make its live file and write its counters at exit, from inside the
 * chroot.  A forked child has another pid but the same directories, so
 * the descriptors serve it too.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "sm.h"

#define SHM_DIR "/dev/shm"

static struct sm_counters private_counters;
struct sm_counters *sm_stats = &private_counters;
static char live_name[32];	/* splicemsg-PID in shm_dir, or "" */
static int live_state;		/* 0 not yet, 1 tried */
/* O_PATH descriptors (the shim's own, fdstate.c), or -1. */
static int shm_dir = -1;
static int stats_dir = -1;	/* SPLICEMSG_STATS's directory */

static void counters_reset(struct sm_counters *c)
{
	memset(c, 0, sizeof(*c));
	c->magic = SM_STATS_MAGIC;
	c->version = SM_STATS_VERSION;
	c->pid = getpid();
	snprintf(c->program, sizeof(c->program), "%s", sm_program);
}

/* Map the live counters file; on any failure keep the private struct. */
#define SM_LIVE_FLAGS (O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC)

static void live_open(void)
{
	struct sm_counters *c;
	struct timespec now;
	int fd;

	if (shm_dir < 0)
		return;
	snprintf(live_name, sizeof(live_name), "splicemsg-%ld",
		 (long)getpid());
	/*
	 * /dev/shm is world-writable: never follow or reuse what is there.
	 * A file of a dead process that had our pid is removed first.
	 */
	fd = sm_real.openat(shm_dir, live_name, SM_LIVE_FLAGS, 0644);
	if (fd < 0 && errno == EEXIST && !unlinkat(shm_dir, live_name, 0))
		fd = sm_real.openat(shm_dir, live_name, SM_LIVE_FLAGS, 0644);
	if (fd < 0)
		goto fail;
	if (sm_real.ftruncate(fd, sizeof(*c)) < 0) {
		sm_real.close(fd);
		unlinkat(shm_dir, live_name, 0);
		goto fail;
	}
	c = mmap(NULL, sizeof(*c), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	sm_real.close(fd);
	if (c == MAP_FAILED) {
		unlinkat(shm_dir, live_name, 0);
		goto fail;
	}
	/* Counts made before the first call was complete stay counted. */
	private_counters.created_ns = 0;
	if (!clock_gettime(CLOCK_BOOTTIME, &now))
		private_counters.created_ns =
			now.tv_sec * 1000000000ULL + now.tv_nsec;
	memcpy(c, &private_counters, sizeof(*c));
	__atomic_store_n(&sm_stats, c, __ATOMIC_RELEASE);
	return;
fail:
	sm_info("live counters unavailable: %s", strerror(errno));
	live_name[0] = 0;
}

/*
 * The directory of the file SPLICEMSG_STATS names, opened now (a relative
 * one from the start directory).  One whose name holds a % differs by pid:
 * found at exit, by its path.
 */
static void stats_dir_open(void)
{
	const char *slash = strrchr(sm_opt.STATS, '/');
	char dir[4096];
	int fd;

	if (!strcmp(sm_opt.STATS, "stderr"))
		return;
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == sm_opt.STATS)
		snprintf(dir, sizeof(dir), "/");
	else if (snprintf(dir, sizeof(dir), "%.*s",
			  (int)(slash - sm_opt.STATS), sm_opt.STATS) >=
		 (int)sizeof(dir))
		return;
	if (strchr(dir, '%'))
		return;
	fd = sm_real.open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		sm_info("stats directory %s: %s", dir, strerror(errno));
		return;
	}
	sm_fd_adopt(fd, &stats_dir, NULL);
}

void sm_stats_init(void)
{
	int fd;

	counters_reset(&private_counters);
	live_state = 0;
	if (!sm_opt.STATS || !*sm_opt.STATS)
		return;
	fd = sm_real.open(SHM_DIR, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		sm_fd_adopt(fd, &shm_dir, NULL);
	else
		sm_info("live counters unavailable: " SHM_DIR ": %s",
			strerror(errno));
	stats_dir_open();
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
	live_name[0] = 0;
	counters_reset(&private_counters);
	live_state = 0;
}

/* Returns the length the JSON needs (like snprintf). */
int sm_stats_json(char *buf, size_t len)
{
	return sm_counters_json(buf, len, sm_stats, (long)getpid(),
				sm_program,
				sm_options_word("ENGINE", sm_opt.ENGINE), NULL);
}

static void live_close(void)
{
	/* A forked child's inherited view is not its file to remove. */
	if (live_name[0] && sm_stats->pid == (uint64_t)getpid())
		unlinkat(shm_dir, live_name, 0);
	live_name[0] = 0;
}

void sm_stats_write(void)
{
	char path[4096], tmp[4096 + 4], json[4096];
	const char *name;
	int dir, fd, n;

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
		if (sm_real.write(2, json, n) != n)
			sm_warn("short write of stats");
		return;
	}
	if (sm_expand_path(path, sizeof(path), sm_opt.STATS, getpid())) {
		sm_warn("SPLICEMSG_STATS path too long");
		return;
	}
	/* Through the directory opened at start, if it was (chroot). */
	dir = __atomic_load_n(&stats_dir, __ATOMIC_RELAXED);
	name = path;
	if (dir >= 0)
		name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	else
		dir = AT_FDCWD;
	/* Write a temp file and rename: a reader never sees half. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	fd = sm_real.openat(dir, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
			    0644);
	if (fd < 0) {
		sm_warn("cannot write stats to %s.tmp: %s", path,
			strerror(errno));
		return;
	}
	if (sm_real.write(fd, json, n) != n)
		sm_warn("short write of stats");
	sm_real.close(fd);
	if (renameat(dir, tmp, dir, name) < 0)
		sm_warn("cannot rename stats file: %s", strerror(errno));
}
