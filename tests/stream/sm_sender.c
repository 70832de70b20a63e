// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * sm_sender: an ordinary program that just calls sendfile() and
 * sendfile64(), one scenario per run, and prints a transcript of what the
 * calls returned.  The driver runs it natively and under libsplicemsg and
 * compares the transcripts byte for byte, so a scenario prints only what
 * the native kernel makes deterministic; where timing decides (partial
 * sends, EAGAIN, truncation, signals) it prints invariants instead.
 *
 * Every received stream is hashed by a receiver thread that only recv()s
 * and compared with the file bytes the calls claimed to send.
 *
 * Exit: 0 all streams matched, 1 a mismatch, 77 skip, 99 harness error.
 */
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

#include "t_stream.h"

#define OUT stdout
#define DEFAULT_TIMEOUT 60

struct scenario {
	const char *name;
	void (*run)(const struct scenario *sc);
	int family;
	/* How the driver may compare the shim's byte counters with ours:
	 * exact: per path; total: only the sum (timing splits paths);
	 * none: bytes the calls do not report (EFAULT after sending). */
	const char *accounting;
	/* Eligible calls that must still go native, and why. */
	const char *native_reason;
	const char *tags;
};

static enum t_api api_of(unsigned int i)
{
	return i & 1 ? T_SENDFILE64 : T_SENDFILE;
}

static size_t min_sz(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* ---- a connection with its receiver and the stream it should get ---- */

struct conn {
	int fd;
	const char *name;
	struct t_rx rx;
	struct t_digest want;
};

static void skip_family(int family)
{
	printf("skip: %s loopback unavailable\n", t_family_name(family));
	fflush(stdout);
	exit(T_EXIT_SKIP);
}

static void conn_open(struct conn *t, const struct t_conn_opts *o, bool paused,
		     size_t chunk)
{
	int rfd;

	if (t_tcp_pair(o, &t->fd, &rfd))
		skip_family(o->family);
	t->name = t_family_name(o->family);
	t_digest_init(&t->want);
	memset(&t->rx, 0, sizeof(t->rx));
	t->rx.chunk = chunk;
	t_rx_start(&t->rx, rfd, paused);
}

static void conn_open_tcp(struct conn *t, int family)
{
	struct t_conn_opts o = { .family = family };

	conn_open(t, &o, false, 0);
}

/* Close our end (unless already gone), wait for EOF, compare. */
static void conn_finish(struct conn *t, const char *label)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	t_rx_join(&t->rx);
	t_report_stream(OUT, label, &t->rx.got, &t->want);
}

/* Add the bytes a successful call sent from @f at @start to the stream. */
static void want_file(struct t_digest *want, const struct t_file *f,
		      off_t start, ssize_t ret)
{
	if (ret <= 0)
		return;
	if (start < 0 || (size_t)start + ret > f->size) {
		fprintf(OUT, "sent past the end of the file: start %lld "
			"ret %zd size %zu\n", (long long)start, ret, f->size);
		t_mismatch();
		return;
	}
	t_digest_add(want, f->data + start, ret);
}

/* One printed call from file @f to @t; the stream expectation follows. */
static ssize_t send_file(FILE *out, const char *label, enum t_api api,
			 struct conn *t, struct t_file *f, const char *fname,
			 off_t *offp, size_t count)
{
	off_t start = offp ? *offp : lseek(f->fd, 0, SEEK_CUR);
	ssize_t ret;

	ret = t_send(out, label, api, t->fd, t->name, f->fd, fname, offp,
		     count);
	want_file(&t->want, f, start, ret);
	return ret;
}

static void seek_to(int fd, off_t pos)
{
	t_check(lseek(fd, pos, SEEK_SET) == pos);
}

/* ---- sizes: every size x offset mode x API, one connection ----------- */

struct mode {
	const char *name;
	bool ptr;
	off_t pos;		/* file position before the call */
	off_t off;		/* *offset before the call */
	size_t count;
};

static unsigned int size_modes(size_t size, struct mode *m)
{
	off_t sz = size;
	struct mode all[] = {
		{ "null-whole", false, 0, 0, size },
		{ "null-preseek", false, sz / 3 + 1, 0, size },
		{ "null-eof", false, sz, 0, 4096 },
		{ "null-past-eof", false, sz + 12345, 0, 10 },
		{ "null-count0", false, 1, 0, 0 },
		{ "ptr-zero", true, 7, 0, size },
		{ "ptr-4097", true, 0, 4097, size },
		{ "ptr-12345", true, 3, 12345, 65536 },
		{ "ptr-eof", true, 0, sz, 1 },
		{ "ptr-past-eof", true, 0, sz + 1, 4096 },
		{ "ptr-count0", true, 0, 0, 0 },
		{ "ptr-short", true, 0, 1, size + 100000 },
		{ "ptr-last", true, 0, sz ? sz - 1 : 0, 1 },
	};

	memcpy(m, all, sizeof(all));
	return sizeof(all) / sizeof(all[0]);
}

static void sizes_one(struct conn *t, size_t size, unsigned int idx)
{
	struct mode modes[16];
	char label[96], fname[32];
	struct t_file f;
	unsigned int n, i, a;
	off_t off;

	snprintf(fname, sizeof(fname), "f%zu", size);
	t_file_create(&f, fname, size, 1000 + idx);
	n = size_modes(size, modes);
	for (i = 0; i < n; i++) {
		for (a = 0; a < 2; a++) {
			snprintf(label, sizeof(label), "%s %s %s", t->name,
				 fname, modes[i].name);
			seek_to(f.fd, modes[i].pos);
			off = modes[i].off;
			send_file(OUT, label, api_of(a), t, &f, fname,
				  modes[i].ptr ? &off : NULL, modes[i].count);
		}
	}
	t_file_close(&f);
}

static void sc_sizes(const struct scenario *sc)
{
	static const size_t sizes[] = {
		0, 1, 4095, 4096, 4097, 65535, 65537, T_MIB + 17,
	};
	struct conn t;
	unsigned int i;

	conn_open_tcp(&t, sc->family);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		sizes_one(&t, sizes[i], i);
	conn_finish(&t, sc->name);
}

/* ---- big: 64 MiB in single blocking calls ----------------------------- */

