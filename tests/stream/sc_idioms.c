// SPDX-License-Identifier: LGPL-2.1-or-later
/* sm_sender scenarios: the sendpage-era response idioms: TCP_CORK, MSG_MORE,
 * UDP datagrams. */
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
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>
#include "sm_sender.h"

/* ---- cork: TCP_CORK and TCP_NODELAY around the calls ------------------ */

void sc_cork(const struct scenario *sc)
{
	int on = 1, off_v = 0;
	struct t_file f;
	struct conn t;
	unsigned int i;
	off_t off = 0;

	t_file_create(&f, "cork", 65537, 1200);
	conn_open_tcp(&t, AF_INET);
	t_check(setsockopt(t.fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on)) ==
		0);
	for (i = 0; i < 3; i++)
		send_file(OUT, "corked", api_of(i), &t, &f, "f", &off, 4097);
	t_check(setsockopt(t.fd, IPPROTO_TCP, TCP_CORK, &off_v,
			   sizeof(off_v)) == 0);
	t_check(setsockopt(t.fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) ==
		0);
	send_file(OUT, "nodelay", T_SENDFILE, &t, &f, "f", NULL, f.size);
	conn_finish(&t, "cork stream");
	t_file_close(&f);
}

/* ---- idioms: the sendpage-era response shapes (cork, MSG_MORE) -------- */

