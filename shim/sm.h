/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libsplicemsg internals.  Every symbol here is hidden: the version script
 * exports only the interposed libc functions and the public splicemsg_* API.
 * Internal functions return -errno; only the interposed entry points set
 * errno.
 */
#ifndef SM_H
#define SM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>

#pragma GCC visibility push(hidden)

#define SM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SM_EXPORT __attribute__((visibility("default")))
#define sm_likely(x) __builtin_expect(!!(x), 1)
#define sm_unlikely(x) __builtin_expect(!!(x), 0)
/*
 * Thread-local state, in the static TLS block: a plain load from the
 * thread pointer instead of a __tls_get_addr() call per access (the
 * library is preloaded, or linked, so the block has room for it).
 */
#define SM_TLS __thread __attribute__((tls_model("initial-exec")))

/* ---- real.c: the functions we interpose, resolved once ---------------- */
struct sm_real {
#define SM_SYM(name, ret, params, args) ret (*name) params;
#include "intercept.def"
#undef SM_SYM
};
extern struct sm_real sm_real;
void sm_real_resolve(void);

/*
 * The shim's own system calls where a thread may hold a hold's lock (the
 * held bytes' sends, the close flush's wait, the module's first open, the
 * log): made through syscall(2), not through libc's functions that are
 * cancellation points.  A thread cancelled inside one would unwind with the
 * lock taken, and every later call on that socket -- the exit flush too --
 * would wait for it forever.  A cancel that comes while one blocks acts at
 * the thread's next cancellation point, as if it had come just after it
 * (sendfile(2), whose bytes they carry, is none).  They return as libc's
 * do: -1 with errno set.
 */
static inline ssize_t sm_sys_sendmsg(int fd, const struct msghdr *m,
				     int flags)
{
	return sm_real.syscall(SYS_sendmsg, (long)fd, m, (long)flags);
}
static inline ssize_t sm_sys_send(int fd, const void *buf, size_t n,
				  int flags)
{
	return sm_real.syscall(SYS_sendto, (long)fd, buf, n, (long)flags,
			       NULL, 0L);
}
static inline ssize_t sm_sys_write(int fd, const void *buf, size_t n)
{
	return sm_real.syscall(SYS_write, (long)fd, buf, n);
}
static inline int sm_sys_openat(int dirfd, const char *path, int flags,
				mode_t mode)
{
	return sm_real.syscall(SYS_openat, (long)dirfd, path, (long)flags,
			       (long)mode);
}
static inline int sm_sys_close(int fd)
{
	return sm_real.syscall(SYS_close, (long)fd);
}
/* poll(2) of one descriptor for @ms milliseconds */
static inline int sm_sys_poll1(struct pollfd *p, int ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

	return sm_real.syscall(SYS_ppoll, p, 1L, &t, NULL, 0L);
}

/* ---- options.c -------------------------------------------------------- */
enum sm_engine {
	SM_ENGINE_AUTO,
	SM_ENGINE_URING,
	SM_ENGINE_NATIVE,
	SM_ENGINE_KMOD,
};
enum sm_zc_mode { SM_ZC_AUTO, SM_ZC_REPORT, SM_ZC_ALWAYS, SM_ZC_NEVER };
enum sm_level { SM_LOG_ERROR, SM_LOG_WARN, SM_LOG_INFO, SM_LOG_DEBUG };

#define SM_T_BOOL int
#define SM_T_SIZE uint64_t
#define SM_T_STR char *
#define SM_T_ENGINE int
#define SM_T_ZC int
#define SM_T_LEVEL int
struct sm_options {
#define SM_OPT(name, type, def, doc) SM_T_##type name;
#include "options.def"
#undef SM_OPT
};
extern struct sm_options sm_opt;

/* The name of an enumerated option's @value (options.def), e.g. "auto". */
const char *sm_options_word(const char *type, int value);
/* Parse one value; returns 0 or -EINVAL (value left at its default). */
int sm_options_parse(struct sm_options *o, const char *name,
		     const char *value);
void sm_options_defaults(struct sm_options *o);
/* Read SPLICEMSG_* from environ; warn once per bad value. */
void sm_options_load(struct sm_options *o);
void sm_options_free(struct sm_options *o);
/* Is program @prog selected by ONLY/SKIP? */
bool sm_options_selects(const struct sm_options *o, const char *prog);
/* Expand %p (pid) and %% into @out; -ENAMETOOLONG if it does not fit. */
int sm_expand_path(char *out, size_t len, const char *pattern, pid_t pid);

/* ---- log.c ------------------------------------------------------------ */
void sm_log_open(void);
void sm_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
#define sm_warn(...) sm_log(SM_LOG_WARN, __VA_ARGS__)
#define sm_info(...) sm_log(SM_LOG_INFO, __VA_ARGS__)
#define sm_debug(...)							\
	do {								\
		if (sm_unlikely(sm_opt.LOG >= SM_LOG_DEBUG))		\
			sm_log(SM_LOG_DEBUG, __VA_ARGS__);		\
	} while (0)

