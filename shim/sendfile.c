// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The sendfile engine: decide the path, then either call the real function
 * or send the file range through io_uring (or the module, kmod.c) from a
 * read-only shared mapping of the file, reproducing sendfile(2)'s results
 * exactly: return value, errno, *offset or the file position, SIGPIPE,
 * EAGAIN/partial counts on non-blocking sockets, EINTR.  Whatever io_uring
 * cannot finish (the file shrank, an unexpected error) is finished by the
 * real call, so the byte stream is always the one sendfile(2) would have
 * produced.  Returns bytes or -errno, like everything below intercept.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/splicemsg.h>

#include "sm.h"

/* sendfile(2) never moves more than this in one call (MAX_RW_COUNT). */
#define SM_MAX_RW ((size_t)(INT_MAX & ~4095))
/* Largest piece mapped and sent per submission. */
#define SM_CHUNK ((size_t)16 << 20)

static ssize_t real_sendfile(int out_fd, int in_fd, off64_t *offset,
			     size_t count)
{
	ssize_t n = sm_real.sendfile64(out_fd, in_fd, offset, count);

	return n < 0 ? -errno : n;
}

/*
 * The real sendfile(2).  Bytes held for the socket go first, as the native
 * writev would already have queued them, under the kernel's cork if the
 * application corked -- except for a body that follows held headers on a
 * socket that has not written after a body while corked: like a coalesced
 * one (sm_hold_body_flags()) it pushes its own last segment, so that the
 * uncork which follows costs no syscall.
 */
static ssize_t native(struct sm_hold *h, int out_fd, int in_fd,
		      off64_t *offset, size_t count, int fallback)
{
	bool push = false;
	ssize_t ret;

	if (h) {
		ret = sm_hold_native_body(h, out_fd, &push);
		if (ret < 0)
			return ret;
	}
	ret = real_sendfile(out_fd, in_fd, offset, count);
	if (h && ret > 0)
		sm_hold_spent(h, ret);
	/* Its last chunk went without MSG_MORE (a short one, at end of
	 * file, may not have): everything queued is pushed. */
	if (push && ret > 0 && (size_t)ret == count)
		sm_hold_native_body_pushed(h);
	if (fallback >= 0)
		sm_count_fallback(fallback);
	sm_count_call(SM_PATH_NATIVE, ret > 0 ? ret : 0);
	return ret;
}

/* EPIPE from a send raises SIGPIPE in the sending thread, as tcp does. */
static void raise_sigpipe(void)
{
	sm_raise(SIGPIPE);
}

static bool same_inode(int fd, const struct sm_fdinfo *fi)
{
	struct stat st;

	return sm_real.fstat(fd, &st) < 0 || (uint64_t)st.st_ino == fi->ino;
}

struct sm_xfer {
	int out_fd;
	int in_fd;
	loff_t pos;		/* file offset of the first byte */
	size_t len;		/* bytes to send (already cut at EOF) */
	bool nonblock;
	enum sm_path path;	/* uring_zc, uring_copy, kmod_zc or sendmsg */
	struct sm_hold *h;	/* held headers go first, or NULL */
	int more;		/* MSG_MORE while the application corks */
	uint64_t ino;
	const struct sm_file *file;	/* in_fd's, for the mapping cache */
	size_t done;		/* bytes sent so far */
	bool interrupted;	/* a signal handler without SA_RESTART ran */
	int fallback;		/* why the rest went native, or -1 */
};

/*
 * SM_PATH_SENDMSG: the held headers and the mapped chunk in one sendmsg(2).
 * The socket's own O_NONBLOCK and signal restart rules apply, as they do to
 * sendfile(2).  A blocking send that comes back short was cut by a signal,
 * or met the hole where another process shrank the file: then the real
 * call finishes from there, to the new end of file, as sendfile(2) would.
 */
