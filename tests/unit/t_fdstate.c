// SPDX-License-Identifier: LGPL-2.1-or-later
/* Per-fd classification and the shim's own descriptors. */
#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
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
	ck_assert_int_eq(sm_fd_peek(c)->local_peer, 1);
	ck_assert_int_eq(classify(s), SM_FD_TCP);
	sm_fd_forget(c);
	sm_fd_forget(s);
	close(c);
	close(s);
	c = t_tcp_pair(AF_INET6, &s);
	if (c >= 0) {
		ck_assert_int_eq(classify(c), SM_FD_TCP);
		ck_assert_int_eq(sm_fd_peek(c)->local_peer, 1);
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
	suite_add_tcase(s, tc);
	return t_run(s, true);
}