/* ---- stats.c (the layout: counters.h) -------------------------------- */
#include "counters.h"

extern struct sm_counters *sm_stats;

static inline void sm_count(uint64_t *c, uint64_t n)
{
	__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}
static inline void sm_count_call(enum sm_path p, uint64_t bytes)
{
	sm_count(&sm_stats->calls[p], 1);
	sm_count(&sm_stats->bytes[p], bytes);
}
static inline void sm_count_fallback(enum sm_fallback f)
{
	sm_count(&sm_stats->fallbacks[f], 1);
}
void sm_stats_init(void);
void sm_stats_go_live(void);
bool sm_stats_live_pending(void);
void sm_stats_after_fork(void);
int sm_stats_json(char *buf, size_t len);
void sm_stats_write(void);
/* Before chroot(2): the files kept, the directories closed. */
void sm_stats_before_chroot(void);
/* chroot(2) itself, after sm_stats_before_chroot(); 0 or -errno. */
int sm_chroot(const char *path);

/* ---- fdstate.c: per-fd facts shared by all threads -------------------- */
enum sm_fd_kind {
	SM_FD_UNKNOWN = 0,	/* not classified yet (or closed since) */
	SM_FD_OTHER,		/* anything we do not accelerate */
	SM_FD_TCP,		/* connected TCP socket, IPv4 or IPv6 */
	SM_FD_UNIX,		/* connected AF_UNIX stream socket */
	SM_FD_OWNED,		/* one of the shim's own descriptors */
};
enum sm_zc_state { SM_ZCS_PROBING = 0, SM_ZCS_OK, SM_ZCS_COPIED };
enum sm_tri { SM_TRI_UNKNOWN = 0, SM_TRI_NO, SM_TRI_YES };
struct sm_hold;

struct sm_fdinfo {
	uint8_t kind;		/* enum sm_fd_kind */
	uint8_t local_peer;	/* enum sm_tri: the peer is on this host? */
	uint8_t zc_state;	/* enum sm_zc_state */
	uint8_t sndtimeo;	/* enum sm_tri: SO_SNDTIMEO set? */
	uint8_t paced;		/* enum sm_tri: its congestion control paces? */
	/* Learnt where the shim saw it made, so that classifying it costs
	 * no getsockopt(2): the kind of a socket() by its arguments, of an
	 * accepted one by its listener's (a listener's own: what it
	 * accepts); and whether accept() gave a loopback peer (sm_tri). */
	uint8_t born_kind;
	uint8_t born_peer;
	uint8_t dup_seen;	/* a descriptor was made from it, or it from one */
	uint8_t shut_wr;	/* shutdown(SHUT_WR) while it had no hold */
	/* Accepted, nothing written to it since (sm_fd_written_to()): its
	 * send buffer is empty, sndbuf0 bytes at least -- a listener's
	 * SO_SNDBUF, which its connections start with (a listener's own
	 * entry: asked once, 0 unknown). */
	uint8_t fresh;
	uint32_t sndbuf0;
	uint32_t zc_notifs;	/* decayed counts of this socket's reports */
	uint32_t zc_copied;
	uint64_t ino;		/* sockfs inode: tells a reused fd number */
	struct sm_hold *hold;	/* its socket's hold, once found (hold.c) */
	/* F_GETFL in the low 32 bits, valid while the high 32 are the
	 * current sm_fd_flags_gen: one word, so that an answer asked for
	 * before a change cannot be stored after it (fdstate.c). */
	uint64_t fl_word;
	/* The fork generation in which the shim saw this descriptor made
	 * (socket, accept, dup...), 0 if it did not: only a socket made
	 * since the last fork, and never passed to another process, is
	 * this process's alone to hold bytes for. */
	uint32_t born;
	/* The application's own last fstat() of it, while st_gen is the
	 * current file generation (fdstate.c): its answer is reused. */
	uint32_t st_gen;
	uint32_t st_mode;
	uint64_t st_size;
	uint64_t st_ino;
	uint64_t st_dev;
};

/*
 * The table: chunks of entries, made on first use and never freed.  Its
 * lookups and the cached answers below are inline: every interposed call
 * asks them, several times per corked response (callgrind: a call each
 * cost more than the lookup).  The slow paths are fdstate.c's.
 */
#define SM_FD_CHUNK_BITS 10
#define SM_FD_CHUNK_SIZE (1 << SM_FD_CHUNK_BITS)
#define SM_FD_NCHUNKS 1024		/* covers fds below 1 Mi */
extern struct sm_fdinfo *sm_fd_chunks[SM_FD_NCHUNKS];
/* Bumped by every change of any descriptor's file status flags. */
extern uint32_t sm_fd_flags_gen;

struct sm_fdinfo *sm_fd_make(int fd);
int sm_fd_classify_slow(int fd, struct sm_fdinfo *fi);
int sm_fd_flags_slow(int fd, struct sm_fdinfo *fi, uint32_t gen,
		     uint64_t seen);
