// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Per-thread io_uring instances.
 *
 * A ring is created lazily by the thread (and in the process) that first
 * needs it, so a forked child never inherits a live ring and no pinned
 * memory is copied at fork.  Each send is synchronous from the caller's
 * view; zero-copy buffers are the exception: the ring holds a reference to
 * their mapping until the kernel's notification says it is done with it.
 *
 * Signals: io_uring_enter(GETEVENTS) fails with EINTR after any handler ran.
 * sendfile(2) returns the partial count when bytes already went, so the
 * send is cancelled and what went is reported.  When nothing went,
 * sendfile(2) fails with EINTR after a handler without SA_RESTART and is
 * restarted otherwise; which signal ran is not known here, so the send is
 * restarted only when no installed handler lacks SA_RESTART (a stop signal,
 * with no handler at all, restarts too).  An application mixing both kinds
 * may see EINTR where sendfile(2) would have restarted, never a wait where
 * it would have returned.
 *
 * Completions run as task work in the thread that submitted.  Queued the
 * usual way they set TIF_NOTIFY_SIGNAL, which signal_pending() counts: a
 * zero-copy notification arriving while the thread blocks in any other
 * syscall interrupts it, and a blocking sendfile(2) or write(2) that had
 * sent part of its bytes returns that partial count (seen: 65535 of 344065
 * from the real sendfile(2) after this socket's verdict went native).  So
 * rings are made with IORING_SETUP_DEFER_TASKRUN (6.1), whose completions
 * wait until this thread asks for them in io_uring_enter(GETEVENTS): the
 * next send's own io_uring_enter does (no system call of their own), and
 * the zero-copy budget asks before it refuses.  Older kernels get a plain
 * ring, and that interruption.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <liburing.h>
#include <linux/splicemsg.h>

#include "sm.h"

#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif

#define SM_RING_ENTRIES 64
/* Zero-copy buffers the kernel may hold per ring before we stop adding. */
#define SM_ZC_MAX_BUFS 32
#define SM_ZC_MAX_BYTES (256UL << 20)
/*
 * Slots of a ring's buffer table for kmod_zc.  Each send empties its slot
 * before it returns, so one would do; the others stand in for a slot that
 * could not be emptied.
 */
#define SM_REG_SLOTS 4

/* user_data of requests that are not zero-copy sends */
#define UD_COPY 1ULL
#define UD_CANCEL 2ULL
#define UD_REG 3ULL		/* kmod_zc: the module's REG_FILE */
#define UD_UNREG 4ULL		/* ... and its UNREG */
/*
 * A batch entry: this tag in the low bits, its slot above them, and the
 * batch's generation above that, so that the completion of a send from a
 * round given up on (its io_uring_enter failed) is never taken for one of
 * a later round.
 */
#define UD_BATCH 5ULL
#define UD_TAG 7ULL
#define UD_SLOT_SHIFT 3
#define UD_GEN_SHIFT 16

struct sm_zcbuf {
	struct sm_zcbuf *next;
	struct sm_map *map;
	size_t map_len;
	int fd;
	uint64_t ino;
	int res;		/* the send's result, once its CQE came */
	bool result_seen;
	bool notif_pending;
};

struct sm_ring {
	struct io_uring ring;
	struct sm_ring *next;	/* registry of every ring in the process */
	struct sm_zcbuf *zc;	/* buffers the kernel may still read */
	unsigned int zc_bufs;
	size_t zc_bytes;
	bool orphan;		/* its thread exited with buffers in flight */
	bool defer;		/* IORING_SETUP_DEFER_TASKRUN */
	/* the send being waited for */
	uint64_t cur;
	int cur_res;
	bool cur_done;
	bool cancel_missed;	/* its cancel came before it was issued */
	/* kmod_zc: the table, and the REG, SEND_ZC, UNREG being waited for */
	int reg_table;		/* 0 not yet, 1 registered, or -errno */
	unsigned int reg_lost;	/* slots that may still hold a buffer */
	bool kchain;
	struct splicemsg_reg kreq, kunreq;
	struct splicemsg_iovec kiov;
	int kreg_res, kunreg_res;
	bool kreg_done, kunreg_done;
	/* the batch round being waited for (sm_ring_send_batch) */
	uint64_t batch_gen;
	unsigned int batch_n, batch_left;
	int batch_res[SM_RING_ENTRIES];
	bool batch_done[SM_RING_ENTRIES];
};

static SM_TLS struct sm_ring *tls_ring;
static SM_TLS int tls_setup_err;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sm_ring *registry;
static pthread_key_t ring_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

/* Kernel capabilities, probed once: 0 unknown, 1 yes, -1 no. */
static int have_send_zc;
static int have_report_usage = 1;

static void zcbuf_free(struct sm_zcbuf *b)
{
	sm_map_put(b->map);
	free(b);
}

static void zc_unlink(struct sm_ring *r, struct sm_zcbuf *b)
{
	struct sm_zcbuf **pp;

	for (pp = &r->zc; *pp; pp = &(*pp)->next) {
		if (*pp == b) {
			*pp = b->next;
			break;
		}
	}
	r->zc_bufs--;
	r->zc_bytes -= b->map_len;
	zcbuf_free(b);
}

static void zc_notified(struct sm_ring *r, struct sm_zcbuf *b, int res)
{
	bool copied = (unsigned int)res & IORING_NOTIF_USAGE_ZC_COPIED;
	struct sm_fdinfo *fi;

	/* A send that moved no bytes reports "copied" too: not a verdict. */
	if (b->result_seen && b->res > 0) {
		sm_count(&sm_stats->zc_notifications, 1);
		if (have_report_usage > 0 && copied)
			sm_count(&sm_stats->zc_copied, 1);
		fi = sm_fd_peek(b->fd);
		if (have_report_usage > 0 && fi && fi->ino == b->ino &&
		    __atomic_load_n(&fi->kind, __ATOMIC_RELAXED) == SM_FD_TCP)
			sm_policy_zc_report(fi, copied);
	}
	zc_unlink(r, b);
}

static void handle_cqe(struct sm_ring *r, struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;
	struct sm_zcbuf *b;

	if (ud == UD_CANCEL) {
		/* A link not yet issued is not found: ask again later. */
		if (cqe->res == -ENOENT)
			r->cancel_missed = true;
		return;
	}
	if (ud == UD_REG || ud == UD_UNREG) {
		*(ud == UD_REG ? &r->kreg_res : &r->kunreg_res) = cqe->res;
		*(ud == UD_REG ? &r->kreg_done : &r->kunreg_done) = true;
		return;
	}
	if ((ud & UD_TAG) == UD_BATCH) {
		unsigned int slot = (ud >> UD_SLOT_SHIFT) &
				    ((1U << (UD_GEN_SHIFT - UD_SLOT_SHIFT)) - 1);

		if (ud >> UD_GEN_SHIFT == r->batch_gen && slot < r->batch_n &&
		    !r->batch_done[slot]) {
			r->batch_res[slot] = cqe->res;
			r->batch_done[slot] = true;
			r->batch_left--;
		}
		return;
	}
	if (ud == UD_COPY) {
		if (r->cur == UD_COPY) {
			r->cur_res = cqe->res;
			r->cur_done = true;
		}
		return;
	}
	b = (struct sm_zcbuf *)(uintptr_t)ud;
	if (cqe->flags & IORING_CQE_F_NOTIF) {
		zc_notified(r, b, cqe->res);
		return;
	}
	b->res = cqe->res;
	b->result_seen = true;
	if (r->cur == ud) {
		r->cur_res = cqe->res;
		r->cur_done = true;
	}
	if (!(cqe->flags & IORING_CQE_F_MORE))
		zc_unlink(r, b);	/* no notification will follow */
}

static void reap(struct sm_ring *r)
{
	struct io_uring_cqe *cqe;
	unsigned int head, n = 0;

	io_uring_for_each_cqe(&r->ring, head, cqe) {
		handle_cqe(r, cqe);
		n++;
	}
	io_uring_cq_advance(&r->ring, n);
}

/* Deferred completions are posted only when the ring's thread asks. */
static void flush(struct sm_ring *r)
{
	if (r->defer)
		io_uring_get_events(&r->ring);
	reap(r);
}

/* Would a blocking syscall interrupted by a handler be restarted? */
bool sm_signal_restartable(void)
{
	struct sigaction sa;
	int sig;

	for (sig = 1; sig < SIGRTMIN; sig++) {
		/* glibc's own (SIGCANCEL, SIGSETXID) sit below SIGRTMIN */
		if (sig == SIGKILL || sig == SIGSTOP || sig >= 32)
			continue;
		if (sm_sig_action(sig, &sa) < 0)
			continue;
		if (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN &&
		    !(sa.sa_flags & SA_RESTART))
			return false;
	}
	for (sig = SIGRTMIN; sig <= SIGRTMAX; sig++) {
		if (sm_sig_action(sig, &sa) < 0)
			continue;
		if (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN &&
		    !(sa.sa_flags & SA_RESTART))
			return false;
	}
	return true;
}

static void ring_destroy(struct sm_ring *r)
{
	struct sm_zcbuf *b, *n;

	for (b = r->zc; b; b = n) {
		n = b->next;
		zcbuf_free(b);
	}
	sm_fd_disown(r->ring.ring_fd);
	io_uring_queue_exit(&r->ring);
	free(r);
}

static void registry_remove(struct sm_ring *r)
{
	struct sm_ring **pp;

	for (pp = &registry; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
}

/* Rings whose threads exited: free those the kernel has released. */
static void reap_orphans(void)
{
	struct sm_ring *r, *n;

	pthread_mutex_lock(&registry_lock);
	for (r = registry; r; r = n) {
		n = r->next;
		if (!r->orphan)
			continue;
		reap(r);
		if (!r->zc) {
			registry_remove(r);
			ring_destroy(r);
		}
	}
	pthread_mutex_unlock(&registry_lock);
}

static void thread_exit(void *arg)
{
	struct sm_ring *r = arg;
	int i;

	flush(r);
	/*
	 * A deferred ring's completions run only in this thread: after it
	 * they come when the ring is closed.  Give notifications in flight
	 * a few milliseconds, then close; the kernel holds its own page
	 * references, the mapping is only ours.
	 */
	for (i = 0; r->defer && r->zc && i < 10; i++) {
		usleep(1000);
		flush(r);
	}
	pthread_mutex_lock(&registry_lock);
	if (r->zc && !r->defer) {
		/* The kernel still reads these pages: keep them mapped. */
		r->orphan = true;
	} else {
		registry_remove(r);
		ring_destroy(r);
	}
	pthread_mutex_unlock(&registry_lock);
	tls_ring = NULL;
}

static void make_key(void)
{
	pthread_key_create(&ring_key, thread_exit);
}

static void probe_kernel(struct sm_ring *r)
{
	struct io_uring_probe *p;

	if (__atomic_load_n(&have_send_zc, __ATOMIC_RELAXED))
		return;
	p = io_uring_get_probe_ring(&r->ring);
	__atomic_store_n(&have_send_zc,
			 p && io_uring_opcode_supported(p, IORING_OP_SEND_ZC) ?
			 1 : -1, __ATOMIC_RELAXED);
	if (p)
		io_uring_free_probe(p);
}

static int ring_create(struct sm_ring **out)
{
	struct sm_ring *r;
	int ret;

	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	ret = io_uring_queue_init(SM_RING_ENTRIES, &r->ring,
				  IORING_SETUP_SINGLE_ISSUER |
				  IORING_SETUP_DEFER_TASKRUN);
	r->defer = ret == 0;
	if (ret == -EINVAL)	/* before 6.1 */
		ret = io_uring_queue_init(SM_RING_ENTRIES, &r->ring, 0);
	if (ret < 0)
		goto err_free;
	/* Out of the application's fd numbers and close loops. */
	sm_fd_adopt(r->ring.ring_fd, &r->ring.ring_fd, &r->ring.enter_ring_fd);
	probe_kernel(r);
	*out = r;
	return 0;
err_free:
	free(r);
	return ret;
}

struct sm_ring *sm_ring_get(int *err)
{
	struct sm_ring *r = tls_ring;
	int ret;

	if (sm_likely(r != NULL))
		return r;
	/* A thread whose setup failed for good does not retry each call. */
	if (tls_setup_err == -ENOSYS || tls_setup_err == -EPERM) {
		*err = tls_setup_err;
		return NULL;
	}
	pthread_once(&key_once, make_key);
	reap_orphans();
	ret = ring_create(&r);
	if (ret < 0) {
		if (!tls_setup_err)
			sm_info("io_uring unavailable (%s): using sendfile",
				strerror(-ret));
		tls_setup_err = ret;
		*err = ret;
		return NULL;
	}
	pthread_mutex_lock(&registry_lock);
	r->next = registry;
	registry = r;
	pthread_mutex_unlock(&registry_lock);
	pthread_setspecific(ring_key, r);
	tls_ring = r;
	return r;
}

bool sm_ring_zc_supported(struct sm_ring *r)
{
	return __atomic_load_n(&have_send_zc, __ATOMIC_RELAXED) > 0;
}

static bool zc_room(const struct sm_ring *r)
{
	return r->zc_bufs < SM_ZC_MAX_BUFS && r->zc_bytes < SM_ZC_MAX_BYTES;
}

bool sm_ring_zc_budget(struct sm_ring *r)
{
	/* notifications the kernel has not posted yet may make room */
	if (!zc_room(r))
		flush(r);
	return zc_room(r);
}

static void prep_send(struct sm_ring *r, struct sm_send *s,
		      struct sm_zcbuf *b)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

	if (b) {
		io_uring_prep_send_zc(sqe, s->fd, s->buf, s->len, s->msg_flags,
				      have_report_usage > 0 ?
				      IORING_SEND_ZC_REPORT_USAGE : 0);
		io_uring_sqe_set_data64(sqe, (uintptr_t)b);
		r->cur = (uintptr_t)b;
	} else if (s->pre_len) {
		/* held headers and the body: one copy SENDMSG */
		s->iov[0].iov_base = (void *)s->pre;
		s->iov[0].iov_len = s->pre_len;
		s->iov[1].iov_base = (void *)s->buf;
		s->iov[1].iov_len = s->len;
		memset(&s->msg, 0, sizeof(s->msg));
		s->msg.msg_iov = s->iov;
		s->msg.msg_iovlen = 2;
		io_uring_prep_sendmsg(sqe, s->fd, &s->msg, s->msg_flags);
		io_uring_sqe_set_data64(sqe, UD_COPY);
		r->cur = UD_COPY;
	} else {
		io_uring_prep_send(sqe, s->fd, s->buf, s->len, s->msg_flags);
		io_uring_sqe_set_data64(sqe, UD_COPY);
		r->cur = UD_COPY;
	}
	r->cur_done = false;
}

/* A URING_CMD of the module's on @req, in @r's SQ. */
static void prep_kcmd(struct io_uring_sqe *sqe, unsigned int op,
		      struct splicemsg_reg *req, uint64_t ud)
{
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, sm_kmod_fd(), NULL, 0, 0);
	sqe->cmd_op = op;
	*(uint64_t *)sqe->cmd = (uintptr_t)req;
	io_uring_sqe_set_data64(sqe, ud);
}

