// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Which path a call takes, and why.
 *
 * Measured on this kind of machine (docs/bench.md): a copy send through
 * io_uring from a mapping of the file is at best even with sendfile(2), and
 * zero-copy that the kernel ends up copying (loopback, veth: every
 * notification says ZC_COPIED) runs at 0.1-0.6x.  So in auto mode a call
 * only leaves sendfile(2) for zero-copy, and only while the kernel reports
 * that zero-copy really avoided the copy for that socket -- or to carry a
 * small body with the headers held for it in one sendmsg(2), which saves
 * the syscalls of the corked idiom, or for one copy to a local peer under
 * a pacing congestion control, where the process measured sendfile(2) dearer
 * (below).
 */
#include <errno.h>

#include "sm.h"

static struct sm_choice pick(enum sm_path path, int fallback)
{
	struct sm_choice ch = { .path = path, .fallback = fallback };

	return ch;
}

/* Why zero-copy is not used for this call, or -1 if it should be. */
static int zc_refusal(const struct sm_options *o, const struct sm_call *c)
{
	if (o->ZC == SM_ZC_NEVER || c->count < o->ZC_MIN)
		return SM_FB_small;
	if (!c->zc_supported)
		return SM_FB_zc_unsupported;
	if (o->ZC != SM_ZC_ALWAYS) {
		if (o->ZC == SM_ZC_AUTO && c->local)
			return SM_FB_local_peer;
		if (__atomic_load_n(&c->fi->zc_state, __ATOMIC_RELAXED) ==
		    SM_ZCS_COPIED)
			return SM_FB_zc_copied;
	}
	if (!c->zc_budget)
		return SM_FB_zc_budget;
	return -1;
}

/*
 * Zero-copy from buffers the module registers into this thread's ring
 * (kmod_zc): the page-cache pages of the range and the held headers in
 * page fragments, one SEND_ZC, no mapping and no pinning.  Where zero-copy
 * is wanted and the module can, it replaces the mapping (uring_zc) and the
 * module's own send; -1, or why not.
 */
static int kmod_zc_refusal(const struct sm_options *o,
			   const struct sm_call *c)
{
	int why = zc_refusal(o, c);

	if (why >= 0)
		return why;
	if (!c->kmod_reg)
		return SM_FB_kmod_no_reg;
	if (!c->uring_ok)
		return sm_policy_setup_fallback(c->uring_err);
	return -1;
}

/*
 * The forced module engine: kmod_zc where zero-copy is wanted, else the
 * module's single send.  Only a missing feature is counted: the other
 * refusals (a local peer, a small body) are the zero-copy rule's own.
 */
static struct sm_choice kmod_engine(const struct sm_options *o,
				    const struct sm_call *c)
{
	int why = kmod_zc_refusal(o, c);

	if (why < 0)
		return pick(SM_PATH_KMOD_ZC, -1);
	if (why == SM_FB_kmod_no_reg || !c->uring_ok)
		return pick(SM_PATH_KMOD, why);
	return pick(SM_PATH_KMOD, -1);
}

/*
 * The choices that do not depend on where the peer is: true with *@ch set,
 * or false, and then the rest of sm_policy_choose() reads c->local.
 */
static bool placeless(const struct sm_options *o, const struct sm_call *c,
		      struct sm_choice *ch)
{
	if (o->ENGINE == SM_ENGINE_NATIVE) {
		*ch = pick(SM_PATH_NATIVE, -1);
		return true;
	}
	/* AF_UNIX: SEND_ZC is EOPNOTSUPP and nothing beats sendfile(2)
	 * there, except one send of held headers and the body. */
	if (!c->in_regular ||
	    (c->kind != SM_FD_TCP && !(c->kind == SM_FD_UNIX && c->held))) {
		*ch = pick(SM_PATH_NATIVE, SM_FB_ineligible);
		return true;
	}
	/*
	 * A small body with held headers, in an event loop: it waits for
	 * the loop's next epoll_wait, to leave with the turn's other
	 * responses in one io_uring_enter (one submission per turn instead
	 * of a send per response).
	 */
	if (c->held && c->batch_ok && c->uring_ok &&
	    c->count <= SM_DIRECT_MAX && sm_policy_batches(o, c->kind)) {
		*ch = pick(SM_PATH_BATCH, -1);
		return true;
	}
	if (c->held && o->ENGINE != SM_ENGINE_AUTO) {
		/*
		 * Held headers and the body in one submission: through the
		 * module without copying the body (zero-copy or not: where
		 * the peer is decides), or an io_uring copy.
		 */
		if (c->kmod_ok)
			return false;
		if (o->ENGINE == SM_ENGINE_KMOD)
			*ch = pick(SM_PATH_NATIVE, SM_FB_kmod_unavailable);
		else if (!c->uring_ok)
			*ch = pick(SM_PATH_NATIVE,
				   sm_policy_setup_fallback(c->uring_err));
		else
			*ch = pick(SM_PATH_URING_COPY, -1);
		return true;
	}
	/*
	 * Auto: a small body leaves with the held headers in one sendmsg(2),
	 * which beats both the corked idiom and an io_uring submission for a
	 * single blocking send (docs/bench.md).  A larger one is worth more
	 * as sendfile(2)'s page references: the headers go ahead of it.
	 */
	if (c->held && c->count <= SM_DIRECT_MAX) {
		*ch = pick(SM_PATH_SENDMSG, -1);
		return true;
	}
	if (c->kind != SM_FD_TCP) {
		*ch = pick(SM_PATH_NATIVE, SM_FB_ineligible);
		return true;
	}
	return false;
}

