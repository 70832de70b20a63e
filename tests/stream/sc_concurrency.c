// SPDX-License-Identifier: LGPL-2.1-or-later
/* sm_sender scenarios: threads, fork, and completions that must not cut
 * another blocking call short. */
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

void sc_threads(const struct scenario *sc)
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

void sc_fork(const struct scenario *sc)
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
void sc_notify(const struct scenario *sc)
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