static ssize_t direct_send(struct sm_xfer *x, const struct sm_send *s)
{
	struct iovec v[2] = { { (void *)s->pre, s->pre_len },
			      { (void *)s->buf, s->len } };
	struct msghdr m = { .msg_iov = s->pre_len ? v : v + 1,
			    .msg_iovlen = s->pre_len ? 2 : 1 };
	struct stat st;
	ssize_t n;

	n = sm_sys_sendmsg(x->out_fd, &m, MSG_NOSIGNAL | x->more);
	if (n < 0)
		return -errno;
	if ((size_t)n < s->pre_len + s->len && !x->nonblock) {
		if (!sm_real.fstat(x->in_fd, &st) &&
		    (uint64_t)st.st_size < x->pos + x->done + s->len)
			x->fallback = SM_FB_file_changed;
		else
			x->interrupted = true;
	}
	return n;
}

/*
 * Send one mapped chunk.  Returns bytes sent (x->interrupted says stop
 * there) or -errno; x->fallback set means "finish with the real call".
 */
static ssize_t send_chunk(struct sm_ring *r, struct sm_xfer *x, size_t chunk)
{
	struct sm_send s = { 0 };
	struct sm_map *map = NULL;
	const void *buf = NULL;
	ssize_t ret;
	int err;

	if (x->path == SM_PATH_KMOD_ZC) {
		/* the module registers the file's own pages: no mapping */
		s.kreg = true;
		s.kfile = x->in_fd;
		s.kpos = x->pos + x->done;
	} else {
		map = sm_map_get(x->in_fd, x->file, x->pos + x->done, chunk,
				 &buf, &err);
		if (!map) {
			x->fallback = SM_FB_map_failed;
			return 0;
		}
	}
	s.fd = x->out_fd;
	s.pre_len = sm_hold_pending(x->h, &s.pre);
	s.buf = buf;
	s.len = chunk;
	s.map_len = chunk;
	/* io_uring ignores O_NONBLOCK; MSG_WAITALL makes a blocking send
	 * retry in the kernel until done, like sendfile(2). */
	s.msg_flags = MSG_NOSIGNAL | (x->nonblock ? MSG_DONTWAIT : MSG_WAITALL) |
		      x->more;
	s.zc = x->path == SM_PATH_URING_ZC || x->path == SM_PATH_KMOD_ZC;
	s.map = map;
	s.ino = x->ino;
	if (x->path == SM_PATH_SENDMSG) {
		ret = direct_send(x, &s);
	} else {
		ret = sm_ring_send(r, &s);
		x->interrupted = s.interrupted;
	}
	if (!s.zc_handed_off)
		sm_map_put(map);
	if (s.kreg_err && ret <= 0 && ret != -EINTR) {
		/* nothing was registered, so nothing went */
		x->fallback = SM_FB_kmod_reg;
		return 0;
	}
	if (ret > 0 && x->h) {
		size_t pre = (size_t)ret < s.pre_len ? (size_t)ret : s.pre_len;

		sm_hold_spent(x->h, ret);
		sm_hold_coalesced(x->h, pre, x->more);
		if (s.pre_len) {
			ret -= pre;
			if (!ret)	/* only headers went: as writev, then */
				return x->interrupted ? -EINTR : -EAGAIN;
			sm_count(&sm_stats->coalesced, 1);
		}
	}
	if (ret > 0) {
		sm_count(&sm_stats->bytes[x->path], ret);
		return ret;
	}
	switch (ret) {
	case -EPIPE:
		raise_sigpipe();
		return ret;
	case -EAGAIN:
	case -EINTR:
	case -ECONNRESET:
	case -ENOTCONN:
	case -ETIMEDOUT:
	case -EHOSTUNREACH:
	case -ENETUNREACH:
	case -ECONNABORTED:
	case -ENETDOWN:
		/* The socket's own answer: sendfile(2) would give it too. */
		return ret;
	case -EFAULT:
		/* The kernel met a hole where the file was truncated. */
		x->fallback = SM_FB_file_changed;
		return 0;
	case -EOPNOTSUPP:
		x->fallback = SM_FB_zc_unsupported;
		return 0;
	default:
		sm_debug("io_uring send: %d, finishing with sendfile", (int)ret);
		x->fallback = SM_FB_send_error;
		return 0;
	}
}