bool sm_fd_sndtimeo_slow(int fd, struct sm_fdinfo *fi);
bool sm_fd_paced_slow(int fd, struct sm_fdinfo *fi);
bool sm_fd_local_slow(int fd, struct sm_fdinfo *fi);
/* A file may have changed (a write to one, truncate): every remembered
 * fstat() answer is stale. */
void sm_fd_files_changed(void);

/* Existing entry or NULL, never allocates (async-signal-safe). */
static inline struct sm_fdinfo *sm_fd_peek(int fd)
{
	struct sm_fdinfo *c;

	if (sm_unlikely((unsigned int)fd >= SM_FD_NCHUNKS * SM_FD_CHUNK_SIZE))
		return NULL;
	c = __atomic_load_n(&sm_fd_chunks[fd >> SM_FD_CHUNK_BITS],
			    __ATOMIC_ACQUIRE);
	return c ? &c[fd & (SM_FD_CHUNK_SIZE - 1)] : NULL;
}

/* Entry for @fd, created on demand; NULL if @fd is out of range or OOM. */
static inline struct sm_fdinfo *sm_fd_get(int fd)
{
	struct sm_fdinfo *fi = sm_fd_peek(fd);

	return sm_likely(fi) ? fi : sm_fd_make(fd);
}

/* Classify @fd if unknown; returns its kind. */
static inline int sm_fd_classify(int fd, struct sm_fdinfo *fi)
{
	int kind = __atomic_load_n(&fi->kind, __ATOMIC_RELAXED);

	return sm_likely(kind) ? kind : sm_fd_classify_slow(fd, fi);
}
void sm_fd_forget(int fd);
/* fcntl(fd, F_GETFL), cached until the process changes any file flags. */
static inline int sm_fd_flags(int fd, struct sm_fdinfo *fi)
{
	uint32_t gen = __atomic_load_n(&sm_fd_flags_gen, __ATOMIC_ACQUIRE);
	uint64_t w = fi ? __atomic_load_n(&fi->fl_word, __ATOMIC_ACQUIRE) : 0;

	if (fi && (uint32_t)(w >> 32) == gen)
		return (int32_t)w;
	return sm_fd_flags_slow(fd, fi, gen, w);
}
void sm_fd_flags_changed(void);
void sm_fd_forget_range(unsigned int first, unsigned int last);
bool sm_fd_is_owned(int fd);
/*
 * Take @fd as one of the shim's own: moved to a high number, hidden from
 * the application's close loops.  The number is stored in where0 and where1
 * (either may be NULL), and updated there if it must move again.
 */
int sm_fd_adopt(int fd, int *where0, int *where1);
void sm_fd_disown(int fd);
void sm_fd_relocate(int fd);
int sm_fd_owned_above(int fd);
void sm_fd_after_fork(void);
/* @fd was just made by this process (socket, socketpair, accept), with
 * file status flags @fl (F_GETFL's answer, as far as the shim uses it). */
void sm_fd_born(int fd, int fl);
/* A new socket's F_GETFL, made with @type (or accept4's flags): read-write,
 * and non-blocking if asked. */
#define SM_SOCK_FL(type) (O_RDWR | ((type) & SOCK_NONBLOCK ? O_NONBLOCK : 0))
/* ... a socket(@domain, @type, @proto). */
void sm_fd_socket(int fd, int domain, int type, int proto);
/* ... accepted from @lfd; the peer's address in @addr, which had @room
 * bytes (0: none), *@lenp its length (the application's memory). */
void sm_fd_accepted(int lfd, int fd, int fl, const struct sockaddr *addr,
		    socklen_t room, const socklen_t *lenp);
/* fcntl(@fd, F_SETFL, @arg), or ioctl(@fd, FIONBIO, &@arg) if @fionbio,
 * returned @ret: the flags it set. */
void sm_fd_setfl(int fd, bool fionbio, int arg, int ret);
/* Is @fi the only descriptor of its open file, in any process? */
bool sm_fd_alone(const struct sm_fdinfo *fi);
/* @fd was opened with open(2) @flags. */
void sm_fd_opened(int fd, int flags);
/* The application's fstat() of @fd answered @st. */
void sm_fd_stat_seen(int fd, const struct stat *st);
/* The same for fstatat(@dir, @path, ..., AT_EMPTY_PATH). */
void sm_fd_stat_path(int dir, const char *path, const struct stat *st);
/* What the engine reads of a file's fstat(). */
struct sm_file {
	int64_t size;		/* st_size */
	uint64_t ino;
	uint64_t dev;
	uint32_t mode;
};
/* fstat(@fd), from the application's own answer while no file has been
 * written in this process since; 0 or -errno. */
int sm_fd_stat(int fd, struct sm_fdinfo *fi, struct sm_file *f);
/* A write-like call on the descriptor whose entry is @fi (NULL: none):
 * a file it may have changed makes every remembered fstat() answer stale. */
