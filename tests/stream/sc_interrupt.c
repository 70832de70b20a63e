// SPDX-License-Identifier: LGPL-2.1-or-later
/* sm_sender scenarios: a blocking send meets a shrinking file, a signal, or
 * SO_SNDTIMEO. */
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

/* ---- truncate: the file shrinks under a stalled blocking send --------- */

struct shrink {
	struct conn *t;
	const char *path;
	off_t size;
	int queued;		/* bytes the kernel held when the file shrank */
};

static void *shrink_main(void *arg)
{
	struct shrink *s = arg;
	int fd, outq, inq;

	t_wait_stalled(s->t->fd);
	t_check(ioctl(s->t->fd, SIOCOUTQ, &outq) == 0);
	t_check(ioctl(s->t->rx.fd, SIOCINQ, &inq) == 0);
	s->queued = outq + inq;
	fd = open(s->path, O_WRONLY | O_CLOEXEC);
	t_check(fd >= 0);
	t_check(ftruncate(fd, s->size) == 0);
	close(fd);
	t_rx_resume(&s->t->rx);
	return NULL;
}

/*
 * Natively, what was queued when the file shrank is sent as it is (page
 * references; the EOF folio's tail reads as zeroes), and the rest of the
 * send stops at the new EOF.  When the stall was far below the new size,
 * the return must therefore be the new size.  The shim reads through a
 * mapping, which may also read the zeroes up to the end of the page that
 * holds the new EOF (docs/semantics.md: known differences); never a byte more.
 */
static void truncate_case(const char *label, bool use_ptr, off_t new_size)
{
	struct t_conn_opts o = {
		.family = AF_INET, .sndbuf = 65536, .rcvbuf = 65536,
	};
	struct shrink s;
	struct t_file f;
	struct t_call c;
	struct conn t;
	pthread_t th;
	off_t off = 0;

	t_file_create(&f, "shrink", 16 * T_MIB, 400);
	conn_open(&t, &o, true, 0);
	t.rx.ref = f.data;
	t.rx.ref_len = f.size;
	t.rx.ref_zero_from = new_size;
	s = (struct shrink){ .t = &t, .path = f.path, .size = new_size };
	t_check(pthread_create(&th, NULL, shrink_main, &s) == 0);
	c = (struct t_call){
		.api = use_ptr ? T_SENDFILE64 : T_SENDFILE,
		.out_fd = t.fd, .in_fd = f.fd,
		.offp = use_ptr ? &off : NULL, .count = f.size,
	};
	t_call(&c);
	t_check(pthread_join(th, NULL) == 0);
	t_expect(OUT, label, "returned > 0", c.ret > 0);
	t_expect(OUT, label, "returned >= truncated size", c.ret >= new_size);
	if (new_size > 2 * (off_t)T_MIB) {
		if (s.queued + (off_t)T_MIB > new_size)
			t_die("%s: stalled at %d bytes, too late", label,
			      s.queued);
		t_expect(OUT, label, "returned == truncated size (or the "
			 "rest of its page, zeroes)", c.ret >= new_size &&
			 c.ret <= ((new_size + 4095) & ~(off_t)4095));
	}
	t_expect(OUT, label, "returned <= original size",
		 c.ret <= (ssize_t)f.size);
	t_expect(OUT, label, "offset advanced by the return",
		 use_ptr ? off == c.ret && c.pos_after == 0 :
			   c.pos_after == c.ret);
	/* the position was checked above; the last call must not print it */
	t_check(lseek(f.fd, 0, SEEK_SET) == 0);
	off = new_size;
	t_send(OUT, label, T_SENDFILE, t.fd, t.name, f.fd, "f", &off, 100);
	close(t.fd);
	t_rx_join(&t.rx);
	t_expect(OUT, label, "received == returned",
		 c.ret > 0 && t.rx.got.bytes == (uint64_t)c.ret);
	t_expect(OUT, label, "received is a prefix of the original file "
		 "(past the new EOF zeroes allowed)", t.rx.ref_prefix);
	t_file_close(&f);
}

void sc_truncate(const struct scenario *sc)
{
	truncate_case("truncate null 3MiB+5", false, 3 * T_MIB + 5);
	truncate_case("truncate ptr 4097", true, 4097);
}

/* ---- signal: a handler interrupts a stalled blocking send ------------- */

static volatile sig_atomic_t usr1_seen;

static void on_usr1(int sig)
{
	(void)sig;
	usr1_seen++;
}

struct kicker {
	int fd;
	pthread_t target;
};

