// SPDX-License-Identifier: LGPL-2.1-or-later
/* sm_sender scenarios: non-blocking sockets, small buffers, a paused reader. */
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

/* ---- nonblock: small buffers, paused reader, the nginx loop ---------- */

struct nb_state {
	size_t sum;
	unsigned int calls;
	bool partial;
	bool eagain;
	bool resumed;
	bool failed;
};

static void nb_step(struct conn *t, struct t_file *f, off_t *offp, size_t rest,
		    struct nb_state *s)
{
	size_t want = min_sz(rest, 256 * T_KIB);
	struct t_call c = {
		.api = api_of(s->calls++),
		.out_fd = t->fd,
		.in_fd = f->fd,
		.offp = offp,
		.count = want,
	};
	off_t start = offp ? *offp : lseek(f->fd, 0, SEEK_CUR);

	t_call(&c);
	if (c.ret > 0) {
		want_file(&t->want, f, start, c.ret);
		s->sum += c.ret;
		if ((size_t)c.ret < want)
			s->partial = true;
		return;
	}
	if (c.ret < 0 && c.err == EAGAIN) {
		s->eagain = true;
		if (!s->resumed)
			t_rx_resume(&t->rx);
		s->resumed = true;
		wait_writable(t->fd);
		return;
	}
	t_call_print(OUT, "nonblock unexpected", t->name, "f", start, &c);
	s->failed = true;
}

static void nonblock_case(int family, const char *label, bool use_ptr,
			  off_t start)
{
	struct t_conn_opts o = {
		.family = family, .sndbuf = 4096, .rcvbuf = 4096,
		.nonblock = true,
	};
	struct nb_state s = { 0 };
	struct t_file f;
	struct conn t;
	off_t off = start;
	size_t rest;
	char text[96];

	t_file_create(&f, "nb", T_MIB + 17, 77);
	rest = f.size - start;
	conn_open(&t, &o, true, 1000);
	seek_to(f.fd, use_ptr ? 5 : start);
	while (s.sum < rest && !s.failed)
		nb_step(&t, &f, use_ptr ? &off : NULL, rest - s.sum, &s);
	t_expect(OUT, label, "saw a partial count", s.partial);
	t_expect(OUT, label, "saw EAGAIN", s.eagain);
	snprintf(text, sizeof(text), "sum of returns == %zu", rest);
	t_expect(OUT, label, text, s.sum == rest);
	if (use_ptr)
		t_expect(OUT, label, "offset advanced by the sum, position 5",
			 off == start + (off_t)s.sum &&
			 lseek(f.fd, 0, SEEK_CUR) == 5);
	else
		t_expect(OUT, label, "position advanced by the sum",
			 lseek(f.fd, 0, SEEK_CUR) == start + (off_t)s.sum);
	conn_finish(&t, label);
	t_file_close(&f);
}

void sc_nonblock(const struct scenario *sc)
{
	char label[64];

	snprintf(label, sizeof(label), "%s ptr", sc->name);
	nonblock_case(sc->family, label, true, 0);
	snprintf(label, sizeof(label), "%s null-preseek", sc->name);
	nonblock_case(sc->family, label, false, 4097);
}