/*
 * kmod_zc: the module registers @s's held bytes and file range as one
 * buffer in a free slot, a SEND_ZC sends it, and an UNREG empties the slot
 * whatever the send did (a hard link); in-flight skbs keep the pages until
 * the notification.  A registration cut short by the end of the file
 * leaves the send too long for the buffer: EFAULT, nothing sent.
 */
static int prep_kreg(struct sm_ring *r, struct sm_send *s,
		     struct sm_zcbuf *b)
{
	struct io_uring_sqe *sqe[3];
	unsigned int slot, i;
	int ret;

	if (!r->reg_table) {
		ret = io_uring_register_buffers_sparse(&r->ring, SM_REG_SLOTS);
		r->reg_table = ret < 0 ? ret : 1;
	}
	if (r->reg_table < 0)
		return r->reg_table;
	for (slot = 0; slot < SM_REG_SLOTS && r->reg_lost & 1U << slot;)
		slot++;
	if (slot == SM_REG_SLOTS ||
	    io_uring_sq_space_left(&r->ring) < 3)
		return -EBUSY;
	for (i = 0; i < 3; i++)
		sqe[i] = io_uring_get_sqe(&r->ring);
	memset(&r->kreq, 0, sizeof(r->kreq));
	r->kreq.size = sizeof(r->kreq);
	r->kreq.file_fd = s->kfile;
	r->kreq.index = slot;
	r->kreq.offset = s->kpos;
	r->kreq.len = s->len;
	if (s->pre_len) {
		r->kiov.base = (uintptr_t)s->pre;
		r->kiov.len = s->pre_len;
		r->kreq.iov = (uintptr_t)&r->kiov;
		r->kreq.iov_cnt = 1;
	}
	prep_kcmd(sqe[0], SPLICEMSG_IOC_REG_FILE, &r->kreq, UD_REG);
	sqe[0]->flags |= IOSQE_IO_LINK;
	io_uring_prep_send_zc_fixed(sqe[1], s->fd, NULL,
				    s->pre_len + s->len, s->msg_flags,
				    have_report_usage > 0 ?
				    IORING_SEND_ZC_REPORT_USAGE : 0, slot);
	sqe[1]->flags |= IOSQE_IO_HARDLINK;
	io_uring_sqe_set_data64(sqe[1], (uintptr_t)b);
	memset(&r->kunreq, 0, sizeof(r->kunreq));
	r->kunreq.size = sizeof(r->kunreq);
	r->kunreq.index = slot;
	prep_kcmd(sqe[2], SPLICEMSG_IOC_UNREG, &r->kunreq, UD_UNREG);
	r->kchain = true;
	r->kreg_done = r->kunreg_done = false;
	r->kreg_res = r->kunreg_res = 0;
	r->cur = (uintptr_t)b;
	r->cur_done = false;
	return slot;
}