/*
 * SM_PATH_BATCH: the body joins the held headers, by reference to the
 * mapping, to leave at the event loop's next wait with the turn's other
 * responses (hold.c).  sendfile(2) returns its length now, as it would
 * once the bytes were queued in the socket; a file shrunk by another
 * process before they leave is the documented exception.  False if the
 * kernel would not take them all now: then they go now, as SENDMSG.
 */
static bool queue_body(struct sm_xfer *x)
{
	struct sm_map *map;
	const void *buf;
	int err;

	map = sm_map_get(x->in_fd, x->file, x->pos, x->len, &buf, &err);
	if (!map)
		return false;
	if (sm_hold_take_body(x->h, x->out_fd, map, buf, x->len))
		return true;
	sm_map_put(map);
	return false;
}

/*
 * Is [@p, @p + @n) in this thread's stack above the stack pointer?  That
 * memory is mapped and writable for certain, so an offset there needs no
 * zero-length sendfile(2) to be checked: nginx, lighttpd and Python pass a
 * local variable.  On another stack (sigaltstack, a coroutine) the answer
 * is no and the kernel checks the pointer.
 */
static bool on_live_stack(const void *p, size_t n)
{
	static SM_TLS uintptr_t lo, hi;
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
	uintptr_t a = (uintptr_t)p;

	if (sm_unlikely(!hi)) {
		pthread_attr_t at;
		void *addr;
		size_t size;
		int cs;

		hi = 1;		/* unknown: never on it */
		/* the main thread's reads /proc/self/maps: in sendfile(2),
		 * no cancellation point */
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
		if (!pthread_getattr_np(pthread_self(), &at)) {
			if (!pthread_attr_getstack(&at, &addr, &size)) {
				lo = (uintptr_t)addr;
				hi = lo + size;
			}
			pthread_attr_destroy(&at);
		}
		pthread_setcancelstate(cs, NULL);
	}
	return sp >= lo && sp < hi && a >= sp && a <= hi - n;
}

/*
 * Before a call leaves sendfile(2), for every path: the file position to
 * start from, with the arguments checked exactly as the real call checks
 * them.  With an offset pointer (or odd descriptor modes) a zero-length
 * real sendfile lets the kernel check everything and send nothing; without
 * one only the modes are left, and their flags tell those.  A pointer on
 * the live stack to a range inside the file (@f: in_fd's, or NULL) needs
 * no check either: the range is below the filesystem's maximum file size,
 * whose EOVERFLOW is the one check left.  Left to the kernel: O_DIRECT
 * files (their alignment rules apply to sendfile(2)) and an offset + count
 * that overflows (EINVAL).  Returns true with *pos set, or false with the
 * reason to pass to native() in *why (-1: the kernel's own answer).
 * @in_fi: in_fd's entry (or NULL).
 */
static bool start_pos(int out_fd, int in_fd, struct sm_fdinfo *in_fi,
		      off64_t *offset, size_t count, const struct sm_file *f,
		      loff_t *pos, int *why)
{
	int fl = sm_fd_flags(in_fd, in_fi);
	bool checked = false;
	off64_t off;

	*why = SM_FB_ineligible;
	if (fl < 0 || (fl & O_DIRECT))
		return false;
	/* The kernel takes any alignment: so do we (memcpy, not *offset). */
	if (offset && f && on_live_stack(offset, sizeof(*offset))) {
		memcpy(&off, offset, sizeof(off));
		checked = off >= 0 && off <= f->size &&
			  count <= (uint64_t)(f->size - off);
	}
	if (((offset && !checked) ||
	     (fl & O_ACCMODE) == O_WRONLY || (fl & O_PATH)) &&
	    real_sendfile(out_fd, in_fd, offset, 0) < 0) {
		*why = -1;
		return false;
	}
	if (offset)
		memcpy(pos, offset, sizeof(*pos));
	else
		*pos = lseek(in_fd, 0, SEEK_CUR);
	return *pos >= 0 && count <= (uint64_t)LLONG_MAX - (uint64_t)*pos;
}