static void sc_big(const struct scenario *sc)
{
	struct t_file f;
	struct conn t;
	off_t off = 12345;

	t_file_create(&f, "big", 64 * T_MIB, 64);
	conn_open_tcp(&t, sc->family);
	send_file(OUT, "big whole", T_SENDFILE, &t, &f, "f64M", NULL, f.size);
	send_file(OUT, "big tail", T_SENDFILE64, &t, &f, "f64M", &off, f.size);
	conn_finish(&t, sc->name);
	t_file_close(&f);
}

/* ---- nonblock: small buffers, paused reader, the nginx loop ---------- */

static void wait_writable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	t_check(poll(&p, 1, 10000) == 1);
}

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

static void sc_nonblock(const struct scenario *sc)
{
	char label[64];

	snprintf(label, sizeof(label), "%s ptr", sc->name);
	nonblock_case(sc->family, label, true, 0);
	snprintf(label, sizeof(label), "%s null-preseek", sc->name);
	nonblock_case(sc->family, label, false, 4097);
}

/* ---- threads: 8 senders, each its own socket and file ----------------- */

#define NTHREADS 8

struct worker {
	unsigned int idx;
	pthread_t thread;
	pthread_barrier_t *start;
	struct conn t;
	struct t_file f;
	char *log;
	size_t log_len;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char label[64], fname[16];
	unsigned int i = 0;
	FILE *out;
	off_t off;

	out = open_memstream(&w->log, &w->log_len);
	t_check(out);
	snprintf(fname, sizeof(fname), "t%u", w->idx);
	pthread_barrier_wait(w->start);
	for (;;) {
		snprintf(label, sizeof(label), "thread %u call %u", w->idx, i);
		if (send_file(out, label, api_of(i + w->idx), &w->t, &w->f,
			      fname, NULL, 100000) <= 0 || ++i > 64)
			break;
	}
	off = 0;
	snprintf(label, sizeof(label), "thread %u whole", w->idx);
	send_file(out, label, T_SENDFILE, &w->t, &w->f, fname, &off,
		  w->f.size);
	off = 4097;
	snprintf(label, sizeof(label), "thread %u short", w->idx);
	send_file(out, label, T_SENDFILE64, &w->t, &w->f, fname, &off,
		  w->f.size);
	fclose(out);
	return NULL;
}

static void sc_threads(const struct scenario *sc)
{
	struct worker w[NTHREADS];
	pthread_barrier_t start;
	char label[32], name[16];
	unsigned int i;

	pthread_barrier_init(&start, NULL, NTHREADS);
	for (i = 0; i < NTHREADS; i++) {
		w[i].idx = i;
		w[i].start = &start;
		snprintf(name, sizeof(name), "t%u", i);
		t_file_create(&w[i].f, name, 65537 * (i + 1) + 4095 * i,
			      200 + i);
		conn_open_tcp(&w[i].t, sc->family);
	}
	for (i = 0; i < NTHREADS; i++)
		t_check(pthread_create(&w[i].thread, NULL, worker_main,
				       &w[i]) == 0);
	for (i = 0; i < NTHREADS; i++)
		t_check(pthread_join(w[i].thread, NULL) == 0);
	for (i = 0; i < NTHREADS; i++) {
		fwrite(w[i].log, 1, w[i].log_len, OUT);
		free(w[i].log);
		snprintf(label, sizeof(label), "thread %u", i);
		conn_finish(&w[i].t, label);
		t_file_close(&w[i].f);
	}
	pthread_barrier_destroy(&start);
}

/* ---- fork: parent sends, child sends on a new and an inherited socket - */

static void fork_child(const struct scenario *sc, struct conn *a,
		       struct t_file *f, int report_fd)
{
	struct t_file g;
	struct conn b;
	ssize_t ret;
	off_t off = 0;

	t_after_fork_child();
	t_file_create(&g, "child", 3 * 65537, 301);
	conn_open_tcp(&b, sc->family);
	send_file(OUT, "child new", T_SENDFILE64, &b, &g, "g", &off, g.size);
	send_file(OUT, "child new", T_SENDFILE, &b, &g, "g", NULL, g.size);
	/* The inherited socket and the shared file position. */
	ret = t_send(OUT, "child inherited", T_SENDFILE64, a->fd, a->name,
		     f->fd, "f", NULL, 70000);
	t_check(write(report_fd, &ret, sizeof(ret)) == sizeof(ret));
	conn_finish(&b, "child new");
	t_file_close(&g);
	close(a->fd);
	fflush(OUT);
	exit(t_result());
}

static void sc_fork(const struct scenario *sc)
{
	struct t_file f;
	struct conn a;
	ssize_t child_ret;
	int p[2], status;
	off_t off;
	pid_t pid;

	t_file_create(&f, "fork", T_MIB + 17, 300);
	conn_open_tcp(&a, sc->family);
	send_file(OUT, "parent before", T_SENDFILE, &a, &f, "f", NULL, 65537);
	t_check(pipe(p) == 0);
	fflush(OUT);
	pid = fork();
	t_check(pid >= 0);
	if (!pid) {
		close(p[0]);
		fork_child(sc, &a, &f, p[1]);
	}
	close(p[1]);
	t_check(read(p[0], &child_ret, sizeof(child_ret)) ==
		sizeof(child_ret));
	close(p[0]);
	t_check(waitpid(pid, &status, 0) == pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) == T_EXIT_ERROR)
		t_die("fork child: status 0x%x", status);
	fprintf(OUT, "parent: child exited %d\n", WEXITSTATUS(status));
	if (WEXITSTATUS(status))
		t_mismatch();
	want_file(&a.want, &f, 65537, child_ret);
	send_file(OUT, "parent after", T_SENDFILE64, &a, &f, "f", NULL,
		  f.size);
	off = 12345;
	send_file(OUT, "parent after", T_SENDFILE, &a, &f, "f", &off, 4096);
	conn_finish(&a, "parent inherited");
	t_file_close(&f);
}

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
 * holds the new EOF (README: known differences); never a byte more.
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

static void sc_truncate(const struct scenario *sc)
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

static void sc_signal(const struct scenario *sc)
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

static void sc_sndtimeo(const struct scenario *sc)
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

