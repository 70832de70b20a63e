// SPDX-License-Identifier: LGPL-2.1-or-later
/* The path policy and the per-socket zero-copy rule. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "sm.h"
#include "t_check.h"

static struct sm_options o;
static struct sm_fdinfo fi;
static struct sm_call c;

static void setup(void)
{
	memset(&o, 0, sizeof(o));
	sm_options_defaults(&o);
	memset(&fi, 0, sizeof(fi));
	fi.kind = SM_FD_TCP;
	memset(&c, 0, sizeof(c));
	c.kind = SM_FD_TCP;
	c.in_regular = true;
	c.count = 1 << 20;
	c.fi = &fi;
	c.uring_ok = c.zc_supported = c.zc_budget = true;
}

static void teardown(void)
{
	sm_options_free(&o);
}

#define expect(p, fb)							\
	do {								\
		struct sm_choice ch = sm_policy_choose(&o, &c);		\
		ck_assert_int_eq(ch.path, p);				\
		ck_assert_int_eq(ch.fallback, fb);			\
	} while (0)

START_TEST(native_engine_never_counts_a_fallback)
{
	o.ENGINE = SM_ENGINE_NATIVE;
	expect(SM_PATH_NATIVE, -1);
}
END_TEST

START_TEST(ineligible_descriptors_go_native)
{
	c.kind = SM_FD_OTHER;
	expect(SM_PATH_NATIVE, SM_FB_ineligible);
	c.kind = SM_FD_TCP;
	c.in_regular = false;
	expect(SM_PATH_NATIVE, SM_FB_ineligible);
	o.ENGINE = SM_ENGINE_URING;
	expect(SM_PATH_NATIVE, SM_FB_ineligible);
}
END_TEST

START_TEST(auto_uses_zero_copy_only_where_it_can_win)
{
	expect(SM_PATH_URING_ZC, -1);		/* remote peer, probing */
	c.count = 1000;
	expect(SM_PATH_NATIVE, SM_FB_small);
	c.count = 1 << 20;
	c.local = true;
	expect(SM_PATH_NATIVE, SM_FB_local_peer);
	c.local = false;
	fi.zc_state = SM_ZCS_COPIED;
	expect(SM_PATH_NATIVE, SM_FB_zc_copied);
	fi.zc_state = SM_ZCS_OK;
	c.zc_budget = false;
	expect(SM_PATH_NATIVE, SM_FB_zc_budget);
	c.zc_budget = true;
	c.zc_supported = false;
	expect(SM_PATH_NATIVE, SM_FB_zc_unsupported);
}
END_TEST

START_TEST(uring_engine_copies_where_zero_copy_is_refused)
{
	o.ENGINE = SM_ENGINE_URING;
	c.local = true;
	expect(SM_PATH_URING_COPY, -1);
	c.count = 10;
	expect(SM_PATH_URING_COPY, -1);
	o.ZC = SM_ZC_ALWAYS;
	expect(SM_PATH_URING_COPY, -1);		/* still below ZC_MIN */
	o.ZC_MIN = 0;
	expect(SM_PATH_URING_ZC, -1);
	o.ZC = SM_ZC_NEVER;
	expect(SM_PATH_URING_COPY, -1);
}
END_TEST

START_TEST(report_mode_ignores_addresses_but_not_reports)
{
	o.ZC = SM_ZC_REPORT;
	c.local = true;
	expect(SM_PATH_URING_ZC, -1);
	fi.zc_state = SM_ZCS_COPIED;
	expect(SM_PATH_NATIVE, SM_FB_zc_copied);
	o.ZC = SM_ZC_ALWAYS;
	expect(SM_PATH_URING_ZC, -1);
}
END_TEST

