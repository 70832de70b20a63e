// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Response benchmark: N responses of (header + file body) over loopback TCP
 * (cubic, TCP_NODELAY) or AF_UNIX, the way a sendpage-era server sends
 * them.  `sm_resp MODE HDR BODY N [unix] [rr]` prints "mode=.. resp_per_s=.."
 * Streaming by default; `rr` waits for a 1-byte reply after each response
 * (request/response).  Run it under LD_PRELOAD for the shim's figures.
 *   writev    writev(header) + sendfile(body)
 *   cork      TCP_CORK on, writev(header), sendfile(body), TCP_CORK off
 *   more      send(header, MSG_MORE) + sendfile(body): the AF_UNIX idiom
 *   kmod      one SPLICEMSG_IOC_SEND with the header iovec and the range
 *   sendmsg   one sendmsg(2) of [header, mmap'd body]: the ceiling that
 *             coalescing aims at, without any of the shim's checks
 *   stage     the header copied into the module's mmap'd staging area,
 *             registered with io_uring: SEND_ZC from that fixed buffer
 *             (MSG_MORE) linked to a URING_CMD send of the range: the
 *             alternative to kmod's in-kernel header copy, measured
 *   reg       one io_uring_enter per response: REG_FILE of the header and
 *             the range into one registered buffer (Linux 7.3+), SEND_ZC
 *             of it, UNREG, hard-linked; waits for the send like sendfile,
 *             not for its notification.  REG_FILE runs inline where the
 *             pages are cached (SM_RESP_DIR=/dev/shm puts the file on
 *             tmpfs; default /tmp, the VM's overlayfs)
 * Run inside the VM by `scripts/bench --vm` (the module is loaded there);
 * run `writev` under LD_PRELOAD with SPLICEMSG_ENGINE=uring for "shim".
 * SM_RESP_NETNS=/proc/PID/ns/net SM_RESP_PEER=ADDR: the receiver listens
 * on ADDR in that network namespace (behind the VM's second NIC:
 * tests/bench/vm-nic.sh), not on loopback.  SM_RESP_RECV_CPU=N: the
 * receiver runs on CPU N (pin the sender with taskset).  Also printed: the
 * sender's CPU time (user + system, io-wq workers included) per MiB sent,
 * and both ends' CPU time per response (the receiver's whole life
 * included).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/splicemsg.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static void die(const char *what)
{
	perror(what);
	exit(99);
}

/* RUSAGE_SELF, or RUSAGE_CHILDREN for the reaped receiver */
static double cpu_seconds(int who)
{
	struct rusage u;

	getrusage(who, &u);
	return u.ru_utime.tv_sec + u.ru_stime.tv_sec +
	       (u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

/*
 * The listening socket: on loopback, or on SM_RESP_PEER inside the network
 * namespace SM_RESP_NETNS (a socket stays in the namespace it was made in).
 */
static int listener(struct sockaddr_in *a)
{
	const char *ns = getenv("SM_RESP_NETNS"), *peer = getenv("SM_RESP_PEER");
	socklen_t alen = sizeof(*a);
	int l, self = -1, there;

	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (ns && peer) {
		self = open("/proc/self/ns/net", O_RDONLY);
		there = open(ns, O_RDONLY);
		if (self < 0 || there < 0 || setns(there, CLONE_NEWNET) ||
		    inet_pton(AF_INET, peer, &a->sin_addr) != 1)
			die("SM_RESP_NETNS");
		close(there);
	}
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (bind(l, (void *)a, sizeof(*a)) || listen(l, 1) ||
	    getsockname(l, (void *)a, &alen))
		die("listen");
	if (self >= 0 && setns(self, CLONE_NEWNET))
		die("setns back");
	if (self >= 0)
		close(self);
	return l;
}

/*
 * The staging variant of one response: the header copied into a slot of
 * the mapped area, SEND_ZC of it (MSG_MORE) linked to the module's send of
 * the body, waiting for the body like sendfile would.  A slot is reused
 * only after its notification.
 */
#define STAGE_SLOTS 64
#define STAGE_SLOT 4096
static struct io_uring ring;
static char *stage;
static bool busy[STAGE_SLOTS];

/* Reap until slot @slot is free, or (@slot < 0) until the body's CQE. */
static void stage_reap(int slot, size_t hlen, size_t blen)
{
	struct io_uring_cqe *cqe;
	unsigned int s;

	while (slot < 0 || busy[slot]) {
		if (io_uring_wait_cqe(&ring, &cqe))
			die("io_uring_wait_cqe");
		s = (unsigned int)cqe->user_data;
		if (cqe->user_data >> 32 == 2) {
			if (cqe->res != (int)blen)
				fprintf(stderr, "body: %d\n", cqe->res),
				exit(99);
			io_uring_cqe_seen(&ring, cqe);
			return;
		}
		if (!(cqe->flags & IORING_CQE_F_NOTIF) &&
		    cqe->res != (int)hlen)
			fprintf(stderr, "header: %d\n", cqe->res), exit(99);
		if ((cqe->flags & IORING_CQE_F_NOTIF) ||
		    !(cqe->flags & IORING_CQE_F_MORE))
			busy[s] = false;
		io_uring_cqe_seen(&ring, cqe);
	}
}

static void stage_setup(int dev, size_t hlen)
{
	struct iovec v = { 0, STAGE_SLOTS * STAGE_SLOT };

	if (hlen > STAGE_SLOT || io_uring_queue_init(64, &ring, 0))
		die("stage: io_uring");
	stage = mmap(NULL, v.iov_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		     dev, 0);
	if (stage == MAP_FAILED)
		die("stage: mmap " SPLICEMSG_DEVICE);
	v.iov_base = stage;
	errno = -io_uring_register_buffers(&ring, &v, 1);
	if (errno)
		die("stage: IORING_REGISTER_BUFFERS");
}

static void stage_send(size_t i, int dev, int s, int f, const char *hdr,
		       size_t hlen, size_t blen)
{
	static struct splicemsg_send r;
	unsigned int slot = i % STAGE_SLOTS;
	char *h = stage + (size_t)slot * STAGE_SLOT;
	struct io_uring_sqe *sqe;

	stage_reap(slot, hlen, blen);
	memcpy(h, hdr, hlen);
	busy[slot] = true;
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_send_zc_fixed(sqe, s, h, hlen, MSG_MORE, 0, 0);
	sqe->flags |= IOSQE_IO_LINK;
	sqe->user_data = 1ULL << 32 | slot;
	r = (struct splicemsg_send){ .size = sizeof(r), .sock_fd = s,
				     .file_fd = f, .count = blen };
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, dev, NULL, 0, 0);
	sqe->cmd_op = SPLICEMSG_IOC_SEND;
	*(uint64_t *)sqe->cmd = (uintptr_t)&r;
	sqe->flags |= IOSQE_ASYNC;	/* required: the send may block */
	sqe->user_data = 2ULL << 32;
	io_uring_submit(&ring);
	stage_reap(-1, hlen, blen);
}

/* The registered-buffer variant of one response (see the top). */
static void reg_send(int dev, int s, int f, const char *hdr, size_t hlen,
		     size_t blen)
{
	static struct splicemsg_iovec h;
	static struct splicemsg_reg r, u;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	static bool ready;
	int results = 0;

	if (!ready && (io_uring_queue_init(64, &ring, 0) ||
		       io_uring_register_buffers_sparse(&ring, 1)))
		die("reg: io_uring");
	ready = true;
	h = (struct splicemsg_iovec){ .base = (uintptr_t)hdr, .len = hlen };
	r = (struct splicemsg_reg){ .size = sizeof(r), .file_fd = f,
				    .len = blen, .iov = (uintptr_t)&h,
				    .iov_cnt = 1 };
	u = (struct splicemsg_reg){ .size = sizeof(u) };
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, dev, NULL, 0, 0);
	sqe->cmd_op = SPLICEMSG_IOC_REG_FILE;
	*(uint64_t *)sqe->cmd = (uintptr_t)&r;
	sqe->flags |= IOSQE_IO_HARDLINK;
	sqe->user_data = 1;
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_send_zc_fixed(sqe, s, NULL, hlen + blen, MSG_WAITALL,
				    0, 0);
	sqe->flags |= IOSQE_IO_HARDLINK;
	sqe->user_data = 2;
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, dev, NULL, 0, 0);
	sqe->cmd_op = SPLICEMSG_IOC_UNREG;
	*(uint64_t *)sqe->cmd = (uintptr_t)&u;
	sqe->user_data = 3;
	io_uring_submit(&ring);
	/* three results; notifications are only counted out */
	while (results < 3) {
		if (io_uring_wait_cqe(&ring, &cqe))
			die("io_uring_wait_cqe");
		if (!(cqe->flags & IORING_CQE_F_NOTIF)) {
			results++;
			if (cqe->res < 0 || (cqe->user_data != 3 &&
					     cqe->res != (int)(hlen + blen)))
				fprintf(stderr, "reg %llu: %d\n",
					(unsigned long long)cqe->user_data,
					cqe->res), exit(99);
		}
		io_uring_cqe_seen(&ring, cqe);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	size_t hlen, blen, n, i, total;
	const char *where = getenv("SM_RESP_DIR");
	char tmpl[256], *hdr, *buf;
	int l = -1, s, c, f, dev = -1, one = 1, zero = 0, sv[2];
	bool af_unix = false, rr = false;
	const char *mode;
	double t0, t1, c0, c1;
	pid_t pid;

	if (argc < 5)
		return fprintf(stderr, "usage: sm_resp MODE HDR BODY N "
			       "[unix] [rr]\n"), 2;
	for (i = 5; i < (size_t)argc; i++) {
		if (!strcmp(argv[i], "unix"))
			af_unix = true;
		else if (!strcmp(argv[i], "rr"))
			rr = true;
		else
			return fprintf(stderr, "sm_resp: %s?\n", argv[i]), 2;
	}
	mode = argv[1];
	hlen = strtoul(argv[2], NULL, 0);
	blen = strtoul(argv[3], NULL, 0);
	n = strtoul(argv[4], NULL, 0);
	hdr = malloc(hlen + 1);
	buf = malloc(blen + 1);
	memset(hdr, 'h', hlen);
	memset(buf, 'b', blen);
	snprintf(tmpl, sizeof(tmpl), "%s/sm_resp.XXXXXX",
		 where ? where : "/tmp");
	f = mkstemp(tmpl);
	if (f < 0 || write(f, buf, blen) != (ssize_t)blen)
		die("file");
	unlink(tmpl);
	if ((!strcmp(mode, "kmod") || !strcmp(mode, "stage") ||
	     !strcmp(mode, "reg")) &&
	    (dev = open(SPLICEMSG_DEVICE, O_RDWR)) < 0)
		die(SPLICEMSG_DEVICE);
	if (!strcmp(mode, "stage"))
		stage_setup(dev, hlen);

	if (af_unix) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
			die("socketpair");
	} else {
		l = listener(&a);
	}
	total = n * (hlen + blen);
	pid = fork();
	if (!pid) {		/* receiver: read all, then ack one byte */
		static char rb[1 << 18];
		size_t got = 0, next = hlen + blen;
		ssize_t k = 1;
		const char *cpu = getenv("SM_RESP_RECV_CPU");

		if (cpu) {
			cpu_set_t set;

			CPU_ZERO(&set);
			CPU_SET(atoi(cpu), &set);
			if (sched_setaffinity(0, sizeof(set), &set))
				die("SM_RESP_RECV_CPU");
		}

		c = af_unix ? sv[1] : accept(l, NULL, NULL);
		/* replies must not wait for Nagle or a delayed ACK */
		if (!af_unix)
			setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one,
				   sizeof(one));
		while (got < total && k > 0) {
			size_t want = sizeof(rb);

			if (rr && want > next - got)
				want = next - got;	/* one response */
			k = read(c, rb, want);
			if (k > 0)
				got += k;
			if (rr && got == next && got < total) {
				k = write(c, "r", 1);
				next += hlen + blen;
			}
		}
		k = write(c, "k", 1);
		_exit(got == total && k == 1 ? 0 : 1);
	}
	if (af_unix) {
		s = sv[0];
		close(sv[1]);
	} else {
		s = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(s, IPPROTO_TCP, TCP_CONGESTION, "cubic", 5);
		setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(s, (void *)&a, sizeof(a)))
			die("connect");
	}
	t0 = now();
	c0 = cpu_seconds(RUSAGE_SELF);
	for (i = 0; i < n; i++) {
		struct iovec v = { hdr, hlen };
		off_t off = 0;
		char reply;

		if (rr && i && read(s, &reply, 1) != 1)	/* the last reply */
			die("reply");
		if (!strcmp(mode, "more")) {
			if (send(s, hdr, hlen, MSG_MORE) != (ssize_t)hlen ||
			    sendfile(s, f, &off, blen) != (ssize_t)blen)
				die("send/sendfile");
			continue;
		}

		if (!strcmp(mode, "sendmsg")) {
			static const char *body;
			struct iovec iv[2] = { { hdr, hlen }, { 0, blen } };
			struct msghdr m = { .msg_iov = iv, .msg_iovlen = 2 };

			if (!body)
				body = mmap(NULL, blen, PROT_READ, MAP_SHARED,
					    f, 0);
			iv[1].iov_base = (void *)body;
			if (body == MAP_FAILED ||
			    sendmsg(s, &m, 0) != (ssize_t)(hlen + blen))
				die("sendmsg");
			continue;
		}
		if (!strcmp(mode, "uring")) {	/* io_uring's ceiling */
			static const char *body;
			struct iovec iv[2] = { { hdr, hlen }, { 0, blen } };
			struct msghdr m = { .msg_iov = iv, .msg_iovlen = 2 };
			struct io_uring_cqe *cqe;

			if (!body) {
				body = mmap(NULL, blen, PROT_READ, MAP_SHARED,
					    f, 0);
				io_uring_queue_init(8, &ring, 0);
			}
			iv[1].iov_base = (void *)body;
			io_uring_prep_sendmsg(io_uring_get_sqe(&ring), s, &m,
					      MSG_WAITALL);
			io_uring_submit_and_wait(&ring, 1);
			if (io_uring_peek_cqe(&ring, &cqe) ||
			    cqe->res != (int)(hlen + blen))
				die("uring sendmsg");
			io_uring_cqe_seen(&ring, cqe);
			continue;
		}
		if (!strcmp(mode, "stage")) {
			stage_send(i, dev, s, f, hdr, hlen, blen);
			continue;
		}
		if (!strcmp(mode, "reg")) {
			reg_send(dev, s, f, hdr, hlen, blen);
			continue;
		}
		if (!strcmp(mode, "kmod")) {
			struct splicemsg_iovec h = {
				.base = (uintptr_t)hdr, .len = hlen };
			struct splicemsg_send r = {
				.size = sizeof(r), .sock_fd = s, .file_fd = f,
				.count = blen, .hdr_iov = (uintptr_t)&h,
				.hdr_cnt = 1 };

			if (ioctl(dev, SPLICEMSG_IOC_SEND, &r) !=
			    (long)(hlen + blen))
				die("SPLICEMSG_IOC_SEND");
			continue;
		}
		if (!strcmp(mode, "cork"))
			setsockopt(s, IPPROTO_TCP, TCP_CORK, &one, sizeof(one));
		if (writev(s, &v, 1) != (ssize_t)hlen ||
		    sendfile(s, f, &off, blen) != (ssize_t)blen)
			die("writev/sendfile");
		if (!strcmp(mode, "cork"))
			setsockopt(s, IPPROTO_TCP, TCP_CORK, &zero,
				   sizeof(zero));
	}
	if (read(s, hdr, 1) != 1)
		die("ack");
	t1 = now();
	c1 = cpu_seconds(RUSAGE_SELF);
	waitpid(pid, &c, 0);
	printf("mode=%s hdr=%zu body=%zu n=%zu seconds=%.4f resp_per_s=%.0f "
	       "gbps=%.3f cpu_ms_per_mib=%.3f cpu_us_per_resp=%.3f ok=%d\n",
	       mode, hlen, blen, n, t1 - t0, n / (t1 - t0),
	       total / (t1 - t0) / 1e9, (c1 - c0) * 1e3 / (total / 1048576.0),
	       (c1 - c0 + cpu_seconds(RUSAGE_CHILDREN)) * 1e6 / n,
	       WIFEXITED(c) && !WEXITSTATUS(c));
	return WIFEXITED(c) && !WEXITSTATUS(c) ? 0 : 1;
}