/* ---- ineligible descriptors: the real call must answer ---------------- */

static void check_file_content(const char *label, const char *path,
			       const struct t_digest *want)
{
	unsigned char buf[65536];
	struct t_digest got;
	ssize_t n;
	int fd;

	t_digest_init(&got);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	t_check(fd >= 0);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		t_digest_add(&got, buf, n);
	close(fd);
	t_report_stream(OUT, label, &got, want);
}

static void inel_out_file(struct t_file *f)
{
	struct t_digest want;
	char path[4200];
	off_t off = 0;
	ssize_t ret;
	int fd;

	snprintf(path, sizeof(path), "%s/out", t_tmpdir());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	t_check(fd >= 0);
	t_digest_init(&want);
	seek_to(f->fd, 0);
	ret = t_send(OUT, "out=file", T_SENDFILE, fd, "file", f->fd, "f",
		     &off, f->size);
	want_file(&want, f, 0, ret);
	ret = t_send(OUT, "out=file", T_SENDFILE64, fd, "file", f->fd, "f",
		     NULL, 4097);
	want_file(&want, f, 0, ret);
	close(fd);
	check_file_content("out=file content", path, &want);

	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	t_check(fd >= 0);
	off = 0;
	t_send(OUT, "out=file O_APPEND", T_SENDFILE, fd, "file", f->fd, "f",
	       &off, 100);
	close(fd);
	unlink(path);

	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	t_check(fd >= 0);
	off = 0;
	t_send(OUT, "out=/dev/null", T_SENDFILE64, fd, "null", f->fd, "f",
	       &off, f->size);
	close(fd);
}

static void read_back(const char *label, int fd, const struct t_digest *want)
{
	unsigned char *buf = malloc(want->bytes + 1);
	struct t_digest got;
	size_t done = 0;
	ssize_t n;

	t_check(buf);
	t_digest_init(&got);
	while (done < want->bytes) {
		n = read(fd, buf + done, want->bytes - done);
		if (n <= 0)
			break;
		done += n;
	}
	t_digest_add(&got, buf, done);
	free(buf);
	t_report_stream(OUT, label, &got, want);
}

static void inel_out_pipe(struct t_file *f)
{
	struct t_digest want;
	ssize_t ret;
	int p[2];

	t_check(pipe2(p, O_CLOEXEC) == 0);
	t_digest_init(&want);
	seek_to(f->fd, 100);
	ret = t_send(OUT, "out=pipe", T_SENDFILE, p[1], "pipe", f->fd, "f",
		     NULL, 4097);
	want_file(&want, f, 100, ret);
	close(p[1]);
	read_back("out=pipe content", p[0], &want);
	close(p[0]);
}

static void inel_out_unix(struct t_file *f)
{
	struct t_digest want;
	struct t_rx rx = { 0 };
	off_t off = 0;
	ssize_t ret;
	int sv[2];

	t_check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	t_rx_start(&rx, sv[1], false);
	t_digest_init(&want);
	ret = t_send(OUT, "out=unix", T_SENDFILE64, sv[0], "unix", f->fd, "f",
		     &off, f->size);
	want_file(&want, f, 0, ret);
	seek_to(f->fd, 0);
	ret = t_send(OUT, "out=unix", T_SENDFILE, sv[0], "unix", f->fd, "f",
		     NULL, 4097);
	want_file(&want, f, 0, ret);
	close(sv[0]);
	t_rx_join(&rx);
	t_report_stream(OUT, "out=unix stream", &rx.got, &want);

	t_check(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) == 0);
	t_digest_init(&want);
	off = 7;
	ret = t_send(OUT, "out=unix-dgram", T_SENDFILE, sv[0], "unix-dgram",
		     f->fd, "f", &off, 1000);
	want_file(&want, f, 7, ret);
	close(sv[0]);
	read_back("out=unix-dgram content", sv[1], &want);
	close(sv[1]);
}

static void recv_dgram(const char *label, int fd, const struct t_digest *want)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	static unsigned char buf[70000];
	struct t_digest got;
	ssize_t n = 0;

	t_digest_init(&got);
	if (want->bytes && poll(&p, 1, 5000) == 1)
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n > 0)
		t_digest_add(&got, buf, n);
	t_report_stream(OUT, label, &got, want);
}

static void inel_out_udp(struct t_file *f)
{
	struct sockaddr_in a = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t len = sizeof(a);
	struct t_digest want;
	off_t off = 0;
	ssize_t ret;
	int r, s;

	r = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	t_check(r >= 0 && s >= 0);
	t_check(bind(r, (struct sockaddr *)&a, len) == 0);
	t_check(getsockname(r, (struct sockaddr *)&a, &len) == 0);
	t_check(connect(s, (struct sockaddr *)&a, len) == 0);
	t_digest_init(&want);
	ret = t_send(OUT, "out=udp4", T_SENDFILE, s, "udp4", f->fd, "f", &off,
		     1000);
	want_file(&want, f, 0, ret);
	recv_dgram("out=udp4 datagram", r, &want);
	t_digest_init(&want);
	off = 0;
	ret = t_send(OUT, "out=udp4 oversize", T_SENDFILE64, s, "udp4",
		     f->fd, "f", &off, 70000);
	want_file(&want, f, 0, ret);
	recv_dgram("out=udp4 oversize datagram", r, &want);
	close(s);
	close(r);
}

/* TCP sockets that are not connected: the real call raises SIGPIPE. */
static void inel_out_unconnected(struct t_file *f)
{
	struct sockaddr_in a = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	off_t off = 0;
	int s;

	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	t_check(s >= 0);
	t_send(OUT, "out=tcp4 fresh", T_SENDFILE, s, "tcp4-fresh", f->fd, "f",
	       &off, 100);
	fprintf(OUT, "out=tcp4 fresh: sigpipe=%u\n", t_sigpipe_seen());
	t_check(bind(s, (struct sockaddr *)&a, sizeof(a)) == 0);
	t_check(listen(s, 1) == 0);
	t_send(OUT, "out=tcp4 listening", T_SENDFILE64, s, "tcp4-listen",
	       f->fd, "f", &off, 100);
	fprintf(OUT, "out=tcp4 listening: sigpipe=%u\n", t_sigpipe_seen());
	close(s);
}