START_TEST(kmod_engine_forces_the_module_or_says_why_not)
{
	o.ENGINE = SM_ENGINE_KMOD;
	c.kmod_ok = true;
	/* zero-copy wanted, but this module cannot register: counted */
	expect(SM_PATH_KMOD, SM_FB_kmod_no_reg);
	c.count = 1;
	expect(SM_PATH_KMOD, -1);
	c.kmod_ok = false;
	expect(SM_PATH_NATIVE, SM_FB_kmod_unavailable);
	c.kind = SM_FD_OTHER;
	expect(SM_PATH_NATIVE, SM_FB_ineligible);
}
END_TEST

START_TEST(kmod_engine_sends_zero_copy_from_registered_buffers)
{
	o.ENGINE = SM_ENGINE_KMOD;
	c.kmod_ok = c.kmod_reg = true;
	expect(SM_PATH_KMOD_ZC, -1);		/* remote peer, probing */
	c.held = 250;
	expect(SM_PATH_KMOD_ZC, -1);		/* the headers too */
	/* the zero-copy rule's refusals leave the module's own send */
	c.local = true;
	expect(SM_PATH_KMOD, -1);
	o.ZC = SM_ZC_ALWAYS;
	expect(SM_PATH_KMOD_ZC, -1);
	c.zc_budget = false;
	expect(SM_PATH_KMOD, -1);
	c.zc_budget = true;
	c.count = 1;
	expect(SM_PATH_KMOD, -1);		/* below ZC_MIN */
	o.ZC_MIN = 0;
	expect(SM_PATH_KMOD_ZC, -1);
	/* no ring in this thread: the module's send, and why */
	c.uring_ok = false;
	c.uring_err = -EPERM;
	expect(SM_PATH_KMOD, SM_FB_uring_eperm);
	c.uring_ok = true;
	o.ZC = SM_ZC_NEVER;
	expect(SM_PATH_KMOD, -1);
}
END_TEST

START_TEST(auto_zero_copy_prefers_the_modules_buffers)
{
	c.kmod_reg = true;
	expect(SM_PATH_KMOD_ZC, -1);
	fi.zc_state = SM_ZCS_COPIED;
	expect(SM_PATH_NATIVE, SM_FB_zc_copied);
	fi.zc_state = 0;
	c.local = true;
	expect(SM_PATH_NATIVE, SM_FB_local_peer);
	c.kmod_reg = false;
	c.local = false;
	expect(SM_PATH_URING_ZC, -1);
}
END_TEST

START_TEST(auto_never_sends_a_bare_sendfile_through_the_module)
{
	c.kmod_ok = true;
	expect(SM_PATH_URING_ZC, -1);
	c.local = true;
	expect(SM_PATH_NATIVE, SM_FB_local_peer);
}
END_TEST

START_TEST(auto_sends_held_headers_and_a_small_body_in_one_sendmsg)
{
	c.local = true;
	c.held = 250;
	c.count = SM_DIRECT_MAX;
	expect(SM_PATH_SENDMSG, -1);
	c.uring_ok = false;		/* it needs no ring */
	expect(SM_PATH_SENDMSG, -1);
	c.uring_ok = true;
	c.count = SM_DIRECT_MAX + 1;	/* sendfile(2), after the headers */
	expect(SM_PATH_NATIVE, SM_FB_small);
	c.count = 1 << 20;
	expect(SM_PATH_NATIVE, SM_FB_local_peer);
	c.kind = SM_FD_UNIX;
	expect(SM_PATH_NATIVE, SM_FB_ineligible);
	c.held = 0;			/* nothing held: the usual rule */
	c.kind = SM_FD_TCP;
	c.count = 1000;
	expect(SM_PATH_NATIVE, SM_FB_small);
	o.ENGINE = SM_ENGINE_URING;	/* forced: io_uring, any size */
	c.held = 250;
	c.count = 1 << 30;
	expect(SM_PATH_URING_COPY, -1);
}
END_TEST