/* After the chain: a slot whose buffer may be left there is not reused. */
static void kreg_finish(struct sm_ring *r, struct sm_send *s,
			unsigned int slot)
{
	bool left;

	if (!r->kunreg_done)	/* the ring failed: what REG did stays */
		left = !r->kreg_done || r->kreg_res > 0;
	else if (r->kreg_res > 0)	/* registered: unless UNREG emptied it */
		left = r->kunreg_res < 0;
	else			/* nothing registered, unless the slot was taken */
		left = r->kreg_res == -EBUSY;
	if (left)
		r->reg_lost |= 1U << slot;
	if (r->kreg_done && r->kreg_res < 0)
		s->kreg_err = r->kreg_res;
	else if (!r->kreg_done)
		s->kreg_err = -EIO;
	r->kchain = false;
}

static int submit(struct sm_ring *r)
{
	int ret;

	do {
		ret = io_uring_submit(&r->ring);
	} while (ret == -EINTR);
	return ret < 0 ? ret : 0;
}

/* Ask the kernel to stop the current send; its CQE still follows. */
static void cancel_current(struct sm_ring *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

	if (!sqe)
		return;
	io_uring_prep_cancel64(sqe, r->cur, 0);
	io_uring_sqe_set_data64(sqe, UD_CANCEL);
	submit(r);
}

