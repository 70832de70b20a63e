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

#include "sm_sender.h"

#define DEFAULT_TIMEOUT 60

enum t_api api_of(unsigned int i)
{
	return i & 1 ? T_SENDFILE64 : T_SENDFILE;
}

size_t min_sz(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* ---- a connection with its receiver and the stream it should get ---- */

void skip_family(int family)
{
	printf("skip: %s loopback unavailable\n", t_family_name(family));
	fflush(stdout);
	exit(T_EXIT_SKIP);
}

void conn_open(struct conn *t, const struct t_conn_opts *o, bool paused,
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

void conn_open_tcp(struct conn *t, int family)
{
	struct t_conn_opts o = { .family = family };

	conn_open(t, &o, false, 0);
}

/* Close our end (unless already gone), wait for EOF, compare. */
void conn_finish(struct conn *t, const char *label)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	t_rx_join(&t->rx);
	t_report_stream(OUT, label, &t->rx.got, &t->want);
}

/* Add the bytes a successful call sent from @f at @start to the stream. */
void want_file(struct t_digest *want, const struct t_file *f, off_t start,
	       ssize_t ret)
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
ssize_t send_file(FILE *out, const char *label, enum t_api api,
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

void seek_to(int fd, off_t pos)
{
	t_check(lseek(fd, pos, SEEK_SET) == pos);
}

/* ---- response helpers: headers and TCP_CORK, printed ------------------ */

/* A write-family call whose result both runs must print alike. */
ssize_t put_hdr(struct conn *t, const char *label, int how, const char *buf,
		size_t len)
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

void cork(struct conn *t, const char *label, int on)
{
	int got = -1;
	socklen_t len = sizeof(got);

	t_check(setsockopt(t->fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on)) ==
		0);
	t_check(getsockopt(t->fd, IPPROTO_TCP, TCP_CORK, &got, &len) == 0);
	fprintf(OUT, "%s: TCP_CORK %d reads back %d\n", label, on, got);
}

/* ---- waits and peers, for the nonblock, epipe and idioms families ---- */

void wait_writable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	t_check(poll(&p, 1, 10000) == 1);
}


void wait_event(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	t_check(poll(&p, 1, 5000) == 1);
}


void epipe_print(const char *label)
{
	fprintf(OUT, "%s: sigpipe=%u\n", label, t_sigpipe_seen());
}


/* A manual peer: no receiver thread, the test closes it at will. */
void peer_open(struct conn *t, int *peer)
{
	struct t_conn_opts o = { .family = AF_INET };

	t_check(t_tcp_pair(&o, &t->fd, peer) == 0);
	t->name = "tcp4";
	t_digest_init(&t->want);
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
	{ "loop4", sc_loop, AF_INET, "batch", NULL, "" },
	{ "offptr", sc_offptr, AF_INET, "coalesce", NULL, "" },
	{ "udp", sc_udp, AF_INET, "exact", NULL, "" },
	{ "report", sc_report, AF_INET, "exact", NULL, "" },
	{ "notify", sc_notify, AF_INET, "exact", NULL, "" },
	{ "special", sc_special, AF_INET, "exact", NULL, "" },
	{ "efault", sc_efault, AF_INET, "held", NULL, "" },
	{ "dup-order", sc_dup_order, AF_INET, "held", NULL, "" },
	{ "fork-order", sc_fork_order, AF_INET, "held", NULL, "fork" },
	{ "write-paths", sc_write_paths, AF_INET, "held", NULL, "" },
	{ "shutdown", sc_shutdown, AF_INET, "held", NULL, "" },
	{ "cork-state", sc_cork_state, AF_INET, "held", NULL, "" },
	{ "cancel", sc_cancel, AF_INET, "held", NULL, "" },
	{ "seccomp", sc_seccomp, AF_INET, "held", NULL, "fork" },
	{ "file-changes", sc_file_changes, AF_INET, "held", NULL, "" },
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