/* Input descriptors that are not regular files, into a good socket. */
static void inel_in_odd(struct conn *t, struct t_file *f)
{
	static unsigned char zeros[4096];
	ssize_t ret;
	int sv[2], p[2], fd;

	t_check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	t_check(write(sv[1], f->data, 100) == 100);
	ret = t_send(OUT, "in=unix", T_SENDFILE, t->fd, t->name, sv[0],
		     "unix", NULL, 100);
	if (ret > 0)
		t_digest_add(&t->want, f->data, ret);
	close(sv[0]);
	close(sv[1]);

	t_check(pipe2(p, O_CLOEXEC) == 0);
	t_check(write(p[1], f->data, 100) == 100);
	ret = t_send(OUT, "in=pipe", T_SENDFILE64, t->fd, t->name, p[0],
		     "pipe", NULL, 100);
	if (ret > 0)
		t_digest_add(&t->want, f->data, ret);
	close(p[0]);
	close(p[1]);

	fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	t_check(fd >= 0);
	ret = t_send(OUT, "in=/dev/zero", T_SENDFILE, t->fd, t->name, fd,
		     "zero", NULL, sizeof(zeros));
	if (ret > 0)
		t_digest_add(&t->want, zeros, ret);
	close(fd);

	fd = open(t_tmpdir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	t_check(fd >= 0);
	t_send(OUT, "in=directory", T_SENDFILE64, t->fd, t->name, fd, "dir",
	       NULL, 100);
	close(fd);
}

static void sc_ineligible(const struct scenario *sc)
{
	struct t_file f;
	struct conn t;

	t_sigpipe_count_install();
	t_file_create(&f, "inel", 65537, 700);
	inel_out_file(&f);
	inel_out_pipe(&f);
	inel_out_unix(&f);
	inel_out_udp(&f);
	inel_out_unconnected(&f);
	conn_open_tcp(&t, AF_INET);
	inel_in_odd(&t, &f);
	conn_finish(&t, "in=odd stream");
	fprintf(OUT, "sigpipe total=%u\n", t_sigpipe_seen());
	t_file_close(&f);
}

/* ---- errors: bad descriptors, offsets, pointers and counts ------------ */

/* The lowest free descriptor number, left closed. */
static int closed_fd(void)
{
	int fd = dup(0);

	t_check(fd >= 0);
	close(fd);
	return fd;
}

static void err_fds(struct conn *t, struct t_file *f)
{
	struct t_file rw = *f;
	off_t off = 0;
	int fd;

	t_send(OUT, "in=-1", T_SENDFILE, t->fd, t->name, -1, "-1", &off, 100);
	t_send(OUT, "in=closed", T_SENDFILE64, t->fd, t->name, closed_fd(),
	       "closed", &off, 100);
	t_send(OUT, "in=closed count0", T_SENDFILE, t->fd, t->name,
	       closed_fd(), "closed", NULL, 0);
	t_send(OUT, "in=9999", T_SENDFILE, t->fd, t->name, 9999, "9999",
	       NULL, 100);
	t_send(OUT, "out=-1", T_SENDFILE64, -1, "-1", f->fd, "f", &off, 100);
	t_send(OUT, "out=closed", T_SENDFILE, closed_fd(), "closed", f->fd,
	       "f", NULL, 100);
	t_send(OUT, "out=closed count0", T_SENDFILE64, closed_fd(), "closed",
	       f->fd, "f", &off, 0);
	t_send(OUT, "out=9999", T_SENDFILE64, 9999, "9999", f->fd, "f", &off,
	       100);

	fd = open(f->path, O_WRONLY | O_CLOEXEC);
	t_check(fd >= 0);
	t_send(OUT, "in=O_WRONLY", T_SENDFILE, t->fd, t->name, fd, "wronly",
	       &off, 100);
	t_send(OUT, "in=O_WRONLY", T_SENDFILE64, t->fd, t->name, fd, "wronly",
	       NULL, 100);
	close(fd);
	fd = open(f->path, O_PATH | O_CLOEXEC);
	t_check(fd >= 0);
	t_send(OUT, "in=O_PATH", T_SENDFILE, t->fd, t->name, fd, "opath",
	       &off, 100);
	close(fd);
	rw.fd = open(f->path, O_RDWR | O_CLOEXEC);
	t_check(rw.fd >= 0);
	off = 0;
	send_file(OUT, "in=O_RDWR", T_SENDFILE64, t, &rw, "rdwr", &off, 100);
	close(rw.fd);
}

static void err_offsets(struct conn *t, struct t_file *f)
{
	static const struct {
		const char *label;
		off_t off;
		size_t count;
	} cases[] = {
		{ "off=-1", -1, 100 },
		{ "off=-4096", -4096, 100 },
		{ "off=LLONG_MIN", LLONG_MIN, 100 },
		{ "off=LLONG_MAX-10", LLONG_MAX - 10, 100 },
		{ "off=LLONG_MAX count0", LLONG_MAX, 0 },
		{ "off=2^40", 1LL << 40, 10 },
		{ "off=2^44-1", (1LL << 44) - 1, 10 },
		{ "off=2^44", 1LL << 44, 10 },
		{ "off=2^50", 1LL << 50, 10 },
		{ "count=SIZE_MAX", 0, SIZE_MAX },
		{ "count=SSIZE_MAX", 0, SSIZE_MAX },
		{ "count=SSIZE_MAX off=1", 1, SSIZE_MAX },
		{ "count=2^40", 0, 1ULL << 40 },
		{ "count=0x7ffff001 off=4097", 4097, 0x7ffff001 },
	};
	unsigned int i;
	off_t off;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		off = cases[i].off;
		send_file(OUT, cases[i].label, api_of(i), t, f, "f", &off,
			  cases[i].count);
	}
	seek_to(f->fd, 0);
	send_file(OUT, "null count=SIZE_MAX", T_SENDFILE, t, f, "f", NULL,
		  SIZE_MAX);
	send_file(OUT, "null count=2^40", T_SENDFILE64, t, f, "f", NULL,
		  1ULL << 40);
	if (lseek(f->fd, 1LL << 40, SEEK_SET) < 0)
		fprintf(OUT, "lseek 2^40: %s\n", t_errname(errno));
	send_file(OUT, "null pos=2^40", T_SENDFILE, t, f, "f", NULL, 10);
	seek_to(f->fd, 0);
}

