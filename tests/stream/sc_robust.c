// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * sm_sender scenarios: never crash, never reorder, never drop.  Every
 * case sets up held bytes first (a corked TCP socket or MSG_MORE), then
 * does what once went wrong under the shim: a pointer the kernel answers
 * with EFAULT, a write through another descriptor of the same socket or
 * another process, an entry point that writes without being a write, a
 * send after shutdown.  The transcript and the stream must be native's.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sm_sender.h"
#include "../t_seccomp.h"

#define SM_ARRAY(a) (sizeof(a) / sizeof((a)[0]))
#define SM_NALLOW 8

/* Below vm.mmap_min_addr: nothing can ever be mapped there.  (Through a
 * volatile, so that the compiler does not see the constant.) */
static void *bad_ptr(void)
{
	static void *volatile bad = (void *)16;

	return bad;
}

static void print_ret(const char *label, const char *what, long ret)
{
	fprintf(OUT, "%s: %s -> %ld %s\n", label, what, ret,
		ret < 0 ? t_errname(errno) : "");
}

/* Held bytes on @t: corked, headers written and recorded. */
static void hold_some(struct conn *t, const char *label)
{
	cork(t, label, 1);
	put_hdr(t, label, 0, "HTTP/1.1 200 OK\r\n\r\n", 19);
}

/* ---- efault: bad pointers get EFAULT, not SIGSEGV --------------------- */

static sigjmp_buf segv_env;
static volatile sig_atomic_t segv_seen;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	segv_seen = si->si_addr == bad_ptr();
	siglongjmp(segv_env, 1);
}

/* The application's own SIGSEGV handler still gets its own faults. */
static void efault_app_handler(void)
{
	struct sigaction sa = { .sa_sigaction = on_segv,
				.sa_flags = SA_SIGINFO }, old;

	sigemptyset(&sa.sa_mask);
	t_check(sigaction(SIGSEGV, &sa, NULL) == 0);
	t_check(sigaction(SIGSEGV, NULL, &old) == 0);
	fprintf(OUT, "efault: sigaction reads back the handler: %s\n",
		old.sa_sigaction == on_segv ? "yes" : "no");
	if (!sigsetjmp(segv_env, 1))
		segv_seen = *(volatile char *)bad_ptr() + 2;
	fprintf(OUT, "efault: own fault reached own handler: %d\n",
		(int)segv_seen);
	sa.sa_handler = SIG_DFL;
	sa.sa_flags = 0;
	t_check(sigaction(SIGSEGV, &sa, NULL) == 0);
}

/* Every other interposed call with a pointer, on a socket with held bytes. */
static void efault_more_calls(struct conn *t)
{
	struct iovec iv = { bad_ptr(), 10 };
	socklen_t len = sizeof(int);
	struct sockaddr_in a;
	int v;

	print_ret("efault", "sendto(bad, NULL)",
		  sendto(t->fd, bad_ptr(), 10, MSG_MORE, NULL, 0));
	print_ret("efault", "sendto(buf, bad address)",
		  sendto(t->fd, "x", 1, 0, bad_ptr(), sizeof(a)));
	print_ret("efault", "sendmmsg(bad vector)",
		  sendmmsg(t->fd, bad_ptr(), 1, 0));
	print_ret("efault", "pwritev2(bad base)",
		  pwritev2(t->fd, &iv, 1, -1, 0));
	print_ret("efault", "pwritev2(bad array)",
		  pwritev2(t->fd, bad_ptr(), 1, -1, 0));
	print_ret("efault", "getsockopt(TCP_CORK, bad value)",
		  getsockopt(t->fd, IPPROTO_TCP, TCP_CORK, bad_ptr(), &len));
	print_ret("efault", "getsockopt(TCP_CORK, bad length)",
		  getsockopt(t->fd, IPPROTO_TCP, TCP_CORK, &v, bad_ptr()));
	print_ret("efault", "ioctl(SIOCOUTQ, bad)",
		  ioctl(t->fd, SIOCOUTQ, bad_ptr()));
	print_ret("efault", "fstat(bad)", fstat(t->fd, bad_ptr()));
	print_ret("efault", "socketpair(bad)",
		  socketpair(AF_UNIX, SOCK_STREAM, 0, bad_ptr()));
	/* (glibc's sigaction reads a bad act itself: a SIGSEGV natively) */
	print_ret("efault", "splice(bad offsets)",
		  splice(0, bad_ptr(), t->fd, bad_ptr(), 10, 0));
}

