// SPDX-License-Identifier: LGPL-2.1-or-later
/* sm_sender scenarios: EPIPE, ECONNRESET and SIGPIPE. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/io_uring.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>
#include "sm_sender.h"

/* ---- epipe / econnreset and SIGPIPE ------------------------------------ */

static void epipe_shutdown(struct t_file *f)
{
	struct conn t;
	off_t off = 0;

	conn_open_tcp(&t, AF_INET);
	send_file(OUT, "shutdown before", T_SENDFILE, &t, f, "f", &off, 4097);
	t_check(shutdown(t.fd, SHUT_WR) == 0);
	send_file(OUT, "shutdown", T_SENDFILE, &t, f, "f", &off, 100);
	epipe_print("shutdown");
	send_file(OUT, "shutdown", T_SENDFILE64, &t, f, "f", NULL, 100);
	epipe_print("shutdown");

	signal(SIGPIPE, SIG_IGN);
	send_file(OUT, "shutdown SIG_IGN", T_SENDFILE, &t, f, "f", &off, 100);
	epipe_print("shutdown SIG_IGN");
	t_sigpipe_count_install();
	conn_finish(&t, "shutdown stream");
}

static void epipe_blocked(struct t_file *f)
{
	struct timespec zero = { 0, 0 };
	sigset_t set, pending;
	struct conn t;
	off_t off = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	conn_open_tcp(&t, AF_INET);
	t_check(shutdown(t.fd, SHUT_WR) == 0);
	t_check(pthread_sigmask(SIG_BLOCK, &set, NULL) == 0);
	send_file(OUT, "blocked", T_SENDFILE64, &t, f, "f", &off, 100);
	sigpending(&pending);
	t_expect(OUT, "blocked", "SIGPIPE pending",
		 sigismember(&pending, SIGPIPE) == 1);
	while (sigtimedwait(&set, NULL, &zero) == SIGPIPE)
		;
	t_check(pthread_sigmask(SIG_UNBLOCK, &set, NULL) == 0);
	epipe_print("blocked");
	conn_finish(&t, "blocked stream");
}

static void peer_drain(int peer, size_t n)
{
	char buf[8192];
	ssize_t r;

	while (n) {
		r = recv(peer, buf, min_sz(n, sizeof(buf)), 0);
		t_check(r > 0);
		n -= r;
	}
}

static void epipe_peer_fin(struct t_file *f)
{
	struct conn t;
	off_t off = 0;
	int peer;

	peer_open(&t, &peer);
	send_file(OUT, "peer-fin before", T_SENDFILE, &t, f, "f", &off, 4097);
	peer_drain(peer, 4097);
	close(peer);
	wait_event(t.fd, POLLRDHUP);
	send_file(OUT, "peer-fin after fin", T_SENDFILE64, &t, f, "f", &off,
		  100);
	wait_event(t.fd, 0);
	send_file(OUT, "peer-fin after rst", T_SENDFILE, &t, f, "f", &off,
		  100);
	epipe_print("peer-fin after rst");
	send_file(OUT, "peer-fin again", T_SENDFILE64, &t, f, "f", NULL, 100);
	epipe_print("peer-fin again");
	close(t.fd);
}

static void epipe_peer_rst(struct t_file *f)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct conn t;
	off_t off = 0;
	int peer;

	peer_open(&t, &peer);
	send_file(OUT, "peer-rst before", T_SENDFILE64, &t, f, "f", &off,
		  65537);
	peer_drain(peer, 65537);
	t_check(setsockopt(peer, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) ==
		0);
	close(peer);
	wait_event(t.fd, 0);
	off = 0;
	send_file(OUT, "peer-rst", T_SENDFILE, &t, f, "f", &off, 100);
	epipe_print("peer-rst");
	send_file(OUT, "peer-rst again", T_SENDFILE64, &t, f, "f", &off, 100);
	epipe_print("peer-rst again");
	close(t.fd);
}

void sc_epipe(const struct scenario *sc)
{
	struct t_file f;

	t_sigpipe_count_install();
	t_file_create(&f, "epipe", 65537, 1000);
	epipe_shutdown(&f);
	epipe_blocked(&f);
	epipe_peer_fin(&f);
	epipe_peer_rst(&f);
	t_file_close(&f);
}