void sc_idioms(const struct scenario *sc)
{
	char hdr[300], label[64];
	struct t_file f, f2;
	struct conn t;
	uint64_t before;
	unsigned int i;
	off_t off;

	/* 80 responses may coalesce; the receiver's pace can deny some */
	t_meta_set("coalesce_min", "55");
	for (i = 0; i < sizeof(hdr); i++)
		hdr[i] = "HTTP/1.1 200 OK\r\nX: y\r\n"[i % 23];
	t_file_create(&f, "idioms", 64 * T_KIB + 3, 1300);
	conn_open_tcp(&t, sc->family);
	/* nginx: cork, writev(headers), sendfile(body), uncork */
	for (i = 0; i < 40; i++) {
		snprintf(label, sizeof(label), "cork%u", i);
		cork(&t, label, 1);
		put_hdr(&t, label, 0, hdr, 200 + i);
		off = i * 97;
		send_file(OUT, label, api_of(i), &t, &f, "f", &off, 4096 + i);
		cork(&t, label, 0);
	}
	/* headers with MSG_MORE, then the body */
	for (i = 0; i < 20; i++) {
		snprintf(label, sizeof(label), "more%u", i);
		put_hdr(&t, label, 1, hdr, 250);
		off = 4096 * i;
		send_file(OUT, label, api_of(i), &t, &f, "f", &off, 1000 + i);
	}
	/* no cork: nothing may be held */
	for (i = 0; i < 5; i++) {
		snprintf(label, sizeof(label), "plain%u", i);
		put_hdr(&t, label, 2, hdr, 250);
		send_file(OUT, label, T_SENDFILE, &t, &f, "f", NULL, 3000);
	}
	/* HEAD: headers and no body */
	for (i = 0; i < 5; i++) {
		snprintf(label, sizeof(label), "head%u", i);
		cork(&t, label, 1);
		put_hdr(&t, label, 0, hdr, 180);
		cork(&t, label, 0);
	}
	/* chunked: a trailer after the body, still corked */
	for (i = 0; i < 10; i++) {
		snprintf(label, sizeof(label), "chunked%u", i);
		cork(&t, label, 1);
		put_hdr(&t, label, 0, hdr, 220);
		off = 5 * i;
		send_file(OUT, label, T_SENDFILE64, &t, &f, "f", &off, 2048);
		put_hdr(&t, label, 2, "\r\n0\r\n\r\n", 7);
		cork(&t, label, 0);
	}
	/* splice: file -> pipe -> socket after corked headers */
	for (i = 0; i < 3; i++) {
		int p[2];
		ssize_t in, out = 0, k;
		loff_t lo = 100 * i;

		snprintf(label, sizeof(label), "splice%u", i);
		t_check(pipe(p) == 0);
		cork(&t, label, 1);
		put_hdr(&t, label, 0, hdr, 210);
		in = splice(f.fd, &lo, p[1], NULL, 6000, 0);
		while (in > 0 && out < in &&
		       (k = splice(p[0], NULL, t.fd, NULL, in - out,
				   SPLICE_F_MORE)) > 0)
			out += k;
		fprintf(OUT, "%s: splice file->pipe %zd, pipe->socket %zd\n",
			label, in, out);
		if (out > 0)
			want_file(&t.want, &f, 100 * i, out);
		cork(&t, label, 0);
		close(p[0]);
		close(p[1]);
	}
	/* a body bigger than what is coalesced, and the file closed before
	 * the uncork (nginx closes it first) */
	t_file_create(&f2, "idioms2", 3 * T_MIB + 5, 1301);
	cork(&t, "bulk", 1);
	put_hdr(&t, "bulk", 0, hdr, 260);
	off = 1;
	send_file(OUT, "bulk", T_SENDFILE, &t, &f2, "f2", &off, f2.size);
	t_file_close(&f2);
	cork(&t, "bulk", 0);
	/* corked headers and then nothing: out within the cork's 200 ms */
	cork(&t, "quiet", 1);
	before = __atomic_load_n(&t.rx.progress, __ATOMIC_ACQUIRE);
	put_hdr(&t, "quiet", 2, hdr, 100);
	for (i = 0; i < 100 && __atomic_load_n(&t.rx.progress,
					       __ATOMIC_ACQUIRE) < before + 100;
	     i++)
		usleep(10000);
	fprintf(OUT, "quiet: held bytes arrived within 1 s: %s\n",
		i < 100 ? "yes" : "no");
	cork(&t, "quiet", 0);
	conn_finish(&t, "idioms stream");

	/* AF_UNIX has no cork: headers with MSG_MORE, then the body */
	{
		struct conn u;
		int sv[2];

		t_check(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
		u.fd = sv[0];
		u.name = "unix";
		t_digest_init(&u.want);
		memset(&u.rx, 0, sizeof(u.rx));
		t_rx_start(&u.rx, sv[1], false);
		for (i = 0; i < 10; i++) {
			snprintf(label, sizeof(label), "unix%u", i);
			put_hdr(&u, label, 1, hdr, 240);
			off = 300 * i;
			send_file(OUT, label, api_of(i), &u, &f, "f", &off,
				  4096);
		}
		put_hdr(&u, "unix-plain", 2, hdr, 50);
		off = 0;
		send_file(OUT, "unix-plain", T_SENDFILE, &u, &f, "f", &off,
			  5000);
		conn_finish(&u, "idioms unix stream");
	}
	t_file_close(&f);
}

/* ---- idioms-edge: held headers meet a full buffer and a peer reset ---- */

/* Responses on a non-blocking socket whose reader starts paused. */
static void idioms_nonblock(int family)
{
	struct t_conn_opts o = {
		.family = family, .sndbuf = 4096, .rcvbuf = 4096,
		.nonblock = true,
	};
	bool eagain_hdr = false, eagain_body = false, resumed = false;
	size_t sum = 0, want_sum = 0;
	char hdr[256], text[96];
	struct t_file f;
	struct conn t;
	unsigned int i;
	ssize_t n;
	off_t off;

	memset(hdr, 'H', sizeof(hdr));
	t_file_create(&f, "inb", 64 * T_KIB, 78);
	conn_open(&t, &o, true, 1000);
	for (i = 0; i < 40; i++) {
		size_t body = 3000 + 100 * i, got = 0;

		cork(&t, "nb", 1);
		for (got = 0; got < sizeof(hdr); got += n) {
			n = write(t.fd, hdr + got, sizeof(hdr) - got);
			if (n > 0) {
				t_digest_add(&t.want, hdr + got, n);
				continue;
			}
			t_check(n < 0 && errno == EAGAIN);
			n = 0;
			eagain_hdr = true;
			if (!resumed)
				t_rx_resume(&t.rx);
			resumed = true;
			wait_writable(t.fd);
		}
		got = 0;
		off = i * 7;
		while (got < body) {
			struct t_call c = {
				.api = api_of(i), .out_fd = t.fd,
				.in_fd = f.fd, .offp = &off,
				.count = body - got,
			};
			off_t start = off;

			t_call(&c);
			if (c.ret > 0) {
				want_file(&t.want, &f, start, c.ret);
				got += c.ret;
				continue;
			}
			t_check(c.ret < 0 && c.err == EAGAIN);
			eagain_body = true;
			if (!resumed)
				t_rx_resume(&t.rx);
			resumed = true;
			wait_writable(t.fd);
		}
		sum += sizeof(hdr) + got;
		want_sum += sizeof(hdr) + body;
		cork(&t, "nb", 0);
	}
	t_expect(OUT, "idioms nonblock", "saw EAGAIN", eagain_hdr ||
		 eagain_body);
	snprintf(text, sizeof(text), "sum of returns == %zu", want_sum);
	t_expect(OUT, "idioms nonblock", text, sum == want_sum);
	if (!resumed)
		t_rx_resume(&t.rx);
	conn_finish(&t, "idioms nonblock stream");
	t_file_close(&f);
}

/* The peer resets: @held says before or after the corked headers. */
/*
 * The reset arrives before the headers are written.  Natively the writev
 * reports it; the shim may take the writev (it no longer asks the socket
 * before holding) and report the reset from the next call -- the same as
 * if the reset had come just after the writev.  What no timing allows, and
 * what is checked: a write that succeeds after the reset was reported, a
 * second ECONNRESET, or an EPIPE without its SIGPIPE.
 */
static void rst_before(int fd, struct t_file *f, const char *label)
{
	char hdr[200];
	ssize_t r[3];
	int e[3], i, state = 0, epipes = 0;
	unsigned int sig0 = t_sigpipe_seen();
	off_t off = 0;
	bool ok = true;

	memset(hdr, 'r', sizeof(hdr));
	r[0] = write(fd, hdr, sizeof(hdr));
	e[0] = errno;
	r[1] = sendfile(fd, f->fd, &off, 100);
	e[1] = errno;
	r[2] = write(fd, hdr, 10);
	e[2] = errno;
	for (i = 0; i < 3; i++) {
		/* 0: before the reset, 1: after it */
		if (r[i] >= 0 && state == 0)
			continue;
		if (r[i] < 0 && e[i] == ECONNRESET && state == 0)
			state = 1;
		else if (r[i] < 0 && e[i] == EPIPE && state == 1)
			epipes++;
		else
			ok = false;
	}
	t_expect(OUT, label, "one ECONNRESET, then EPIPE", ok && state == 1);
	t_expect(OUT, label, "a SIGPIPE with each EPIPE",
		 t_sigpipe_seen() - sig0 == (unsigned int)epipes);
}

static void idioms_rst(struct t_file *f, bool held)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	const char *label = held ? "rst after headers" : "rst before headers";
	char hdr[200];
	struct conn t;
	off_t off = 0;
	int peer;

	memset(hdr, 'r', sizeof(hdr));
	peer_open(&t, &peer);
	cork(&t, label, 1);
	if (held)
		put_hdr(&t, label, 0, hdr, sizeof(hdr));
	t_check(setsockopt(peer, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) ==
		0);
	close(peer);
	wait_event(t.fd, 0);
	if (held) {
		send_file(OUT, label, T_SENDFILE, &t, f, "f", &off, 100);
		epipe_print(label);
		put_hdr(&t, label, 2, hdr, 10);
		epipe_print(label);
	} else {
		rst_before(t.fd, f, label);
	}
	cork(&t, label, 0);
	close(t.fd);
}