START_TEST(an_event_loops_small_bodies_wait_for_its_next_wait)
{
	c.held = 250;
	c.count = SM_DIRECT_MAX;
	c.batch_ok = true;		/* the hold says it may wait */
	expect(SM_PATH_BATCH, -1);
	o.ENGINE = SM_ENGINE_URING;
	expect(SM_PATH_BATCH, -1);
	o.ENGINE = SM_ENGINE_KMOD;	/* the module's one send instead */
	ck_assert(!sm_policy_batches(&o, SM_FD_TCP));
	o.ENGINE = SM_ENGINE_AUTO;
	c.uring_ok = false;		/* the batch is an io_uring_enter */
	expect(SM_PATH_SENDMSG, -1);
	c.uring_ok = true;
	c.count = SM_DIRECT_MAX + 1;	/* a larger body: its own path */
	expect(SM_PATH_NATIVE, SM_FB_small);
	c.count = 4096;
	c.held = 0;			/* a body without headers goes now */
	expect(SM_PATH_NATIVE, SM_FB_small);
	c.held = 250;
	c.batch_ok = false;		/* not an event loop's thread */
	expect(SM_PATH_SENDMSG, -1);
	c.batch_ok = true;
	o.BATCH = 0;			/* SPLICEMSG_BATCH=0 */
	expect(SM_PATH_SENDMSG, -1);
	o.BATCH = 1;
	ck_assert(!sm_policy_batches(&o, SM_FD_UNIX));
	ck_assert(sm_policy_batches(&o, SM_FD_TCP));
	/* a turn of one event (one busy connection) has nothing to join */
	ck_assert(sm_policy_turn_batches(2));
	ck_assert(!sm_policy_turn_batches(1));
	ck_assert(!sm_policy_turn_batches(0));	/* a timeout */
	ck_assert(!sm_policy_turn_batches(-1));	/* EINTR */
}
END_TEST

START_TEST(auto_copies_to_a_local_peer_under_a_pacing_cc)
{
	c.local = true;
	c.paced = true;
	c.copy_cheaper = true;			/* the thread's trial says */
	expect(SM_PATH_NATIVE, SM_FB_local_peer);	/* not corked */
	c.corked = true;
	expect(SM_PATH_SENDMSG, -1);		/* with or without headers */
	c.held = 250;
	expect(SM_PATH_SENDMSG, -1);
	c.uring_ok = false;			/* it needs no ring */
	expect(SM_PATH_SENDMSG, -1);
	c.uring_ok = true;
	c.held = 0;
	c.count = SM_PACED_COPY_MIN - 1;	/* below: sendfile(2) */
	expect(SM_PATH_NATIVE, SM_FB_local_peer);
	c.count = o.ZC_MIN - 1;			/* (and too small for zc) */
	expect(SM_PATH_NATIVE, SM_FB_small);
	c.count = SM_PACED_COPY_MIN;
	expect(SM_PATH_SENDMSG, -1);
	c.paced = false;			/* cubic: sendfile(2) wins */
	expect(SM_PATH_NATIVE, SM_FB_local_peer);
	c.paced = true;
	c.copy_cheaper = false;			/* measured dearer here */
	expect(SM_PATH_NATIVE, SM_FB_local_peer);
	c.copy_cheaper = true;
	c.corked = false;			/* uncorked: sendfile(2) */
	expect(SM_PATH_NATIVE, SM_FB_local_peer);
	c.corked = true;
	c.local = false;			/* a remote peer: zero-copy */
	expect(SM_PATH_URING_ZC, -1);
	c.local = true;
	o.ZC = SM_ZC_ALWAYS;			/* asked for: zero-copy */
	expect(SM_PATH_URING_ZC, -1);
	o.ZC = SM_ZC_AUTO;
	o.ENGINE = SM_ENGINE_URING;		/* forced: io_uring */
	expect(SM_PATH_URING_COPY, -1);
}
END_TEST

/* The paced copy's trial, on a clock that each body's call advances by
 * its path's cost (copy_ns or sf_ns) and other_ns more. */
static uint64_t fake_ns;

static uint64_t fake_clock(void)
{
	return fake_ns;
}

