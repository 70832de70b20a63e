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
 * Held bytes are flushed -- handed to the kernel exactly as the native call
 * would have, MSG_MORE while corked -- at uncork, close, shutdown, any write
 * the shim does not hold, a blocking wait (poll, select, epoll), fork and
 * exec, exit, and after 200 ms, the kernel's own cork ceiling.  A write is
 * only held when poll() says the kernel would have taken it at once
 * (writable, no error, no hangup), so it returns what the native call
 * would have returned; an error met by a flush the application did not ask
 * for is reported by its next write on that socket, as the kernel would.
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "sm.h"

#define SM_HOLD_NS (200 * 1000000ULL)	/* TCP_CORK's ceiling */

/* One socket's cork state and held bytes; private to this file. */
struct sm_hold {
	pthread_mutex_t lock;
	int fd;
	uint64_t ino;		/* the socket this state belongs to */
	bool app_cork;		/* TCP_CORK as the application set it */
	bool kern_cork;		/* ... and as the kernel has it */
	bool more_sent;		/* MSG_MORE bytes wait for the uncork push */
	bool shut;		/* shutdown(SHUT_WR) seen: hold nothing */
	bool body_done;		/* a body went while corked ... */
	bool tail_seen;		/* ... and bytes followed it before uncork */
	int err;		/* error of a flush, for the next write */
	size_t len, cap;	/* held bytes */
	char *buf;
	uint64_t deadline;	/* CLOCK_MONOTONIC ns: flush by then */
	struct sm_hold *next_all;
};
/* Iovecs of a write sent together with held bytes (more: two sends);
 * every write wrapper carries this array on the application's stack. */
#define SM_HOLD_IOV 64
/* Flags a held write may carry; others (MSG_OOB...) go to the kernel. */
#define SM_HOLD_FLAGS (MSG_MORE | MSG_DONTWAIT | MSG_NOSIGNAL)

static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t list_cond = PTHREAD_COND_INITIALIZER;
static struct sm_hold *all_holds;	/* every hold ever made; never freed */
static int nheld;			/* holds with bytes in them */
static unsigned int hold_gen;		/* holds begun, ever */
static bool timer_running;
static bool timer_idle;			/* waiting with no deadline */

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000ULL + t.tv_nsec;
}

bool sm_hold_any(void)
{
	return __atomic_load_n(&nheld, __ATOMIC_RELAXED) > 0;
}

/* The socket changed under this number: forget everything about the old. */
static void reset_locked(struct sm_hold *h, uint64_t ino)
{
	if (h->len)
		__atomic_fetch_sub(&nheld, 1, __ATOMIC_RELAXED);
	h->len = 0;
	h->ino = ino;
	h->app_cork = false;
	h->kern_cork = false;
	h->more_sent = false;
	h->body_done = false;
	h->tail_seen = false;
	h->shut = false;
	h->err = 0;
}

/* @fi's (descriptor @fd) hold, created on demand; NULL if out of memory. */
static struct sm_hold *hold_get(int fd, struct sm_fdinfo *fi)
{
	struct sm_hold *h = __atomic_load_n(&fi->hold, __ATOMIC_ACQUIRE);
	struct sm_hold *expected = NULL;

	if (h)
		return h;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	pthread_mutex_init(&h->lock, NULL);
	h->ino = fi->ino;
	h->fd = fd;
	if (!__atomic_compare_exchange_n(&fi->hold, &expected, h, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		free(h);
		return expected;
	}
	pthread_mutex_lock(&list_lock);
	h->next_all = all_holds;
	all_holds = h;
	pthread_mutex_unlock(&list_lock);
	return h;
}

/*
 * The hold of @fd when the engine holds its writes (policy.c), made when
 * it first corks (@via_more: or says MSG_MORE).
 */
static struct sm_hold *hold_for(int fd, bool via_more)
{
	struct sm_fdinfo *fi;