/* After it: *offset advances, or the file position does, as sendfile(2). */
static void end_pos(int in_fd, off64_t *offset, loff_t pos)
{
	if (offset)
		memcpy(offset, &pos, sizeof(pos));
	else
		lseek(in_fd, pos, SEEK_SET);
}

/* The real call sends @len bytes from @pos: the rest a path left. */
static ssize_t finish_native(int out_fd, int in_fd, loff_t pos, size_t len)
{
	off64_t p = pos;
	ssize_t n = real_sendfile(out_fd, in_fd, &p, len);

	if (n > 0)
		sm_count(&sm_stats->bytes[SM_PATH_NATIVE], n);
	return n;
}

/*
 * @in_fd's entry (*@in_fi, or NULL) and its file's facts in @f: true if a
 * path other than sendfile(2) may send from it, a regular file with a
 * size (procfs-like files report size 0).
 */
static bool regular_file(int in_fd, struct sm_fdinfo **in_fi,
			 struct sm_file *f)
{
	*in_fi = sm_fd_get(in_fd);
	return sm_fd_stat(in_fd, *in_fi, f) == 0 && S_ISREG(f->mode) &&
	       f->size > 0;
}

/*
 * native() with the body's first page, copied from the mapping, in the
 * send of the held headers (sm_policy_leads()), and the real sendfile(2)
 * from there.  Whatever keeps that page from going whole with them (a
 * full non-blocking socket, a signal, an error, a mapping that failed)
 * leaves the call to native() as it stands, or ends it short, as
 * sendfile(2) ends where a socket takes part of a page.  Only with an
 * offset pointer: without one, the file position would cost a seek.
 */
static ssize_t native_lead(struct sm_hold *h, int out_fd, int in_fd,
			   off64_t *offset, size_t count, int fallback)
{
	struct sm_fdinfo *in_fi;
	struct sm_file file;
	struct sm_map *map;
	const void *buf;
	loff_t pos, p;
	ssize_t k, n;
	bool push;
	int why;

	if (!regular_file(in_fd, &in_fi, &file) ||
	    !start_pos(out_fd, in_fd, in_fi, offset, count, &file, &pos,
		       &why) ||
	    pos >= file.size || (uint64_t)(file.size - pos) <= SM_LEAD_LEN)
		return native(h, out_fd, in_fd, offset, count, fallback);
	map = sm_map_get(in_fd, &file, pos, SM_LEAD_LEN, &buf, &why);
	if (!map)
		return native(h, out_fd, in_fd, offset, count, fallback);
	k = sm_hold_native_lead(h, out_fd, buf, SM_LEAD_LEN, &push);
	sm_map_put(map);
	if (k <= 0)
		return native(h, out_fd, in_fd, offset, count, fallback);
	sm_count(&sm_stats->lead_copied, k);
	n = 0;
	if ((size_t)k == SM_LEAD_LEN) {
		p = pos + k;
		n = real_sendfile(out_fd, in_fd, &p, count - k);
		if (n > 0)
			sm_hold_spent(h, n);
		/* as native(): its last chunk went without MSG_MORE */
		if (push && n >= 0 && (size_t)n == count - k)
			sm_hold_native_body_pushed(h);
		/*
		 * What went is the answer, an error the next call's, as
		 * after a reset that came between two sends.  (EPIPE in
		 * that window also raised SIGPIPE now, where one native call
		 * would have returned its count without it; nginx, apache2,
		 * lighttpd and Python ignore SIGPIPE.)
		 */
		if (n < 0)
			n = 0;
	}
	end_pos(in_fd, offset, pos + k + n);
	if (fallback >= 0)
		sm_count_fallback(fallback);
	sm_count_call(SM_PATH_NATIVE, k + n);
	return k + n;
}

