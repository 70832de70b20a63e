// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The sendpage-era idiom: TCP_CORK on, writev(headers), sendfile(body),
 * TCP_CORK off (or send(headers, MSG_MORE) then sendfile).  Natively that
 * is four syscalls per response; here the headers are held (copied) while
 * the socket is corked and leave together with the body in one submission.
 *
 * The application's cork is applied lazily: TCP_CORK on only records it,
 * and every byte the shim sends while corked carries MSG_MORE, which is
 * TCP_CORK for that one send.  The kernel's own cork is switched on only
 * when bytes go out through a path that cannot carry MSG_MORE (a native
 * sendfile or write).  TCP_CORK off always reaches the kernel when anything
 * went out with MSG_MORE, because that is what pushes the last segment.
 *
 * A hold belongs to a socket, not to a descriptor number: every descriptor
 * of the socket (dup, F_DUPFD, dup2) finds it by the socket's inode, so no
 * write through another one overtakes held bytes.  Only a socket that this
 * process alone writes to is held: one made here since the last fork and
 * never passed to another process (SCM_RIGHTS).  Any other gets what it
 * had settled in the kernel -- held bytes sent, the cork applied -- and
 * passes through.
 *
 * Held bytes are flushed -- handed to the kernel exactly as the native call
 * would have, MSG_MORE while corked -- at uncork, close, shutdown, any write
 * the shim does not hold, a blocking wait (poll, select, epoll), fork and
 * exec, exit, and after 200 ms, the kernel's own cork ceiling.  A write is
 * only held when the kernel would have taken it at once (room_for()), so
 * it returns what the native call could have returned; an error met by a
 * flush the application did not ask for is reported by its next write on
 * that socket, as the kernel would.
 * The application's memory is only read through sm_copy_in(): a bad
 * pointer gets the kernel's own answer, never a SIGSEGV here.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "sm.h"

#define SM_HOLD_NS (200 * 1000000ULL)	/* TCP_CORK's ceiling */
/* Iovecs of a write sent together with held bytes (more: two sends). */
#define SM_HOLD_IOV 64
/* Flags a held write may carry; others (MSG_OOB...) go to the kernel. */
#define SM_HOLD_FLAGS (MSG_MORE | MSG_DONTWAIT | MSG_NOSIGNAL)
#define SM_HOLD_BUCKETS 64
/* Sockets whose bytes may wait for their loop's next wait, at most. */
#define SM_BATCH_HOLDS 1024
/* Sends per io_uring_enter of a batch (their state is on the stack). */
#define SM_BATCH_ROUND 32
/* Messages sendmmsg(2) sends at most (the kernel's UIO_MAXIOV). */
#define SM_MMSG_MAX 1024

/* One socket's cork state and held bytes; private to this file. */
struct sm_hold {
	int lock;		/* hold_lock(): 0 free, 1 taken, 2 waited for */
	int fd;			/* a descriptor of the socket, for flushes */
	uint64_t ino;		/* the socket (0: free) */
	uint32_t fds;		/* descriptors known to refer to it */
	bool shared;		/* another process may write: never hold */
	bool zombie;		/* its last descriptor went while locked */
	bool app_cork;		/* TCP_CORK as the application set it */
	bool kern_cork;		/* ... and as the kernel has it */
	bool more_sent;		/* MSG_MORE bytes wait for the uncork push */
	bool shut;		/* shutdown(SHUT_WR) seen: hold nothing */
	bool dead;		/* an error was reported: hold nothing */
	bool waiting;		/* uncorked: waits for the loop's next wait */
	bool body_done;		/* a body went while corked ... */
	bool tail_seen;		/* ... and bytes followed it before uncork */
	int err;		/* error of a flush, for the next write */
	size_t budget;		/* bytes the kernel would still take at once */
	int sndbuf;		/* SO_SNDBUF when last asked; 0: ask */
	size_t len, cap;	/* held bytes, the body's included */
	char *buf;		/* the first len - body_len of them */
	/*
	 * A body queued for the loop's next wait (sm_hold_take_body): the
	 * last body_len held bytes, in a mapping of the file.  Nothing is
	 * appended after it: every call but the uncork sends it first.
	 */
	struct sm_map *body_map;
	const char *body;
	size_t body_len;
	uint64_t deadline;	/* CLOCK_MONOTONIC ns: flush by then */
	struct sm_hold *next_all;
	struct sm_hold *next_ino;	/* in its bucket, or the free list */
};

/*
 * A hold's lock: a futex word, 0 free, 1 taken, 2 taken with a thread
 * waiting (Drepper, "Futexes Are Tricky", mutex 3).  It is taken and
 * released four times per corked response, where pthread_mutex_lock() and
 * pthread_mutex_unlock() cost 57 instructions a pair (callgrind); free,
 * this is one atomic each way.  Waits and wakes are the futex calls that
 * a mutex makes too, and only when contended.
 */
static void lock_wait(int *l, int c)
{
	if (c != 2)
		c = __atomic_exchange_n(l, 2, __ATOMIC_ACQUIRE);
	while (c) {
		sm_real.syscall(SYS_futex, l, FUTEX_WAIT_PRIVATE, 2, NULL,
				NULL, 0);
		c = __atomic_exchange_n(l, 2, __ATOMIC_ACQUIRE);
	}
}