/*
 * Submit, and wait for @want completions, in one io_uring_enter.  When it
 * submitted, the kernel returns the count submitted even if a signal cut
 * the wait short, so a return with fewer completions ready than asked for
 * says that a handler ran (the wait ends early for nothing else): *cut.
 */
static int submit_wait(struct sm_ring *r, unsigned int want, bool *cut)
{
	int ret;

	do {
		ret = io_uring_submit_and_wait(&r->ring, want);
	} while (ret == -EINTR);
	if (ret < 0)
		return ret;
	*cut = io_uring_cq_ready(&r->ring) < want;
	return 0;
}

/*
 * Wait for the current send's result (and a kmod_zc chain's UNREG);
 * s->interrupted if a handler ran, here or in the submitting wait (@cut).
 */
static ssize_t wait_current(struct sm_ring *r, struct sm_send *s, bool cut)
{
	struct io_uring_cqe *cqe;
	int ret;

	r->cancel_missed = false;
	for (;;) {
		reap(r);
		if (r->cur_done && (!r->kchain || r->kunreg_done))
			break;
		/* a kmod_zc send is issued once its registration is done */
		if (r->cancel_missed && r->kreg_done && !r->cur_done) {
			r->cancel_missed = false;
			cancel_current(r);
		}
		/* a handler that cut the submitting wait counts as this one's */
		ret = cut && !r->cur_done ? -EINTR :
		      io_uring_wait_cqe(&r->ring, &cqe);
		cut = false;
		if (ret == -EINTR && !s->interrupted) {
			/* Stop the send; its CQE tells what went. */
			s->interrupted = true;
			cancel_current(r);
		} else if (ret < 0 && ret != -EINTR) {
			/* The ring is unusable: nothing more will come. */
			sm_warn("io_uring wait failed: %s", strerror(-ret));
			r->cur_res = ret;
			break;
		}
	}
	r->cur = 0;
	if (r->cur_res == -ECANCELED || r->cur_res == -EINTR)
		return s->interrupted ? -EINTR : r->cur_res;
	return r->cur_res;
}