	if (!sm_active() || sm_opt.ENGINE == SM_ENGINE_NATIVE)
		return NULL;
	fi = sm_fd_get(fd);
	if (!fi ||
	    !sm_policy_holds(&sm_opt, sm_fd_classify(fd, fi), via_more))
		return NULL;
	return hold_get(fd, fi);
}

struct sm_hold *sm_hold_lock(struct sm_fdinfo *fi)
{
	struct sm_hold *h = __atomic_load_n(&fi->hold, __ATOMIC_ACQUIRE);

	if (!h)
		return NULL;
	pthread_mutex_lock(&h->lock);
	if (h->ino != fi->ino)
		reset_locked(h, fi->ino);
	return h;
}

void sm_hold_unlock(struct sm_hold *h)
{
	pthread_mutex_unlock(&h->lock);
}

static void *timer_main(void *arg);

static void start_timer_locked(void)
{
	pthread_condattr_t ca;
	pthread_attr_t a;
	pthread_t t;
	sigset_t all, old;

	if (timer_running)
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
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, 64 << 10);
	__atomic_store_n(&timer_running,
			 pthread_create(&t, &a, timer_main, NULL) == 0,
			 __ATOMIC_RELEASE);
	pthread_attr_destroy(&a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Copy @n bytes of @iov into the hold; false if it would not fit. */
static bool append_locked(struct sm_hold *h, const struct iovec *iov,
			  int cnt, size_t n)
{
	size_t need = h->len + n;
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
		memcpy(h->buf + h->len, iov[i].iov_base, iov[i].iov_len);
		h->len += iov[i].iov_len;
	}
	if (h->len == n) {
		__atomic_store_n(&h->deadline, now_ns() + SM_HOLD_NS,
				 __ATOMIC_RELAXED);
		__atomic_fetch_add(&nheld, 1, __ATOMIC_SEQ_CST);
		__atomic_fetch_add(&hold_gen, 1, __ATOMIC_RELAXED);
		/*
		 * A ticking timer wakes before this deadline and then waits
		 * for it: only an idle one (or none yet) needs the lock and a
		 * wake-up, which would cost a futex call per response.  With
		 * timer_main()'s store and load, in the opposite order, one
		 * side sees the other.
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
	return true;
}

/* The first @n held bytes reached the kernel. */
static void consume(struct sm_hold *h, size_t n)
{
	if (!n)
		return;
	if (n >= h->len) {
		h->len = 0;
		__atomic_fetch_sub(&nheld, 1, __ATOMIC_RELAXED);
		return;
	}
	memmove(h->buf, h->buf + n, h->len - n);
	h->len -= n;
}

/* Before bytes go out natively while the application has corked. */
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
	ssize_t n;

	if (!push)
		flags |= msg_flags(h);
	while (h->len) {
		n = sm_real.send(fd, h->buf, h->len, flags);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return -EAGAIN;
		if (n < 0) {
			h->err = errno;
			consume(h, h->len);
			return -h->err;
		}
		if (flags & MSG_MORE)
			h->more_sent = true;
		sm_count(&sm_stats->hold_flushed, n);
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
		syscall(SYS_tgkill, getpid(), gettid(), SIGPIPE);
	return -e;
}

/*
 * The two ways held bytes reach the kernel, named by who hears of an error:
 * drain_report() is for a call that must not overtake them and reports the
 * socket's error itself, as the native write would have; drain_defer() is
 * for a flush the application did not ask for (a cork ceiling, a blocking
 * wait, another option), whose error waits for the socket's next call.
 */
static int drain_defer(struct sm_hold *h, int fd)
{
	return flush_locked(h, fd, false, false);
}

/*
 * Returns 0, -EAGAIN (some are still held: the caller's send must not
 * overtake them), or the socket's error, reported now.
 */
static int drain_report(struct sm_hold *h, int fd, int flags)
{
	int ret;

	if (h->err)
		return report_err(h, flags);
	if (!h->len)
		return 0;
	ret = flush_locked(h, fd, false, false);
	return ret == -EAGAIN || !ret ? ret : report_err(h, flags);
}

/*
 * Should this write be held?  The socket is corked (or the call says
 * MSG_MORE), the bytes fit, and the kernel would take them at once.
 */
static bool holdable(struct sm_hold *h, int fd, size_t n, int flags)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	if (!(h->app_cork || (flags & MSG_MORE)) || h->shut || h->err ||
	    (flags & ~SM_HOLD_FLAGS))
		return false;
	if (!n || h->len + n > SM_HOLD_MAX)
		return false;
	if (sm_real.poll(&p, 1, 0) != 1 || p.revents != POLLOUT)
		return false;
	return true;
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

/* Held bytes and this write in one send, in order; the result in *res. */
static void send_with_held(struct sm_hold *h, int fd, const struct iovec *iov,
			   int cnt, size_t n, int flags, ssize_t *res)
{
	struct iovec v[SM_HOLD_IOV];
	struct msghdr m = { .msg_iov = v };
	ssize_t k;

	v[0].iov_base = h->buf;
	v[0].iov_len = h->len;
	memcpy(v + 1, iov, cnt * sizeof(*iov));
	m.msg_iovlen = cnt + 1;
	k = sm_real.sendmsg(fd, &m, flags | msg_flags(h));
	if (k >= 0 && msg_flags(h))
		h->more_sent = true;
	if (k < 0) {
		*res = -errno;
		if (errno != EAGAIN && errno != EINTR)
			consume(h, h->len);
	} else if ((size_t)k < h->len) {
		consume(h, k);
		*res = n ? -EAGAIN : 0;
	} else {
		k -= h->len;
		sm_count(&sm_stats->hold_flushed, h->len);
		consume(h, h->len);
		*res = k || !n ? k : -EAGAIN;
	}
}

bool sm_hold_write(int fd, const struct iovec *iov, int cnt, int flags,
		   ssize_t *res)
{
	struct sm_fdinfo *fi;
	struct sm_hold *h;
	bool ok;
	size_t n;
	ssize_t k;

	/* The send family: MSG_MORE may start a hold, as TCP_CORK does. */
	if (flags & MSG_MORE)
		hold_for(fd, true);
	fi = sm_fd_peek(fd);
	if (!fi)
		return false;
	h = __atomic_load_n(&fi->hold, __ATOMIC_ACQUIRE);
	/* The common case, unlocked: nothing held, nothing corked. */
	if (!h || (!__atomic_load_n(&h->len, __ATOMIC_RELAXED) &&
		   !__atomic_load_n(&h->app_cork, __ATOMIC_RELAXED) &&
		   !__atomic_load_n(&h->err, __ATOMIC_RELAXED) &&
		   !(flags & MSG_MORE)))
		return false;
	n = iov_total(iov, cnt, &ok);
	if (!ok)
		return false;	/* the kernel's EINVAL */
	h = sm_hold_lock(fi);
	if (h->err) {
		*res = report_err(h, flags);
		goto out;
	}
	if (h->body_done)
		h->tail_seen = true;
	if (holdable(h, fd, n, flags) && append_locked(h, iov, cnt, n)) {
		sm_count(&sm_stats->hold_writes, 1);
		*res = n;
		goto out;
	}
	if (!h->len || cnt >= SM_HOLD_IOV || (flags & ~SM_HOLD_FLAGS)) {
		k = drain_report(h, fd, flags);
		if (k < 0) {
			*res = k;
			goto out;
		}
		/* the real call, under the kernel's cork if corked */
		kernel_cork(h, fd);
		sm_hold_unlock(h);
		return false;
	}
	send_with_held(h, fd, iov, cnt, n, flags, res);
out:
	sm_hold_unlock(h);
	return true;
}

int sm_hold_before_write(int fd, int flags)
{
	struct sm_fdinfo *fi = sm_fd_peek(fd);
	struct sm_hold *h;
	int ret;

	if (!fi || !__atomic_load_n(&fi->hold, __ATOMIC_ACQUIRE))
		return 0;
	h = sm_hold_lock(fi);
	ret = drain_report(h, fd, flags);
	if (!ret)
		kernel_cork(h, fd);
	sm_hold_unlock(h);
	return ret;
}

/* TCP_CORK from the application.  Returns setsockopt's result. */
static int set_cork(struct sm_hold *h, int fd, bool on)
{
	int zero = 0, ret = 0;

	if (on) {
		h->app_cork = true;
		return 0;
	}
	h->app_cork = false;
	h->body_done = false;
	flush_locked(h, fd, false, false);
	if (h->kern_cork || h->more_sent)
		ret = sm_real.setsockopt(fd, IPPROTO_TCP, TCP_CORK, &zero,
					 sizeof(zero));
	h->kern_cork = false;
	h->more_sent = false;
	return ret < 0 ? -errno : 0;
}

bool sm_hold_setsockopt(int fd, int level, int name, const void *val,
			socklen_t len, int *res)
{
	struct sm_fdinfo *fi;
	struct sm_hold *h;

	sm_fd_sockopt_set(fd, level, name);
	if (level == IPPROTO_TCP && name == TCP_CORK && val &&
	    len >= sizeof(int) && hold_for(fd, false)) {
		h = sm_hold_lock(sm_fd_peek(fd));
		*res = set_cork(h, fd, *(const int *)val != 0);
		sm_hold_unlock(h);
		return true;
	}
	fi = sm_fd_peek(fd);
	if (!fi || !__atomic_load_n(&fi->hold, __ATOMIC_ACQUIRE))
		return false;
	/* TCP_NODELAY and the like act on queued bytes: queue ours */
	h = sm_hold_lock(fi);
	drain_defer(h, fd);
	*res = sm_real.setsockopt(fd, level, name, val, len) < 0 ? -errno : 0;
	sm_hold_unlock(h);
	return true;
}

void sm_hold_getsockopt(int fd, int level, int name, void *val,
			const socklen_t *len)
{
	struct sm_fdinfo *fi = sm_fd_peek(fd);
	struct sm_hold *h;

	if (level != IPPROTO_TCP || name != TCP_CORK || !fi ||
	    !__atomic_load_n(&fi->hold, __ATOMIC_ACQUIRE) ||
	    *len < sizeof(int))
		return;
	/* the cork the application set, applied lazily or not */
	h = sm_hold_lock(fi);
	*(int *)val = h->app_cork || h->kern_cork;
	sm_hold_unlock(h);
}

/* close(), dup2() over it, shutdown(): the held bytes go first. */
static void release(int fd, bool closing)
{
	struct sm_fdinfo *fi = sm_fd_peek(fd);
	struct sm_hold *h;

	if (!fi || !__atomic_load_n(&fi->hold, __ATOMIC_ACQUIRE))
		return;
	h = sm_hold_lock(fi);
	if (h->len) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };

		/* A non-blocking socket may be full: wait out the ceiling. */
		while (flush_locked(h, fd, false, false) == -EAGAIN &&
		       sm_real.poll(&p, 1, SM_HOLD_NS / 1000000) == 1)
			;
	}
	if (closing)
		reset_locked(h, 0);
	else
		h->shut = true;
	sm_hold_unlock(h);
}

void sm_hold_close(int fd)
{
	release(fd, true);
}

void sm_hold_shutdown(int fd, int how)
{
	if (how == SHUT_WR || how == SHUT_RDWR)
		release(fd, false);
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

void sm_hold_native_body_pushed(struct sm_hold *h)
{
	/* Its last chunk went without MSG_MORE: everything queued went. */
	h->more_sent = false;
	body_sent(h, 0);
}

/* Flush every hold: @due_only those past their deadline (the timer). */
static uint64_t flush_all(bool due_only)
{
	uint64_t now = now_ns(), next = UINT64_MAX;
	struct sm_hold *h;
	int fd;

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
		pthread_mutex_lock(&h->lock);
		fd = h->fd;
		if (h->len && (!due_only || h->deadline <= now)) {
			if (flush_locked(h, fd, due_only, due_only) ==
			    -EAGAIN)
				__atomic_store_n(&h->deadline,
						 now + SM_HOLD_NS / 20,
						 __ATOMIC_RELAXED);
		}
		if (h->len && h->deadline < next)
			next = h->deadline;
		pthread_mutex_unlock(&h->lock);
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
		pthread_mutex_unlock(&list_lock);
	}
	return NULL;
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
	nheld = 0;
	for (h = all_holds; h; h = h->next_all) {
		pthread_mutex_init(&h->lock, NULL);
		h->len = 0;
	}
}