/* Returns bytes sent or -errno, like the syscall. */
static ssize_t xfer_run(struct sm_ring *r, struct sm_xfer *x)
{
	ssize_t ret = 0;

	while (x->done < x->len) {
		size_t chunk = x->len - x->done;

		if (chunk > SM_CHUNK)
			chunk = SM_CHUNK;
		if (x->path == SM_PATH_KMOD_ZC && chunk > sm_kmod_max_reg())
			chunk = sm_kmod_max_reg();
		ret = send_chunk(r, x, chunk);
		if (ret == -EINTR && !x->done && sm_signal_restartable())
			continue;	/* as the kernel restarts sendfile(2) */
		if (ret <= 0)
			break;
		x->done += ret;
		if (x->interrupted)
			break;		/* a signal: report what went */
		if (x->fallback >= 0)
			break;		/* the real call finishes */
		if ((size_t)ret < chunk && x->nonblock)
			break;		/* the socket buffer is full */
	}
	if (x->fallback >= 0 && x->done < x->len) {
		ssize_t n;

		if (x->h) {
			/* the real call must not overtake held headers */
			n = sm_hold_before_native(x->h, x->out_fd);
			if (n < 0)
				return n;
		}
		sm_count_fallback(x->fallback);
		n = finish_native(x->out_fd, x->in_fd, x->pos + x->done,
				  x->len - x->done);
		if (n > 0 && x->h)
			sm_hold_spent(x->h, n);
		if (n > 0)
			x->done += n;
		else if (n < 0 && !x->done)
			return n;
		return x->done;
	}
	if (x->done)
		return x->done;
	return ret < 0 ? ret : 0;
}

/*
 * Through /dev/splicemsg.  The module runs sendfile(2)'s own splice path;
 * whatever it refuses before sending a byte is left to the real call, which
 * gives the native answer.
 */
static ssize_t kmod_send(struct sm_hold *h, int out_fd, int in_fd,
			 off64_t *offset, size_t count)
{
	size_t file_sent = 0, sent = 0, want, pre;
	size_t max = sm_kmod_max_count();
	/* The module must see the caller's count for OFFPTR's checks (an
	 * offset + count overflow is EINVAL): beyond its cap, check here. */
	bool offptr = sm_kmod_offptr() && count <= max;
	unsigned int flags = 0;
	const void *hdr = NULL;
	uint64_t where;
	ssize_t ret, n;
	loff_t pos = 0;
	int why;

	pre = sm_hold_pending(h, &hdr);
	/* more held than the module takes (a larger SM_HOLD_MAX): native */
	if (pre > sm_kmod_max_hdtr())
		return native(h, out_fd, in_fd, offset, count, SM_FB_kmod_hdtr);
	if (offptr) {
		/*
		 * The module reads and writes sendfile(2)'s offset itself
		 * and refuses, before sending, what it would not do alike:
		 * no checks here, one syscall per response.
		 */
		flags |= SPLICEMSG_SEND_OFFPTR;
		where = (uintptr_t)offset;
	} else {
		if (!start_pos(out_fd, in_fd, sm_fd_get(in_fd), offset, count,
			       NULL, &pos, &why))
			return native(h, out_fd, in_fd, offset, count, why);
		where = pos;
	}
	want = count < SM_MAX_RW ? count : SM_MAX_RW;
	if (pre && sm_hold_body_flags(h))
		flags |= SPLICEMSG_SEND_MORE;
	ret = sm_kmod_sendfile(out_fd, in_fd, where, want < max ? want : max,
			       pre ? hdr : NULL, pre, flags, &file_sent,
			       &sent);
	if (ret < 0 && !sent) {
		switch (ret) {
		case -EAGAIN:
		case -EINTR:
		case -EPIPE:	/* the kernel raised SIGPIPE, as sendfile(2) */
		case -ECONNRESET:
		case -ENOTCONN:
			break;
		default:
			/* refused before a byte went: sendfile(2) answers */
			return native(h, out_fd, in_fd, offset, count,
				      SM_FB_ineligible);
		}
	}
	if (h && sent)
		sm_hold_spent(h, sent);
	if (pre && sent) {
		/* the module sent headers first: they leave the hold */
		sm_hold_coalesced(h, sent < pre ? sent : pre,
				  flags & SPLICEMSG_SEND_MORE ? MSG_MORE : 0);
		if (file_sent)
			sm_count(&sm_stats->coalesced, 1);
	}
	sm_count_call(SM_PATH_KMOD, file_sent);
	if (ret < 0)		/* with OFFPTR also EFAULT after sending */
		return ret;
	ret = file_sent;
	if (pre && !file_sent && sm_hold_pending(h, &hdr)) {
		/* part of the headers went: as a partial writev, then */
		int fl = sm_fd_flags(out_fd, sm_fd_peek(out_fd));

		return fl >= 0 && (fl & O_NONBLOCK) ? -EAGAIN : -EINTR;
	}
	if ((pre && !file_sent) || (file_sent == max && want > max)) {
		/*
		 * Only the headers went (end of file, a full socket buffer or
		 * a signal: the module cannot say which), or the range goes
		 * beyond the module's per-call cap: what follows the headers
		 * is sendfile(2)'s own answer, as it would have been natively
		 * after the writev.
		 */
		if (offptr) {
			n = real_sendfile(out_fd, in_fd, offset,
					  want - file_sent);
			if (n > 0)
				sm_count(&sm_stats->bytes[SM_PATH_NATIVE], n);
		} else {
			n = finish_native(out_fd, in_fd, pos + file_sent,
					  want - file_sent);
		}
		if (n > 0 && h)
			sm_hold_spent(h, n);
		if (n > 0) {
			file_sent += n;
			ret += n;
		} else if (n < 0 && !file_sent) {
			return n;	/* sendfile(2)'s error */
		}
	}
	if (!offptr)
		end_pos(in_fd, offset, pos + file_sent);
	return ret;
}