/* Runs @n bodies of 1 MiB in one thread (@e); returns how many copied. */
static unsigned int trial_bodies(struct sm_trial *t, struct sm_trial_epoch *e,
				 unsigned int n, uint64_t copy_ns,
				 uint64_t sf_ns, uint64_t other_ns,
				 unsigned int *decided)
{
	unsigned int copied = 0, i;
	int d;

	for (i = 0; i < n; i++) {
		bool copy = sm_policy_trial(t, e, fake_clock, &d);

		if (d >= 0)
			decided[d]++;
		copied += copy;
		fake_ns += (copy ? copy_ns : sf_ns) + other_ns;
		sm_policy_trial_sent(e, 1 << 20);
	}
	return copied;
}

START_TEST(the_paced_copy_is_taken_where_the_process_measured_it_cheaper)
{
	const unsigned int trial = 2 * SM_TRIAL_EPOCHS * SM_TRIAL_LEN;
	struct sm_trial t = { 0 };
	struct sm_trial_epoch e = { 0 };
	unsigned int decided[2] = { 0, 0 };
	int d;

	fake_ns = 1000;
	/* the trial: half each, alternating by epoch, the copy first */
	ck_assert(sm_policy_trial(&t, &e, fake_clock, &d));
	ck_assert_int_eq(d, -1);
	fake_ns += 100;
	sm_policy_trial_sent(&e, 1 << 20);
	ck_assert_uint_eq(trial_bodies(&t, &e, SM_TRIAL_LEN - 1, 100, 200, 50,
				       decided), SM_TRIAL_LEN - 1);
	ck_assert_uint_eq(trial_bodies(&t, &e, SM_TRIAL_LEN, 100, 200, 50,
				       decided), 0);
	ck_assert_uint_eq(trial_bodies(&t, &e, trial - 2 * SM_TRIAL_LEN, 100,
				       200, 50, decided),
			  trial / 2 - SM_TRIAL_LEN);
	ck_assert_uint_eq(decided[0] + decided[1], 0);
	/* the copy cost 150 per body, sendfile(2) 250: the run copies */
	ck_assert_uint_eq(trial_bodies(&t, &e, SM_TRIAL_RUN, 100, 200, 50,
				       decided), SM_TRIAL_RUN);
	ck_assert_uint_eq(decided[1], 1);
	/* the next trial finds the copy dearer: sendfile(2) for the run */
	ck_assert_uint_eq(trial_bodies(&t, &e, trial, 300, 200, 50, decided),
			  trial / 2);
	ck_assert_uint_eq(trial_bodies(&t, &e, SM_TRIAL_RUN, 300, 200, 50,
				       decided), 0);
	ck_assert_uint_eq(decided[0], 1);
	/* cheaper, but inside the margin (91% of sendfile's): sendfile(2) */
	trial_bodies(&t, &e, trial, 182, 200, 0, decided);
	ck_assert_uint_eq(trial_bodies(&t, &e, SM_TRIAL_RUN, 0, 0, 0, decided),
			  0);
	ck_assert_uint_eq(decided[0], 2);
	/* below it (89%): the copy */
	trial_bodies(&t, &e, trial, 178, 200, 0, decided);
	ck_assert_uint_eq(trial_bodies(&t, &e, SM_TRIAL_RUN, 0, 0, 0, decided),
			  SM_TRIAL_RUN);
	ck_assert_uint_eq(decided[1], 2);
}
END_TEST

/*
 * Eight threads, their bodies interleaved, each thread's CPU its own: the
 * trial ends once SM_TRIAL_EPOCHS of each path have ended in any of them,
 * each thread measures both paths, and every thread follows the verdict.
 */