static void err_pointers(struct conn *t, struct t_file *f)
{
	off_t off = 0;

	t_send(OUT, "off=(off_t *)8", T_SENDFILE, t->fd, t->name, f->fd, "f",
	       T_BAD_OFFP, 100);
	t_send(OUT, "off=(off_t *)8", T_SENDFILE64, t->fd, t->name, f->fd,
	       "f", T_BAD_OFFP, 100);
	t_send(OUT, "off=(off_t *)8 count0", T_SENDFILE, t->fd, t->name,
	       f->fd, "f", T_BAD_OFFP, 0);
	t_send(OUT, "off=(off_t *)8 in=-1", T_SENDFILE64, t->fd, t->name, -1,
	       "-1", T_BAD_OFFP, 100);
	off = -1;
	t_send(OUT, "off=-1 in=-1", T_SENDFILE, t->fd, t->name, -1, "-1",
	       &off, 100);
}

static void sc_errors(const struct scenario *sc)
{
	struct t_file f;
	struct conn t;

	t_sigpipe_count_install();
	t_file_create(&f, "err", 65537, 800);
	conn_open_tcp(&t, AF_INET);
	err_fds(&t, &f);
	err_offsets(&t, &f);
	err_pointers(&t, &f);
	fprintf(OUT, "sigpipe total=%u\n", t_sigpipe_seen());
	conn_finish(&t, "errors stream");
	t_file_close(&f);
}

/* ---- response helpers: headers and TCP_CORK, printed ------------------ */

/* A write-family call whose result both runs must print alike. */
static ssize_t put_hdr(struct conn *t, const char *label, int how,
		       const char *buf, size_t len)
{
	struct iovec v[2] = { { (void *)buf, len / 2 },
			      { (void *)(buf + len / 2), len - len / 2 } };
	ssize_t ret;

	switch (how) {
	case 0:
		ret = writev(t->fd, v, 2);
		break;
	case 1:
		ret = send(t->fd, buf, len, MSG_MORE);
		break;
	default:
		ret = write(t->fd, buf, len);
	}
	fprintf(OUT, "%s: %s -> %zd%s\n", label,
		how == 0 ? "writev" : how == 1 ? "send(MSG_MORE)" : "write",
		ret, ret < 0 ? strerror(errno) : "");
	if (ret > 0)
		t_digest_add(&t->want, buf, ret);
	return ret;
}

static void cork(struct conn *t, const char *label, int on)
{
	int got = -1;
	socklen_t len = sizeof(got);

	t_check(setsockopt(t->fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on)) ==
		0);
	t_check(getsockopt(t->fd, IPPROTO_TCP, TCP_CORK, &got, &len) == 0);
	fprintf(OUT, "%s: TCP_CORK %d reads back %d\n", label, on, got);
}

/* ---- badptr: offset pointers the kernel can read but not write ------- */

static void sc_badptr(const struct scenario *sc)
{
	long pg = sysconf(_SC_PAGESIZE);
	struct t_file f;
	struct t_call c;
	struct conn t;
	char *map, hdr[120];
	off_t *p;

	t_file_create(&f, "badptr", 65537, 900);
	conn_open_tcp(&t, AF_INET);
	map = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	t_check(map != MAP_FAILED);
	p = (off_t *)map;
	*p = 4097;
	t_check(mprotect(map, pg, PROT_READ) == 0);
	/* A guard page, not a hole: a later mmap (malloc's, the shim's file
	 * window) could land in a hole and make the pointer readable. */
	t_check(mprotect(map + pg, pg, PROT_NONE) == 0);
	seek_to(f.fd, 3);
	t_send(OUT, "off=read-only", T_SENDFILE, t.fd, t.name, f.fd, "f", p,
	       1000);
	t_send(OUT, "off=read-only", T_SENDFILE64, t.fd, t.name, f.fd, "f",
	       p, 1000);
	t_send(OUT, "off=unmapped", T_SENDFILE, t.fd, t.name, f.fd, "f",
	       T_BAD_OFFP, 1000);
	/* Half in the read-only page, half in the guard page after it. */
	c = (struct t_call){
		.api = T_SENDFILE64, .out_fd = t.fd, .in_fd = f.fd,
		.offp = (off_t *)(map + pg - 4), .offp_bad = true,
		.count = 1000,
	};
	t_call(&c);
	t_call_print(OUT, "off=straddling", t.name, "f", 0, &c);
	/* After corked headers, which the shim may hold: they still go. */
	memset(hdr, 'H', sizeof(hdr));
	cork(&t, "held", 1);
	put_hdr(&t, "held", 0, hdr, sizeof(hdr));
	t_send(OUT, "held off=read-only", T_SENDFILE, t.fd, t.name, f.fd,
	       "f", p, 1000);
	put_hdr(&t, "held", 0, hdr, sizeof(hdr));
	t_send(OUT, "held off=unmapped", T_SENDFILE64, t.fd, t.name, f.fd,
	       "f", T_BAD_OFFP, 1000);
	cork(&t, "held", 0);
	/* The untouched bytes: what the kernel sent despite the EFAULT. */
	close(t.fd);
	t_rx_join(&t.rx);
	fprintf(OUT, "badptr stream: received bytes=%llu hash=%016llx\n",
		(unsigned long long)t.rx.got.bytes,
		(unsigned long long)t.rx.got.hash);
	munmap(map, 2 * pg);
	t_file_close(&f);
}

/* ---- epipe / econnreset and SIGPIPE ------------------------------------ */

static void epipe_print(const char *label)
{
	fprintf(OUT, "%s: sigpipe=%u\n", label, t_sigpipe_seen());
}

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

static void wait_event(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	t_check(poll(&p, 1, 5000) == 1);
}