static ssize_t sendfile_path(struct sm_hold *h, struct sm_fdinfo *fi,
			     int kind, int out_fd, int in_fd, off64_t *offset,
			     size_t count);

/* The paced copy's trial (sm_policy_trial()): the process's, this
 * thread's epoch in it. */
static struct sm_trial trial;
static SM_TLS struct sm_trial_epoch trial_epoch;
static SM_TLS bool trial_body;	/* this call's body is in it */

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Does this body, which the paced copy's rule covers, copy? */
static bool trial_step(void)
{
	int decided;
	bool copy = sm_policy_trial(&trial, &trial_epoch, thread_cpu_ns,
				    &decided);

	trial_body = true;
	if (decided >= 0)
		sm_count(decided ? &sm_stats->trial_copy :
			 &sm_stats->trial_sendfile, 1);
	return copy;
}

/* In a forked child: a lock another thread held at the fork is free. */
void sm_sendfile_after_fork(void)
{
	trial.lock = 0;
}

ssize_t sm_sendfile(int out_fd, int in_fd, off64_t *offset, size_t count)
{
	struct sm_fdinfo *fi;
	struct sm_hold *h;
	ssize_t ret;
	int kind;

	if (!sm_active())
		return real_sendfile(out_fd, in_fd, offset, count);
	if (sm_unlikely(sm_stats_live_pending()))
		sm_stats_go_live();
	if (sm_opt.ENGINE == SM_ENGINE_NATIVE)
		return native(NULL, out_fd, in_fd, offset, count, -1);
	fi = sm_fd_get(out_fd);
	if (!fi || !count || (ssize_t)count < 0)
		return native(NULL, out_fd, in_fd, offset, count,
			      SM_FB_ineligible);
	kind = sm_fd_classify(out_fd, fi);
	sm_fd_written_to(fi);	/* into a file: it changed */
	sm_count(&sm_stats->calls_by_socket[kind == SM_FD_TCP ? SM_SOCK_TCP :
					    kind == SM_FD_UNIX ? SM_SOCK_UNIX :
					    SM_SOCK_OTHER], 1);
	h = kind == SM_FD_TCP || kind == SM_FD_UNIX ? sm_hold_lock(out_fd, fi) :
	    NULL;
	if (!h) {
		ret = sendfile_path(NULL, fi, kind, out_fd, in_fd, offset,
				    count);
	} else {
		ret = sm_hold_body_begin(h, 0);
		if (!ret)
			ret = sendfile_path(h, fi, kind, out_fd, in_fd, offset,
					    count);
		sm_hold_unlock(h);
	}
	if (trial_body) {
		trial_body = false;
		sm_policy_trial_sent(&trial_epoch, ret);
	}
	if (h && ret < 0)
		sm_hold_failed(out_fd, -ret);
	return ret;
}