static void efault_calls(struct conn *t)
{
	struct iovec good_bad[2] = { { "abc", 3 }, { bad_ptr(), 10 } };
	struct iovec iv = { bad_ptr(), 10 };
	struct msghdr m = { .msg_iov = bad_ptr(), .msg_iovlen = 1 };

	hold_some(t, "efault");
	print_ret("efault", "write(bad)", write(t->fd, bad_ptr(), 10));
	print_ret("efault", "writev(bad array)",
		  writev(t->fd, bad_ptr(), 2));
	print_ret("efault", "writev(bad base)", writev(t->fd, &iv, 1));
	print_ret("efault", "writev(good, bad)",
		  writev(t->fd, good_bad, 2));
	print_ret("efault", "send(bad, MSG_MORE)",
		  send(t->fd, bad_ptr(), 10, MSG_MORE));
	print_ret("efault", "sendmsg(bad msghdr)",
		  sendmsg(t->fd, bad_ptr(), 0));
	print_ret("efault", "sendmsg(bad msg_iov)", sendmsg(t->fd, &m, 0));
	print_ret("efault", "setsockopt(TCP_CORK, bad)",
		  setsockopt(t->fd, IPPROTO_TCP, TCP_CORK, bad_ptr(), 4));
	efault_more_calls(t);
	/* (a bad ppoll/select timeout is glibc's own SIGSEGV: not here) */
	/* a socket that is not corked: the same answers */
	cork(t, "efault", 0);
	print_ret("efault", "sendmsg(bad msghdr), uncorked",
		  sendmsg(t->fd, bad_ptr(), 0));
	print_ret("efault", "send(bad, MSG_MORE), uncorked",
		  send(t->fd, bad_ptr(), 10, MSG_MORE));
}

void sc_efault(const struct scenario *sc)
{
	struct t_file f;
	struct conn t;
	off_t *odd;
	char *buf;

	t_file_create(&f, "efault", 9000, 1400);
	conn_open_tcp(&t, AF_INET);
	efault_calls(&t);
	/* an offset pointer the kernel reads fine: not aligned */
	buf = calloc(1, 2 * sizeof(off_t));
	t_check(buf != NULL);
	odd = (off_t *)(buf + 1);
	hold_some(&t, "efault-odd");
	send_file(OUT, "efault-odd", T_SENDFILE, &t, &f, "f", odd, 4000);
	cork(&t, "efault-odd", 0);
	free(buf);
	efault_app_handler();
	conn_finish(&t, "efault stream");
	t_file_close(&f);
}

/* ---- dup-order: every descriptor of a socket sees one order ----------- */

static void dup_case(struct conn *t, const char *label, int fd2,
		     struct t_file *f)
{
	struct conn alias = *t;
	off_t off = 0;

	alias.fd = fd2;
	hold_some(t, label);
	put_hdr(&alias, label, 2, "BODY-", 5);
	/* the aliases' bytes go to the same stream */
	t_digest_add(&t->want, "BODY-", 5);
	hold_some(t, label);
	send_file(OUT, label, T_SENDFILE, &alias, f, "f", &off, 3000);
	t_digest_add(&t->want, f->data, 3000);
	cork(t, label, 0);
	close(fd2);
}

/* The child's part: wait for the parent's go, then write. */
struct fork_child {
	int go, fd;
};

static int fork_child_run(void *p)
{
	struct fork_child *c = p;
	char ch;

	t_after_fork_child();
	if (read(c->go, &ch, 1) == 1 && write(c->fd, "CHILD-", 6) == 6)
		_exit(0);
	_exit(1);
}

enum fork_how { BY_FORK, BY_CLONE, BY_RAW_CLONE };
static const char *const fork_names[] = { "fork", "clone", "raw-clone" };

/*
 * A child that inherited the socket writes after the parent held bytes: a
 * glibc fork, glibc's clone() without CLONE_VM and a raw clone(2), which
 * run no fork handler, are each a copy of the process that must not send
 * the parent's held bytes again, nor let its own overtake them.
 */
