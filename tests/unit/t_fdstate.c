// SPDX-License-Identifier: LGPL-2.1-or-later
/* Per-fd classification and the shim's own descriptors. */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sm.h"
#include "t_check.h"

static int classify(int fd)
{
	struct sm_fdinfo *fi = sm_fd_get(fd);

	ck_assert_ptr_nonnull(fi);
	return sm_fd_classify(fd, fi);
}

START_TEST(loopback_tcp_is_tcp_with_a_local_peer)
{
	int s, c = t_tcp_pair(AF_INET, &s);

	ck_assert_int_eq(classify(c), SM_FD_TCP);
	ck_assert_int_eq(sm_fd_peek(c)->local_peer, SM_TRI_YES);
	ck_assert_int_eq(classify(s), SM_FD_TCP);
	sm_fd_forget(c);
	sm_fd_forget(s);
	close(c);
	close(s);
	c = t_tcp_pair(AF_INET6, &s);
	if (c >= 0) {
		ck_assert_int_eq(classify(c), SM_FD_TCP);
		ck_assert_int_eq(sm_fd_peek(c)->local_peer, SM_TRI_YES);
		sm_fd_forget(c);
		close(c);
		close(s);
	}
}
END_TEST

START_TEST(other_descriptors_are_not_tcp)
{
	int sv[2], p[2], u, f;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(classify(sv[0]), SM_FD_UNIX);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(classify(p[1]), SM_FD_OTHER);
	u = socket(AF_INET, SOCK_DGRAM, 0);
	ck_assert_int_eq(classify(u), SM_FD_OTHER);
	f = open("/dev/null", O_WRONLY);
	ck_assert_int_eq(classify(f), SM_FD_OTHER);
	sm_fd_forget_range(0, 1000);
	close(sv[0]);
	close(sv[1]);
	close(p[0]);
	close(p[1]);
	close(u);
	close(f);
}
END_TEST

START_TEST(unconnected_and_closed_stay_unknown)
{
	int t = socket(AF_INET, SOCK_STREAM, 0);

	/* may be connected later: not remembered as anything */
	ck_assert_int_eq(classify(t), SM_FD_UNKNOWN);
	close(t);
	ck_assert_int_eq(classify(t), SM_FD_UNKNOWN);
	ck_assert_ptr_null(sm_fd_get(-1));
	ck_assert_ptr_null(sm_fd_get(1 << 30));
}
END_TEST

START_TEST(forgetting_makes_a_reused_number_look_again)
{
	int s, c = t_tcp_pair(AF_INET, &s), sv[2];

	ck_assert_int_eq(classify(c), SM_FD_TCP);
	sm_fd_forget(c);
	close(c);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(dup2(sv[0], c), c);	/* the number, reused */
	ck_assert_int_eq(classify(c), SM_FD_UNIX);
	sm_fd_forget_range(0, 1000);
	close(c);
	close(s);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

/* A listener on loopback and a client connected to it. */
static int listen_and_connect(int *client)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ge(l, 0);
	ck_assert_int_eq(bind(l, (void *)&a, len), 0);
	ck_assert_int_eq(listen(l, 4), 0);
	ck_assert_int_eq(getsockname(l, (void *)&a, &len), 0);
	*client = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(*client, (void *)&a, len), 0);
	return l;
}

START_TEST(accepted_sockets_learn_from_their_listener)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof(peer);
	struct sm_fdinfo *fi;
	int c, s, s2, l = listen_and_connect(&c);

	sm_real_resolve();
	sm_fd_socket(l, AF_INET, SOCK_STREAM, 0);
	s = accept(l, (void *)&peer, &len);
	sm_fd_accepted(l, s, O_RDWR, (void *)&peer, sizeof(peer), &len);
	fi = sm_fd_peek(s);
	/* its kind from the listener's socket(), its peer from accept() */
	ck_assert_int_eq(fi->born_kind, SM_FD_TCP);
	ck_assert_int_eq(fi->born_peer, SM_TRI_YES);
	ck_assert_int_eq(sm_fd_peek(l)->born_kind, SM_FD_TCP);
	/* nothing written yet: an empty buffer of the listener's size */
	ck_assert_int_eq(fi->fresh, 1);
	ck_assert_uint_gt(fi->sndbuf0, 0);
	ck_assert_int_eq(classify(s), SM_FD_TCP);
	ck_assert_int_eq(fi->local_peer, SM_TRI_YES);
	sm_fd_written_to(fi);
	ck_assert_int_eq(fi->fresh, 0);
	sm_fd_forget(s);
	sm_fd_forget(l);
	close(s);
	close(c);
	close(l);
	l = listen_and_connect(&c);
	ck_assert_int_eq(sm_fd_peek(l)->born_kind, 0);
	len = sizeof(peer);
	s2 = accept(l, (void *)&peer, &len);
	/*
	 * A listener the shim did not see made: asked once, then known.  An
	 * address cut short reads as not loopback: where the peer is stays
	 * unknown until a choice needs it, and then the kernel is asked.
	 */
	sm_fd_accepted(l, s2, O_RDWR, (void *)&peer, 2, &len);
	fi = sm_fd_peek(s2);
	ck_assert_int_eq(sm_fd_peek(l)->born_kind, SM_FD_TCP);
	ck_assert_int_eq(fi->born_peer, SM_TRI_NO);
	ck_assert_int_eq(classify(s2), SM_FD_TCP);
	ck_assert_int_eq(fi->local_peer, SM_TRI_UNKNOWN);
	ck_assert(sm_fd_local(s2, fi));
	ck_assert_int_eq(fi->local_peer, SM_TRI_YES);
	sm_fd_forget_range(0, 1000);
	close(s2);
	close(c);
	close(l);
}
END_TEST

