/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers for the byte-stream regression sender: deterministic test files,
 * loopback connections, a receiver thread that hashes what it gets, and a
 * sendfile() wrapper that prints one transcript line per call.
 *
 * Nothing here calls sendfile on its own: only the scenarios do, through
 * t_call(), so every interposed call is visible in the transcript.
 */
#ifndef T_STREAM_H
#define T_STREAM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define T_EXIT_PASS 0
#define T_EXIT_FAIL 1
#define T_EXIT_SKIP 77
#define T_EXIT_ERROR 99

#define T_KIB 1024UL
#define T_MIB (1024UL * 1024UL)

/* An offset pointer the kernel cannot read: sendfile must fail EFAULT. */
#define T_BAD_OFFP ((off_t *)8)

/* Harness failure (not a shim failure): print and exit 99. */
void t_die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
						 noreturn));
#define t_check(cond)							\
	do {								\
		if (!(cond))						\
			t_die("%s:%d: %s failed (errno %d)", __FILE__,	\
			      __LINE__, #cond, errno);			\
	} while (0)

/* ---- hashing: FNV-1a 64 over the byte stream --------------------------- */
#define T_FNV_INIT 0xcbf29ce484222325ULL

struct t_digest {
	uint64_t bytes;
	uint64_t hash;
};

void t_digest_init(struct t_digest *d);
void t_digest_add(struct t_digest *d, const void *buf, size_t len);
bool t_digest_equal(const struct t_digest *a, const struct t_digest *b);

/* ---- the process: temp dir, timeouts, accounting for the driver ------- */
void t_setup(unsigned int timeout_sec, const char *meta_pattern);
/* In a forked child: own alarm, own counters, never remove the temp dir. */
void t_after_fork_child(void);
const char *t_tmpdir(void);
/* How the driver may compare the shim's byte counters with ours. */
void t_meta_set(const char *key, const char *value);

/* ---- test files ------------------------------------------------------- */
struct t_file {
	char path[4096];
	int fd;			/* O_RDONLY */
	size_t size;
	unsigned char *data;	/* the content as written */
};

/* Create @name in the temp dir with @size pseudo-random bytes from @seed. */
void t_file_create(struct t_file *f, const char *name, size_t size,
		   uint64_t seed);
void t_file_close(struct t_file *f);
void t_fill(unsigned char *buf, size_t len, uint64_t seed);

/* ---- loopback TCP ----------------------------------------------------- */
struct t_conn_opts {
	int family;		/* AF_INET or AF_INET6 */
	int sndbuf;		/* 0: leave the kernel's default */
	int rcvbuf;
	bool nonblock;		/* the sending socket */
	bool accepted;		/* it is the accepted end (as a server's) */
};

/* 0, or -errno when the address family is unavailable (skip). */
int t_tcp_pair(const struct t_conn_opts *o, int *sender, int *receiver);
bool t_family_available(int family);
const char *t_family_name(int family);

/* ---- receiver thread: only recv(), never sendfile --------------------- */
struct t_rx {
	int fd;
	size_t chunk;		/* recv() size */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool paused;
	struct t_digest got;
	uint64_t progress;	/* got.bytes, for other threads (atomic) */
	int err;		/* errno of the recv that ended it, 0 on EOF */
	/* Optional: compare with this buffer as bytes arrive. */
	const unsigned char *ref;
	size_t ref_len;
	/* From here on a byte may also read as zero: sendfile queues page
	 * cache pages, and truncation zeroes the rest of the EOF folio. */
	size_t ref_zero_from;
	bool ref_prefix;	/* every byte so far matched ref */
};

void t_rx_start(struct t_rx *rx, int fd, bool paused);
void t_rx_resume(struct t_rx *rx);
/* Wait for EOF (or error), close the fd. */
void t_rx_join(struct t_rx *rx);

/* Wait until the receiver has consumed @bytes in all. */
void t_rx_wait_for(struct t_rx *rx, uint64_t bytes);

/* Wait until the kernel stops taking bytes from @fd (reader paused). */
void t_wait_stalled(int fd);

/* ---- the call under test ---------------------------------------------- */
enum t_api { T_SENDFILE, T_SENDFILE64 };

struct t_call {
	enum t_api api;
	int out_fd;
	int in_fd;
	off_t *offp;		/* NULL, a real pointer or T_BAD_OFFP */
	bool offp_bad;		/* offp is not readable (not T_BAD_OFFP) */
	size_t count;
	/* results */
	ssize_t ret;
	int err;		/* errno when ret < 0, else 0 */
	off_t off_after;	/* *offp after the call, if readable */
	off_t pos_after;	/* lseek(in_fd, 0, SEEK_CUR) */
	int pos_err;
};

/* Perform the call (nothing else in between), then read off/pos. */
void t_call(struct t_call *c);
/* One transcript line: "label: api(out, in, off, count) = ret ..." */
void t_call_print(FILE *out, const char *label, const char *out_name,
		  const char *in_name, off_t off_before,
		  const struct t_call *c);
/* t_call() and t_call_print() for the common case. */
ssize_t t_send(FILE *out, const char *label, enum t_api api, int out_fd,
	       const char *out_name, int in_fd, const char *in_name,
	       off_t *offp, size_t count);
const char *t_api_name(enum t_api api);
const char *t_errname(int err);

/* Did sm_sender see something the native call would not do?  Exit 1. */
void t_mismatch(void);
int t_result(void);

/* Print "label: received bytes=N hash=H match=yes|no" and check it. */
void t_report_stream(FILE *out, const char *label, const struct t_digest *got,
		     const struct t_digest *want);
/* Print "label: text: yes|no" and count a "no" as a mismatch. */
void t_expect(FILE *out, const char *label, const char *text, bool ok);

/* Count SIGPIPE deliveries (the handler only counts). */
void t_sigpipe_count_install(void);
unsigned int t_sigpipe_seen(void);

#endif