ssize_t sm_ring_send(struct sm_ring *r, struct sm_send *s)
{
	struct sm_zcbuf *b = NULL;
	bool cut = false;
	int slot = -1;
	ssize_t ret;

	/* held bytes go zero-copy only from the module's page fragments */
	if (s->zc && s->pre_len && !s->kreg)
		return -EINVAL;
	if (s->zc) {
		b = calloc(1, sizeof(*b));
		if (!b)
			return -ENOMEM;
		b->map = s->map;
		b->map_len = s->map_len;
		b->fd = s->fd;
		b->ino = s->ino;
		b->notif_pending = true;
		b->next = r->zc;
		r->zc = b;
		r->zc_bufs++;
		r->zc_bytes += b->map_len;
		/* The ring drops this reference once the kernel is done. */
		s->zc_handed_off = true;
	}
	if (s->kreg) {
		slot = prep_kreg(r, s, b);
		if (slot < 0) {
			s->kreg_err = slot;
			zc_unlink(r, b);
			return slot;
		}
	} else {
		prep_send(r, s, b);
	}
	/* the send's CQE; a kmod_zc chain's three */
	ret = submit_wait(r, s->kreg ? 3 : 1, &cut);
	if (ret < 0) {
		r->cur = 0;
		r->kchain = false;
		if (b) {
			/* Never reached the kernel: no notification. */
			zc_unlink(r, b);
		}
		return ret;
	}
	ret = wait_current(r, s, cut);
	if (slot >= 0)
		kreg_finish(r, s, slot);
	if (b && ret == -EINVAL && have_report_usage > 0) {
		/* Kernels before 6.2 reject REPORT_USAGE; go without it. */
		__atomic_store_n(&have_report_usage, -1, __ATOMIC_RELAXED);
	}
	return ret;
}