START_TEST(a_pool_of_threads_shares_one_trial)
{
	enum { N = 8 };
	struct sm_trial t = { 0 };
	struct sm_trial_epoch e[N];
	uint64_t cpu[N] = { 0 };
	unsigned int bodies = 0, copied[N] = { 0 }, i, k;
	int d, verdicts = 0;

	memset(e, 0, sizeof(e));
	for (;;) {
		for (k = 0; k < N; k++) {
			bool copy;

			fake_ns = cpu[k];
			copy = sm_policy_trial(&t, &e[k], fake_clock, &d);
			if (d >= 0) {
				ck_assert_int_eq(d, 1);
				verdicts++;
			}
			cpu[k] += copy ? 100 : 200;
			copied[k] += copy;
			sm_policy_trial_sent(&e[k], 1 << 20);
			bodies++;
		}
		if (verdicts)
			break;
		ck_assert_uint_lt(bodies, 2 * N * SM_TRIAL_LEN);
	}
	/*
	 * Decided as the eight first epochs ended, four of each path (the
	 * even threads' copied), at the last thread's next body: the odd
	 * threads then took the copy (their own other path, or the verdict),
	 * the even ones sendfile(2).  Eight trials of their own would have
	 * taken eight times the bodies.
	 */
	ck_assert_uint_eq(bodies, N * SM_TRIAL_LEN + N);
	for (k = 0; k < N; k++)
		ck_assert_uint_eq(copied[k], k % 2 ? 1 : SM_TRIAL_LEN);
	/* one verdict for all, for the run */
	for (i = 0; i < SM_TRIAL_RUN - 1; i++) {
		ck_assert(sm_policy_trial(&t, &e[i % N], fake_clock, &d));
		ck_assert_int_eq(d, -1);
	}
	/* then a trial again */
	fake_ns = cpu[0];
	sm_policy_trial(&t, &e[0], fake_clock, &d);
	ck_assert(t.trialing);
}
END_TEST

/* A thread (or a signal handler) that finds the trial locked never waits:
 * its body goes on with its epoch, or by sendfile(2). */
START_TEST(a_locked_trial_is_never_waited_for)
{
	struct sm_trial t = { 0 };
	struct sm_trial_epoch a = { 0 }, b = { 0 };
	unsigned int i;
	int d;

	fake_ns = 1;
	ck_assert(sm_policy_trial(&t, &a, fake_clock, &d));	/* copies */
	t.lock = 1;
	ck_assert(!sm_policy_trial(&t, &b, fake_clock, &d));	/* no epoch */
	ck_assert(!b.started);
	for (i = 1; i < SM_TRIAL_LEN; i++)
		ck_assert(sm_policy_trial(&t, &a, fake_clock, &d));
	ck_assert(sm_policy_trial(&t, &a, fake_clock, &d));	/* on */
	ck_assert_uint_eq(t.ended[1], 0);
	t.lock = 0;
	ck_assert(!sm_policy_trial(&t, &a, fake_clock, &d));	/* ended */
	ck_assert_uint_eq(t.ended[1], 1);
	ck_assert_uint_eq(t.lock, 0);
}
END_TEST

START_TEST(a_trial_whose_bodies_sent_nothing_keeps_sendfile)
{
	struct sm_trial t = { 0 };
	struct sm_trial_epoch e = { 0 };
	unsigned int i, copied = 0;
	int d;

	fake_ns = 1;
	for (i = 0; i < 2 * SM_TRIAL_EPOCHS * SM_TRIAL_LEN; i++) {
		sm_policy_trial(&t, &e, fake_clock, &d);
		fake_ns += 10;
		sm_policy_trial_sent(&e, -EAGAIN);	/* a full socket */
	}
	for (i = 0; i < SM_TRIAL_RUN; i++)
		copied += sm_policy_trial(&t, &e, fake_clock, &d);
	ck_assert_uint_eq(copied, 0);
}
END_TEST