struct sm_choice sm_policy_choose(const struct sm_options *o,
				  const struct sm_call *c)
{
	struct sm_choice ch;
	int why;

	if (placeless(o, c, &ch))
		return ch;
	if (c->held && o->ENGINE != SM_ENGINE_AUTO)	/* c->kmod_ok */
		return kmod_engine(o, c);
	/*
	 * A bare sendfile() through the module runs the same splice path as
	 * sendfile(2) plus an ioctl: auto keeps the module for what only it
	 * can do (one send of header and body), so here it is only forced.
	 */
	if (o->ENGINE == SM_ENGINE_KMOD)
		return c->kmod_ok ? kmod_engine(o, c) :
		       pick(SM_PATH_NATIVE, SM_FB_kmod_unavailable);
	/*
	 * A local peer copies what it receives, so zero-copy saves nothing
	 * there; and where the congestion control paces (bbr: a timer of
	 * the socket's own, as loopback has no qdisc to pace), a corked
	 * sendfile(2) costs the sender more CPU than one copy of the body
	 * (nginx, apache2).  An uncorked one costs it less, and the copy
	 * lost to it wherever the sender's CPU was the limit (lighttpd,
	 * which uncorks after its first 256 KiB): docs/bench.md, "Local
	 * peers and pacing".  Under cubic sendfile(2) wins either way.  How
	 * much a corked sendfile(2) costs depends on the machine (1.7x the
	 * copy on one, 0.7x on another of the same kind), so the process
	 * measures both (sm_policy_trial()).
	 */
	if (sm_policy_asks_paced(o, c) && c->paced && c->copy_cheaper)
		return pick(SM_PATH_SENDMSG, -1);
	if (!c->uring_ok)
		return pick(SM_PATH_NATIVE,
			    sm_policy_setup_fallback(c->uring_err));
	why = zc_refusal(o, c);
	if (why < 0)
		return pick(c->kmod_reg ? SM_PATH_KMOD_ZC : SM_PATH_URING_ZC,
			    -1);
	/* forced: a copy instead, and only the budget is worth counting */
	if (o->ENGINE == SM_ENGINE_URING)
		return pick(SM_PATH_URING_COPY,
			    why == SM_FB_zc_budget ? why : -1);
	return pick(SM_PATH_NATIVE, why);
}

/*
 * Could where the peer is change the choice?  Asking costs getpeername(2)
 * and getsockname(2) once per connection whose peer is not on loopback.
 * Zero-copy refuses a body below ZC_MIN as small before it looks
 * (zc_refusal()), and the paced copy starts at SM_PACED_COPY_MIN.
 */
bool sm_policy_asks_local(const struct sm_options *o, const struct sm_call *c)
{
	struct sm_choice ch;

	if ((o->ZC == SM_ZC_NEVER || c->count < o->ZC_MIN) &&
	    c->count < SM_PACED_COPY_MIN)
		return false;
	return !placeless(o, c, &ch);
}

/* Could the socket's pacing change the choice?  Asking costs a getsockopt. */
bool sm_policy_asks_paced(const struct sm_options *o, const struct sm_call *c)
{
	return o->ENGINE == SM_ENGINE_AUTO && o->ZC != SM_ZC_ALWAYS &&
	       c->kind == SM_FD_TCP && c->local && c->corked &&
	       c->count >= SM_PACED_COPY_MIN;
}