void sc_idioms_edge(const struct scenario *sc)
{
	struct t_file f;

	t_sigpipe_count_install();
	t_meta_set("coalesce_min", "10");
	idioms_nonblock(sc->family);
	t_file_create(&f, "irst", 4096, 79);
	idioms_rst(&f, true);
	idioms_rst(&f, false);
	t_file_close(&f);
}

/* ---- udp: corked and MSG_MORE datagrams keep their native boundaries -- */

/* Every datagram waiting at @fd: its length and hash, one line each. */
static void udp_drain(int fd, const char *label)
{
	static uint8_t buf[65536];
	struct t_digest d;
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) >= 0) {
		t_digest_init(&d);
		t_digest_add(&d, buf, n);
		fprintf(OUT, "%s: datagram %zd bytes hash=%016llx\n", label, n,
			(unsigned long long)d.hash);
	}
}

void sc_udp(const struct scenario *sc)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int r, s, on = 1, off_v = 0;
	char hdr[120], label[32];
	struct t_file f;
	unsigned int i;
	off_t off;

	memset(hdr, 'u', sizeof(hdr));
	t_file_create(&f, "udp", 9000, 1400);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r = socket(AF_INET, SOCK_DGRAM, 0);
	s = socket(AF_INET, SOCK_DGRAM, 0);
	t_check(r >= 0 && s >= 0 && !bind(r, (void *)&a, sizeof(a)) &&
		!getsockname(r, (void *)&a, &alen) &&
		!connect(s, (void *)&a, sizeof(a)));
	for (i = 0; i < 3; i++) {
		snprintf(label, sizeof(label), "udp-cork%u", i);
		t_check(setsockopt(s, IPPROTO_UDP, UDP_CORK, &on,
				   sizeof(on)) == 0);
		fprintf(OUT, "%s: write -> %zd\n", label,
			write(s, hdr, sizeof(hdr)));
		off = 100 * i;
		t_send(OUT, label, api_of(i), s, "udp4", f.fd, "f", &off,
		       1000 + i);
		t_check(setsockopt(s, IPPROTO_UDP, UDP_CORK, &off_v,
				   sizeof(off_v)) == 0);
		udp_drain(r, label);
	}
	for (i = 0; i < 3; i++) {
		snprintf(label, sizeof(label), "udp-more%u", i);
		fprintf(OUT, "%s: send(MSG_MORE) -> %zd\n", label,
			send(s, hdr, sizeof(hdr), MSG_MORE));
		off = 0;
		t_send(OUT, label, api_of(i), s, "udp4", f.fd, "f", &off, 700);
		udp_drain(r, label);
	}
	fprintf(OUT, "udp-plain: write -> %zd\n", write(s, hdr, 50));
	off = 0;
	t_send(OUT, "udp-plain", T_SENDFILE, s, "udp4", f.fd, "f", &off, 300);
	udp_drain(r, "udp-plain");
	close(s);
	close(r);
	t_file_close(&f);
}