/*
 * The socket's facts that cost a system call the first time, each asked
 * only if it can change the choice: where the peer is (getpeername(2) and
 * getsockname(2), unless it is on loopback and so known), then its pacing
 * (getsockopt(2)).
 */
static void ask_facts(int fd, struct sm_fdinfo *fi, struct sm_call *c)
{
	c->local = (__atomic_load_n(&fi->local_peer, __ATOMIC_RELAXED) ||
		    sm_policy_asks_local(&sm_opt, c)) && sm_fd_local(fd, fi);
	c->paced = sm_policy_asks_paced(&sm_opt, c) && sm_fd_paced(fd, fi);
}

static ssize_t sendfile_path(struct sm_hold *h, struct sm_fdinfo *fi,
			     int kind, int out_fd, int in_fd, off64_t *offset,
			     size_t count)
{
	struct sm_call c = { .in_regular = true, .uring_ok = true,
			     .zc_supported = true, .zc_budget = true };
	struct sm_xfer x = { .out_fd = out_fd, .in_fd = in_fd,
			     .fallback = -1 };
	struct sm_fdinfo *in_fi;
	struct sm_choice ch;
	struct sm_file file;
	struct sm_ring *r;
	const void *held;
	bool again = false;	/* a fact changed since the first choice */
	bool cork;		/* the body goes under the kernel's cork */
	ssize_t ret;
	int fl, why;

	c.kind = kind;
	c.held = sm_hold_pending(h, &held);
	if ((c.kind == SM_FD_OTHER || (c.kind == SM_FD_UNIX && !c.held)) &&
	    sm_opt.ENGINE != SM_ENGINE_AUTO && !same_inode(out_fd, fi)) {
		/*
		 * Replaced behind our back (a raw dup2): the forced engine
		 * must not leave an eligible socket native.  Auto would send
		 * most of them natively anyway, so it skips this fstat.
		 */
		sm_fd_forget(out_fd);
		c.kind = sm_fd_classify(out_fd, fi);
		h = NULL;	/* the old socket's (the caller unlocks it) */
	}
	c.count = count;
	c.fi = fi;
	c.corked = sm_hold_app_corked(h);
	c.kmod_ok = sm_opt.ENGINE == SM_ENGINE_KMOD && sm_kmod_available();
	c.kmod_reg = c.kmod_ok && sm_kmod_max_reg();
	c.batch_ok = sm_hold_may_batch(h, out_fd);
	ask_facts(out_fd, fi, &c);
	c.copy_cheaper = c.paced && trial_step();
	/* Cheap decisions first: auto mostly stays native. */
	ch = sm_policy_choose(&sm_opt, &c);
	cork = sm_policy_corks_body(&sm_opt, &c);
	/* held bytes: our wrappers saw this socket since it was last reset,
	 * so the fd is h's (without them native() corks it anyway) */
	if (cork && c.held)
		sm_hold_cork_kernel(h, out_fd);
	if (ch.path == SM_PATH_NATIVE && offset && sm_policy_leads(&sm_opt, &c))
		return native_lead(h, out_fd, in_fd, offset, count,
				   ch.fallback);
	if (ch.path == SM_PATH_NATIVE)
		return native(h, out_fd, in_fd, offset, count, ch.fallback);
	/* auto's zero-copy: through the module's buffers where it has them */
	if (ch.path == SM_PATH_URING_ZC && sm_opt.ENGINE == SM_ENGINE_AUTO &&
	    !c.kmod_reg)
		again = c.kmod_reg = sm_kmod_max_reg();
	if (!c.held && !same_inode(out_fd, fi)) {
		/*
		 * The fd number was reused behind our back: look again.  (A
		 * socket holding headers was seen by our write wrappers since
		 * close() and dup2() last reset it: no fstat per response.)
		 */
		sm_fd_forget(out_fd);
		if (h)		/* the old socket's, locked: no second look */
			return native(NULL, out_fd, in_fd, offset, count,
				      SM_FB_ineligible);
		return sm_sendfile(out_fd, in_fd, offset, count);
	}
	if (cork)
		sm_hold_cork_kernel(h, out_fd);
	if (ch.path == SM_PATH_KMOD) {
		if (ch.fallback >= 0)
			sm_count_fallback(ch.fallback);
		return kmod_send(h, out_fd, in_fd, offset, count);
	}

	/* The call may leave sendfile(2): now check everything. */
	if (!regular_file(in_fd, &in_fi, &file)) {
		/* the module's own send answers as sendfile(2) would */
		if (c.kmod_ok)
			return kmod_send(h, out_fd, in_fd, offset, count);
		return native(h, out_fd, in_fd, offset, count, SM_FB_ineligible);
	}
	x.ino = fi->ino;
	r = NULL;
	if (ch.path != SM_PATH_SENDMSG) {	/* no ring needed for that */
		r = sm_ring_get(&c.uring_err);
		c.uring_ok = r != NULL;
		if (r) {
			c.zc_supported = sm_ring_zc_supported(r);
			c.zc_budget = sm_ring_zc_budget(r);
		}
		/* the first choice assumed all three: the same facts, the
		 * same choice */
		if (again || !c.uring_ok || !c.zc_supported || !c.zc_budget) {
			ask_facts(out_fd, fi, &c);
			ch = sm_policy_choose(&sm_opt, &c);
		}
	}
	if (ch.path == SM_PATH_NATIVE)
		return native(h, out_fd, in_fd, offset, count, ch.fallback);
	if (ch.fallback >= 0)	/* a copy where zero-copy was asked for */
		sm_count_fallback(ch.fallback);
	if (ch.path == SM_PATH_KMOD)
		return kmod_send(h, out_fd, in_fd, offset, count);
	/*
	 * io_uring would ignore SO_SNDTIMEO; the module's send honours it.
	 * A non-blocking socket never waits, with or without it.
	 */
	fl = sm_fd_flags(out_fd, fi);
	if (!(fl >= 0 && (fl & O_NONBLOCK)) && sm_fd_sndtimeo(out_fd, fi))
		return c.kmod_ok ? kmod_send(h, out_fd, in_fd, offset, count) :
		       native(h, out_fd, in_fd, offset, count, SM_FB_sndtimeo);

	if (!start_pos(out_fd, in_fd, in_fi, offset, count, &file, &x.pos,
		       &why))
		return native(h, out_fd, in_fd, offset, count, why);
	if (x.pos >= file.size) {
		/* At or past EOF sendfile(2) sends nothing and returns 0. */
		sm_count_call(ch.path, 0);
		return 0;
	}
	x.file = &file;
	x.len = count < SM_MAX_RW ? count : SM_MAX_RW;
	if ((uint64_t)file.size - x.pos < x.len)
		x.len = file.size - x.pos;
	x.path = ch.path;
	x.nonblock = fl >= 0 && (fl & O_NONBLOCK);
	if (h && (x.path == SM_PATH_URING_ZC ||
		  (x.path == SM_PATH_KMOD_ZC && c.held > sm_kmod_max_hdtr()))) {
		/* zero-copy carries copied headers only in the module's
		 * page fragments, as much as it takes: else they go first */
		ret = sm_hold_drain(h, out_fd, 0);
		if (ret < 0)
			return ret;
	}
	x.h = h;
	x.more = sm_hold_body_flags(h);

	if (x.path == SM_PATH_BATCH && !queue_body(&x))
		x.path = SM_PATH_SENDMSG;
	sm_count(&sm_stats->calls[x.path], 1);
	if (x.path == SM_PATH_BATCH) {
		sm_count(&sm_stats->bytes[SM_PATH_BATCH], x.len);
		sm_count(&sm_stats->coalesced, 1);
		ret = x.len;
	} else {
		ret = xfer_run(r, &x);
	}
	if (ret > 0)
		end_pos(in_fd, offset, x.pos + ret);
	return ret;
}