static inline void hold_lock(struct sm_hold *h)
{
	int c = 0;

	if (!__atomic_compare_exchange_n(&h->lock, &c, 1, false,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		lock_wait(&h->lock, c);
}

static inline bool hold_trylock(struct sm_hold *h)
{
	int c = 0;

	return __atomic_compare_exchange_n(&h->lock, &c, 1, false,
					   __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

/* The lock alone (sm_hold_unlock() also finishes a zombie's reset). */
static inline void hold_release(struct sm_hold *h)
{
	if (__atomic_exchange_n(&h->lock, 0, __ATOMIC_RELEASE) == 2)
		sm_real.syscall(SYS_futex, &h->lock, FUTEX_WAKE_PRIVATE, 1,
				NULL, NULL, 0);
}

/* list_lock is taken before a hold's lock, never while holding one. */
static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t list_cond = PTHREAD_COND_INITIALIZER;
static struct sm_hold *all_holds;	/* every hold ever made; never freed */
static struct sm_hold *by_ino[SM_HOLD_BUCKETS];
static struct sm_hold *free_holds;	/* made once, their socket gone */
static int nheld;			/* holds with bytes in them */
static unsigned int hold_gen;		/* holds begun, ever */
static pthread_t timer;
static bool timer_running;
static bool timer_idle;			/* waiting with no deadline */
static bool timer_quit;			/* sandboxed: the timer must go */
static bool timer_failed;		/* no thread for it: hold nothing */
static bool passthrough;		/* sandboxed: hold nothing, ever */
static int nwaiting;			/* holds waiting for a loop's wait */
/* This thread waits in epoll_wait: an event loop's. */
static SM_TLS bool loop_thread;
/* What its last epoll_wait returned: the events of the turn it serves. */
static SM_TLS int turn_events;

static uint64_t clock_ns(clockid_t id)
{
	struct timespec t;

	clock_gettime(id, &t);
	return t.tv_sec * 1000000000ULL + t.tv_nsec;
}

static uint64_t now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

bool sm_hold_any(void)
{
	return __atomic_load_n(&nheld, __ATOMIC_RELAXED) > 0;
}

static bool sandboxed(void)
{
	return __atomic_load_n(&passthrough, __ATOMIC_RELAXED);
}

/* Nothing is held any more. */
static void emptied(struct sm_hold *h)
{
	h->len = 0;
	__atomic_fetch_sub(&nheld, 1, __ATOMIC_RELAXED);
	if (h->waiting)
		__atomic_fetch_sub(&nwaiting, 1, __ATOMIC_RELAXED);
	h->waiting = false;
	sm_map_put(h->body_map);
	h->body_map = NULL;
	h->body_len = 0;
}

/* A fresh state for socket @ino; held bytes, if any, are dropped. */
static void reset_locked(struct sm_hold *h, uint64_t ino)
{
	if (h->len)
		emptied(h);
	h->ino = ino;
	h->zombie = false;
	h->shared = false;
	h->app_cork = false;
	h->kern_cork = false;
	h->more_sent = false;
	h->body_done = false;
	h->tail_seen = false;
	h->shut = false;
	h->dead = false;
	h->err = 0;
	h->budget = 0;
	h->sndbuf = 0;
}

/* ---- the registry: one hold per socket, found by its inode ------------ */

static struct sm_hold **bucket(uint64_t ino)
{
	return &by_ino[ino % SM_HOLD_BUCKETS];
}

static struct sm_hold *find_locked(uint64_t ino)
{
	struct sm_hold *h;

	for (h = *bucket(ino); h; h = h->next_ino)
		if (h->ino == ino)
			return h;
	return NULL;
}

static void unhash_locked(struct sm_hold *h)
{
	struct sm_hold **pp;

	for (pp = bucket(h->ino); *pp; pp = &(*pp)->next_ino) {
		if (*pp == h) {
			*pp = h->next_ino;
			break;
		}
	}
}

/* A hold for socket @ino, reused or made; NULL if out of memory. */
static struct sm_hold *new_locked(int fd, uint64_t ino)
{
	struct sm_hold *h = free_holds;

	if (h) {
		free_holds = h->next_ino;
	} else {
		h = calloc(1, sizeof(*h));
		if (!h)
			return NULL;
		h->next_all = all_holds;
		all_holds = h;
	}
	/* a thread may still have it locked from its last life */
	hold_lock(h);
	reset_locked(h, ino);
	h->fd = fd;
	h->fds = 0;
	hold_release(h);
	h->next_ino = *bucket(ino);
	*bucket(ino) = h;
	return h;
}

static void attach_locked(struct sm_fdinfo *fi, struct sm_hold *h)
{
	if (__atomic_load_n(&fi->hold, __ATOMIC_RELAXED) == h)
		return;
	h->fds++;
	if (!sm_fd_own(fi))
		__atomic_store_n(&h->shared, true, __ATOMIC_RELAXED);
	__atomic_store_n(&fi->hold, h, __ATOMIC_RELEASE);
}

void sm_hold_detach(struct sm_fdinfo *fi)
{
	struct sm_hold *h;
	int fd;

	if (!__atomic_load_n(&fi->hold, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&list_lock);
	h = fi->hold;
	__atomic_store_n(&fi->hold, NULL, __ATOMIC_RELEASE);
	if (h && h->fds && --h->fds == 0) {
		/*
		 * The socket's last descriptor is going: its state goes with
		 * it (the close flushed what it could).  A thread that has it
		 * locked (this one, a sendfile that found the number reused)
		 * finishes the reset when it unlocks.
		 */
		unhash_locked(h);
		h->next_ino = free_holds;
		free_holds = h;
		if (hold_trylock(h)) {
			reset_locked(h, 0);
			hold_release(h);
		} else {
			__atomic_store_n(&h->zombie, true, __ATOMIC_RELEASE);
		}
	} else if (h && h->fd >= 0 && sm_fd_peek(h->fd) == fi) {
		/* flushes go through another descriptor of the socket */
		fd = sm_fd_other_of(h, h->fd);
		__atomic_store_n(&h->fd, fd, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&list_lock);
}

void sm_hold_attach_dup(struct sm_fdinfo *fi, const struct sm_fdinfo *from)
{
	struct sm_hold *h = __atomic_load_n(&from->hold, __ATOMIC_ACQUIRE);

	if (!h)
		return;
	pthread_mutex_lock(&list_lock);
	if (h->ino == from->ino)
		attach_locked(fi, h);
	pthread_mutex_unlock(&list_lock);
}

/*
 * What a send buffer of @sndbuf bytes (SO_SNDBUF) with @outq queued takes
 * at once, for the budget (room_for()): half the free bytes, for the
 * kernel's overhead per buffer.
 */
static size_t room_in(int64_t sndbuf, int64_t outq)
{
	return sndbuf > outq ? (size_t)(sndbuf - outq) / 2 : 0;
}

/*
 * @fd's hold: its socket's, found through any of its descriptors; made if
 * @create and the engine holds this socket's writes (policy.c).  Unlocked;
 * NULL if none.  Looking by inode costs a classification (system calls)
 * only for a descriptor the shim has not seen yet.  The entry's own hold,
 * the answer four times per corked response, is inline (hold_of()).
 */
static __attribute__((noinline)) struct sm_hold *
hold_find(int fd, struct sm_fdinfo *fi, bool create, bool via_more)
{
	struct sm_hold *h;
	int kind;

	kind = sm_fd_classify(fd, fi);
	if (kind != SM_FD_TCP && kind != SM_FD_UNIX)
		return NULL;
	if (create && !sm_policy_holds(&sm_opt, kind, via_more))
		create = false;
	pthread_mutex_lock(&list_lock);
	h = find_locked(fi->ino);
	if (!h && create && (h = new_locked(fd, fi->ino)) &&
	    __atomic_load_n(&fi->fresh, __ATOMIC_RELAXED))
		/* nothing written to it yet: no need to measure */
		h->budget = room_in(fi->sndbuf0, 0);
	if (h)
		attach_locked(fi, h);
	/* shut while it had no hold: sm_hold_shutdown()'s other half */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (h && __atomic_load_n(&fi->shut_wr, __ATOMIC_RELAXED))
		__atomic_store_n(&h->shut, true, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&list_lock);
	return h;
}

static inline struct sm_hold *hold_of(int fd, struct sm_fdinfo *fi,
				      bool create, bool via_more)
{
	struct sm_hold *h = __atomic_load_n(&fi->hold, __ATOMIC_ACQUIRE);

	if (h && __atomic_load_n(&h->ino, __ATOMIC_RELAXED) == fi->ino)
		return h;
	return hold_find(fd, fi, create, via_more);
}

/*
 * The hold to look at for a call on @fd that may have to wait for held
 * bytes (@create: or starts a hold).  With no bytes held anywhere and no
 * hold of its own, a call cannot overtake anything: no lookup.  *@fip is
 * @fd's entry as the caller peeked it (NULL: none yet); with a hold it is
 * the entry on return, so that no caller looks it up twice.
 */
static __attribute__((noinline)) struct sm_hold *
hold_for_slow(int fd, struct sm_fdinfo **fip, bool create, bool via_more)
{
	struct sm_fdinfo *fi = *fip;

	if (sandboxed())
		return NULL;
	if (create && (!sm_active() || sm_opt.ENGINE == SM_ENGINE_NATIVE))
		create = false;
	if (!create && !sm_hold_any() &&
	    (!fi || !__atomic_load_n(&fi->hold, __ATOMIC_ACQUIRE)))
		return NULL;
	if (!fi && !(fi = *fip = sm_fd_get(fd)))
		return NULL;
	return hold_of(fd, fi, create, via_more);
}

/* Inline, the answer of the four calls of a corked response: the entry's
 * own hold. */
static inline struct sm_hold *hold_for(int fd, struct sm_fdinfo **fip,
				       bool create, bool via_more)
{
	struct sm_fdinfo *fi = *fip;
	struct sm_hold *h = fi ? __atomic_load_n(&fi->hold, __ATOMIC_ACQUIRE) :
			    NULL;

	if (sm_likely(h) &&
	    __atomic_load_n(&h->ino, __ATOMIC_RELAXED) == fi->ino &&
	    !sandboxed())
		return h;
	return hold_for_slow(fd, fip, create, via_more);
}

static void settle_locked(struct sm_hold *h);

static int drain_defer(struct sm_hold *h);

/*
 * Lock @h if it still belongs to @ino; settle a shared one.  A queued body
 * goes first (its error kept for the caller), so that nothing is ever
 * appended after it: only the uncork keeps it (@keep_body).
 */
static __attribute__((noinline)) struct sm_hold *
lock_hold_slow(struct sm_hold *h, uint64_t ino, bool keep_body)
{
	if (h->ino != ino || h->zombie) {
		hold_release(h);
		return NULL;
	}
	if (h->shared)
		settle_locked(h);
	if (h->body_len && !keep_body)
		drain_defer(h);
	return h;
}

static inline struct sm_hold *lock_hold(struct sm_hold *h, uint64_t ino,
					bool keep_body)
{
	if (!h)
		return NULL;
	hold_lock(h);
	if (sm_likely(h->ino == ino && !h->zombie && !h->shared &&
		      !h->body_len))
		return h;
	return lock_hold_slow(h, ino, keep_body);
}

static struct sm_hold *lock_checked(struct sm_hold *h, uint64_t ino)
{
	return lock_hold(h, ino, false);
}

struct sm_hold *sm_hold_lock(int fd, struct sm_fdinfo *fi)
{
	struct sm_hold *h = hold_for(fd, &fi, false, false);

	return h ? lock_checked(h, fi->ino) : NULL;
}

static inline void hold_unlock(struct sm_hold *h)
{
	if (sm_unlikely(__atomic_load_n(&h->zombie, __ATOMIC_ACQUIRE)))
		reset_locked(h, 0);
	hold_release(h);
}

void sm_hold_unlock(struct sm_hold *h)
{
	hold_unlock(h);
}

/* ---- the timer: the cork ceiling -------------------------------------- */

static void *timer_main(void *arg);

static void start_timer_locked(void)
{
	pthread_condattr_t ca;
	sigset_t all, old;
	int err;

	if (timer_running || timer_quit || timer_failed)
		return;
	/* Deadlines are CLOCK_MONOTONIC; no waiter exists before the timer. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_destroy(&list_cond);
	pthread_cond_init(&list_cond, &ca);
	pthread_condattr_destroy(&ca);
	/* The application's signals belong to its own threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	/* joinable: only a sandbox ends it, and must see it gone */
	err = pthread_create(&timer, NULL, timer_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		__atomic_store_n(&timer_failed, true, __ATOMIC_RELAXED);
		sm_info("no timer thread (%s): nothing is held", strerror(err));
		return;
	}
	__atomic_store_n(&timer_running, true, __ATOMIC_RELEASE);
}

/*
 * Held bytes need the timer that sends them at the cork's ceiling: where
 * no thread can be made (a thread limit, a pids cgroup) nothing is held.
 */
static bool timer_ready(void)
{
	if (__atomic_load_n(&timer_running, __ATOMIC_ACQUIRE))
		return true;
	if (__atomic_load_n(&timer_failed, __ATOMIC_RELAXED))
		return false;
	pthread_mutex_lock(&list_lock);
	start_timer_locked();
	pthread_mutex_unlock(&list_lock);
	return __atomic_load_n(&timer_running, __ATOMIC_ACQUIRE);
}

/* A hold just got its first bytes: the timer must know their deadline. */
static void began_locked(struct sm_hold *h)
{
	/*
	 * Once per response: the coarse clock (the last tick, no clock
	 * read), which is never ahead of CLOCK_MONOTONIC, so the deadline
	 * may come a tick early and never late; the timer keeps the fine
	 * clock, which a deadline so made is always due by.
	 */
	__atomic_store_n(&h->deadline, clock_ns(CLOCK_MONOTONIC_COARSE) +
			 SM_HOLD_NS,
			 __ATOMIC_RELAXED);
	__atomic_fetch_add(&nheld, 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&hold_gen, 1, __ATOMIC_RELAXED);
	/*
	 * A ticking timer wakes before this deadline and then waits for it:
	 * only an idle one (or none yet) needs the lock and a wake-up, which
	 * would cost a futex call per response.  With timer_main()'s store
	 * and load, in the opposite order, one side sees the other.
	 */
	if (!__atomic_load_n(&timer_running, __ATOMIC_ACQUIRE) ||
	    __atomic_load_n(&timer_idle, __ATOMIC_SEQ_CST)) {
		pthread_mutex_lock(&list_lock);
		start_timer_locked();
		if (timer_idle)
			pthread_cond_signal(&list_cond);
		pthread_mutex_unlock(&list_lock);
	}
}

/* ---- held bytes -------------------------------------------------------- */

/*
 * Copy the write's bytes (@v: its iovecs, already copied) into the hold;
 * false if they would not fit, or a pointer is bad (the kernel answers).
 */
static bool append_locked(struct sm_hold *h, const struct iovec *v, int cnt,
			  size_t n)
{
	size_t need = h->len + n, at = h->len;
	int i;

	if (need > SM_HOLD_MAX)
		return false;
	if (need > h->cap) {
		size_t cap = h->cap ? h->cap : 1024;
		char *b;

		while (cap < need)
			cap *= 2;
		b = realloc(h->buf, cap);
		if (!b)
			return false;
		h->buf = b;
		h->cap = cap;
	}
	for (i = 0; i < cnt; i++) {
		if (sm_copy_in(h->buf + at, v[i].iov_base, v[i].iov_len))
			return false;
		at += v[i].iov_len;
	}
	h->len = at;
	if (h->len == n)
		began_locked(h);
	return true;
}

/* The first @n held bytes reached the kernel. */
static void consume(struct sm_hold *h, size_t n)
{
	size_t in_buf = h->len - h->body_len;

	if (!n)
		return;
	if (n >= h->len) {
		emptied(h);
		return;
	}
	if (n >= in_buf) {
		h->body += n - in_buf;
		h->body_len -= n - in_buf;
	} else {
		memmove(h->buf, h->buf + n, in_buf - n);
	}
	h->len -= n;
}

/* The held bytes as iovecs: the buffer, then the body; returns how many. */
static int held_iov(const struct sm_hold *h, struct iovec v[2])
{
	int n = 0;

	if (h->len > h->body_len) {
		v[n].iov_base = h->buf;
		v[n++].iov_len = h->len - h->body_len;
	}
	if (h->body_len) {
		v[n].iov_base = (void *)h->body;
		v[n++].iov_len = h->body_len;
	}
	return n;
}

/*
 * Before bytes go out natively while the application has corked: the cork
 * it set, applied lazily.  Once applied, the kernel's cork is the truth:
 * on a shared socket another process may have uncorked it since, as it
 * could natively, and it stays so.
 */
static int kernel_cork(struct sm_hold *h, int fd)
{
	int one = 1;

	if (!h->app_cork || h->kern_cork)
		return 0;
	if (sm_real.setsockopt(fd, IPPROTO_TCP, TCP_CORK, &one,
			       sizeof(one)) < 0)
		return -errno;
	h->kern_cork = true;
	return 0;
}

/* The flags every send of ours on this socket carries. */
static int msg_flags(const struct sm_hold *h)
{
	return h && h->app_cork && !h->kern_cork ? MSG_MORE : 0;
}

bool sm_hold_app_corked(const struct sm_hold *h)
{
	return h && h->app_cork;
}

/*
 * The flags of a body sent with the held headers.  Without MSG_MORE its last
 * partial segment leaves at once instead of at the uncork that nginx and
 * friends issue right after, which saves that syscall: the bytes on the
 * wire are the same.  A socket that writes more after a body while corked
 * (a chunked trailer) has shown it wants the cork, and gets MSG_MORE.
 */
int sm_hold_body_flags(const struct sm_hold *h)
{
	return h && h->tail_seen ? msg_flags(h) : 0;
}

static void body_sent(struct sm_hold *h, int flags)
{
	if (flags & MSG_MORE)
		h->more_sent = true;
	h->body_done = h->app_cork;
}

/*
 * Hand the held bytes to the kernel.  @push: the cork ceiling passed, so
 * they go without MSG_MORE.  Returns 0, -EAGAIN (some remain held), or the
 * socket's error, which the hold also keeps for the application.
 */
static int flush_locked(struct sm_hold *h, int fd, bool nonblock, bool push)
{
	int flags = MSG_NOSIGNAL | (nonblock ? MSG_DONTWAIT : 0);
	struct iovec v[2];
	struct msghdr m = { .msg_iov = v };
	ssize_t n;

	if (!push)
		flags |= msg_flags(h);
	while (h->len) {
		m.msg_iovlen = held_iov(h, v);
		/* send(2) where it is one buffer: what strace shows, too */
		n = h->body_len ? sm_sys_sendmsg(fd, &m, flags) :
		    sm_sys_send(fd, h->buf, h->len, flags);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return -EAGAIN;
		if (n < 0) {
			/*
			 * EFAULT in a queued body: another process shrank
			 * the file since the sendfile() that queued it (the
			 * one documented exception): the socket's stream is
			 * broken, and its next call says so.
			 */
			h->err = errno == EFAULT && h->body_len ? EIO : errno;
			h->dead = true;
			consume(h, h->len);
			return -h->err;
		}
		if (flags & MSG_MORE)
			h->more_sent = true;
		if (!h->body_len)
			sm_count(&sm_stats->hold_flushed, n);
		sm_hold_spent(h, n);
		consume(h, n);
	}
	return 0;
}

/* An error kept from an earlier flush, reported now as the kernel would. */
static ssize_t report_err(struct sm_hold *h, int flags)
{
	int e = h->err;

	h->err = 0;
	if (e == EPIPE && !(flags & MSG_NOSIGNAL))
		sm_raise(SIGPIPE);
	return -e;
}

/*
 * The two ways held bytes reach the kernel, named by who hears of an error:
 * drain_report() is for a call that must not overtake them and reports the
 * socket's error itself, as the native write would have; drain_defer() is
 * for a flush the application did not ask for (a cork ceiling, a blocking
 * wait, another option), whose error waits for the socket's next call.
 */
static int drain_defer(struct sm_hold *h)
{
	return flush_locked(h, h->fd, false, false);
}

/*
 * Returns 0, -EAGAIN (some are still held: the caller's send must not
 * overtake them), or the socket's error, reported now.  A call with
 * MSG_DONTWAIT does not wait for them either.
 */
static int drain_report(struct sm_hold *h, int fd, int flags)
{
	int ret;

	if (h->err)
		return report_err(h, flags);
	if (!h->len)
		return 0;
	ret = flush_locked(h, fd, flags & MSG_DONTWAIT, false);
	return ret == -EAGAIN || !ret ? ret : report_err(h, flags);
}

/*
 * A shared socket holds nothing: what it had goes to the kernel as it
 * stood -- held bytes sent (an error kept for the next call), the cork
 * applied -- and from now on every call passes through.
 */
static void settle_locked(struct sm_hold *h)
{
	if (h->len)
		drain_defer(h);
	if (!h->len)
		kernel_cork(h, h->fd);
}

void sm_hold_failed(int fd, int err)
{
	struct sm_fdinfo *fi = sm_fd_peek(fd);
	struct sm_hold *h;

	/* the caller's mistakes and the socket's pace are not its death */
	if (!fi || err == EAGAIN || err == EINTR || err == EFAULT ||
	    err == EINVAL || err == EBADF || err == EMSGSIZE || err == ENOBUFS ||
	    err == ENOMEM)
		return;
	h = __atomic_load_n(&fi->hold, __ATOMIC_ACQUIRE);
	if (h)
		__atomic_store_n(&h->dead, true, __ATOMIC_RELAXED);
}

void sm_hold_spent(struct sm_hold *h, size_t n)
{
	h->budget = h->budget > n ? h->budget - n : 0;
}

/*
 * Would the kernel take @need bytes at once, as the native write would
 * have?  A blocking socket always does: its write waits until they are
 * queued, and so does the shim's flush.  A non-blocking one (or
 * MSG_DONTWAIT, or SO_SNDTIMEO) only within its free send buffer: measured
 * (SIOCOUTQ, SO_SNDBUF: room_in()) when the budget left from the last
 * measure runs out, and spent by every byte that leaves through the
 * socket, so a healthy keep-alive connection measures rarely.  A hold made
 * for a socket accepted with nothing written to it since starts with the
 * budget of its listener's empty buffer, unmeasured (hold_find()).  A
 * reset that arrives after the shim took a write is reported by the
 * socket's next call, as the kernel reports an error that comes after a
 * successful write.
 */
static bool room_for(struct sm_hold *h, int fd, struct sm_fdinfo *fi,
		     size_t need, int flags)
{
	int fl = sm_fd_flags(fd, fi), outq, sndbuf;
	socklen_t len = sizeof(sndbuf);

	if (fl >= 0 && !(fl & O_NONBLOCK) && !(flags & MSG_DONTWAIT) &&
	    !sm_fd_sndtimeo(fd, fi))
		return true;
	if (h->budget >= need)
		return true;
	/*
	 * SO_SNDBUF changes through the application's setsockopt (which
	 * forgets it) or the kernel's: autotuning only grows it, and memory
	 * pressure that shrinks it is an event outside the process, which
	 * could as well have come after the write.
	 */
	if (sm_real.ioctl(fd, SIOCOUTQ, &outq) < 0)
		return false;
	if (!h->sndbuf &&
	    sm_real.getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len) == 0)
		h->sndbuf = sndbuf;
	h->budget = room_in(h->sndbuf, outq);
	return h->budget >= need;
}

/*
 * Should this write be held?  The socket is corked (or the call says
 * MSG_MORE), only this process writes to it, the bytes fit, and the kernel
 * would take them at once.
 */
static bool holdable(struct sm_hold *h, int fd, struct sm_fdinfo *fi,
		     size_t n, int flags)
{
	if (!(h->app_cork || (flags & MSG_MORE)) || h->shut || h->err ||
	    h->dead || h->shared || (flags & ~SM_HOLD_FLAGS))
		return false;
	if (!n || h->len + n > SM_HOLD_MAX || !timer_ready())
		return false;
	return room_for(h, fd, fi, h->len + n, flags);
}

static size_t iov_total(const struct iovec *iov, int cnt, bool *ok)
{
	size_t n = 0;
	int i;

	*ok = cnt >= 0 && cnt <= IOV_MAX;
	for (i = 0; *ok && i < cnt; i++) {
		if (iov[i].iov_len > SSIZE_MAX - n)
			*ok = false;
		else
			n += iov[i].iov_len;
	}
	return n;
}

/*
 * Held bytes and this write (@v, copied iovecs) in one send, in order.
 * False when the kernel took none of the write's bytes for a reason only
 * it knows: a bad pointer (EFAULT for the whole send, or a short count,
 * since the kernel copies in pieces and a piece that faults goes back),
 * a full socket, a signal.  Then the held bytes go first, all of them,
 * and the real call gives the kernel's own answer for the write.
 */
static bool send_with_held(struct sm_hold *h, int fd, const struct iovec *v,
			   int cnt, size_t n, int flags, ssize_t *res)
{
	struct iovec all[SM_HOLD_IOV];
	struct msghdr m = { .msg_iov = all };
	ssize_t k;

	all[0].iov_base = h->buf;
	all[0].iov_len = h->len;
	memcpy(all + 1, v, cnt * sizeof(*v));
	m.msg_iovlen = cnt + 1;
	k = sm_sys_sendmsg(fd, &m, flags | msg_flags(h));
	if (k < 0 && errno == EFAULT)
		return false;
	if (k > 0)
		sm_hold_spent(h, k);
	if (k >= 0 && msg_flags(h))
		h->more_sent = true;
	if (k < 0) {
		*res = -errno;
		if (errno != EAGAIN && errno != EINTR)
			consume(h, h->len);
	} else if ((size_t)k < h->len) {
		consume(h, k);
		if (!n) {
			*res = 0;
			return true;
		}
		/* the rest, waiting as the write would: then the write */
		k = drain_report(h, fd, flags);
		if (!k)
			return false;
		*res = k;
	} else {
		k -= h->len;
		sm_count(&sm_stats->hold_flushed, h->len);
		consume(h, h->len);
		if (!k && n)
			return false;
		*res = k;
	}
	return true;
}

/* Held bytes out of the way of a call the real function makes. */
static bool pass_on(struct sm_hold *h, int fd, int flags, ssize_t *res)
{
	ssize_t k = drain_report(h, fd, flags);

	/* the real call's bytes are not counted: measure again next time */
	h->budget = 0;
	if (k < 0) {
		*res = k;
		return true;
	}
	/* the real call, under the kernel's cork if corked */
	kernel_cork(h, fd);
	return false;
}

/* The write of @cnt iovecs at @iov (the application's) on locked @h. */
static bool write_locked(struct sm_hold *h, int fd, struct sm_fdinfo *fi,
			 const struct iovec *iov, int cnt, int flags,
			 ssize_t *res)
{
	struct iovec v[SM_HOLD_IOV - 1];
	bool ok;
	size_t n;

	/*
	 * iovecs the kernel refuses before it looks at the socket (a count
	 * out of range, an array it cannot read): its answer, with nothing
	 * sent and a kept error left for the next call.  The held bytes need
	 * not go first: draining them would wait, or give EAGAIN, where the
	 * kernel says EINVAL or EFAULT at once.
	 */
	if (cnt < 0 || cnt > IOV_MAX)
		return false;
	if (cnt <= (int)SM_ARRAY_SIZE(v) &&
	    sm_copy_in(v, iov, cnt * sizeof(*v)))
		return false;
	if (h->err) {
		*res = report_err(h, flags);
		return true;
	}
	if (h->body_done)
		h->tail_seen = true;
	/* more than fit here, or lengths that overflow: after them */
	if (cnt > (int)SM_ARRAY_SIZE(v))
		return pass_on(h, fd, flags, res);
	n = iov_total(v, cnt, &ok);
	if (!ok)
		return pass_on(h, fd, flags, res);
	if (holdable(h, fd, fi, n, flags) && append_locked(h, v, cnt, n)) {
		sm_count(&sm_stats->hold_writes, 1);
		*res = n;
		return true;
	}
	if (!h->len || (flags & ~SM_HOLD_FLAGS) ||
	    !send_with_held(h, fd, v, cnt, n, flags, res))
		return pass_on(h, fd, flags, res);
	return true;
}

bool sm_hold_write(int fd, const struct iovec *iov, int cnt, int flags,
		   ssize_t *res)
{
	struct sm_fdinfo *fi = sm_fd_peek(fd);
	struct sm_hold *h;
	bool done;

	sm_fd_written_to(fi);
	/* The send family: MSG_MORE may start a hold, as TCP_CORK does. */
	h = hold_for(fd, &fi, flags & MSG_MORE, true);
	if (!h)
		return false;
	/* The common case, unlocked: nothing held, nothing corked (and the
	 * real call's bytes are not counted: measure again next time). */
	if (!__atomic_load_n(&h->len, __ATOMIC_RELAXED) &&
	    !__atomic_load_n(&h->app_cork, __ATOMIC_RELAXED) &&
	    !__atomic_load_n(&h->err, __ATOMIC_RELAXED) &&
	    !(flags & MSG_MORE)) {
		__atomic_store_n(&h->budget, 0, __ATOMIC_RELAXED);
		return false;
	}
	h = lock_checked(h, fi->ino);
	if (!h)
		return false;
	done = write_locked(h, fd, fi, iov, cnt, flags, res);
	hold_unlock(h);
	return done;
}

int sm_hold_before_write(int fd, int flags)
{
	struct sm_fdinfo *fi = sm_fd_peek(fd);
	struct sm_hold *h;
	ssize_t res = 0;

	sm_fd_written_to(fi);
	h = hold_for(fd, &fi, false, false);
	if (!h || !(h = lock_checked(h, fi->ino)))
		return 0;
	pass_on(h, fd, flags, &res);
	hold_unlock(h);
	return res;
}

/*
 * Descriptors about to be passed in SCM_RIGHTS: another process may write
 * to them, so from now on they are shared (whether or not the send goes).
 */
static void rights_passed(const struct msghdr *m)
{
	char buf[512];
	struct msghdr c = { .msg_control = buf };
	struct cmsghdr *cm;
	size_t len = m->msg_controllen;

	if (!len || !m->msg_control)
		return;
	if (len > sizeof(buf))
		len = sizeof(buf);
	c.msg_controllen = len;
	if (sm_copy_in(buf, m->msg_control, len))
		return;
	for (cm = CMSG_FIRSTHDR(&c); cm; cm = CMSG_NXTHDR(&c, cm)) {
		const char *p = (const char *)CMSG_DATA(cm);
		const char *end = (const char *)cm + cm->cmsg_len;
		int fd;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (; p + sizeof(fd) <= end; p += sizeof(fd)) {
			memcpy(&fd, p, sizeof(fd));
			sm_fd_shared(fd);
		}
	}
}

bool sm_hold_sendmsg(int fd, const struct msghdr *app_m, int flags,
		     ssize_t *res)
{
	struct msghdr m;
	ssize_t k;

	if (sandboxed())
		return false;
	/* a msghdr the kernel cannot read: its EFAULT, nothing sent */
	if (sm_copy_in(&m, app_m, sizeof(m)))
		return false;
	if (!m.msg_name && !m.msg_controllen)
		return sm_hold_write(fd, m.msg_iov, m.msg_iovlen > INT_MAX ?
				     -1 : (int)m.msg_iovlen, flags, res);
	/* An address or ancillary data: the kernel's, after held bytes. */
	k = sm_hold_before_write(fd, flags);
	if (!k) {
		rights_passed(&m);
		k = sm_real.sendmsg(fd, app_m, flags);
		k = k < 0 ? -errno : k;
	}
	*res = k;
	return true;
}

bool sm_hold_sendto(int fd, const void *buf, size_t n, int flags,
		    const struct sockaddr *to, ssize_t *res)
{
	struct iovec v = { (void *)buf, n };
	int k;

	if (!to)
		return sm_hold_write(fd, &v, 1, flags, res);
	k = sm_hold_before_write(fd, flags);
	*res = k;
	return k < 0;
}

bool sm_hold_sendmmsg(int fd, struct mmsghdr *vec, unsigned int n, int flags,
		      int *res)
{
	struct mmsghdr mm;
	int k, i;

	if (sandboxed())
		return false;
	k = sm_hold_before_write(fd, flags);
	if (!k) {
		for (i = 0; i < (int)n && i < SM_MMSG_MAX; i++)
			if (!sm_copy_in(&mm, vec + i, sizeof(mm)))
				rights_passed(&mm.msg_hdr);
		k = sm_real.sendmmsg(fd, vec, n, flags);
		k = k < 0 ? -errno : k;
	}
	*res = k;
	return true;
}

/* ---- batching: a loop turn's responses leave together ----------------- */

static uint64_t flush_all(bool due_only);

/*
 * May @h's bytes wait for the next epoll_wait of this thread, to leave
 * with the loop turn's other responses in one io_uring_enter?  Only in an
 * event loop's thread (a worker that goes back to a condition variable
 * would keep them to the cork's ceiling), only bytes that nothing in the
 * kernel waits on (no kernel cork, no MSG_MORE bytes to push), only while
 * this process alone writes to the socket, and only so many sockets.
 */
static bool may_wait(struct sm_hold *h, int fd)
{
	struct sm_fdinfo *fi;

	if (!loop_thread || !sm_policy_turn_batches(turn_events))
		return false;	/* most threads: no lookup */
	fi = sm_fd_peek(fd);
	return fi && sm_policy_batches(&sm_opt, fi->kind) &&
	       !h->kern_cork && !h->more_sent && !h->shared && !h->err &&
	       !h->dead && !h->shut &&
	       (h->waiting || __atomic_load_n(&nwaiting, __ATOMIC_RELAXED) <
			      SM_BATCH_HOLDS);
}

bool sm_hold_may_batch(struct sm_hold *h, int fd)
{
	return h && h->len && h->app_cork && !h->body_len && may_wait(h, fd);
}

/*
 * The body of sendfile() on a socket whose headers are held, as a reference
 * to the caller's mapping @map (whose reference the hold takes), queued
 * behind them: false if the kernel would not take them all at once now,
 * which a batch's non-blocking send needs, whatever the socket's mode.
 */
bool sm_hold_take_body(struct sm_hold *h, int fd, struct sm_map *map,
		       const void *body, size_t n)
{
	if (!sm_hold_may_batch(h, fd) ||
	    !room_for(h, fd, sm_fd_peek(fd), h->len + n, MSG_DONTWAIT))
		return false;
	h->body_map = map;
	h->body = body;
	h->body_len = n;
	h->len += n;
	body_sent(h, 0);
	return true;
}

/* A batch's send of @h's bytes came back with @s->res. */
static void batch_done(struct sm_hold *h, const struct sm_batch_send *s)
{
	ssize_t n = s->res;

	if (n > 0) {
		if (s->flags & MSG_MORE)
			h->more_sent = true;
		if (!h->body_len)
			sm_count(&sm_stats->hold_flushed, n);
		sm_hold_spent(h, n);
		consume(h, n);
	} else if (n < 0 && n != -EAGAIN && n != -EINTR) {
		/* as flush_locked(): the next call reports it */
		h->err = n == -EFAULT && h->body_len ? EIO : (int)-n;
		h->dead = true;
		consume(h, h->len);
	}
	if (h->len)	/* the socket was full: again soon */
		__atomic_store_n(&h->deadline, now_ns() + SM_HOLD_NS / 20,
				 __ATOMIC_RELAXED);
}

/*
 * One io_uring_enter for every hold with bytes that this thread can lock
 * now (one busy in another thread is flushed by that thread, or by the
 * next wait, or by the timer), in rounds of SM_BATCH_ROUND.  False if
 * there is no ring: flush_all() then sends them one by one.
 */
static bool flush_batched(void)
{
	struct sm_batch_send v[SM_BATCH_ROUND];
	struct sm_hold *held[SM_BATCH_ROUND], *h, *next;
	struct sm_ring *r;
	unsigned int n, i;
	int calls, err;

	r = sm_ring_get(&err);
	if (!r)
		return false;
	pthread_mutex_lock(&list_lock);
	next = all_holds;
	pthread_mutex_unlock(&list_lock);
	while (next) {
		for (n = 0; next && n < SM_BATCH_ROUND; next = next->next_all) {
			h = next;
			if (!__atomic_load_n(&h->len, __ATOMIC_RELAXED) ||
			    !hold_trylock(h))
				continue;
			if (!h->len || !h->ino || h->zombie) {
				hold_unlock(h);
				continue;
			}
			held[n] = h;
			v[n].fd = h->fd;
			v[n].flags = MSG_NOSIGNAL | msg_flags(h);
			v[n].msg = (struct msghdr){ .msg_iov = v[n].iov };
			v[n].msg.msg_iovlen = held_iov(h, v[n].iov);
			n++;
		}
		if (!n)
			break;
		calls = sm_ring_send_batch(r, v, n);
		if (calls > 0) {
			sm_count(&sm_stats->batches, calls);
			sm_count(&sm_stats->batch_sends, n);
		}
		for (i = 0; i < n; i++) {
			batch_done(held[i], &v[i]);
			hold_unlock(held[i]);
		}
	}
	return true;
}

/*
 * The end of a loop turn, or a wait: an epoll_wait (@loop), poll or select,
 * and @blocking if it may sleep.  A thread that waits in epoll_wait is an
 * event loop's from then on.  What waits for the turn's end goes now, and
 * at a blocking wait all that is held: in one submission in an event
 * loop's thread, one send per socket in any other.
 */
void sm_hold_before_wait(bool loop, bool blocking)
{
	if (loop && !loop_thread && !sandboxed())
		loop_thread = true;
	if (!sm_hold_any() ||
	    (!blocking && !__atomic_load_n(&nwaiting, __ATOMIC_RELAXED)))
		return;
	/* only an event loop's thread makes a ring for it (a worker that
	 * polls one socket sends as before batching) */
	if (!loop_thread || !sm_policy_batches(&sm_opt, SM_FD_TCP) ||
	    !flush_batched())
		flush_all(false);
}

void sm_hold_turn(int events)
{
	turn_events = events;
}

/* ---- options: TCP_CORK, and the others that act on queued bytes -------- */

/* TCP_CORK from the application.  Returns setsockopt's result. */
static int set_cork(struct sm_hold *h, int fd, bool on)
{
	int zero = 0, ret = 0;

	if (on) {
		h->app_cork = true;
		if (!h->shared)
			return 0;
		/* shared: the kernel's own, whatever we last knew of it */
		h->kern_cork = false;
		return kernel_cork(h, fd);
	}
	h->app_cork = false;
	h->body_done = false;
	/* in an event loop: with the turn's other responses, at its end */
	if (h->len && may_wait(h, fd)) {
		if (!h->waiting)
			__atomic_fetch_add(&nwaiting, 1, __ATOMIC_RELAXED);
		h->waiting = true;
		return 0;
	}
	if (h->len)
		flush_locked(h, fd, false, false);
	/* a socket shared with another process may have been corked there */
	if (h->kern_cork || h->more_sent || h->shared)
		ret = sm_real.setsockopt(fd, IPPROTO_TCP, TCP_CORK, &zero,
					 sizeof(zero));
	h->kern_cork = false;
	h->more_sent = false;
	return ret < 0 ? -errno : 0;
}

bool sm_hold_setsockopt(int fd, int level, int name, const void *val,
			socklen_t len, int *res)
{
	struct sm_fdinfo *fi = sm_fd_peek(fd);
	struct sm_hold *h;
	bool cork = level == IPPROTO_TCP && name == TCP_CORK;
	int on;

	if (!cork)	/* the cork changes no fact the entry keeps */
		sm_fd_sockopt_set(fd, level, name);
	/* a value the kernel cannot read is its own EFAULT */
	if (cork && (len < sizeof(int) || sm_copy_in(&on, val, sizeof(on))))
		cork = false;
	h = hold_for(fd, &fi, cork, false);
	/* the uncork keeps a queued body: the loop's wait sends it */
	if (!h || !(h = lock_hold(h, fi->ino, cork && !on)))
		return false;
	/* an AF_UNIX socket holding MSG_MORE bytes has no cork to set */
	if (fi->kind != SM_FD_TCP)
		cork = false;
	if (cork) {
		*res = set_cork(h, fd, on != 0);
	} else {
		/* TCP_NODELAY and the like act on queued bytes: queue ours */
		drain_defer(h);
		h->budget = 0;	/* SO_SNDBUF, maybe */
		h->sndbuf = 0;
		*res = sm_real.setsockopt(fd, level, name, val, len) < 0 ?
		       -errno : 0;
	}
	hold_unlock(h);
	return true;
}

void sm_hold_cork_applied(int fd, int on)
{
	struct sm_fdinfo *fi = sm_fd_peek(fd);
	struct sm_hold *h = hold_for(fd, &fi, false, false);

	if (!h || !(h = lock_checked(h, fi->ino)))
		return;
	/* the kernel's cork is the application's now, as set */
	h->app_cork = on;
	h->kern_cork = on;
	if (!on)
		h->more_sent = false;
	hold_unlock(h);
}

void sm_hold_sockopt_applied(int fd)
{
	struct sm_fdinfo *fi = sm_fd_peek(fd);
	struct sm_hold *h = hold_for(fd, &fi, false, false);

	if (!h || !(h = lock_checked(h, fi->ino)))
		return;
	h->budget = 0;		/* SO_SNDBUF, maybe */
	h->sndbuf = 0;
	hold_unlock(h);
}

void sm_hold_getsockopt(int fd, int level, int name, void *val,
			const socklen_t *len)
{
	struct sm_fdinfo *fi = sm_fd_peek(fd);
	struct sm_hold *h;
	int v;

	if (level != IPPROTO_TCP || name != TCP_CORK || *len < sizeof(int) ||
	    sandboxed())
		return;
	/*
	 * The socket's hold, found by its inode: the cork may have been set
	 * through another descriptor (a dup made before the hold was, one
	 * the shim has no entry for yet).  It only reads: a queued body
	 * stays.
	 */
	if (!fi && !(fi = sm_fd_get(fd)))
		return;
	h = hold_of(fd, fi, false, false);	/* sets fi->ino: not an argument */
	if (!h || !(h = lock_hold(h, fi->ino, true)))
		return;
	/* the kernel's cork, or the application's applied lazily (a shared
	 * socket's was applied when it became shared: the kernel's alone;
	 * ours is never on without the application's, kernel_cork()) */
	memcpy(&v, val, sizeof(v));
	v = v || (!h->shared && h->app_cork);
	memcpy(val, &v, sizeof(v));
	hold_unlock(h);
}

size_t sm_hold_queued(int fd)
{
	struct sm_fdinfo *fi = sm_fd_peek(fd);
	struct sm_hold *h = hold_for(fd, &fi, false, false);
	size_t n;

	if (!h || !(h = lock_checked(h, fi->ino)))
		return 0;
	n = h->len;
	hold_unlock(h);
	return n;
}

/* ---- the socket closes, or its write side does ------------------------ */

/* The held bytes go first; a non-blocking socket may wait the ceiling. */
static void flush_for_close(struct sm_hold *h, int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	while (h->len && flush_locked(h, fd, false, false) == -EAGAIN &&
	       sm_sys_poll1(&p, SM_HOLD_NS / 1000000) == 1)
		;
}

void sm_hold_close(int fd)
{
	struct sm_fdinfo *fi = sm_fd_peek(fd);
	struct sm_hold *h;

	if (!fi || sandboxed() ||
	    !(h = lock_checked(__atomic_load_n(&fi->hold, __ATOMIC_ACQUIRE),
			       fi->ino)))
		return;
	flush_for_close(h, fd);
	hold_unlock(h);
}

void sm_hold_shutdown(int fd, int how)
{
	struct sm_fdinfo *fi = sm_fd_peek(fd);
	struct sm_hold *h;

	if (how != SHUT_WR && how != SHUT_RDWR)
		return;
	/*
	 * A descriptor alone with its socket, and no hold: nothing is held
	 * for it, and no other descriptor can start holding, so its entry
	 * remembers the shutdown for a hold made later -- no lookup, no
	 * system call, where lighttpd and apache shut every connection.  A
	 * thread attaching a hold meanwhile (hold_find()) sees the mark, or
	 * is seen here: both sides store, fence, then load.
	 */
	if (fi && sm_fd_alone(fi)) {
		__atomic_store_n(&fi->shut_wr, 1, __ATOMIC_SEQ_CST);
		if (!__atomic_load_n(&fi->hold, __ATOMIC_SEQ_CST))
			return;
	}
	/* made if need be: the write side stays shut for every descriptor */
	h = hold_for(fd, &fi, true, true);
	if (!h || !(h = lock_checked(h, fi->ino)))
		return;
	flush_for_close(h, fd);
	h->shut = true;
	hold_unlock(h);
}

/* ---- other processes: forks and passed descriptors -------------------- */

/*
 * @fd is about to reach another process (SCM_RIGHTS): what it holds goes,
 * and a cork recorded lazily is applied, before the other process can
 * write to it or read its cork.
 */
void sm_hold_shared(int fd)
{
	struct sm_fdinfo *fi = sm_fd_peek(fd);
	struct sm_hold *h;

	if (!fi)
		return;
	h = __atomic_load_n(&fi->hold, __ATOMIC_ACQUIRE);
	if (!h)
		return;
	__atomic_store_n(&h->shared, true, __ATOMIC_RELAXED);
	h = lock_checked(h, fi->ino);	/* settles it */
	if (h)
		hold_unlock(h);
}

/*
 * Every socket as the kernel would have it natively: held bytes sent (an
 * error kept for the socket's next call), a cork recorded lazily applied.
 * @filter: a seccomp filter is coming, and a zombie's reset, which may
 * make system calls of its own, is left alone.
 */
static void settle_all(bool filter)
{
	struct sm_hold *h;

	pthread_mutex_lock(&list_lock);
	h = all_holds;
	pthread_mutex_unlock(&list_lock);
	for (; h; h = h->next_all) {
		/* a filter waits for a thread that is holding bytes now */
		if (!filter && !__atomic_load_n(&h->len, __ATOMIC_RELAXED) &&
		    (!__atomic_load_n(&h->app_cork, __ATOMIC_RELAXED) ||
		     __atomic_load_n(&h->kern_cork, __ATOMIC_RELAXED)))
			continue;
		hold_lock(h);
		if (h->ino && h->fds)
			settle_locked(h);
		if (filter)
			hold_release(h);
		else
			hold_unlock(h);
	}
}

/*
 * Before a fork, in the parent, the child not yet made: so that neither
 * process has a cork only it knows of, or bytes both would send.
 */
void sm_hold_before_fork(void)
{
	if (!sandboxed())
		settle_all(false);
}

void sm_hold_forked(void)
{
	struct sm_hold *h;

	for (h = all_holds; h; h = h->next_all)
		__atomic_store_n(&h->shared, true, __ATOMIC_RELAXED);
}

/* ---- the sendfile engine's side (sendfile.c), hold locked ------------- */

int sm_hold_body_begin(struct sm_hold *h, int flags)
{
	/* A second body before the uncork: this socket wants its cork. */
	if (h->body_done)
		h->tail_seen = true;
	/* The socket's own order: held bytes, then this body. */
	return h->err ? report_err(h, flags) : 0;
}

size_t sm_hold_pending(const struct sm_hold *h, const void **buf)
{
	if (!h)
		return 0;
	*buf = h->buf;
	return h->len;
}

void sm_hold_coalesced(struct sm_hold *h, size_t pre, int flags)
{
	body_sent(h, flags);
	consume(h, pre);
}

int sm_hold_drain(struct sm_hold *h, int fd, int flags)
{
	return drain_report(h, fd, flags);
}

int sm_hold_cork_kernel(struct sm_hold *h, int fd)
{
	return h ? kernel_cork(h, fd) : 0;
}

int sm_hold_before_native(struct sm_hold *h, int fd)
{
	int ret = drain_report(h, fd, 0);

	if (!ret)
		kernel_cork(h, fd);
	return ret;
}

int sm_hold_native_body(struct sm_hold *h, int fd, bool *push)
{
	int ret;

	*push = h->len && !sm_hold_body_flags(h);
	ret = drain_report(h, fd, 0);
	if (!ret && !*push)
		kernel_cork(h, fd);
	return ret;
}

ssize_t sm_hold_native_lead(struct sm_hold *h, int fd, const void *buf,
			    size_t n, bool *push)
{
	struct iovec v[3];
	struct msghdr m = { .msg_iov = v };
	ssize_t k;

	if (h->err || !h->len)
		return 0;
	*push = !sm_hold_body_flags(h);
	m.msg_iovlen = held_iov(h, v);
	v[m.msg_iovlen].iov_base = (void *)buf;
	v[m.msg_iovlen++].iov_len = n;
	/* the kernel's own answer to anything but bytes comes from the
	 * native call that follows, after what is still held */
	k = sm_sys_sendmsg(fd, &m, MSG_NOSIGNAL | MSG_MORE);
	if (k <= 0)
		return 0;
	sm_hold_spent(h, k);
	h->more_sent = true;
	if ((size_t)k < h->len) {
		consume(h, k);
		return 0;
	}
	k -= h->len;
	consume(h, h->len);
	if (!*push)
		kernel_cork(h, fd);
	return k;
}

void sm_hold_native_body_pushed(struct sm_hold *h)
{
	/* Its last chunk went without MSG_MORE: everything queued went. */
	h->more_sent = false;
	body_sent(h, 0);
}

/* ---- every hold: flush points, the timer, fork, the sandbox ----------- */

/* Flush every hold: @due_only those past their deadline (the timer). */
static uint64_t flush_all(bool due_only)
{
	uint64_t now = now_ns(), next = UINT64_MAX;
	struct sm_hold *h;

	pthread_mutex_lock(&list_lock);
	h = all_holds;
	pthread_mutex_unlock(&list_lock);
	for (; h; h = h->next_all) {
		uint64_t d = __atomic_load_n(&h->deadline, __ATOMIC_RELAXED);

		if (!__atomic_load_n(&h->len, __ATOMIC_RELAXED))
			continue;
		if (due_only && d > now) {
			/* not due: no need to fight its sender for the lock
			 * (a stale deadline only wakes the timer early) */
			if (d < next)
				next = d;
			continue;
		}
		hold_lock(h);
		if (h->len && h->ino && (!due_only || h->deadline <= now)) {
			if (flush_locked(h, h->fd, due_only, due_only) ==
			    -EAGAIN)
				__atomic_store_n(&h->deadline,
						 now + SM_HOLD_NS / 20,
						 __ATOMIC_RELAXED);
		}
		if (h->len && h->deadline < next)
			next = h->deadline;
		hold_unlock(h);
	}
	return next;
}

void sm_hold_flush_all(void)
{
	if (sm_hold_any())
		flush_all(false);
}

/*
 * The cork ceiling, for applications that hold a cork and go quiet.  It
 * ticks every SM_HOLD_NS while holds begin (each then waits for its own
 * deadline), and goes idle after a tick in which none did.
 */
static void *timer_main(void *arg)
{
	unsigned int gen, seen = 0;
	uint64_t next;
	struct timespec ts;

	(void)arg;
	for (;;) {
		next = flush_all(true);
		gen = __atomic_load_n(&hold_gen, __ATOMIC_RELAXED);
		pthread_mutex_lock(&list_lock);
		if (timer_quit)
			break;
		if (next == UINT64_MAX && gen == seen) {
			__atomic_store_n(&timer_idle, true, __ATOMIC_SEQ_CST);
			if (!__atomic_load_n(&nheld, __ATOMIC_SEQ_CST))
				pthread_cond_wait(&list_cond, &list_lock);
			__atomic_store_n(&timer_idle, false, __ATOMIC_RELAXED);
		} else {
			seen = gen;
			if (next == UINT64_MAX)
				next = now_ns() + SM_HOLD_NS;
			ts.tv_sec = next / 1000000000ULL;
			ts.tv_nsec = next % 1000000000ULL;
			pthread_cond_timedwait(&list_cond, &list_lock, &ts);
		}
		if (timer_quit)
			break;
		pthread_mutex_unlock(&list_lock);
	}
	pthread_mutex_unlock(&list_lock);
	return NULL;
}

/*
 * A seccomp filter is about to be installed: from now on the shim may make
 * no system call the application did not ask for.  What is held goes now,
 * as it stood (the cork applied where the application set it); the timer
 * ends; every later call passes through.
 */
void sm_hold_sandbox(void)
{
	if (__atomic_exchange_n(&passthrough, true, __ATOMIC_SEQ_CST))
		return;
	settle_all(true);
	pthread_mutex_lock(&list_lock);
	timer_quit = true;
	pthread_cond_broadcast(&list_cond);
	if (timer_running) {
		pthread_mutex_unlock(&list_lock);
		/* gone for the kernel too: a filter with TSYNC must not
		 * meet its last madvise() and exit() */
		pthread_join(timer, NULL);
		return;
	}
	pthread_mutex_unlock(&list_lock);
}

/*
 * In a forked child: the prepare handler flushed, but another thread may
 * have held bytes since; they are the parent's to send.  Locks a parent
 * thread held are reinitialised, and the timer thread is gone.
 */
void sm_hold_after_fork(void)
{
	struct sm_hold *h;

	pthread_mutex_init(&list_lock, NULL);
	pthread_cond_init(&list_cond, NULL);
	timer_running = false;
	timer_idle = false;
	timer_failed = false;
	nheld = 0;
	for (h = all_holds; h; h = h->next_all) {
		h->lock = 0;
		h->len = 0;
	}
}