static inline void sm_fd_written_to(struct sm_fdinfo *fi)
{
	int kind = fi ? __atomic_load_n(&fi->kind, __ATOMIC_RELAXED) :
		   SM_FD_UNKNOWN;

	if (fi && sm_unlikely(__atomic_load_n(&fi->fresh, __ATOMIC_RELAXED)))
		__atomic_store_n(&fi->fresh, 0, __ATOMIC_RELAXED);

	if (kind != SM_FD_TCP && kind != SM_FD_UNIX)
		sm_fd_files_changed();
}
/* The same for @fd (any descriptor). */
static inline void sm_fd_written(int fd)
{
	sm_fd_written_to(sm_fd_peek(fd));
}
/* @newfd is now a duplicate of @oldfd: it shares its facts and hold. */
void sm_fd_dup(int oldfd, int newfd);
/* Another process may now write to @fd's socket (SCM_RIGHTS, a fork). */
void sm_fd_shared(int fd);
/* Only this process writes to @fi's socket, as far as the shim knows. */
bool sm_fd_own(const struct sm_fdinfo *fi);
/* A fork: every descriptor that exists now exists in two processes. */
void sm_fd_forked(void);
/* Any descriptor of the same socket as @h other than @fd, or -1. */
int sm_fd_other_of(const struct sm_hold *h, int fd);
/* Does the socket have SO_SNDTIMEO?  Asked once, cached. */
static inline bool sm_fd_sndtimeo(int fd, struct sm_fdinfo *fi)
{
	int v = __atomic_load_n(&fi->sndtimeo, __ATOMIC_RELAXED);

	return sm_likely(v) ? v == SM_TRI_YES : sm_fd_sndtimeo_slow(fd, fi);
}
/* Is the connected socket's peer on this host?  Asked once. */
static inline bool sm_fd_local(int fd, struct sm_fdinfo *fi)
{
	int v = __atomic_load_n(&fi->local_peer, __ATOMIC_RELAXED);

	return v ? v == SM_TRI_YES : sm_fd_local_slow(fd, fi);
}
/* Does the TCP socket's congestion control pace (bbr)?  Asked once. */
static inline bool sm_fd_paced(int fd, struct sm_fdinfo *fi)
{
	int v = __atomic_load_n(&fi->paced, __ATOMIC_RELAXED);

	return sm_likely(v) ? v == SM_TRI_YES : sm_fd_paced_slow(fd, fi);
}
/* setsockopt(@level, @name) on @fd: forget what it may have changed. */
void sm_fd_sockopt_set(int fd, int level, int name);

/*
 * The close family: what the interposed calls do before (or instead of)
 * the real ones.  0 to go ahead, or -errno for the call to return.
 */
int sm_fd_close(int fd);
int sm_fd_dup_onto(int oldfd, int newfd);
/* close_range() stepping around the shim's own descriptors. */
int sm_fd_close_range(unsigned int first, unsigned int last, int flags);
void sm_fd_closefrom(int lowfd);

/* ---- hold.c: cork, held headers, flushes ----------------------------- */
#define SM_HOLD_MAX ((size_t)16 << 10)	/* held bytes per socket */

/* One socket's cork state and held bytes (opaque: hold.c's alone). */
struct sm_hold;

/* Any bytes held anywhere?  (One relaxed load: the flush points ask.) */
bool sm_hold_any(void);

/*
 * The interposed calls.  sm_hold_write() and sm_hold_setsockopt() return
 * true when they handled the call (its result or -errno in *res), false to
 * leave it to the real function, with any held bytes already in the kernel
 * ahead of it.  The others only prepare for the real call.
 */
bool sm_hold_write(int fd, const struct iovec *iov, int cnt, int flags,
		   ssize_t *res);
bool sm_hold_setsockopt(int fd, int level, int name, const void *val,
			socklen_t len, int *res);
/* sendmsg(): a message with an address or ancillary data is the kernel's,
 * after the held bytes; descriptors it passes are no longer ours alone. */
bool sm_hold_sendmsg(int fd, const struct msghdr *m, int flags,
		     ssize_t *res);
bool sm_hold_sendto(int fd, const void *buf, size_t n, int flags,
		    const struct sockaddr *to, ssize_t *res);
bool sm_hold_sendmmsg(int fd, struct mmsghdr *vec, unsigned int n, int flags,
		      int *res);
/* Bytes held for @fd's socket (SIOCOUTQ counts them as queued). */
size_t sm_hold_queued(int fd);
/* TCP_CORK was set to @on in the kernel behind the hold (raw syscall). */
void sm_hold_cork_applied(int fd, int on);
/* Another option was set on @fd behind the hold's back: measure again. */
void sm_hold_sockopt_applied(int fd);
/* After a successful real getsockopt: TCP_CORK as the application set it. */
void sm_hold_getsockopt(int fd, int level, int name, void *val,
			const socklen_t *len);
/* Before a call the shim passes on unchanged writes to @fd (splice): 0 to
 * go ahead, or the error the call must report instead. */