static void dup_fork(struct conn *t, enum fork_how how)
{
	const char *label = fork_names[how];
	static char stack[64 * 1024] __attribute__((aligned(16)));
	struct fork_child c;
	int go[2], status;
	pid_t pid;

	t_check(pipe(go) == 0);
	c.go = go[0];
	c.fd = t->fd;
	cork(t, label, 1);
	if (how == BY_FORK)
		pid = fork();
	else if (how == BY_CLONE)
		pid = clone(fork_child_run, stack + sizeof(stack), SIGCHLD, &c);
	else
		pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	t_check(pid >= 0);
	if (!pid)
		fork_child_run(&c);
	put_hdr(t, label, 0, "PARENT-", 7);
	t_check(write(go[1], "g", 1) == 1);
	t_check(waitpid(pid, &status, 0) == pid);
	fprintf(OUT, "%s: child exit %d\n", label, WEXITSTATUS(status));
	t_digest_add(&t->want, "CHILD-", 6);
	cork(t, label, 0);
	close(go[0]);
	close(go[1]);
}

void sc_dup_order(const struct scenario *sc)
{
	struct t_file f;
	struct conn t;

	t_file_create(&f, "duporder", 5000, 1500);
	conn_open_tcp(&t, AF_INET);
	dup_case(&t, "dup", dup(t.fd), &f);
	dup_case(&t, "f_dupfd", fcntl(t.fd, F_DUPFD, 200), &f);
	dup_case(&t, "dup2", dup2(t.fd, 201), &f);
	conn_finish(&t, "dup-order stream");
	t_file_close(&f);
}

void sc_fork_order(const struct scenario *sc)
{
	enum fork_how how;
	struct conn t;

	for (how = BY_FORK; how <= BY_RAW_CLONE; how++) {
		conn_open_tcp(&t, AF_INET);
		hold_some(&t, "before");
		cork(&t, "before", 0);
		dup_fork(&t, how);
		/* the parent's own socket: shared since the fork, never held */
		hold_some(&t, "after");
		cork(&t, "after", 0);
		conn_finish(&t, "fork-order stream");
	}
}

/* ---- write-paths: every entry that writes keeps the order ------------- */

static void wp_sendto_addr(struct conn *t)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct msghdr m = { 0 };
	struct iovec v = { "MSGNAME-", 8 };

	t_check(getpeername(t->fd, (void *)&ss, &len) == 0);
	hold_some(t, "sendto-addr");
	print_ret("sendto-addr", "sendto(peer address)",
		  sendto(t->fd, "TO-", 3, 0, (void *)&ss, len));
	t_digest_add(&t->want, "TO-", 3);
	hold_some(t, "sendmsg-name");
	m.msg_name = &ss;
	m.msg_namelen = len;
	m.msg_iov = &v;
	m.msg_iovlen = 1;
	print_ret("sendmsg-name", "sendmsg(msg_name)", sendmsg(t->fd, &m, 0));
	t_digest_add(&t->want, "MSGNAME-", 8);
	cork(t, "write-paths", 0);
}

static void wp_other_entries(struct conn *t)
{
	struct iovec v = { "PWRITEV2-", 9 }, v1 = { "PWRITEV-", 8 };
	struct mmsghdr mm = { .msg_hdr = { .msg_iov = &v, .msg_iovlen = 1 } };
	struct iovec vm = { "SENDMMSG-", 9 };

	mm.msg_hdr.msg_iov = &vm;
	hold_some(t, "sendmmsg");
	print_ret("sendmmsg", "sendmmsg", sendmmsg(t->fd, &mm, 1, 0));
	t_digest_add(&t->want, "SENDMMSG-", 9);
	hold_some(t, "pwritev2");
	print_ret("pwritev2", "pwritev2(-1)", pwritev2(t->fd, &v, 1, -1, 0));
	t_digest_add(&t->want, "PWRITEV2-", 9);
	hold_some(t, "pwritev");
	print_ret("pwritev", "pwritev(0)", pwritev(t->fd, &v1, 1, 0));
	hold_some(t, "raw-write");
	print_ret("raw-write", "syscall(SYS_write)",
		  syscall(SYS_write, t->fd, "RAW-", 4));
	t_digest_add(&t->want, "RAW-", 4);
	cork(t, "write-paths", 0);
}