/* A manual peer: no receiver thread, the test closes it at will. */
static void peer_open(struct conn *t, int *peer)
{
	struct t_conn_opts o = { .family = AF_INET };

	t_check(t_tcp_pair(&o, &t->fd, peer) == 0);
	t->name = "tcp4";
	t_digest_init(&t->want);
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

static void sc_epipe(const struct scenario *sc)
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

/* ---- fdreuse: a descriptor number changes what it refers to ----------- */

/*
 * Each step puts another socket on descriptor number @n, through libc
 * (which the shim sees) or raw syscalls (which it does not), then sends.
 */
#define REUSE_STEPS 8

struct reuse {
	int n;
	struct t_file f;
	/* What @n referred to at each step; the receivers keep pointers. */
	struct conn conn[REUSE_STEPS];
	const char *label[REUSE_STEPS];
	unsigned int step;
};

static void reuse_put(struct reuse *r, bool tcp, bool raw, const char *label)
{
	struct conn *next = &r->conn[r->step];
	int sv[2];
	off_t off = 0;

	t_check(r->step < REUSE_STEPS);
	if (tcp) {
		conn_open_tcp(next, AF_INET);
	} else {
		t_check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				   sv) == 0);
		next->fd = sv[0];
		next->name = "unix";
		t_digest_init(&next->want);
		t_rx_start(&next->rx, sv[1], false);
	}
	if (raw) {
		t_check(syscall(SYS_dup3, next->fd, r->n, O_CLOEXEC) == r->n);
		t_check(syscall(SYS_close, next->fd) == 0);
	} else {
		t_check(dup2(next->fd, r->n) == r->n);
		close(next->fd);
	}
	next->fd = r->n;
	/* The socket @n referred to before is gone: its receiver sees EOF. */
	if (r->step) {
		r->conn[r->step - 1].fd = -1;
		conn_finish(&r->conn[r->step - 1], r->label[r->step - 1]);
	}
	r->label[r->step++] = label;
	send_file(OUT, label, api_of(r->step), next, &r->f, "f", &off,
		  tcp ? r->f.size : 4097);
}

static void sc_fdreuse(const struct scenario *sc)
{
	static struct reuse r;

	t_file_create(&r.f, "reuse", 65537, 1100);
	r.n = dup(0);
	t_check(r.n >= 0);
	reuse_put(&r, true, false, "n=tcp (dup2)");
	reuse_put(&r, false, true, "n=unix (raw dup3 over tcp)");
	reuse_put(&r, true, false, "n=tcp (dup2 over unix)");
	reuse_put(&r, false, false, "n=unix (dup2 over tcp)");
	reuse_put(&r, true, true, "n=tcp (raw dup3 over unix)");
	reuse_put(&r, true, true, "n=tcp (raw dup3 over tcp)");
	reuse_put(&r, false, true, "n=unix (raw dup3 over tcp)");
	conn_finish(&r.conn[r.step - 1], r.label[r.step - 1]);
	t_file_close(&r.f);
}

/* ---- cork: TCP_CORK and TCP_NODELAY around the calls ------------------ */

static void sc_cork(const struct scenario *sc)
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

static void sc_idioms(const struct scenario *sc)
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
	if (!held)
		put_hdr(&t, label, 0, hdr, sizeof(hdr));
	send_file(OUT, label, T_SENDFILE, &t, f, "f", &off, 100);
	epipe_print(label);
	put_hdr(&t, label, 2, hdr, 10);
	epipe_print(label);
	cork(&t, label, 0);
	close(t.fd);
}

static void sc_idioms_edge(const struct scenario *sc)
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

static void sc_udp(const struct scenario *sc)
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

/*
 * ---- offptr: where sendfile()'s offset pointer lives -------------------
 *
 * The shim lets the kernel check an offset pointer (a zero-length
 * sendfile) unless it lies on the calling thread's stack above the stack
 * pointer and the range is inside the file.  Corked responses whose offset
 * is on the stack, on the heap, on a coroutine's stack (makecontext), on a
 * signal handler's alternate stack, and ranges reaching past the end of
 * the file or starting there: the same transcript and stream either way.
 */
static struct {
	struct conn t;
	struct t_file f;
	char hdr[200];
	unsigned int round;
} op;

static void op_response(const char *where, off_t *offp, size_t count)
{
	char label[64];

	snprintf(label, sizeof(label), "%s%u", where, op.round);
	cork(&op.t, label, 1);
	put_hdr(&op.t, label, 0, op.hdr, 150 + op.round);
	send_file(OUT, label, api_of(op.round), &op.t, &op.f, "f", offp,
		  count);
	cork(&op.t, label, 0);
}

static void op_on_own_stack(void)
{
	off_t off = 100 * op.round + 1;

	op_response("coroutine", &off, 3000);
}

static void op_on_altstack(int sig)
{
	off_t off = 100 * op.round + 2;

	(void)sig;
	op_response("altstack", &off, 2000);
}

static void sc_offptr(const struct scenario *sc)
{
	size_t cstack = 256 << 10;
	ucontext_t main_ctx, co;
	struct sigaction sa = { .sa_handler = op_on_altstack,
				.sa_flags = SA_ONSTACK };
	stack_t alt = { .ss_size = cstack };
	off_t *heap = malloc(sizeof(*heap)), off;

	t_check(heap);
	t_meta_set("coalesce_min", "16");
	memset(op.hdr, 'H', sizeof(op.hdr));
	t_file_create(&op.f, "offptr", 40000, 1400);
	conn_open_tcp(&op.t, sc->family);
	alt.ss_sp = malloc(cstack);
	t_check(alt.ss_sp && sigaltstack(&alt, NULL) == 0);
	t_check(sigemptyset(&sa.sa_mask) == 0 &&
		sigaction(SIGUSR1, &sa, NULL) == 0);
	for (op.round = 0; op.round < 4; op.round++) {
		off = 100 * op.round;
		op_response("stack", &off, 4096);
		*heap = 100 * op.round + 3;
		op_response("heap", heap, 1000);
		t_check(getcontext(&co) == 0);
		co.uc_stack.ss_sp = malloc(cstack);
		co.uc_stack.ss_size = cstack;
		co.uc_link = &main_ctx;
		t_check(co.uc_stack.ss_sp);
		makecontext(&co, op_on_own_stack, 0);
		t_check(swapcontext(&main_ctx, &co) == 0);
		free(co.uc_stack.ss_sp);
		t_check(raise(SIGUSR1) == 0);
		off = 40000 - 1000 * op.round - 10;	/* past the end */
		op_response("past-eof", &off, 4096);
		off = 40000;				/* at the end: 0 */
		op_response("at-eof", &off, 100);
	}
	signal(SIGUSR1, SIG_DFL);
	alt.ss_flags = SS_DISABLE;
	t_check(sigaltstack(&alt, NULL) == 0);
	free(alt.ss_sp);
	free(heap);
	conn_finish(&op.t, "offptr");
	t_file_close(&op.f);
}

