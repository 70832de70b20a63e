// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The hold (hold.c) as its callers drive it, on real sockets: what is held,
 * what reaches the peer and in which order, which call reports an error,
 * and the cork as the application and the kernel see it.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sm.h"
#include "t_check.h"
#include "../t_seccomp.h"

static int a, b;		/* a: ours; b: the peer */

static void setup_unix(void)
{
	int sv[2];

	ck_assert(sm_active());
	/* AF_UNIX holds MSG_MORE writes only under a forced engine */
	sm_opt.ENGINE = SM_ENGINE_URING;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	a = sv[0];
	b = sv[1];
	sm_fd_born(a, O_RDWR);	/* as the interposed socketpair() records it */
}

static void setup_tcp(void)
{
	ck_assert(sm_active());
	sm_opt.ENGINE = SM_ENGINE_AUTO;
	a = t_tcp_pair(AF_INET, &b);
	ck_assert_int_ge(a, 0);
	sm_fd_born(a, O_RDWR);
}

/* Whatever the peer has, read and dropped: the teardown's flush goes,
 * even after a test that filled the socket failed. */
static void empty_peer(void)
{
	char junk[4096];

	while (b >= 0 && recv(b, junk, sizeof(junk), MSG_DONTWAIT) > 0)
		;
}

static void teardown(void)
{
	empty_peer();
	if (a >= 0) {
		sm_hold_close(a);
		sm_fd_forget(a);
		close(a);
	}
	close(b);
}

static ssize_t hwrite(const char *s, int flags)
{
	struct iovec v = { (void *)s, strlen(s) };
	ssize_t res;

	if (!sm_hold_write(a, &v, 1, flags, &res))
		res = send(a, s, strlen(s), flags) < 0 ? -errno : (ssize_t)v.iov_len;
	return res;
}