/* AF_UNIX: MSG_MORE holds, then a descriptor passed with SCM_RIGHTS. */
static void wp_unix_rights(void)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u = { 0 };
	struct iovec v = { "RIGHTS-", 7 };
	struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf) };
	struct t_digest want;
	struct t_rx rx = { 0 };
	int sv[2], one = 0;

	t_check(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	t_digest_init(&want);
	t_rx_start(&rx, sv[1], false);
	u.h.cmsg_level = SOL_SOCKET;
	u.h.cmsg_type = SCM_RIGHTS;
	u.h.cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(&u.h), &one, sizeof(int));
	print_ret("unix-rights", "send(MSG_MORE)",
		  send(sv[0], "MORE-", 5, MSG_MORE));
	t_digest_add(&want, "MORE-", 5);
	print_ret("unix-rights", "sendmsg(SCM_RIGHTS)", sendmsg(sv[0], &m, 0));
	t_digest_add(&want, "RIGHTS-", 7);
	close(sv[0]);
	t_rx_join(&rx);
	t_report_stream(OUT, "unix-rights stream", &rx.got, &want);
}

void sc_write_paths(const struct scenario *sc)
{
	struct conn t;

	conn_open_tcp(&t, AF_INET);
	wp_sendto_addr(&t);
	wp_other_entries(&t);
	conn_finish(&t, "write-paths stream");
	wp_unix_rights();
}

/* ---- shutdown: a send after SHUT_WR is EPIPE, never held and lost ------ */

/*
 * Shut before anything was held, as a server shuts a connection: the shim
 * only notes it (no hold yet), and a hold made later -- by the cork
 * (@cork_first), or through a later dup -- must hold nothing.
 */
static void shut_unheld(const char *label, bool cork_first)
{
	struct t_conn_opts acc = { .family = AF_INET, .accepted = true };
	char stream[64];
	struct conn t;
	int fd2;

	conn_open(&t, &acc, false, 0);
	t_check(shutdown(t.fd, SHUT_WR) == 0);
	if (cork_first) {
		cork(&t, label, 1);
		print_ret(label, "corked write", write(t.fd, "Y", 1));
		epipe_print(label);
	}
	fd2 = dup(t.fd);
	print_ret(label, "dup's send(MSG_MORE)", send(fd2, "X", 1, MSG_MORE));
	epipe_print(label);
	close(fd2);
	snprintf(stream, sizeof(stream), "%s stream", label);
	conn_finish(&t, stream);
}

void sc_shutdown(const struct scenario *sc)
{
	struct conn t;
	int fd2;

	t_sigpipe_count_install();
	conn_open_tcp(&t, AF_INET);
	hold_some(&t, "before");	/* shutdown sends it first */
	t_check(shutdown(t.fd, SHUT_WR) == 0);
	print_ret("shut", "send(MSG_MORE)", send(t.fd, "X", 1, MSG_MORE));
	epipe_print("shut");
	cork(&t, "shut", 1);
	print_ret("shut", "corked write", write(t.fd, "Y", 1));
	epipe_print("shut");
	print_ret("shut", "corked send(MSG_NOSIGNAL)",
		  send(t.fd, "Z", 1, MSG_NOSIGNAL));
	epipe_print("shut");
	conn_finish(&t, "shut stream");

	/* shut down through another descriptor of the same socket */
	conn_open_tcp(&t, AF_INET);
	fd2 = dup(t.fd);
	t_check(shutdown(fd2, SHUT_WR) == 0);
	print_ret("shut-dup", "send(MSG_MORE)", send(t.fd, "X", 1, MSG_MORE));
	epipe_print("shut-dup");
	close(fd2);
	conn_finish(&t, "shut-dup stream");
	shut_unheld("shut-first", true);
	shut_unheld("shut-then-dup", false);
}

/* ---- cancel: a cancel pending while the shim sends held bytes ---------- */

/*
 * sendfile(2) and setsockopt(2) are no cancellation points: a thread with
 * a cancel pending finishes either call, and is cancelled at its next
 * cancellation point.  Under the shim both send held headers, under the
 * socket's lock: a cancellation point in that send once unwound the thread
 * with the lock taken, and the next call on the socket waited forever.
 * The cancel is made pending at a barrier (no cancellation point either),
 * so that it is there when the call starts, in both runs.
 */
struct cancel_arg {
	struct conn *t;
	struct t_file *f;
	pthread_barrier_t go;
	bool uncork;		/* the call is the uncork, not sendfile */
	long ret;
	int err;
	bool returned;
};