/*
 * Which sockets hold writes while corked.  Measured (tests/bench/resp.sh,
 * docs/bench.md): the corked native idiom already sends one segment per
 * response, so one send only saves syscalls.  Auto holds TCP headers for
 * one sendmsg(2) with a small body (sm_policy_choose): poll, fstat and
 * sendmsg for the idiom's four.  The AF_UNIX idiom, send(MSG_MORE) and
 * sendfile, is two: only a forced engine holds it.
 */
bool sm_policy_holds(const struct sm_options *o, int kind, bool via_more)
{
	if (o->ENGINE == SM_ENGINE_NATIVE)
		return false;
	if (kind == SM_FD_TCP)
		return true;
	return kind == SM_FD_UNIX && via_more && o->ENGINE != SM_ENGINE_AUTO;
}

/*
 * Auto's sendfile(2) of a body after held headers, to a local peer: the
 * headers go with the body's first page (SM_LEAD_LEN), copied, in one
 * send with MSG_MORE, and sendfile(2) the rest.  Sent alone, the headers
 * take one or two of the first segment's 17 fragments -- two when the
 * thread's page fragment runs out inside them -- and then only 15 pages
 * fit (61,697 bytes, seen with tcpdump): on loopback (MSS 65,483) that
 * segment leaves short, Nagle (Minshall's rule) holds the response's tail
 * until it is acknowledged, and a client waiting for the whole response
 * delays that ACK by 40 ms.  nginx's 64-96 KiB files stalled so in 0.5%
 * of responses, which took half of a connection's time (docs/bench.md,
 * "A full first segment").  A peer elsewhere gets MSS-sized segments
 * either way.  The cost is one page copied and the file's mapping.  Where
 * the peer is is not asked for this (c->local as known: a loopback peer
 * always, another address of this host from ZC_MIN up, where a response
 * is long enough to stall).
 */
bool sm_policy_leads(const struct sm_options *o, const struct sm_call *c)
{
	return o->ENGINE == SM_ENGINE_AUTO && c->kind == SM_FD_TCP &&
	       c->held && c->local && c->count > SM_LEAD_LEN &&
	       c->in_regular && zc_refusal(o, c) >= 0;
}

/*
 * A long body under the application's cork goes under the kernel's, as
 * natively, though then the uncork costs its syscall.  Uncorked, a body
 * that outruns the peer's reading meets a window shorter than a segment,
 * and tcp sends what fits (tcp_mss_split_point()); the response's short
 * last segment then waits, by Nagle's rule (Minshall's variant), for that
 * short one's ACK, which a client waiting for the whole response delays by
 * 40 ms.  A cork sends only full segments until the uncork, which pushes
 * the tail at once.  Measured with nginx's 1 MiB file and one connection,
 * auto's copy (SM_PACED_COPY_MIN): half of the wrk runs had p99 32-43 ms
 * uncorked, none corked, with the same rate (docs/bench.md, "The 1 MiB
 * stall").  Smaller bodies fit the window of a reading client, and the
 * two syscalls would cost them what SM_DIRECT_MAX and the lead save.
 */
bool sm_policy_corks_body(const struct sm_options *o, const struct sm_call *c)
{
	return o->ENGINE != SM_ENGINE_NATIVE && c->kind == SM_FD_TCP &&
	       c->corked && c->count >= SM_CORK_BODY_MIN;
}

/*
 * Is a loop turn whose epoll_wait returned @events worth batching?  One
 * submission for the turn's responses saves sends where there are several.
 * Where there is one (a single busy connection), it only sends later, and
 * the ring costs more than sendmsg(2): nginx, 4 KiB, one connection, the
 * worker's CPU per request was 42.6 us batched against 37.3 us sent at
 * once, 1.03x native against 1.14x (docs/bench.md, "One event, no batch").
 */
bool sm_policy_turn_batches(int events)
{
	return events > 1;
}

bool sm_policy_batches(const struct sm_options *o, int kind)
{
	return o->BATCH && kind == SM_FD_TCP &&
	       (o->ENGINE == SM_ENGINE_AUTO || o->ENGINE == SM_ENGINE_URING);
}

/*
 * The zero-copy rule: a socket starts by probing; after SM_ZC_PROBE_MIN
 * notifications it keeps zero-copy while at most half of its recent sends
 * came back copied.  Counts halve at SM_ZC_DECAY_AT so that the recent past
 * rules.  Once a socket is ruled copied it sends no more zero-copy, so the
 * verdict sticks for the life of the connection: the route does not change
 * from loopback to a NIC under a connected socket.
 */