int sm_hold_before_write(int fd, int flags);
/* Held bytes go to the kernel first: close() or dup2() over @fd ... */
void sm_hold_close(int fd);
/* ... shutdown(@how), after which nothing is held for @fd. */
void sm_hold_shutdown(int fd, int how);
/* Every socket's held bytes, now (a blocking wait, fork, exec, exit); each
 * error waits for its socket's next call. */
void sm_hold_flush_all(void);
void sm_hold_after_fork(void);
/* A fork happened: every socket's writes may now come from two processes. */
void sm_hold_forked(void);
void sm_hold_before_fork(void);
/* @fd was passed to another process. */
void sm_hold_shared(int fd);
/* A seccomp filter comes: everything held goes now, nothing is held again,
 * and the timer thread ends. */
void sm_hold_sandbox(void);
/* @fi stops referring to its hold's socket (close, dup2 over it...). */
void sm_hold_detach(struct sm_fdinfo *fi);
/* @fi refers to the same socket as @from: the same hold, if any. */
void sm_hold_attach_dup(struct sm_fdinfo *fi, const struct sm_fdinfo *from);

/*
 * The sendfile engine's side, between sm_hold_lock() and sm_hold_unlock():
 * NULL when @fi has no hold.  Errors of the functions that send are the
 * socket's, reported by the call at hand (EPIPE with SIGPIPE unless @flags
 * say MSG_NOSIGNAL).
 */
struct sm_hold *sm_hold_lock(int fd, struct sm_fdinfo *fi);
void sm_hold_unlock(struct sm_hold *h);
/* A body is about to go: 0, or an earlier flush's error to report now. */
int sm_hold_body_begin(struct sm_hold *h, int flags);
/* The held bytes (@h may be NULL: none). */
size_t sm_hold_pending(const struct sm_hold *h, const void **buf);
/* MSG_MORE, or 0, for a body sent after the held bytes (@h may be NULL). */
int sm_hold_body_flags(const struct sm_hold *h);
/* Has the application TCP_CORK on for this socket (@h may be NULL: no)? */
bool sm_hold_app_corked(const struct sm_hold *h);
/* One send carried the first @pre held bytes, then body bytes (@flags). */
void sm_hold_coalesced(struct sm_hold *h, size_t pre, int flags);
/* A call on @fd failed with @err: a socket that reported its death (a reset,
 * EPIPE) holds nothing again, whatever the application tries next. */
void sm_hold_failed(int fd, int err);
/* @n bytes left through the socket (of its free buffer, as far as known). */
void sm_hold_spent(struct sm_hold *h, size_t n);
/* Held bytes to the kernel: 0, -EAGAIN (some still held), or the error. */
int sm_hold_drain(struct sm_hold *h, int fd, int flags);
/* Put the kernel's cork on where the application corked (a long body:
 * sm_policy_corks_body()).  0 or -errno. */
int sm_hold_cork_kernel(struct sm_hold *h, int fd);
/* The same before a native send, which then goes under the kernel's cork
 * if the application corked. */
int sm_hold_before_native(struct sm_hold *h, int fd);
/*
 * Before the body itself goes through sendfile(2): as before_native(),
 * except that with *push the body is the response's last part and leaves
 * uncorked, as a coalesced one would (sm_hold_body_flags()); after it,
 * sm_hold_native_body_pushed() if it went whole.
 */
int sm_hold_native_body(struct sm_hold *h, int fd, bool *push);
void sm_hold_native_body_pushed(struct sm_hold *h);
/* The held headers and @n bytes of the body at @buf in one send with
 * MSG_MORE: the body bytes sent (0: do as sm_hold_native_body()). */
ssize_t sm_hold_native_lead(struct sm_hold *h, int fd, const void *buf,
			    size_t n, bool *push);
/*
 * Batching (policy: sm_policy_batches): may this body wait with the held
 * headers for the event loop's next wait?  Then take it: a reference to
 * the mapping @map (the hold's from then on) that holds @n bytes at @body;
 * false (nothing taken) if the kernel would not take them all now.
 */
struct sm_map;
bool sm_hold_may_batch(struct sm_hold *h, int fd);
bool sm_hold_take_body(struct sm_hold *h, int fd, struct sm_map *map,
		       const void *body, size_t n);
/* Before epoll_wait (@loop), poll or select; @blocking: it may sleep. */
void sm_hold_before_wait(bool loop, bool blocking);
/* After epoll_wait: @events, what it returned, says whether the turn that
 * follows batches (sm_policy_turn_batches()). */
void sm_hold_turn(int events);