START_TEST(auto_leads_a_local_sendfile_with_a_page_of_its_body)
{
	c.local = true;
	c.held = 250;
	c.count = 65536;
	expect(SM_PATH_NATIVE, SM_FB_local_peer);	/* still sendfile(2) */
	ck_assert(sm_policy_leads(&o, &c));
	c.corked = true;			/* corked or MSG_MORE alike */
	ck_assert(sm_policy_leads(&o, &c));
	c.count = SM_LEAD_LEN;			/* nothing left for sendfile */
	ck_assert(!sm_policy_leads(&o, &c));
	c.count = 65536;
	c.held = 0;				/* no headers to go with */
	ck_assert(!sm_policy_leads(&o, &c));
	c.held = 250;
	c.local = false;			/* elsewhere: full segments */
	ck_assert(!sm_policy_leads(&o, &c));
	c.local = true;
	o.ZC = SM_ZC_ALWAYS;			/* zero-copy instead */
	ck_assert(!sm_policy_leads(&o, &c));
	o.ZC = SM_ZC_AUTO;
	c.kind = SM_FD_UNIX;
	ck_assert(!sm_policy_leads(&o, &c));
	c.kind = SM_FD_TCP;
	o.ENGINE = SM_ENGINE_URING;		/* its own copy */
	ck_assert(!sm_policy_leads(&o, &c));
}
END_TEST

START_TEST(a_long_corked_body_goes_under_the_kernels_cork)
{
	c.corked = true;
	c.count = SM_CORK_BODY_MIN;
	ck_assert(sm_policy_corks_body(&o, &c));
	c.local = true;				/* any path, any peer */
	c.paced = true;
	ck_assert(sm_policy_corks_body(&o, &c));
	o.ENGINE = SM_ENGINE_URING;
	ck_assert(sm_policy_corks_body(&o, &c));
	o.ENGINE = SM_ENGINE_AUTO;
	c.count = SM_CORK_BODY_MIN - 1;		/* fits a reading client's window */
	ck_assert(!sm_policy_corks_body(&o, &c));
	c.count = 1 << 20;
	c.corked = false;			/* the application's choice */
	ck_assert(!sm_policy_corks_body(&o, &c));
	c.corked = true;
	c.kind = SM_FD_UNIX;			/* no cork there */
	ck_assert(!sm_policy_corks_body(&o, &c));
	c.kind = SM_FD_TCP;
	o.ENGINE = SM_ENGINE_NATIVE;
	ck_assert(!sm_policy_corks_body(&o, &c));
}
END_TEST

/*
 * Where the peer is costs two system calls per connection to learn, unless
 * it is on loopback: asked only where the answer can change the choice.
 * Every call shape: when the policy says it need not ask, the choice is
 * the same for a peer here and one elsewhere, paced or not.
 */