void sm_policy_zc_report(struct sm_fdinfo *fi, bool copied)
{
	uint32_t n, k;

	n = __atomic_add_fetch(&fi->zc_notifs, 1, __ATOMIC_RELAXED);
	k = copied ? __atomic_add_fetch(&fi->zc_copied, 1, __ATOMIC_RELAXED)
		   : __atomic_load_n(&fi->zc_copied, __ATOMIC_RELAXED);
	if (n >= SM_ZC_PROBE_MIN)
		__atomic_store_n(&fi->zc_state,
				 2 * k > n ? SM_ZCS_COPIED : SM_ZCS_OK,
				 __ATOMIC_RELAXED);
	if (n >= SM_ZC_DECAY_AT) {
		__atomic_store_n(&fi->zc_notifs, n / 2, __ATOMIC_RELAXED);
		__atomic_store_n(&fi->zc_copied, k / 2, __ATOMIC_RELAXED);
	}
}

static void trial_unlock(struct sm_trial *t)
{
	__atomic_store_n(&t->lock, 0, __ATOMIC_RELEASE);
}

bool sm_policy_trial(struct sm_trial *t, struct sm_trial_epoch *e,
		     uint64_t (*cpu_ns)(void), int *decided)
{
	uint64_t now;
	bool copy;

	*decided = -1;
	/* a verdict stands: one atomic, no clock */
	if (__atomic_load_n(&t->run_left, __ATOMIC_ACQUIRE) > 0 &&
	    __atomic_sub_fetch(&t->run_left, 1, __ATOMIC_RELAXED) >= 0)
		return __atomic_load_n(&t->copy, __ATOMIC_RELAXED);
	/* the trial: this thread's epoch goes on */
	if (e->left && e->gen == __atomic_load_n(&t->gen, __ATOMIC_RELAXED)) {
		e->left--;
		return e->copy;
	}
	/*
	 * Another thread is in it (or this one, and a signal handler sends):
	 * this body goes on with the thread's epoch, or by sendfile(2), and
	 * the next one asks again.  Never a wait.
	 */
	if (__atomic_exchange_n(&t->lock, 1, __ATOMIC_ACQUIRE))
		return e->started &&
		       e->gen == __atomic_load_n(&t->gen, __ATOMIC_RELAXED) ?
		       e->copy : false;
	now = cpu_ns();
	if (!t->trialing) {	/* the first, or the run ended: again */
		t->trialing = true;
		__atomic_store_n(&t->gen, t->gen + 1, __ATOMIC_RELAXED);
		t->begun[0] = t->begun[1] = t->ended[0] = t->ended[1] = 0;
		t->ns[0] = t->ns[1] = t->by[0] = t->by[1] = 0;
	} else if (e->started && e->gen == t->gen) {	/* its epoch ended */
		t->ns[e->copy] += now - e->t0;
		t->by[e->copy] += e->bytes;
		t->ended[e->copy]++;
	}
	e->started = false;
	if (t->ended[0] >= SM_TRIAL_EPOCHS && t->ended[1] >= SM_TRIAL_EPOCHS) {
		/* per byte: the copy under SM_TRIAL_MARGIN % of sendfile's */
		copy = t->by[0] && t->by[1] &&
		       (double)t->ns[1] / t->by[1] * 100 <
		       (double)t->ns[0] / t->by[0] * SM_TRIAL_MARGIN;
		t->trialing = false;
		/* the epochs under way end with it */
		__atomic_store_n(&t->gen, t->gen + 1, __ATOMIC_RELAXED);
		__atomic_store_n(&t->copy, copy, __ATOMIC_RELAXED);
		__atomic_store_n(&t->run_left, SM_TRIAL_RUN - 1,
				 __ATOMIC_RELEASE);
		trial_unlock(t);
		*decided = copy;
		return copy;
	}
	/* the next epoch: the path fewer have begun; on a tie the other
	 * than this thread's last, so that each thread measures both */
	e->copy = t->begun[1] < t->begun[0] ||
		  (t->begun[1] == t->begun[0] && !e->copy);
	t->begun[e->copy]++;
	e->gen = t->gen;
	trial_unlock(t);
	e->started = true;
	e->t0 = now;
	e->bytes = 0;
	e->left = SM_TRIAL_LEN - 1;
	return e->copy;
}

void sm_policy_trial_sent(struct sm_trial_epoch *e, ssize_t n)
{
	if (n > 0)
		e->bytes += n;
}

int sm_policy_setup_fallback(int err)
{
	switch (err) {
	case -ENOSYS:
		return SM_FB_uring_enosys;
	case -EPERM:
	case -EACCES:
		return SM_FB_uring_eperm;
	case -ENOMEM:
		return SM_FB_uring_enomem;
	default:
		return SM_FB_uring_other;
	}
}