/* ---- policy.c: which path a call takes, and the zero-copy rule -------- */
struct sm_call {
	int kind;		/* sm_fd_kind of out_fd */
	bool in_regular;	/* in_fd is a regular file */
	size_t count;
	const struct sm_fdinfo *fi;
	/* What the ring can do; callers first ask with all three true and
	 * create the ring only when the answer is not native. */
	bool uring_ok;		/* this thread has a working ring */
	bool zc_supported;	/* the kernel has SEND_ZC */
	bool zc_budget;		/* the ring may own more zero-copy buffers */
	bool kmod_ok;		/* /dev/splicemsg passed the handshake */
	bool kmod_reg;		/* ... and registers buffers (FEAT_REG) */
	size_t held;		/* header bytes held for this socket */
	bool corked;		/* the application has TCP_CORK on */
	bool local;		/* the peer is on this host */
	bool paced;		/* ... and a local TCP peer, pacing cc */
	bool copy_cheaper;	/* ... where the process's trial says copy */
	bool batch_ok;		/* the hold may wait for the loop turn's end */
	int uring_err;		/* setup error (-errno) if !uring_ok */
};
struct sm_choice {
	enum sm_path path;
	int fallback;		/* enum sm_fallback or -1 */
};
struct sm_choice sm_policy_choose(const struct sm_options *o,
				  const struct sm_call *c);
/*
 * Does the engine hold this socket's writes while it is corked (@via_more:
 * sent with MSG_MORE, which is how AF_UNIX corks)?  @kind: sm_fd_kind.
 */
bool sm_policy_holds(const struct sm_options *o, int kind, bool via_more);
/* Can c->local change the choice (else it need not be asked)? */
bool sm_policy_asks_local(const struct sm_options *o, const struct sm_call *c);
/* Can c->paced change the choice (else it need not be asked)? */
bool sm_policy_asks_paced(const struct sm_options *o, const struct sm_call *c);
/* Is a loop turn of @events events (its epoll_wait's count) batched? */
bool sm_policy_turn_batches(int events);
/* May a socket's held bytes wait for its event loop's next wait? */
bool sm_policy_batches(const struct sm_options *o, int kind);
/* Should a native sendfile() take a page of its body along with the held
 * headers (SM_LEAD_LEN)? */
bool sm_policy_leads(const struct sm_options *o, const struct sm_call *c);
/* Should a body go under the kernel's cork (SM_CORK_BODY_MIN)? */
bool sm_policy_corks_body(const struct sm_options *o, const struct sm_call *c);
/*
 * The paced copy's trial: does one copy of a large corked body to a local
 * pacing peer cost less CPU than sendfile(2)?  That depends on the machine
 * (docs/bench.md, "Local peers and pacing"), so the process measures it.
 * Each thread sends such bodies in epochs of SM_TRIAL_LEN, each epoch by
 * one path (the one fewer epochs have taken, else the other than the
 * thread's last: the copy first); its cost is the thread's own CPU time
 * from its first body to the thread's next epoch's first, per byte its
 * bodies sent, and goes into the process's sums.  Once SM_TRIAL_EPOCHS of
 * each have ended, in any threads (a pool's threads each need only their
 * own epoch's bodies), the copy wins below SM_TRIAL_MARGIN percent of
 * sendfile(2)'s cost, and the verdict stands for the next SM_TRIAL_RUN
 * such bodies of the process; then the trial runs again.  The clock is
 * read, and the lock tried (never waited for), once per epoch.
 */
struct sm_trial {		/* the process's */
	int lock;
	bool trialing;		/* a trial runs: gen is its number */
	bool copy;		/* the verdict, while run_left > 0 */
	uint32_t gen;
	int run_left;		/* bodies the verdict still covers */
	uint32_t begun[2];	/* epochs begun: [0] sendfile(2), [1] copy */
	uint32_t ended[2];
	uint64_t ns[2], by[2];	/* the ended epochs' CPU time and bytes */
};
struct sm_trial_epoch {		/* a thread's */
	uint64_t t0;		/* the thread's CPU time at its start */
	uint64_t bytes;		/* what its bodies sent */
	uint32_t gen;		/* the trial it belongs to */
	uint16_t left;		/* bodies left in it */
	bool started;
	bool copy;		/* its path */
};
#define SM_TRIAL_LEN 16
#define SM_TRIAL_EPOCHS 4
#define SM_TRIAL_RUN 4096
#define SM_TRIAL_MARGIN 90
/*
 * Does this body (one the paced copy's rule covers) copy?  @e: the calling
 * thread's epoch; @cpu_ns: its CPU time in ns; *@decided: 1 or 0 if this
 * call ended a trial for the copy or sendfile(2), else -1.
 */
bool sm_policy_trial(struct sm_trial *t, struct sm_trial_epoch *e,
		     uint64_t (*cpu_ns)(void), int *decided);
/* What that body's call sent (< 0: an error, nothing). */
void sm_policy_trial_sent(struct sm_trial_epoch *e, ssize_t n);
/* Feed one zero-copy notification into a socket's verdict. */
void sm_policy_zc_report(struct sm_fdinfo *fi, bool copied);
int sm_policy_setup_fallback(int err);

/*
 * Largest body auto sends with held headers in one sendmsg(2) from a
 * mapping.  Against the corked idiom, without the checks, whose cost does
 * not grow with the body (tests/bench/resp.sh, docs/bench.md): 1.30x-1.45x
 * at 16 KiB, 1.18x-1.22x at 32 KiB, 0.93x-1.08x at 64 KiB, where
 * sendfile(2)'s page references catch up with copying the body.
 */