/*
 * Several sends of held bytes, each to its own socket, in as few
 * io_uring_enter calls as the ring's size allows (one for a loop turn's
 * responses).  The callers made sure the kernel takes each at once
 * (hold.c: room_for) and every send is MSG_DONTWAIT, so each completes
 * while it is submitted and the wait is for completions already there; a
 * signal or a full completion queue only makes us ask again.  Each entry's
 * res is set (-errno, or bytes).  Returns the io_uring_enter calls made.
 */
int sm_ring_send_batch(struct sm_ring *r, struct sm_batch_send *v,
		       unsigned int n)
{
	unsigned int i = 0, calls = 0, k, first, tries;
	struct io_uring_sqe *sqe;
	int ret;

	reap(r);
	while (i < n) {
		r->batch_gen++;
		first = i;
		for (k = 0; i < n && k < SM_RING_ENTRIES &&
			    (sqe = io_uring_get_sqe(&r->ring)); k++, i++) {
			io_uring_prep_sendmsg(sqe, v[i].fd, &v[i].msg,
					      v[i].flags | MSG_DONTWAIT);
			io_uring_sqe_set_data64(sqe, r->batch_gen <<
						UD_GEN_SHIFT |
						(uint64_t)k << UD_SLOT_SHIFT |
						UD_BATCH);
			r->batch_done[k] = false;
		}
		r->batch_n = r->batch_left = k;
		for (tries = 0;; tries++) {
			ret = io_uring_submit_and_wait(&r->ring, k);
			if ((ret != -EINTR && ret != -EAGAIN &&
			     ret != -EBUSY) || tries == 100)
				break;
			reap(r);	/* room in the completion queue */
		}
		if (ret >= 0)
			calls++;
		while (ret >= 0 && r->batch_left) {
			struct io_uring_cqe *cqe;

			reap(r);
			if (!r->batch_left)
				break;
			ret = io_uring_wait_cqe(&r->ring, &cqe);
			if (ret == -EINTR)
				ret = 0;
		}
		if (ret < 0)
			sm_warn("io_uring batch failed: %s", strerror(-ret));
		/*
		 * A send whose result never came (the ring failed) may still
		 * go: sending its bytes again could send them twice, so the
		 * socket is told of an I/O error instead.
		 */
		for (k = 0; k < r->batch_n; k++)
			v[first + k].res = r->batch_done[k] ? r->batch_res[k] :
					   -EIO;
		r->batch_n = r->batch_left = 0;
		if (ret < 0)
			break;
	}
	for (; i < n; i++)	/* never submitted: as if the ring failed */
		v[i].res = -EIO;
	return calls;
}

