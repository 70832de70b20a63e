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

const char *const sm_sock_names[SM_SOCK_MAX] = { "tcp", "unix", "other" };

const char *const sm_path_names[SM_PATH_MAX] = {
	[SM_PATH_NATIVE] = "native",
	[SM_PATH_URING_ZC] = "uring_zc",
	[SM_PATH_URING_COPY] = "uring_copy",
	[SM_PATH_KMOD] = "kmod",
	[SM_PATH_SENDMSG] = "sendmsg",
};

const char *const sm_fallback_names[SM_FB_MAX] = {
#define SM_FB(key, doc) [SM_FB_##key] = #key,
#include "stats.def"
#undef SM_FB
};

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
 * Called by each interposed call: the live file appears with the first
 * one, so the many processes that inherit LD_PRELOAD and never send a file
 * (shells, helpers) leave no trace.
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

static int put(char *buf, size_t len, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int put(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + (*off < len ? *off : len),
		      *off < len ? len - *off : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off += n;
	return n;
}

static void put_map(char *buf, size_t len, size_t *off, const char *name,
		    const char *const *keys, const uint64_t *vals, int n)
{
	int i;

	put(buf, len, off, "\"%s\":{", name);
	for (i = 0; i < n; i++)
		put(buf, len, off, "%s\"%s\":%llu", i ? "," : "", keys[i],
		    (unsigned long long)__atomic_load_n(&vals[i],
							__ATOMIC_RELAXED));
	put(buf, len, off, "}");
}

/* A JSON string's contents: a program may be called anything. */
static void put_escaped(char *buf, size_t len, size_t *off, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			put(buf, len, off, "\\%c", ch);
		else if (ch < 0x20)
			put(buf, len, off, "\\u%04x", ch);
		else
			put(buf, len, off, "%c", ch);
	}
}

/* Returns the length the JSON needs (like snprintf). */
int sm_stats_json(char *buf, size_t len)
{
	static const char *const engines[] = { "auto", "uring", "native",
					       "kmod" };
	const struct sm_counters *c = sm_stats;
	size_t off = 0;

	put(buf, len, &off, "{\"version\":%d,\"pid\":%ld,\"program\":\"",
	    SM_STATS_VERSION, (long)getpid());
	put_escaped(buf, len, &off, program_invocation_short_name);
	put(buf, len, &off, "\",\"engine\":\"%s\",", engines[sm_opt.ENGINE]);
	put_map(buf, len, &off, "calls_by_path", sm_path_names, c->calls,
		SM_PATH_MAX);
	put(buf, len, &off, ",");
	put_map(buf, len, &off, "bytes_by_path", sm_path_names, c->bytes,
		SM_PATH_MAX);
	put(buf, len, &off, ",");
	put_map(buf, len, &off, "fallbacks", sm_fallback_names, c->fallbacks,
		SM_FB_MAX);
	put(buf, len, &off, ",");
	put_map(buf, len, &off, "calls_by_socket", sm_sock_names,
		c->calls_by_socket, SM_SOCK_MAX);
	put(buf, len, &off, ",\"zc_notifications\":%llu,\"zc_copied\":%llu,"
	    "\"coalesced\":%llu,\"hold_writes\":%llu,"
	    "\"hold_flushed\":%llu}\n",
	    (unsigned long long)c->zc_notifications,
	    (unsigned long long)c->zc_copied,
	    (unsigned long long)c->coalesced,
	    (unsigned long long)c->hold_writes,
	    (unsigned long long)c->hold_flushed);
	return (int)off;
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