/* ---- notify: a completion must not cut another blocking call short --- */

struct resume_later {
	struct t_rx *rx;
	unsigned int ms;
	pthread_t thread;
};

static void *resume_main(void *arg)
{
	struct resume_later *r = arg;

	usleep(r->ms * 1000);
	t_rx_resume(r->rx);
	return NULL;
}

/*
 * A zero-copy send whose notification lands while the same thread blocks
 * in write(2) on another socket.  io_uring completions queued as ordinary
 * task work set TIF_NOTIFY_SIGNAL, and a blocking TCP write that already
 * queued bytes returns that partial count when signal_pending(): the shim
 * must not let its own completions do that.  A's small receive buffer is
 * filled first (without blocking: the send buffer may be small too), so
 * the zero-copy bytes wait in A's send queue and their notification comes
 * when A's receiver wakes, 150 ms in, during the write on B, whose
 * receiver wakes at 500 ms.  The receivers wake whatever blocks, so no
 * kernel's buffer sizes can hang this.
 */
static void sc_notify(const struct scenario *sc)
{
	struct t_conn_opts oa = { .family = sc->family, .sndbuf = T_MIB,
				  .rcvbuf = 64 * T_KIB };
	struct t_conn_opts ob = { .family = sc->family };
	struct resume_later ra = { .ms = 150 }, rb = { .ms = 500 };
	size_t fill = 128 * T_KIB, filled = 0, big = 16 * T_MIB;
	struct conn a, b;
	struct t_file f;
	off_t off = 0;
	ssize_t ret;
	char *buf;

	t_file_create(&f, "notify", 128 * T_KIB, 88);
	conn_open(&a, &oa, true, 0);
	conn_open(&b, &ob, true, 0);
	buf = malloc(big);
	t_check(buf);
	memset(buf, 'w', big);
	ra.rx = &a.rx;
	rb.rx = &b.rx;
	t_check(pthread_create(&ra.thread, NULL, resume_main, &ra) == 0);
	t_check(pthread_create(&rb.thread, NULL, resume_main, &rb) == 0);
	while (filled < fill) {
		ret = send(a.fd, buf, fill - filled, MSG_DONTWAIT);
		if (ret <= 0)
			break;
		t_digest_add(&a.want, buf, ret);
		filled += ret;
	}
	send_file(OUT, "notify zc", T_SENDFILE, &a, &f, "f", &off, f.size);
	ret = write(b.fd, buf, big);
	fprintf(OUT, "notify: blocking write(B, %zu) = %zd\n", big, ret);
	if (ret > 0)
		t_digest_add(&b.want, buf, ret);
	t_check(pthread_join(ra.thread, NULL) == 0);
	t_check(pthread_join(rb.thread, NULL) == 0);
	conn_finish(&a, "notify A");
	conn_finish(&b, "notify B");
	t_file_close(&f);
	free(buf);
}

/* ---- report: many 256 KiB sends on one socket (zero-copy verdict) ---- */

static void sc_report(const struct scenario *sc)
{
	char label[32];
	struct t_file f;
	struct conn t;
	unsigned int i;
	off_t off = 0;

	t_file_create(&f, "report", 10 * T_MIB + 3, 1300);
	conn_open_tcp(&t, sc->family);
	for (i = 0; i < 40; i++) {
		snprintf(label, sizeof(label), "send %u", i);
		send_file(OUT, label, api_of(i), &t, &f, "f", &off,
			  256 * T_KIB);
		/*
		 * Once the receiver has read it all, the kernel has freed
		 * the buffers and posted any zero-copy notification: the
		 * shim has what it needs to rule on the socket before the
		 * next call, however slowly the receiver hashes.
		 */
		t_rx_wait_for(&t.rx, t.want.bytes);
	}
	conn_finish(&t, "report stream");
	t_file_close(&f);
}

/* ---- special: regular files that are not plain disk files ------------- */

static void special_memfd(struct conn *t)
{
	struct t_file m;
	off_t off;

	m.size = 65537 + 5;
	m.data = malloc(m.size);
	t_check(m.data);
	t_fill(m.data, m.size, 1400);
	m.fd = memfd_create("sm_sender", MFD_CLOEXEC);
	t_check(m.fd >= 0);
	t_check(write(m.fd, m.data, m.size) == (ssize_t)m.size);
	seek_to(m.fd, 0);
	send_file(OUT, "memfd", T_SENDFILE, t, &m, "memfd", NULL, m.size);
	off = 4097;
	send_file(OUT, "memfd", T_SENDFILE64, t, &m, "memfd", &off, m.size);
	close(m.fd);
	free(m.data);
}