/*
 * In a forked child: the parent's rings are the parent's.  Drop our view of
 * them (close the inherited descriptors, unmap the inherited copies of the
 * rings and buffers) without touching the kernel objects the parent uses.
 */
void sm_rings_after_fork(void)
{
	struct sm_ring *r, *n;

	pthread_mutex_init(&registry_lock, NULL);
	for (r = registry; r; r = n) {
		n = r->next;
		ring_destroy(r);
	}
	registry = NULL;
	if (tls_ring)
		pthread_setspecific(ring_key, NULL);
	tls_ring = NULL;
	tls_setup_err = 0;
}

void sm_rings_prepare_fork(void)
{
	pthread_mutex_lock(&registry_lock);
}

void sm_rings_parent_fork(void)
{
	pthread_mutex_unlock(&registry_lock);
}

/*
 * At exit: give the kernel a moment to release zero-copy buffers of this
 * thread's ring and of orphaned rings, so their notifications are counted.
 * Other threads may still run; their rings are theirs.
 */
void sm_rings_exit(void)
{
	struct sm_ring *r = tls_ring;
	int i;

	for (i = 0; i < 20; i++) {
		bool busy = false;

		if (r) {
			flush(r);
			busy = r->zc != NULL;
		}
		reap_orphans();
		pthread_mutex_lock(&registry_lock);
		for (struct sm_ring *o = registry; o; o = o->next)
			busy |= o->orphan;
		pthread_mutex_unlock(&registry_lock);
		if (!busy)
			break;
		usleep(10000);
	}
}