static void *cancel_main(void *arg)
{
	struct cancel_arg *c = arg;
	int zero = 0;
	off_t off = 0;

	pthread_barrier_wait(&c->go);	/* main cancels us in between */
	pthread_barrier_wait(&c->go);
	c->ret = c->uncork ?
		 setsockopt(c->t->fd, IPPROTO_TCP, TCP_CORK, &zero,
			    sizeof(zero)) :
		 sendfile(c->t->fd, c->f->fd, &off, c->f->size);
	c->err = errno;
	c->returned = true;
	pthread_testcancel();
	return NULL;
}

static void cancel_case(const char *label, bool uncork)
{
	struct cancel_arg c = { .uncork = uncork };
	struct t_file f;
	struct conn t;
	pthread_t th;
	void *res;

	t_file_create(&f, "cancel", 4096, 77);
	conn_open_tcp(&t, AF_INET);
	c.t = &t;
	c.f = &f;
	hold_some(&t, label);
	t_check(pthread_barrier_init(&c.go, NULL, 2) == 0);
	t_check(pthread_create(&th, NULL, cancel_main, &c) == 0);
	pthread_barrier_wait(&c.go);
	t_check(pthread_cancel(th) == 0);
	pthread_barrier_wait(&c.go);
	t_check(pthread_join(th, &res) == 0);
	pthread_barrier_destroy(&c.go);
	fprintf(OUT, "%s: %s -> %ld %s, then cancelled: %s\n", label,
		uncork ? "setsockopt(TCP_CORK, 0)" : "sendfile",
		c.returned ? c.ret : -2L,
		c.returned && c.ret < 0 ? t_errname(c.err) : "",
		res == PTHREAD_CANCELED ? "yes" : "no");
	if (!uncork)
		want_file(&t.want, &f, 0, c.returned ? c.ret : 0);
	/* the socket's next call: it waited forever for the lock */
	cork(&t, label, 0);
	conn_finish(&t, label);
	t_file_close(&f);
}

void sc_cancel(const struct scenario *sc)
{
	(void)sc;
	cancel_case("cancel sendfile", false);
	cancel_case("cancel uncork", true);
}

/* ---- cork-state: the cork as the kernel and the application set it ---- */

void sc_cork_state(const struct scenario *sc)
{
	int on = 1, got = -1;
	socklen_t len = sizeof(got);
	struct conn t;

	conn_open_tcp(&t, AF_INET);
	put_hdr(&t, "raw", 1, "MORE-", 5);
	/* corked behind the library's back, then asked through it */
	t_check(syscall(SYS_setsockopt, t.fd, IPPROTO_TCP, TCP_CORK, &on,
			sizeof(on)) == 0);
	t_check(getsockopt(t.fd, IPPROTO_TCP, TCP_CORK, &got, &len) == 0);
	fprintf(OUT, "raw: TCP_CORK reads back %d\n", got);
	cork(&t, "raw", 0);
	conn_finish(&t, "cork-state stream");
}

/* ---- seccomp: after a filter, no system call the program did not make - */

static int listen_lo(struct sockaddr_in *a)
{
	socklen_t len = sizeof(*a);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	t_check(l >= 0);
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a->sin_port = 0;
	t_check(bind(l, (void *)a, sizeof(*a)) == 0);
	t_check(listen(l, 1) == 0);
	t_check(getsockname(l, (void *)a, &len) == 0);
	return l;
}

/* Allow exactly what the child calls once filtered; kill on anything else. */
static void install_filter(bool tsync)
{
	static const int allow[SM_NALLOW] = {
		SYS_write, SYS_writev, SYS_sendfile, SYS_setsockopt,
		SYS_close, SYS_exit, SYS_exit_group, SYS_rt_sigreturn
	};
	struct sock_filter f[5 + 2 * SM_NALLOW] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, T_AUDIT_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	};
	struct sock_fprog prog = { .len = SM_ARRAY(f), .filter = f };
	unsigned int i, n = 3;

	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
		offsetof(struct seccomp_data, nr));
	for (i = 0; i < SM_ARRAY(allow); i++) {
		f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ |
						      BPF_K, allow[i], 0, 1);
		f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
						      SECCOMP_RET_ALLOW);
	}
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
					      SECCOMP_RET_KILL_PROCESS);
	prog.len = n;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		_exit(3);
	if (tsync ? syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
			    SECCOMP_FILTER_FLAG_TSYNC, &prog) :
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		_exit(4);
}