/* ---- loop: an event loop's turns, whose responses may be batched ------ */

/*
 * nginx's shape: a thread that waits in epoll_wait, then answers several
 * connections, each response corked headers + a file descriptor opened
 * for it, sent and closed at once + uncork.  Under auto and uring the
 * small bodies wait for the next epoll_wait and leave in one submission;
 * every other call on those sockets (a second response on the same
 * connection, a trailer, shutdown, close) must still see its bytes go
 * first, and a non-blocking wait ends a turn too.
 */
void sc_loop(const struct scenario *sc)
{
	enum { NCONN = 4, TURNS = 24 };
	struct epoll_event ev[NCONN];
	struct conn t[NCONN];
	struct t_file f, one;
	char hdr[240], label[64];
	unsigned int i, turn;
	off_t off;
	int ep;

	t_meta_set("coalesce_min", "40");
	for (i = 0; i < sizeof(hdr); i++)
		hdr[i] = "HTTP/1.1 200 OK\r\nX: y\r\n"[i % 23];
	t_file_create(&f, "loop", 64 * T_KIB + 3, 1400);
	ep = epoll_create1(EPOLL_CLOEXEC);
	t_check(ep >= 0);
	for (i = 0; i < NCONN; i++) {
		conn_open(&t[i], &(struct t_conn_opts){ .family = sc->family },
			  false, 0);
		ev[0].events = EPOLLOUT;
		ev[0].data.u32 = i;
		t_check(epoll_ctl(ep, EPOLL_CTL_ADD, t[i].fd, ev) == 0);
	}
	for (turn = 0; turn < TURNS; turn++) {
		/* the count of ready sockets is the kernel's: not printed */
		t_check(epoll_wait(ep, ev, NCONN, turn % 3 ? 10 : 0) >= 0);
		for (i = 0; i < NCONN; i++) {
			unsigned int shape = (turn + i) % 5;

			one = f;	/* a descriptor per response */
			one.fd = open(f.path, O_RDONLY | O_CLOEXEC);
			t_check(one.fd >= 0);
			snprintf(label, sizeof(label), "t%u.c%u.s%u", turn, i,
				 shape);
			cork(&t[i], label, 1);
			put_hdr(&t[i], label, 0, hdr, 150 + turn + i);
			off = 37 * turn + i;
			if (shape != 1)	/* 1: HEAD, no body */
				send_file(OUT, label, api_of(turn + i), &t[i],
					  &one, "f",
					  &off, shape == 4 ? 20000 : 3000 + i);
			if (shape == 2)	/* chunked: a trailer, corked */
				put_hdr(&t[i], label, 2, "\r\n0\r\n\r\n", 7);
			cork(&t[i], label, 0);
			close(one.fd);
			if (shape == 3) {
				/* pipelined: the next response at once */
				cork(&t[i], label, 1);
				put_hdr(&t[i], label, 0, hdr, 100);
				off = 11;
				send_file(OUT, label, T_SENDFILE, &t[i], &f,
					  "f", &off, 1500);
				cork(&t[i], label, 0);
			}
		}
	}
	/* bytes waiting for the next wait when the write side shuts */
	cork(&t[0], "shut", 1);
	put_hdr(&t[0], "shut", 0, hdr, 120);
	off = 5;
	send_file(OUT, "shut", T_SENDFILE, &t[0], &f, "f", &off, 2000);
	cork(&t[0], "shut", 0);
	t_check(shutdown(t[0].fd, SHUT_WR) == 0);
	/* and when the socket closes (conn_finish) */
	for (i = 1; i < NCONN; i++) {
		snprintf(label, sizeof(label), "last.c%u", i);
		cork(&t[i], label, 1);
		put_hdr(&t[i], label, 0, hdr, 130);
		off = 7 * i;
		send_file(OUT, label, T_SENDFILE, &t[i], &f, "f", &off, 2500);
		cork(&t[i], label, 0);
	}
	close(ep);
	for (i = 0; i < NCONN; i++)
		conn_finish(&t[i], "loop stream");
	t_file_close(&f);
}