static void *kicker_main(void *arg)
{
	struct kicker *k = arg;

	t_wait_stalled(k->fd);
	pthread_kill(k->target, SIGUSR1);
	return NULL;
}

static void signal_finish(const char *label, struct conn *t, struct t_file *f,
			  off_t *off, unsigned int calls)
{
	size_t sum = *off;
	struct t_call c;

	while (sum < f->size) {
		c = (struct t_call){
			.api = api_of(calls++), .out_fd = t->fd,
			.in_fd = f->fd, .offp = off, .count = f->size - sum,
		};
		t_call(&c);
		if (c.ret <= 0) {
			t_call_print(OUT, label, t->name, "f", sum, &c);
			t_mismatch();
			break;
		}
		want_file(&t->want, f, sum, c.ret);
		sum += c.ret;
	}
	t_expect(OUT, label, "sum of returns == file size", sum == f->size);
	t_expect(OUT, label, "offset == file size, position unchanged",
		 *off == (off_t)f->size && lseek(f->fd, 0, SEEK_CUR) == 0);
}

static void signal_case(const char *label, bool restart)
{
	struct t_conn_opts o = {
		.family = AF_INET, .sndbuf = 65536, .rcvbuf = 65536,
	};
	struct kicker k;
	struct sigaction sa;
	struct t_file f;
	struct t_call c;
	struct conn t;
	pthread_t th;
	off_t off = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigemptyset(&sa.sa_mask);
	t_check(sigaction(SIGUSR1, &sa, NULL) == 0);
	usr1_seen = 0;
	t_file_create(&f, "sig", 8 * T_MIB, 500);
	conn_open(&t, &o, true, 0);
	k = (struct kicker){ .fd = t.fd, .target = pthread_self() };
	t_check(pthread_create(&th, NULL, kicker_main, &k) == 0);
	c = (struct t_call){
		.api = T_SENDFILE, .out_fd = t.fd, .in_fd = f.fd,
		.offp = &off, .count = f.size,
	};
	t_call(&c);
	t_check(pthread_join(th, NULL) == 0);
	t_rx_resume(&t.rx);
	want_file(&t.want, &f, 0, c.ret);
	t_expect(OUT, label, "handler ran once", usr1_seen == 1);
	t_expect(OUT, label, "first call returned a partial count",
		 c.ret > 0 && (size_t)c.ret < f.size && off == c.ret);
	if (c.ret < 0)
		off = 0;
	signal_finish(label, &t, &f, &off, 1);
	conn_finish(&t, label);
	t_file_close(&f);
	signal(SIGUSR1, SIG_DFL);
}

void sc_signal(const struct scenario *sc)
{
	signal_case("signal no-restart", false);
	signal_case("signal restart", true);
}

/* ---- sndtimeo: SO_SNDTIMEO must keep its meaning ---------------------- */

static void set_sndtimeo(int fd, long ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	t_check(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) ==
		0);
}

void sc_sndtimeo(const struct scenario *sc)
{
	struct t_conn_opts o = {
		.family = AF_INET, .sndbuf = 65536, .rcvbuf = 65536,
	};
	struct t_file f;
	struct t_call c;
	struct conn t;
	off_t off = 0;

	t_file_create(&f, "timeo", T_MIB + 17, 600);
	conn_open_tcp(&t, AF_INET);
	set_sndtimeo(t.fd, 5000);
	send_file(OUT, "sndtimeo active", T_SENDFILE, &t, &f, "f", NULL,
		  f.size);
	send_file(OUT, "sndtimeo active", T_SENDFILE64, &t, &f, "f", &off,
		  f.size);
	conn_finish(&t, "sndtimeo active");
	t_file_close(&f);

	t_file_create(&f, "timeo", 8 * T_MIB, 601);
	conn_open(&t, &o, true, 0);
	set_sndtimeo(t.fd, 200);
	off = 0;
	c = (struct t_call){
		.api = T_SENDFILE64, .out_fd = t.fd, .in_fd = f.fd,
		.offp = &off, .count = f.size,
	};
	t_call(&c);
	t_rx_resume(&t.rx);
	want_file(&t.want, &f, 0, c.ret);
	t_expect(OUT, "sndtimeo paused", "first call stopped short",
		 (c.ret > 0 && (size_t)c.ret < f.size && off == c.ret) ||
		 (c.ret < 0 && c.err == EAGAIN && off == 0));
	if (c.ret < 0)
		off = 0;
	signal_finish("sndtimeo paused", &t, &f, &off, 1);
	conn_finish(&t, "sndtimeo paused");
	t_file_close(&f);
}
