/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the Check suites: run one suite, exit 0 or 1; socket pairs. */
#ifndef T_CHECK_H
#define T_CHECK_H

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

static inline int t_run(Suite *s, bool nofork)
{
	SRunner *sr = srunner_create(s);
	int failed;

	if (nofork)
		srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

/* A connected TCP pair over loopback: returns the client, *server the
 * accepted end; -1 when @family cannot bind here (no IPv6). */
static inline int t_tcp_pair(int family, int *server)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int l, c;

	l = socket(family, SOCK_STREAM, 0);
	ck_assert_int_ge(l, 0);
	if (family == AF_INET) {
		struct sockaddr_in *a = (void *)&ss;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (void *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		len = sizeof(*a);
	}
	if (bind(l, (void *)&ss, len) < 0) {
		close(l);
		return -1;
	}
	ck_assert_int_eq(listen(l, 1), 0);
	ck_assert_int_eq(getsockname(l, (void *)&ss, &len), 0);
	c = socket(family, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(c, (void *)&ss, len), 0);
	*server = accept(l, NULL, NULL);
	close(l);
	return c;
}

#endif