/* The child: a response held before the filter, finished after it. */
static void seccomp_child(const struct sockaddr_in *a, struct t_file *f,
			  bool tsync, const char *hdr)
{
	struct iovec v = { (void *)hdr, strlen(hdr) };
	int fd, on = 1, off_v = 0;
	off_t off = 0;

	t_after_fork_child();
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (const void *)a, sizeof(*a)))
		_exit(2);
	if (setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on)) ||
	    writev(fd, &v, 1) != (ssize_t)v.iov_len)
		_exit(5);
	install_filter(tsync);
	if (writev(fd, &v, 1) != (ssize_t)v.iov_len ||
	    sendfile(fd, f->fd, &off, f->size) != (ssize_t)f->size ||
	    setsockopt(fd, IPPROTO_TCP, TCP_CORK, &off_v, sizeof(off_v)) ||
	    close(fd))
		_exit(6);
	_exit(0);
}

static void seccomp_case(const char *label, struct t_file *f, bool tsync)
{
	const char *hdr = "HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n";
	struct sockaddr_in a;
	struct t_digest want;
	struct t_rx rx = { 0 };
	int l, s, status;
	pid_t pid;

	l = listen_lo(&a);
	pid = fork();
	t_check(pid >= 0);
	if (!pid)
		seccomp_child(&a, f, tsync, hdr);
	s = accept(l, NULL, NULL);
	t_check(s >= 0);
	close(l);
	t_rx_start(&rx, s, false);
	t_rx_join(&rx);
	t_check(waitpid(pid, &status, 0) == pid);
	if (WIFSIGNALED(status))
		fprintf(OUT, "%s: child killed by signal %d\n", label,
			WTERMSIG(status));
	else
		fprintf(OUT, "%s: child exit %d\n", label,
			WEXITSTATUS(status));
	t_digest_init(&want);
	t_digest_add(&want, hdr, strlen(hdr));
	t_digest_add(&want, hdr, strlen(hdr));
	t_digest_add(&want, f->data, f->size);
	t_report_stream(OUT, label, &rx.got, &want);
}

void sc_seccomp(const struct scenario *sc)
{
	struct t_file f;
	struct conn t;

	t_file_create(&f, "seccomp", 3000, 1600);
	/* one held response of our own, so that the shim has stats */
	conn_open_tcp(&t, AF_INET);
	hold_some(&t, "own");
	send_file(OUT, "own", T_SENDFILE, &t, &f, "f", NULL, 3000);
	cork(&t, "own", 0);
	conn_finish(&t, "own stream");
	seccomp_case("seccomp-tsync", &f, true);
	seccomp_case("seccomp-prctl", &f, false);
	t_file_close(&f);
}

/* ---- file-changes: the application's own fstat, and its own changes --- */

/* One corked response whose body file this process changes after fstat. */
static void changed_case(struct conn *t, const char *label, int how)
{
	char path[4200], buf[9000];
	struct stat st;
	off_t off = 0;
	ssize_t ret;
	int fd, wfd;

	snprintf(path, sizeof(path), "%s/%s", t_tmpdir(), label);
	t_fill((unsigned char *)buf, sizeof(buf), how + 17);
	wfd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0644);
	t_check(wfd >= 0 && write(wfd, buf, 3000) == 3000);
	fd = open(path, O_RDONLY);
	t_check(fd >= 0 && fstat(fd, &st) == 0);
	hold_some(t, label);
	switch (how) {
	case 0:	/* grows: the next sendfile sends the new bytes too */
		t_check(write(wfd, buf + 3000, 4000) == 4000);
		break;
	case 1:	/* shrinks */
		t_check(ftruncate(wfd, 1000) == 0);
		break;
	default: /* grows through pwrite */
		t_check(pwrite(wfd, buf + 3000, 5000, 3000) == 5000);
	}
	ret = sendfile(t->fd, fd, &off, sizeof(buf));
	fprintf(OUT, "%s: sendfile -> %zd off=%lld\n", label, ret,
		(long long)off);
	if (ret > 0)
		t_digest_add(&t->want, buf, ret);
	cork(t, label, 0);
	close(fd);
	close(wfd);
}

void sc_file_changes(const struct scenario *sc)
{
	struct conn t;

	conn_open_tcp(&t, AF_INET);
	changed_case(&t, "grown", 0);
	changed_case(&t, "shrunk", 1);
	changed_case(&t, "pwritten", 2);
	conn_finish(&t, "file-changes stream");
}
