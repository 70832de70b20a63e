// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Counters and their output.
 *
 * The counters live in one struct.  With SPLICEMSG_STATS set that struct is a
 * shared mapping of /dev/shm/splicemsg-PID, so an operator's tool can read a
 * running server's counters; the JSON file is written at exit.
 *
 * Both files are reached through directory descriptors opened at start, so
 * that a forked child (another pid) finds the same directories whatever
 * its working directory.  They are also a way out of a chroot (fchdir and
 * "..", openat): chroot(2) closes them first (sm_stats_before_chroot), and
 * keeps what the process needs of them: its live file, made then if not
 * yet, and its exit file, opened then.  A regular file's descriptor leads
 * nowhere.  What a chrooted process cannot do any more is documented in
 * docs/semantics.md ("Chroot"): unlink its live file at exit (left for
 * splicemsg-stat --gc), and give a child forked after the chroot any file.
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
/*
 * Set at chroot(2) when the directories were closed, and kept in a forked
 * child: no path the process knows names the files any more.
 */
static bool dirs_closed;
/* The exit JSON opened at chroot (the shim's own), and whose it is. */
static int exit_fd = -1;
static pid_t exit_pid;
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;

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
	int cs;

	/* inside the application's sendfile(2), no cancellation point: its
	 * files are opened with cancellation off (sm.h, sm_sys_sendmsg()) */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
	pthread_mutex_lock(&live_lock);
	if (!live_state && sm_opt.STATS && *sm_opt.STATS)
		live_open();
	__atomic_store_n(&live_state, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&live_lock);
	pthread_setcancelstate(cs, NULL);
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
	int fd = exit_fd;

	/* The child counts its own calls: a fresh file, not the parent's. */
	if (sm_stats != &private_counters)
		munmap(sm_stats, sizeof(*sm_stats));
	sm_stats = &private_counters;
	live_name[0] = 0;
	counters_reset(&private_counters);
	live_state = 0;
	pthread_mutex_init(&live_lock, NULL);
	/* The parent's exit file: its own to write, never the child's. */
	exit_fd = -1;
	if (fd >= 0) {
		sm_fd_disown(fd);
		sm_real.close(fd);
	}
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
	/*
	 * A forked child's inherited view is not its file to remove.  After
	 * a chroot no path reaches it: left for splicemsg-stat --gc.
	 */
	if (live_name[0] && shm_dir >= 0 &&
	    sm_stats->pid == (uint64_t)getpid())
		unlinkat(shm_dir, live_name, 0);
	live_name[0] = 0;
}

/*
 * SPLICEMSG_STATS for this pid: the directory to open it from (stats_dir,
 * else the working directory) and the name there.  -ENAMETOOLONG.
 */
static int exit_name(char *path, size_t len, int *dir, const char **name)
{
	if (sm_expand_path(path, len, sm_opt.STATS, getpid()))
		return -ENAMETOOLONG;
	*dir = __atomic_load_n(&stats_dir, __ATOMIC_RELAXED);
	*name = path;
	if (*dir >= 0)
		*name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	else
		*dir = AT_FDCWD;
	return 0;
}

static void dir_close(int *dir)
{
	int fd = *dir;

	*dir = -1;
	if (fd >= 0) {
		sm_fd_disown(fd);
		sm_real.close(fd);
	}
}

/*
 * Just before chroot(2), whether it then succeeds or not: a process that
 * kept a directory outside could leave the chroot through it, and vsftpd
 * chroots its sessions as a security boundary.  What the statistics need
 * is taken first, while the directories may still be used: the live file
 * (made now if the first sendfile has not come yet) and the exit file,
 * opened now and written at exit.  Both are regular files.
 */
void sm_stats_before_chroot(void)
{
	char path[4096];
	const char *name;
	int dir, fd;

	if (!sm_active() || !sm_opt.STATS || !*sm_opt.STATS || dirs_closed)
		return;
	/* A vfork child shares our memory, not our descriptor table. */
	if (private_counters.pid != (uint64_t)getpid())
		return;
	sm_stats_go_live();
	pthread_mutex_lock(&live_lock);
	if (exit_fd < 0 && strcmp(sm_opt.STATS, "stderr")) {
		if (exit_name(path, sizeof(path), &dir, &name)) {
			sm_warn("SPLICEMSG_STATS path too long");
		} else {
			/* Not truncated: a reader sees the last JSON there
			 * until ours replaces it at exit. */
			fd = sm_real.openat(dir, name, O_WRONLY | O_CREAT |
					    O_NOFOLLOW | O_CLOEXEC, 0644);
			if (fd >= 0) {
				exit_pid = getpid();
				sm_fd_adopt(fd, &exit_fd, NULL);
			} else {
				sm_warn("cannot open stats file %s: %s", path,
					strerror(errno));
			}
		}
	}
	dir_close(&shm_dir);
	dir_close(&stats_dir);
	dirs_closed = true;
	pthread_mutex_unlock(&live_lock);
}

int sm_chroot(const char *path)
{
	sm_stats_before_chroot();
	return sm_real.chroot(path) < 0 ? -errno : 0;
}

/*
 * The exit file opened at chroot.  The temporary file and rename that
 * make the other exit files appear whole are impossible here: no
 * directory outside the chroot is left to make them in.  Emptied, then
 * one pwrite: a reader may find it empty (or racing that pwrite, short),
 * never the JSON mixed with an older, longer one's tail.
 */
static void exit_fd_write(const char *json, int n)
{
	int fd = exit_fd;

	exit_fd = -1;
	if (sm_real.ftruncate(fd, 0) < 0 ||
	    sm_real.pwrite(fd, json, n, 0) != n)
		sm_warn("cannot write stats: %s", strerror(errno));
	sm_fd_disown(fd);
	sm_real.close(fd);
}

void sm_stats_write(void)
{
	char path[4096], tmp[4096 + 4], json[4096];
	const char *name;
	int dir, fd, n;
	bool held;

	/* A vfork child shares these counters: they are not its to write. */
	if (sm_stats->pid != (uint64_t)getpid())
		return;
	live_close();
	/*
	 * A process that called chroot(2) with statistics on always leaves
	 * its exit file, zero counters included: it was made at the chroot.
	 */
	held = exit_fd >= 0 && exit_pid == getpid();
	if (!sm_opt.STATS || !*sm_opt.STATS ||
	    (!held && counters_empty(sm_stats)))
		return;
	n = sm_stats_json(json, sizeof(json));
	if (n >= (int)sizeof(json))
		n = sizeof(json) - 1;
	if (!strcmp(sm_opt.STATS, "stderr")) {
		if (sm_real.write(2, json, n) != n)
			sm_warn("short write of stats");
		return;
	}
	if (held) {
		exit_fd_write(json, n);
		return;
	}
	/* Forked after a chroot: no path leads to the stats directory. */
	if (dirs_closed)
		return;
	if (exit_name(path, sizeof(path), &dir, &name)) {
		sm_warn("SPLICEMSG_STATS path too long");
		return;
	}
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