#define SM_DIRECT_MAX ((size_t)16 << 10)
/*
 * Smallest corked body auto may copy to a local peer whose congestion
 * control paces (bbr; where the process's trial finds the copy cheaper): one
 * copy ran at 1.14x of sendfile(2) at 128 KiB and
 * 1.4x-2.3x from 256 KiB up, but at 0.74x and 1.06x at 64 KiB in two runs,
 * noise either way (docs/bench.md, "Local peers and pacing").
 */
#define SM_PACED_COPY_MIN ((size_t)128 << 10)
/*
 * Body bytes copied with held headers ahead of a sendfile(2) to a local
 * peer (sm_policy_leads()): with them, the 15 page-cache pages that fit
 * beside the headers in the first segment's 17 fragments always fill
 * loopback's MSS (65,483 <= 4,096 + 15 * 4,096).
 */
#define SM_LEAD_LEN ((size_t)4 << 10)
/*
 * Smallest body sent under the application's cork that the shim sends under
 * the kernel's too (sm_policy_corks_body()): the paced copy's, where 1 MiB
 * stalled uncorked.
 */
#define SM_CORK_BODY_MIN SM_PACED_COPY_MIN
#define SM_ZC_PROBE_MIN 4	/* notifications before a verdict */
#define SM_ZC_DECAY_AT 64	/* halve the counts here: recent sends rule */

/* ---- mapcache.c: file windows kept across calls ---------------------- */
struct sm_map;
struct sm_map *sm_map_get(int fd, const struct sm_file *f, loff_t start,
			  size_t len, const void **ptr, int *err);
void sm_map_put(struct sm_map *m);

/* ---- uring.c: per-thread rings ---------------------------------------- */
struct sm_ring;
/* This thread's ring, created on first use; NULL with *err = -errno. */
struct sm_ring *sm_ring_get(int *err);
bool sm_ring_zc_supported(struct sm_ring *r);
/* May the ring own one more zero-copy buffer?  (Reaps notifications
 * before it says no.) */
bool sm_ring_zc_budget(struct sm_ring *r);

struct sm_send {
	int fd;
	const void *pre;	/* copied bytes sent first (held headers) */
	size_t pre_len;
	const void *buf;
	size_t len;
	int msg_flags;
	bool zc;
	/* For zero-copy: the mapping the kernel may still read after the
	 * send completes; the ring drops this reference when the
	 * notification comes. */
	struct sm_map *map;
	size_t map_len;		/* bytes it keeps busy, for the budget */
	uint64_t ino;
	/*
	 * kmod_zc: no mapping.  The module registers @pre and @len bytes
	 * of @kfile from @kpos as one buffer of the ring's table, which a
	 * SEND_ZC sends and an UNREG empties, in one io_uring_enter.
	 */
	bool kreg;
	int kfile;
	uint64_t kpos;
	/* results */
	bool interrupted;	/* a signal handler without SA_RESTART ran */
	bool zc_handed_off;	/* the ring now owns the @map reference */
	int kreg_err;		/* kreg: the registration failed (-errno) */
	/* private: the SENDMSG of [pre, buf] */
	struct iovec iov[2];
	struct msghdr msg;
};
/* Send once; returns bytes sent or -errno. */
ssize_t sm_ring_send(struct sm_ring *r, struct sm_send *s);
/* One entry of sm_ring_send_batch(): one socket's held bytes. */
struct sm_batch_send {
	int fd;
	int flags;		/* MSG_*; MSG_DONTWAIT is added */
	struct msghdr msg;
	struct iovec iov[2];
	ssize_t res;		/* out: bytes sent or -errno */
};
/*
 * Send each entry, in as few io_uring_enter calls as the ring allows;
 * returns how many it made.  Each entry's res is set (-EIO for one whose
 * result never came: the ring failed, and it may have gone).
 */
int sm_ring_send_batch(struct sm_ring *r, struct sm_batch_send *v,
		       unsigned int n);
/* After a handler interrupted a send that moved nothing: restart it? */
bool sm_signal_restartable(void);
void sm_rings_prepare_fork(void);
void sm_rings_parent_fork(void);
void sm_rings_after_fork(void);
void sm_rings_exit(void);

/* ---- kmod.c: the kernel helper, /dev/splicemsg ----------------------- */
bool sm_kmod_available(void);
size_t sm_kmod_max_count(void);
/* Header + trailer bytes the module takes in one send (its max_hdtr). */
size_t sm_kmod_max_hdtr(void);
/* Send @hdr_len bytes of @hdr, then @len file bytes from @offset (a
 * position, or with SPLICEMSG_SEND_OFFPTR sendfile(2)'s offset pointer),
 * with SPLICEMSG_SEND_* @flags; returns bytes sent or -errno, and what
 * went in *sent (all) and *file_sent (file bytes). */