START_TEST(where_the_peer_is_is_asked_only_if_it_matters)
{
	static const int engines[] = { SM_ENGINE_AUTO, SM_ENGINE_URING,
				       SM_ENGINE_KMOD, SM_ENGINE_NATIVE };
	static const int kinds[] = { SM_FD_TCP, SM_FD_UNIX, SM_FD_OTHER };
	static const int zcs[] = { SM_ZC_AUTO, SM_ZC_NEVER, SM_ZC_ALWAYS,
				   SM_ZC_REPORT };
	static const size_t counts[] = { 4096, 65535, 65536,
					 SM_PACED_COPY_MIN - 1,
					 SM_PACED_COPY_MIN, 1 << 20 };
	unsigned int e, z, k, n, bits, asked = 0, not_asked = 0;

	for (z = 0; z < SM_ARRAY_SIZE(zcs); z++)
	for (e = 0; e < SM_ARRAY_SIZE(engines); e++)
	for (k = 0; k < SM_ARRAY_SIZE(kinds); k++)
	for (n = 0; n < SM_ARRAY_SIZE(counts); n++)
	for (bits = 0; bits < 64; bits++) {
		struct sm_choice here, there;
		bool paced;

		o.ENGINE = engines[e];
		o.ZC = zcs[z];
		o.BATCH = 1;
		c.kind = kinds[k];
		c.count = counts[n];
		c.held = bits & 1 ? 250 : 0;
		c.batch_ok = bits & 2;
		c.uring_ok = !(bits & 4);
		c.uring_err = -EPERM;
		c.kmod_ok = bits & 8 && o.ENGINE == SM_ENGINE_KMOD;
		c.kmod_reg = bits & 16;
		c.corked = bits & 32;
		if (sm_policy_asks_local(&o, &c)) {
			asked++;
			continue;
		}
		not_asked++;
		for (paced = false; ; paced = true) {
			c.paced = c.copy_cheaper = paced;
			c.local = true;
			here = sm_policy_choose(&o, &c);
			c.local = false;
			there = sm_policy_choose(&o, &c);
			ck_assert_msg(here.path == there.path &&
				      here.fallback == there.fallback,
				      "zc %d engine %d kind %d count %zu bits %u",
				      o.ZC, o.ENGINE, c.kind, c.count, bits);
			if (paced)
				break;
		}
	}
	ck_assert_uint_gt(asked, 0);
	ck_assert_uint_gt(not_asked, 0);
	/* a 4 KiB response never asks, corked or not; a large body does */
	o.ENGINE = SM_ENGINE_AUTO;
	o.ZC = SM_ZC_AUTO;
	c.kind = SM_FD_TCP;
	c.held = 250;
	c.count = 4096;
	c.uring_ok = true;
	c.batch_ok = false;
	ck_assert(!sm_policy_asks_local(&o, &c));
	c.batch_ok = true;
	ck_assert(!sm_policy_asks_local(&o, &c));
	c.held = 0;
	ck_assert(!sm_policy_asks_local(&o, &c));
	c.count = o.ZC_MIN;
	ck_assert(sm_policy_asks_local(&o, &c));
	c.held = 250;
	c.count = 1 << 20;
	ck_assert(sm_policy_asks_local(&o, &c));
	o.ZC = SM_ZC_NEVER;			/* the paced copy still may */
	ck_assert(sm_policy_asks_local(&o, &c));
	c.count = SM_PACED_COPY_MIN - 1;
	ck_assert(!sm_policy_asks_local(&o, &c));
}
END_TEST

START_TEST(ring_setup_failures_are_named)
{
	c.uring_ok = false;
	c.uring_err = -EPERM;
	expect(SM_PATH_NATIVE, SM_FB_uring_eperm);
	c.uring_err = -ENOSYS;
	expect(SM_PATH_NATIVE, SM_FB_uring_enosys);
	c.uring_err = -ENOMEM;
	expect(SM_PATH_NATIVE, SM_FB_uring_enomem);
	c.uring_err = -EINVAL;
	expect(SM_PATH_NATIVE, SM_FB_uring_other);
}
END_TEST

START_TEST(verdict_waits_for_enough_reports)
{
	int i;

	for (i = 0; i < SM_ZC_PROBE_MIN - 1; i++)
		sm_policy_zc_report(&fi, true);
	ck_assert_int_eq(fi.zc_state, SM_ZCS_PROBING);
	sm_policy_zc_report(&fi, true);
	ck_assert_int_eq(fi.zc_state, SM_ZCS_COPIED);
}
END_TEST

START_TEST(mostly_zero_copy_keeps_zero_copy)
{
	int i;

	/* The virtio path in the VM: about one in four copied. */
	for (i = 0; i < 200; i++)
		sm_policy_zc_report(&fi, i % 4 == 0);
	ck_assert_int_eq(fi.zc_state, SM_ZCS_OK);
	ck_assert_uint_lt(fi.zc_notifs, SM_ZC_DECAY_AT);
}
END_TEST

START_TEST(recent_copies_win_over_old_successes)
{
	int i;

	for (i = 0; i < 1000; i++)
		sm_policy_zc_report(&fi, false);
	ck_assert_int_eq(fi.zc_state, SM_ZCS_OK);
	for (i = 0; i < SM_ZC_DECAY_AT && fi.zc_state == SM_ZCS_OK; i++)
		sm_policy_zc_report(&fi, true);
	ck_assert_int_eq(fi.zc_state, SM_ZCS_COPIED);
	/* decay lets a route change show within one window */
	ck_assert_int_le(i, SM_ZC_DECAY_AT);
}
END_TEST

