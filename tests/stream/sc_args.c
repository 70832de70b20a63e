// SPDX-License-Identifier: LGPL-2.1-or-later
/* sm_sender scenarios: what the real call must answer: ineligible descriptors,
 * bad arguments, offset pointers, reused descriptor numbers, special files. */
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

void sc_ineligible(const struct scenario *sc)
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

void sc_errors(const struct scenario *sc)
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

/* ---- badptr: offset pointers the kernel can read but not write ------- */

void sc_badptr(const struct scenario *sc)
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

void sc_fdreuse(const struct scenario *sc)
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

void sc_offptr(const struct scenario *sc)
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

void sc_special(const struct scenario *sc)
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