ssize_t sm_kmod_sendfile(int out_fd, int in_fd, uint64_t offset, size_t len,
			 const void *hdr, size_t hdr_len, unsigned int flags,
			 size_t *file_sent, size_t *sent);
/* The module takes sendfile(2)'s offset pointer (SPLICEMSG_SEND_OFFPTR). */
bool sm_kmod_offptr(void);
/*
 * File bytes the module registers into a ring's buffer table in one
 * REG_FILE (SPLICEMSG_FEAT_REG, Linux 7.3), or 0: no module, or one
 * without it.  Opens the module on first use.
 */
size_t sm_kmod_max_reg(void);
/* The open /dev/splicemsg, once sm_kmod_available() said yes. */
int sm_kmod_fd(void);

/* ---- signals.c: application memory, SIGSEGV and SIGBUS -------------- */
/*
 * Copy from or to memory the application named: 0, or -EFAULT where the
 * kernel would have answered EFAULT.  No system call (after the first).
 */
#if defined(__x86_64__) && !defined(SM_COPY_GENERIC)
#define SM_FAULT_FIXUP 1	/* signals.c: the copy is of assembly */
int sm_fault_copy(void *dst, const void *src, size_t n);
extern bool sm_fault_ready;	/* its handler is in */
void sm_fault_install(void);
/* Inline: five copies per corked response, most of them a few bytes. */
static inline int sm_guarded_copy(void *dst, const void *src, size_t n)
{
	if (!n)
		return 0;
	if (sm_unlikely(!__atomic_load_n(&sm_fault_ready, __ATOMIC_ACQUIRE)))
		sm_fault_install();
	return sm_fault_copy(dst, src, n);
}
static inline int sm_copy_in(void *dst, const void *app_src, size_t n)
{
	return sm_guarded_copy(dst, app_src, n);
}
static inline int sm_copy_out(void *app_dst, const void *src, size_t n)
{
	return sm_guarded_copy(app_dst, src, n);
}
#else
int sm_copy_in(void *dst, const void *app_src, size_t n);
int sm_copy_out(void *app_dst, const void *src, size_t n);
#endif
/* Raise @sig in the calling thread, as the kernel does for SIGPIPE. */
void sm_raise(int sig);
/* The application's action for @sig (SIGSEGV's and SIGBUS's are kept
 * here once the shim's own handler is in); 0 or -errno. */
int sm_sig_action(int sig, struct sigaction *old);
/* sigaction() and the signal() family for SIGSEGV and SIGBUS once the
 * shim's handler is in: true when handled (*res / *old), false to leave
 * the call to libc.  @flags: the SA_* flags that signal() variant uses. */
bool sm_sigaction(int sig, const struct sigaction *act,
		  struct sigaction *old, int *res);
bool sm_signal(int sig, sighandler_t handler, int flags, sighandler_t *old);

/* ---- sendfile.c: the sendfile engine --------------------------------- */
/* sendfile(2) on any path, exactly as the real call; bytes or -errno. */
ssize_t sm_sendfile(int out_fd, int in_fd, off64_t *offset, size_t count);
void sm_sendfile_after_fork(void);

/* ---- syscall.c: raw syscall(2) --------------------------------------- */
/* Before syscall(@nr, @a...): 0 to go ahead, or -errno to return. */
long sm_syscall_before(long nr, const long *a);
/* After it returned @ret. */
void sm_syscall_after(long nr, const long *a, long ret);
/* glibc's clone(): @opt the ptid, tls and ctid words; pid or -errno. */
int sm_clone(int (*fn)(void *), void *stack, int flags, void *arg,
	     void *const opt[3]);

/* ---- init.c ----------------------------------------------------------- */
/* program_invocation_short_name as it was at start (cut to fit): what
 * ONLY, SKIP and the statistics call the program. */
extern char sm_program[SM_PROGRAM_MAX];
/* SM_LIVE_ON once started and active, SM_LIVE_OFF if not (or sandboxed). */
enum { SM_LIVE_UNKNOWN, SM_LIVE_ON, SM_LIVE_OFF };
extern int sm_live;
bool sm_active_slow(void);
/* 1 when the shim is active in this process; runs init on first use.
 * Inline: every sendfile and every cork asks. */
static inline bool sm_active(void)
{
	int live = __atomic_load_n(&sm_live, __ATOMIC_ACQUIRE);

	return sm_likely(live) ? live == SM_LIVE_ON : sm_active_slow();
}
/*
 * A seccomp filter is coming: from here on the shim makes no system call
 * the application did not ask for.  Held bytes go now, the timer ends,
 * every call passes through, and no statistics or log file is written.
 */
void sm_sandbox(void);
bool sm_sandboxed(void);
/*
 * Around a fork, or a clone(2) without CLONE_VM however it is made: the
 * parent's held bytes go before, the child forgets what it inherited.
 */
void sm_fork_prepare(void);
void sm_fork_parent(void);
void sm_fork_child(void);
/* _exit, _Exit: the destructor's work that must not be skipped. */
void sm_exit_fast(void);

#pragma GCC visibility pop
#endif