START_TEST(which_sockets_are_held)
{
	static const struct {
		int engine, kind;
		bool via_more, held;
	} t[] = {
		/* TCP: its headers, for one sendmsg(2) with the body */
		{ SM_ENGINE_AUTO, SM_FD_TCP, false, true },
		{ SM_ENGINE_AUTO, SM_FD_TCP, true, true },
		{ SM_ENGINE_URING, SM_FD_TCP, false, true },
		{ SM_ENGINE_KMOD, SM_FD_TCP, true, true },
		/* AF_UNIX corks with MSG_MORE: only forced engines hold it */
		{ SM_ENGINE_AUTO, SM_FD_UNIX, true, false },
		{ SM_ENGINE_URING, SM_FD_UNIX, true, true },
		{ SM_ENGINE_KMOD, SM_FD_UNIX, true, true },
		{ SM_ENGINE_URING, SM_FD_UNIX, false, false },
		/* anything else, or the native engine: never */
		{ SM_ENGINE_URING, SM_FD_OTHER, true, false },
		{ SM_ENGINE_URING, SM_FD_UNKNOWN, true, false },
		{ SM_ENGINE_NATIVE, SM_FD_TCP, true, false },
	};
	size_t i;

	for (i = 0; i < SM_ARRAY_SIZE(t); i++) {
		o.ENGINE = t[i].engine;
		ck_assert_msg(sm_policy_holds(&o, t[i].kind, t[i].via_more) ==
			      t[i].held, "row %zu", i);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, native_engine_never_counts_a_fallback);
	tcase_add_test(tc, ineligible_descriptors_go_native);
	tcase_add_test(tc, auto_uses_zero_copy_only_where_it_can_win);
	tcase_add_test(tc, uring_engine_copies_where_zero_copy_is_refused);
	tcase_add_test(tc, report_mode_ignores_addresses_but_not_reports);
	tcase_add_test(tc, kmod_engine_forces_the_module_or_says_why_not);
	tcase_add_test(tc, kmod_engine_sends_zero_copy_from_registered_buffers);
	tcase_add_test(tc, auto_zero_copy_prefers_the_modules_buffers);
	tcase_add_test(tc, auto_never_sends_a_bare_sendfile_through_the_module);
	tcase_add_test(tc,
		       auto_sends_held_headers_and_a_small_body_in_one_sendmsg);
	tcase_add_test(tc, ring_setup_failures_are_named);
	tcase_add_test(tc, auto_leads_a_local_sendfile_with_a_page_of_its_body);
	tcase_add_test(tc, a_long_corked_body_goes_under_the_kernels_cork);
	tcase_add_test(tc, verdict_waits_for_enough_reports);
	tcase_add_test(tc, mostly_zero_copy_keeps_zero_copy);
	tcase_add_test(tc, recent_copies_win_over_old_successes);
	tcase_add_test(tc, which_sockets_are_held);
	tcase_add_test(tc, auto_copies_to_a_local_peer_under_a_pacing_cc);
	tcase_add_test(tc,
		the_paced_copy_is_taken_where_the_process_measured_it_cheaper);
	tcase_add_test(tc, a_pool_of_threads_shares_one_trial);
	tcase_add_test(tc, a_locked_trial_is_never_waited_for);
	tcase_add_test(tc, a_trial_whose_bodies_sent_nothing_keeps_sendfile);
	tcase_add_test(tc, where_the_peer_is_is_asked_only_if_it_matters);
	tcase_add_test(tc, an_event_loops_small_bodies_wait_for_its_next_wait);
	suite_add_tcase(s, tc);
	return t_run(s, false);
}