START_TEST(flags_of_a_lone_descriptor_change_alone)
{
	int c, s, d, l = listen_and_connect(&c), fl;
	uint32_t gen;

	sm_real_resolve();
	s = accept(l, NULL, NULL);
	sm_fd_accepted(l, s, O_RDWR, NULL, 0, NULL);
	ck_assert(sm_fd_alone(sm_fd_peek(s)));
	ck_assert_int_eq(sm_fd_flags(s, sm_fd_peek(s)), O_RDWR);
	/* apache's way: F_GETFL, then F_SETFL with O_NONBLOCK */
	gen = sm_fd_flags_gen;
	fl = fcntl(s, F_GETFL) | O_NONBLOCK;
	ck_assert_int_eq(fcntl(s, F_SETFL, fl), 0);
	sm_fd_setfl(s, false, fl, 0);
	ck_assert_uint_eq(sm_fd_flags_gen, gen);	/* the others keep theirs */
	ck_assert_int_eq(sm_fd_flags(s, sm_fd_peek(s)), fcntl(s, F_GETFL));
	fl = 0;
	ck_assert_int_eq(ioctl(s, FIONBIO, &fl), 0);
	sm_fd_setfl(s, true, 0, 0);
	ck_assert_int_eq(sm_fd_flags(s, sm_fd_peek(s)), fcntl(s, F_GETFL));
	ck_assert(!(sm_fd_flags(s, sm_fd_peek(s)) & O_NONBLOCK));
	/* a failed call changed nothing */
	sm_fd_setfl(s, false, O_NONBLOCK, -1);
	ck_assert_int_eq(sm_fd_flags(s, sm_fd_peek(s)), fcntl(s, F_GETFL));
	/* duplicated, the open file has two descriptors: a new generation */
	d = dup(s);
	sm_fd_dup(s, d);
	ck_assert(!sm_fd_alone(sm_fd_peek(s)));
	ck_assert_int_eq(fcntl(d, F_SETFL, O_NONBLOCK), 0);
	sm_fd_setfl(d, false, O_NONBLOCK, 0);
	ck_assert_uint_ne(sm_fd_flags_gen, gen);
	ck_assert_int_eq(sm_fd_flags(s, sm_fd_peek(s)), fcntl(s, F_GETFL));
	ck_assert(sm_fd_flags(s, sm_fd_peek(s)) & O_NONBLOCK);
	sm_fd_forget_range(0, 1000);
	close(d);
	close(s);
	close(c);
	close(l);
}
END_TEST

START_TEST(own_descriptors_move_high_and_relocate)
{
	int fd = open("/dev/null", O_RDONLY), low = fd, a = -1, b = -1;

	sm_real_resolve();
	sm_fd_adopt(fd, &a, &b);
	ck_assert_int_gt(a, low);
	ck_assert_int_eq(a, b);
	ck_assert(sm_fd_is_owned(a));
	ck_assert_int_eq(fcntl(low, F_GETFD), -1);	/* original closed */
	ck_assert_int_eq(sm_fd_owned_above(0), a);
	ck_assert_int_eq(sm_fd_owned_above(a + 1), -1);
	fd = a;
	sm_fd_relocate(fd);
	ck_assert_int_ne(a, fd);
	ck_assert_int_eq(a, b);
	ck_assert(sm_fd_is_owned(a));
	ck_assert(!sm_fd_is_owned(fd));
	ck_assert_int_ge(fcntl(a, F_GETFD), 0);
	ck_assert(fcntl(a, F_GETFD) & FD_CLOEXEC);
	close(fd);
	sm_fd_disown(a);
	ck_assert(!sm_fd_is_owned(a));
	ck_assert_int_eq(sm_fd_owned_above(0), -1);
	close(a);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fdstate");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, loopback_tcp_is_tcp_with_a_local_peer);
	tcase_add_test(tc, other_descriptors_are_not_tcp);
	tcase_add_test(tc, unconnected_and_closed_stay_unknown);
	tcase_add_test(tc, forgetting_makes_a_reused_number_look_again);
	tcase_add_test(tc, own_descriptors_move_high_and_relocate);
	tcase_add_test(tc, accepted_sockets_learn_from_their_listener);
	tcase_add_test(tc, flags_of_a_lone_descriptor_change_alone);
	suite_add_tcase(s, tc);
	return t_run(s, true);
}