/* What the peer has now (waiting up to @ms for the first byte). */
static const char *peer(int ms)
{
	static char buf[256];
	struct pollfd p = { .fd = b, .events = POLLIN };
	ssize_t n;

	buf[0] = 0;
	if (sm_real.poll(&p, 1, ms) != 1)
		return buf;
	usleep(10000);
	n = recv(b, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	buf[n > 0 ? n : 0] = 0;
	return buf;
}

static int cork(int on)
{
	int res;

	ck_assert(sm_hold_setsockopt(a, IPPROTO_TCP, TCP_CORK, &on,
				     sizeof(on), &res));
	return res;
}

static int kernel_cork(void)
{
	int v = -1;
	socklen_t len = sizeof(v);

	ck_assert_int_eq(sm_real.getsockopt(a, IPPROTO_TCP, TCP_CORK, &v,
					    &len), 0);
	return v;
}

START_TEST(more_is_held_until_a_flush)
{
	ck_assert_int_eq(hwrite("HDR-", MSG_MORE), 4);
	ck_assert_str_eq(peer(0), "");
	ck_assert_int_eq(sm_hold_queued(a), 4);
	ck_assert(sm_hold_any());
	sm_hold_flush_all();
	ck_assert_str_eq(peer(1000), "HDR-");
}
END_TEST

START_TEST(a_plain_write_takes_the_held_bytes_along)
{
	ck_assert_int_eq(hwrite("A", MSG_MORE), 1);
	ck_assert_int_eq(hwrite("B", MSG_MORE), 1);
	ck_assert_int_eq(hwrite("C", 0), 1);
	ck_assert_str_eq(peer(1000), "ABC");
}
END_TEST

START_TEST(a_flush_error_waits_for_the_next_call)
{
	ck_assert_int_eq(hwrite("lost", MSG_MORE), 4);
	close(b);
	b = -1;
	sm_hold_flush_all();		/* nobody asked: the error is kept */
	ck_assert_int_eq(hwrite("x", MSG_NOSIGNAL), -EPIPE);
}
END_TEST

/* The peer reads nothing: fill the send buffer around the hold. */
static void fill(void)
{
	static char junk[4096];

	while (sm_sys_send(a, junk, sizeof(junk), MSG_DONTWAIT) > 0)
		;
	ck_assert_int_eq(errno, EAGAIN);
}

/* writev(2) of @cnt iovecs at @v, as the interposed call makes it. */
static ssize_t hwritev(const struct iovec *v, int cnt, int flags)
{
	struct msghdr m = { .msg_iov = (struct iovec *)v,
			    .msg_iovlen = (size_t)(long)cnt };
	ssize_t res;

	if (!sm_hold_write(a, v, cnt, flags, &res)) {
		res = sm_sys_sendmsg(a, &m, flags);
		res = res < 0 ? -errno : res;
	}
	return res;
}

START_TEST(a_refused_write_leaves_the_held_bytes_alone)
{
	struct iovec v = { "x", 1 };

	ck_assert_int_eq(hwrite("first-", MSG_MORE), 6);
	fill();
	/* the kernel's answer at once, not EAGAIN from draining first */
	ck_assert_int_eq(hwritev(&v, -1, MSG_DONTWAIT), -EMSGSIZE);
	ck_assert_int_eq(hwritev((struct iovec *)8, 1, MSG_DONTWAIT),
			 -EFAULT);
	ck_assert_int_eq(sm_hold_queued(a), 6);
	/* an error kept from a flush waits for a call the kernel takes */
	close(b);
	b = -1;
	sm_hold_flush_all();
	ck_assert_int_eq(hwritev(&v, -1, MSG_NOSIGNAL), -EMSGSIZE);
	ck_assert_int_eq(hwritev(&v, 1, MSG_NOSIGNAL), -EPIPE);
}
END_TEST

START_TEST(a_dontwait_write_does_not_wait_for_held_bytes)
{
	static char one[64];
	struct iovec v[64];	/* more than the hold takes in one send */
	int i;

	for (i = 0; i < 64; i++)
		v[i] = (struct iovec){ one + i, 1 };
	ck_assert_int_eq(hwrite("first-", MSG_MORE), 6);
	fill();
	/* the blocking socket's drain would wait for the peer forever */
	ck_assert_int_eq(hwritev(v, 64, MSG_DONTWAIT), -EAGAIN);
	ck_assert_int_eq(sm_hold_queued(a), 6);
}
END_TEST

START_TEST(splice_waits_for_the_held_bytes)
{
	ck_assert_int_eq(hwrite("first-", MSG_MORE), 6);
	ck_assert_int_eq(sm_hold_before_write(a, 0), 0);
	ck_assert_int_eq(send(a, "second", 6, 0), 6);
	ck_assert_str_eq(peer(1000), "first-second");
}
END_TEST

START_TEST(the_cork_is_lazy_and_reported_as_set)
{
	int v = 0;
	socklen_t len = sizeof(v);

	ck_assert_int_eq(cork(1), 0);
	ck_assert_int_eq(kernel_cork(), 0);	/* not applied yet */
	ck_assert_int_eq(getsockopt(a, IPPROTO_TCP, TCP_CORK, &v, &len), 0);
	sm_hold_getsockopt(a, IPPROTO_TCP, TCP_CORK, &v, &len);
	ck_assert_int_eq(v, 1);			/* as the application set it */
	ck_assert_int_eq(hwrite("HTTP/1.1 200 OK\r\n\r\n", 0), 19);
	ck_assert_str_eq(peer(0), "");
	ck_assert_int_eq(cork(0), 0);		/* uncork: flushed, pushed */
	ck_assert_str_eq(peer(1000), "HTTP/1.1 200 OK\r\n\r\n");
	ck_assert_int_eq(kernel_cork(), 0);
}
END_TEST

/* TCP_CORK as the application reads it through @fd. */
static int app_cork(int fd)
{
	int v = -1;
	socklen_t len = sizeof(v);

	ck_assert_int_eq(getsockopt(fd, IPPROTO_TCP, TCP_CORK, &v, &len), 0);
	sm_hold_getsockopt(fd, IPPROTO_TCP, TCP_CORK, &v, &len);
	return v;
}

START_TEST(a_cork_set_through_a_dup_reads_back_through_the_other)
{
	int d = dup(a), on = 1, res = -1;

	sm_fd_dup(a, d);		/* as the interposed dup() records it */
	ck_assert(sm_hold_setsockopt(d, IPPROTO_TCP, TCP_CORK, &on,
				     sizeof(on), &res));
	ck_assert_int_eq(res, 0);
	/* through a descriptor whose socket the shim has not looked at */
	ck_assert_int_eq(app_cork(a), 1);
	ck_assert_int_eq(cork(0), 0);
	ck_assert_int_eq(app_cork(d), 0);
	sm_hold_close(d);
	sm_fd_forget(d);
	close(d);
}
END_TEST

START_TEST(a_fork_gives_the_kernel_the_cork_first)
{
	int st;
	pid_t pid;

	ck_assert_int_eq(cork(1), 0);
	ck_assert_int_eq(kernel_cork(), 0);	/* lazy */
	pid = fork();
	if (!pid) {
		int zero = 0;

		/* the child has the cork the parent set, and lifts it */
		_exit(kernel_cork() != 1 ||
		      setsockopt(a, IPPROTO_TCP, TCP_CORK, &zero,
				 sizeof(zero)));
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* one cork per socket: the child's uncork is the parent's too */
	ck_assert_int_eq(app_cork(a), 0);
	ck_assert_int_eq(hwrite("after", 0), 5);
	ck_assert_int_eq(kernel_cork(), 0);	/* not put back */
	ck_assert_str_eq(peer(1000), "after");
}
END_TEST

START_TEST(a_native_send_while_corked_uses_the_kernels_cork)
{
	ck_assert_int_eq(cork(1), 0);
	ck_assert_int_eq(hwrite("head-", 0), 5);
	ck_assert_int_eq(sm_hold_before_write(a, 0), 0);
	ck_assert_int_eq(kernel_cork(), 1);	/* for what goes natively */
	ck_assert_int_eq(cork(0), 0);
	ck_assert_int_eq(kernel_cork(), 0);
	ck_assert_str_eq(peer(1000), "head-");
}
END_TEST

START_TEST(shutdown_flushes_and_holds_nothing_more)
{
	ck_assert_int_eq(cork(1), 0);
	ck_assert_int_eq(hwrite("bye", 0), 3);
	sm_hold_shutdown(a, SHUT_WR);
	ck_assert_int_eq(shutdown(a, SHUT_WR), 0);	/* pushes, as the FIN */
	ck_assert_str_eq(peer(1000), "bye");
}
END_TEST

START_TEST(a_shutdown_before_any_hold_is_noted_and_kept)
{
	struct sm_fdinfo *fi = sm_fd_peek(a);
	int d;

	/* alone and holding nothing: noted, no hold made (no lookup) */
	sm_hold_shutdown(a, SHUT_WR);
	ck_assert_ptr_null(fi->hold);
	ck_assert_int_eq(fi->shut_wr, 1);
	ck_assert_int_eq(shutdown(a, SHUT_WR), 0);
	/* the hold the cork makes holds nothing: the kernel's EPIPE */
	ck_assert_int_eq(cork(1), 0);
	ck_assert_ptr_nonnull(fi->hold);
	ck_assert_int_eq(hwrite("late", MSG_NOSIGNAL), -EPIPE);
	/* after a dup neither is alone: a shutdown looks the hold up */
	d = dup(a);
	sm_fd_dup(a, d);
	ck_assert(!sm_fd_alone(sm_fd_peek(d)));
	ck_assert(!sm_fd_alone(fi));
	sm_hold_close(d);
	sm_fd_forget(d);
	close(d);
}
END_TEST

START_TEST(close_flushes)
{
	ck_assert_int_eq(cork(1), 0);
	ck_assert_int_eq(hwrite("last", 0), 4);
	sm_hold_close(a);
	sm_fd_forget(a);
	ck_assert_int_eq(close(a), 0);
	a = -1;
	ck_assert_str_eq(peer(1000), "last");
}
END_TEST

START_TEST(the_cork_ceiling_flushes_a_quiet_socket)
{
	struct timespec t0, t1;
	long ms;

	ck_assert_int_eq(cork(1), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(hwrite("quiet", 0), 5);
	ck_assert_str_eq(peer(3000), "quiet");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	     (t1.tv_nsec - t0.tv_nsec) / 1000000;
	ck_assert_int_ge(ms, 150);		/* the 200 ms ceiling */
	ck_assert_int_lt(ms, 2000);
}
END_TEST

/*
 * Where no thread can be made, nothing would send held bytes at the
 * ceiling: nothing is held, and the kernel's cork does the work.  In a
 * child, whose filter stays its own and whose timer is not started yet,
 * on a socket of its own; the exit status names the step that failed.
 */
static int no_timer_child(void)
{
	uint64_t before = sm_stats->hold_writes;

	/* the fixture's pair is shared with the parent now: never held */
	a = t_tcp_pair(AF_INET, &b);
	if (a < 0)
		return 7;
	sm_fd_born(a, O_RDWR);
	if (t_seccomp_deny(0, true))
		return 1;
	if (cork(1))
		return 2;
	if (hwrite("quiet", 0) != 5 || sm_hold_queued(a))
		return 3;
	if (hwrite("-more", MSG_MORE) != 5 || sm_hold_queued(a))
		return 4;
	if (sm_stats->hold_writes != before)
		return 5;
	if (strcmp(peer(3000), "quiet-more"))
		return 6;
	return 0;
}

START_TEST(without_a_timer_thread_nothing_is_held)
{
	int status;
	pid_t pid;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (!pid)
		_exit(no_timer_child());
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(status, 0);
}
END_TEST

START_TEST(sendfile_side_sees_and_consumes_the_held_bytes)
{
	struct sm_hold *h;
	const void *buf;

	ck_assert_int_eq(cork(1), 0);
	ck_assert_int_eq(hwrite("HEAD", 0), 4);
	h = sm_hold_lock(a, sm_fd_peek(a));
	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(sm_hold_body_begin(h, 0), 0);
	ck_assert_int_eq(sm_hold_pending(h, &buf), 4);
	ck_assert_int_eq(memcmp(buf, "HEAD", 4), 0);
	/* the first body of a response leaves uncorked */
	ck_assert_int_eq(sm_hold_body_flags(h), 0);
	ck_assert_int_eq(send(a, buf, 4, 0), 4);
	sm_hold_coalesced(h, 4, 0);
	ck_assert_int_eq(sm_hold_pending(h, &buf), 0);
	/* a second body before the uncork wants the cork */
	ck_assert_int_eq(sm_hold_body_begin(h, 0), 0);
	ck_assert_int_eq(sm_hold_body_flags(h), MSG_MORE);
	sm_hold_unlock(h);
	ck_assert_int_eq(cork(0), 0);
	ck_assert_str_eq(peer(1000), "HEAD");
}
END_TEST

struct reader {
	char *buf;
	size_t want, got;
};

/* The peer, reading until it has r->want bytes or 5 s pass. */
static void *read_peer(void *arg)
{
	struct reader *r = arg;
	struct pollfd p = { .fd = b, .events = POLLIN };
	ssize_t n;

	while (r->got < r->want && sm_real.poll(&p, 1, 5000) == 1) {
		n = recv(b, r->buf + r->got, r->want - r->got, 0);
		if (n <= 0)
			break;
		r->got += n;
	}
	return NULL;
}

/*
 * sendfile() of @len bytes after held headers, while corked: the kernel's
 * cork as it is when the call returns; the peer has every byte in order
 * once the application uncorks.
 */
static int cork_after_body(size_t len)
{
	char path[] = "/tmp/t_hold.XXXXXX";
	struct reader r = { .want = 4 + len };
	char *body = malloc(len);
	pthread_t t;
	off64_t off = 0;
	size_t i;
	int fd, k;

	ck_assert_ptr_nonnull(body);
	for (i = 0; i < len; i++)
		body[i] = 'a' + i % 23;
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(write(fd, body, len), (ssize_t)len);
	r.buf = malloc(r.want);
	ck_assert_ptr_nonnull(r.buf);
	ck_assert_int_eq(pthread_create(&t, NULL, read_peer, &r), 0);
	ck_assert_int_eq(cork(1), 0);
	ck_assert_int_eq(hwrite("HEAD", 0), 4);
	ck_assert_int_eq(sm_sendfile(a, fd, &off, len), (ssize_t)len);
	k = kernel_cork();
	ck_assert_int_eq(cork(0), 0);
	ck_assert_int_eq(kernel_cork(), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_uint_eq(r.got, r.want);
	ck_assert_int_eq(memcmp(r.buf, "HEAD", 4), 0);
	ck_assert_int_eq(memcmp(r.buf + 4, body, len), 0);
	free(r.buf);
	free(body);
	close(fd);
	return k;
}

/*
 * A long body goes under the kernel's cork (sm_policy_corks_body()), as
 * natively, whichever path auto picks (the peer's congestion control
 * decides): else a window shorter than a segment splits it, and Nagle
 * holds the response's tail for the peer's delayed ACK.  A short one
 * pushes its own tail, which spares the uncork's syscall.
 */
START_TEST(a_long_body_goes_under_the_kernels_cork)
{
	ck_assert_int_eq(cork_after_body(SM_CORK_BODY_MIN), 1);
	ck_assert_int_eq(cork_after_body(4096), 0);
}
END_TEST

/* Another descriptor of the file batch_response() sent from. */
static int batch_file;

/*
 * Batching: in a thread that waited in epoll_wait, held headers and the
 * body sendfile() gave (@body at file offset 0) wait for the next wait.
 */
static void batch_response(const char *body)
{
	char path[] = "/tmp/t_hold.XXXXXX";
	struct sm_map *map;
	struct sm_hold *h;
	struct sm_file f;
	struct stat st;
	const void *buf;
	int fd, err;

	sm_hold_before_wait(true, false);	/* an event loop's thread */
	sm_hold_turn(2);			/* serving two events */
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(write(fd, body, strlen(body)), (ssize_t)strlen(body));
	ck_assert_int_eq(fstat(fd, &st), 0);
	f = (struct sm_file){ .size = st.st_size, .ino = st.st_ino,
			      .dev = st.st_dev, .mode = st.st_mode };
	ck_assert_int_eq(cork(1), 0);
	ck_assert_int_eq(hwrite("HEAD", 0), 4);
	h = sm_hold_lock(a, sm_fd_peek(a));
	ck_assert_ptr_nonnull(h);
	ck_assert(sm_hold_may_batch(h, a));
	map = sm_map_get(fd, &f, 0, strlen(body), &buf, &err);
	ck_assert_ptr_nonnull(map);
	ck_assert(sm_hold_take_body(h, a, map, buf, strlen(body)));
	sm_hold_unlock(h);
	batch_file = dup(fd);
	ck_assert_int_eq(close(fd), 0);	/* nginx closes it at once */
}

START_TEST(a_batched_body_waits_for_the_loops_next_wait)
{
	uint64_t before = sm_stats->batches;

	batch_response("BODY");
	ck_assert_int_eq(cork(0), 0);
	/* the uncork is not a flush point in an event loop */
	ck_assert_str_eq(peer(50), "");
	sm_hold_before_wait(true, false);
	ck_assert_str_eq(peer(1000), "HEADBODY");
	ck_assert_uint_eq(sm_stats->batches, before + 1);
}
END_TEST

/* A turn of one event has no other response to leave with: the uncork
 * sends at once, as outside an event loop. */
START_TEST(a_turn_of_one_event_sends_at_the_uncork)
{
	struct sm_hold *h;

	sm_hold_before_wait(true, false);
	sm_hold_turn(1);
	ck_assert_int_eq(cork(1), 0);
	ck_assert_int_eq(hwrite("HEAD", 0), 4);
	h = sm_hold_lock(a, sm_fd_peek(a));
	ck_assert_ptr_nonnull(h);
	ck_assert(!sm_hold_may_batch(h, a));
	sm_hold_unlock(h);
	ck_assert_int_eq(cork(0), 0);
	ck_assert_str_eq(peer(1000), "HEAD");
	sm_hold_turn(2);			/* the next turn: two */
	ck_assert_int_eq(cork(1), 0);
	ck_assert_int_eq(hwrite("NEXT", 0), 4);
	ck_assert_int_eq(cork(0), 0);
	ck_assert_str_eq(peer(50), "");		/* waits for the wait */
	sm_hold_before_wait(true, false);
	ck_assert_str_eq(peer(1000), "NEXT");
}
END_TEST

START_TEST(any_other_call_sends_a_batched_body_first)
{
	batch_response("BODY");
	ck_assert_int_eq(cork(0), 0);
	ck_assert_int_eq(hwrite("NEXT", 0), 4);
	ck_assert_str_eq(peer(1000), "HEADBODYNEXT");
}
END_TEST

START_TEST(a_body_truncated_before_the_wait_fails_the_next_call)
{
	static char body[3 * 4096 + 1];

	memset(body, 'b', sizeof(body) - 1);
	batch_response(body);
	/* the documented exception: another process shrinks the file */
	ck_assert_int_eq(ftruncate(batch_file, 0), 0);
	ck_assert_int_eq(cork(0), 0);
	sm_hold_before_wait(true, true);
	/* no SIGBUS; the body cannot go: the stream is broken, and the
	 * socket's next call says so */
	ck_assert_int_eq(hwrite("NEXT", 0), -EIO);
	/* (the kernel refuses a send whose copy faults whole: the headers
	 * went with it) */
	ck_assert_str_eq(peer(50), "");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hold");
	TCase *un = tcase_create("unix");
	TCase *tcp = tcase_create("tcp");

	tcase_add_checked_fixture(un, setup_unix, teardown);
	tcase_add_test(un, more_is_held_until_a_flush);
	tcase_add_test(un, a_plain_write_takes_the_held_bytes_along);
	tcase_add_test(un, a_flush_error_waits_for_the_next_call);
	tcase_add_test(un, splice_waits_for_the_held_bytes);
	tcase_add_test(un, a_refused_write_leaves_the_held_bytes_alone);
	tcase_add_test(un, a_dontwait_write_does_not_wait_for_held_bytes);
	suite_add_tcase(s, un);
	tcase_add_checked_fixture(tcp, setup_tcp, teardown);
	tcase_add_test(tcp, the_cork_is_lazy_and_reported_as_set);
	tcase_add_test(tcp, a_native_send_while_corked_uses_the_kernels_cork);
	tcase_add_test(tcp, a_cork_set_through_a_dup_reads_back_through_the_other);
	tcase_add_test(tcp, a_fork_gives_the_kernel_the_cork_first);
	tcase_add_test(tcp, shutdown_flushes_and_holds_nothing_more);
	tcase_add_test(tcp, a_shutdown_before_any_hold_is_noted_and_kept);
	tcase_add_test(tcp, close_flushes);
	tcase_add_test(tcp, the_cork_ceiling_flushes_a_quiet_socket);
	tcase_add_test(tcp, sendfile_side_sees_and_consumes_the_held_bytes);
	tcase_add_test(tcp, a_long_body_goes_under_the_kernels_cork);
	tcase_add_test(tcp, without_a_timer_thread_nothing_is_held);
	tcase_add_test(tcp, a_batched_body_waits_for_the_loops_next_wait);
	tcase_add_test(tcp, a_turn_of_one_event_sends_at_the_uncork);
	tcase_add_test(tcp, any_other_call_sends_a_batched_body_first);
	tcase_add_test(tcp, a_body_truncated_before_the_wait_fails_the_next_call);
	suite_add_tcase(s, tcp);
	return t_run(s, true);
}