static void special_sparse(struct conn *t)
{
	struct t_file s;
	off_t off = 0;
	int fd;

	s.size = T_MIB + 17;
	s.data = calloc(1, s.size);
	t_check(s.data);
	t_fill(s.data + 4096, 4096, 1401);
	t_fill(s.data + 700000, 101, 1402);
	snprintf(s.path, sizeof(s.path), "%s/sparse", t_tmpdir());
	fd = open(s.path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	t_check(fd >= 0);
	t_check(ftruncate(fd, s.size) == 0);
	t_check(pwrite(fd, s.data + 4096, 4096, 4096) == 4096);
	t_check(pwrite(fd, s.data + 700000, 101, 700000) == 101);
	close(fd);
	s.fd = open(s.path, O_RDONLY | O_CLOEXEC);
	t_check(s.fd >= 0);
	send_file(OUT, "sparse", T_SENDFILE64, t, &s, "sparse", &off, s.size);
	t_file_close(&s);
}

static void special_flags(struct conn *t, struct t_file *f)
{
	struct t_file g = *f;
	off_t off = 0;

	g.fd = open(f->path, O_RDWR | O_APPEND | O_CLOEXEC);
	t_check(g.fd >= 0);
	send_file(OUT, "in=O_APPEND", T_SENDFILE, t, &g, "append", &off,
		  f->size);
	close(g.fd);
	g.fd = open(f->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	t_check(g.fd >= 0);
	send_file(OUT, "in=O_NONBLOCK", T_SENDFILE64, t, &g, "nonblock", NULL,
		  f->size);
	close(g.fd);
	g.fd = open(f->path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (g.fd < 0) {
		fprintf(OUT, "in=O_DIRECT: open %s\n", t_errname(errno));
		return;
	}
	off = 0;
	send_file(OUT, "in=O_DIRECT aligned", T_SENDFILE, t, &g, "direct",
		  &off, 65536);
	off = 4097;
	send_file(OUT, "in=O_DIRECT unaligned", T_SENDFILE64, t, &g, "direct",
		  &off, 100);
	close(g.fd);
}

static void sc_special(const struct scenario *sc)
{
	struct t_file f;
	struct conn t;

	t_file_create(&f, "special", 65537 * 2, 1403);
	conn_open_tcp(&t, AF_INET);
	special_memfd(&t);
	special_sparse(&t);
	special_flags(&t, &f);
	conn_finish(&t, "special stream");
	t_file_close(&f);
}

/* ---- probe-uring: can this process set up io_uring, with SEND_ZC? ----- */

static int probe_uring(void)
{
	struct io_uring_params p;
	struct io_uring_probe *pr;
	size_t len;
	int fd;

	memset(&p, 0, sizeof(p));
	fd = syscall(__NR_io_uring_setup, 4, &p);
	if (fd < 0) {
		printf("io_uring_setup: %s\n", t_errname(errno));
		return T_EXIT_PASS;
	}
	printf("io_uring_setup: ok\n");
	len = sizeof(*pr) + 256 * sizeof(struct io_uring_probe_op);
	pr = calloc(1, len);
	t_check(pr);
	if (syscall(__NR_io_uring_register, fd, IORING_REGISTER_PROBE, pr,
		    256) == 0 && pr->ops_len > IORING_OP_SEND_ZC &&
	    (pr->ops[IORING_OP_SEND_ZC].flags & IO_URING_OP_SUPPORTED))
		printf("send_zc: yes\n");
	else
		printf("send_zc: no\n");
	free(pr);
	close(fd);
	return T_EXIT_PASS;
}

/* ---- the table -------------------------------------------------------- */

static const struct scenario scenarios[] = {
	{ "sizes4", sc_sizes, AF_INET, "exact", NULL, "" },
	{ "sizes6", sc_sizes, AF_INET6, "exact", NULL, "v6" },
	{ "big4", sc_big, AF_INET, "exact", NULL, "big" },
	{ "nonblock4", sc_nonblock, AF_INET, "exact", NULL, "" },
	{ "nonblock6", sc_nonblock, AF_INET6, "exact", NULL, "v6" },
	{ "threads4", sc_threads, AF_INET, "exact", NULL, "" },
	{ "fork4", sc_fork, AF_INET, "exact", NULL, "fork" },
	{ "truncate", sc_truncate, AF_INET, "total", NULL, "" },
	{ "signal", sc_signal, AF_INET, "total", NULL, "" },
	{ "sndtimeo", sc_sndtimeo, AF_INET, "exact", "sndtimeo", "" },
	{ "ineligible", sc_ineligible, AF_INET, "exact", NULL, "" },
	{ "errors", sc_errors, AF_INET, "exact", NULL, "" },
	{ "badptr", sc_badptr, AF_INET, "none", NULL, "" },
	{ "epipe", sc_epipe, AF_INET, "exact", NULL, "" },
	{ "fdreuse", sc_fdreuse, AF_INET, "exact", NULL, "" },
	{ "cork", sc_cork, AF_INET, "exact", NULL, "" },
	{ "idioms4", sc_idioms, AF_INET, "coalesce", NULL, "" },
	{ "idioms6", sc_idioms, AF_INET6, "coalesce", NULL, "v6" },
	{ "idioms-edge", sc_idioms_edge, AF_INET, "coalesce", NULL, "" },
	{ "offptr", sc_offptr, AF_INET, "coalesce", NULL, "" },
	{ "udp", sc_udp, AF_INET, "exact", NULL, "" },
	{ "report", sc_report, AF_INET, "exact", NULL, "" },
	{ "notify", sc_notify, AF_INET, "exact", NULL, "" },
	{ "special", sc_special, AF_INET, "exact", NULL, "" },
};

static void usage(void)
{
	fprintf(stderr,
		"usage: sm_sender [--meta PATTERN] [--timeout SEC] SCENARIO\n"
		"       sm_sender --list | probe-uring\n"
		"PATTERN: where to write what the calls returned, %%p = pid\n");
	exit(T_EXIT_ERROR);
}

static const struct scenario *find(const char *name)
{
	unsigned int i;

	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		if (!strcmp(scenarios[i].name, name))
			return &scenarios[i];
	return NULL;
}

static void list(void)
{
	unsigned int i;

	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		printf("%s %s\n", scenarios[i].name,
		       scenarios[i].tags[0] ? scenarios[i].tags : "-");
}

int main(int argc, char **argv)
{
	const struct scenario *sc;
	unsigned int timeout = DEFAULT_TIMEOUT;
	const char *meta = NULL;
	int i;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--list")) {
			list();
			return T_EXIT_PASS;
		} else if (!strcmp(argv[i], "--meta") && i + 1 < argc) {
			meta = argv[++i];
		} else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			timeout = atoi(argv[++i]);
		} else {
			usage();
		}
	}
	if (i != argc - 1)
		usage();
	if (!strcmp(argv[i], "probe-uring"))
		return probe_uring();
	sc = find(argv[i]);
	if (!sc)
		usage();
	if (!t_family_available(sc->family))
		skip_family(sc->family);
	t_setup(timeout, meta);
	t_meta_set("scenario", sc->name);
	t_meta_set("accounting", sc->accounting);
	if (sc->native_reason)
		t_meta_set("native_reason", sc->native_reason);
	sc->run(sc);
	fflush(OUT);
	return t_result();
}
