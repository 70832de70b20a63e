// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * splicemsg.ko tests, run inside the VM (scripts/vm-test): every validation
 * error, each transport (TCP v4/v6, AF_UNIX, UDP), header/trailer layouts,
 * offsets and EOF, non-blocking partial sends, io_uring URING_CMD, signals,
 * SIGPIPE, concurrency, counters, the mappable staging area (registered
 * with io_uring, sent from by SEND_ZC), and a page-reference leak check.
 * Prints "PASS name" / "FAIL name: why" / "SKIP name: why"; exits 0 or 1.
 * `t_kmod smoke` runs a quick subset (after rmmod/insmod cycles).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <liburing.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <uapi/linux/splicemsg.h>

static int dev = -1;
static int failures;
static char dir[] = "/tmp/t_kmod.XXXXXX";

static void result(bool ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		printf("PASS %s\n", name);
	} else {
		printf("FAIL %s: ", name);
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
		printf("\n");
		failures++;
	}
	fflush(stdout);
}

/* ---- fixtures ------------------------------------------------------------ */

static uint8_t pattern(uint64_t i)
{
	return (uint8_t)(i * 2654435761u >> 13);
}

static int make_file(const char *name, size_t size, char *path)
{
	static __thread uint8_t buf[1 << 16];
	size_t i, off = 0;
	int fd;

	snprintf(path, 256, "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	while (off < size) {
		size_t n = size - off < sizeof(buf) ? size - off : sizeof(buf);

		for (i = 0; i < n; i++)
			buf[i] = pattern(off + i);
		if (write(fd, buf, n) != (ssize_t)n)
			return -1;
		off += n;
	}
	return fd;
}

/* Connected pair of the given kind: AF_INET/AF_INET6 TCP or UDP, AF_UNIX. */
static int sock_pair(int family, int type, int *peer)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int l, c, sv[2];

	if (family == AF_UNIX) {
		if (socketpair(AF_UNIX, type, 0, sv) < 0)
			return -1;
		*peer = sv[1];
		return sv[0];
	}
	if (family == AF_INET) {
		struct sockaddr_in *a = (void *)&ss;

		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (void *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		len = sizeof(*a);
	}
	l = socket(family, type, 0);
	if (l < 0 || bind(l, (void *)&ss, len) < 0)
		return -1;
	getsockname(l, (void *)&ss, &len);
	if (type == SOCK_DGRAM) {
		c = socket(family, type, 0);
		if (connect(c, (void *)&ss, len) < 0)
			return -1;
		*peer = l;
		return c;
	}
	listen(l, 1);
	c = socket(family, type, 0);
	if (connect(c, (void *)&ss, len) < 0)
		return -1;
	*peer = accept(l, NULL, NULL);
	close(l);
	return c;
}

struct rx {
	int fd;
	uint8_t *buf;
	size_t cap, len;
	pthread_t th;
};

static void *rx_main(void *arg)
{
	struct rx *r = arg;
	ssize_t n;

	while (r->len < r->cap &&
	       (n = read(r->fd, r->buf + r->len, r->cap - r->len)) > 0)
		r->len += n;
	return NULL;
}

static void rx_start(struct rx *r, int fd, size_t cap)
{
	r->fd = fd;
	r->cap = cap;
	r->len = 0;
	r->buf = malloc(cap ? cap : 1);
	pthread_create(&r->th, NULL, rx_main, r);
}

static void rx_finish(struct rx *r)
{
	pthread_join(r->th, NULL);
}

static long sm_ioctl_send(struct splicemsg_send *req)
{
	long ret = ioctl(dev, SPLICEMSG_IOC_SEND, req);

	return ret < 0 ? -errno : ret;
}

static struct io_uring ring;
static bool ring_ok;

static long sm_uring_send(struct splicemsg_send *req)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	struct io_uring_cqe *cqe;
	long ret;

	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, dev, NULL, 0, 0);
	sqe->cmd_op = SPLICEMSG_IOC_SEND;
	*(uint64_t *)sqe->cmd = (uintptr_t)req;
	sqe->flags |= IOSQE_ASYNC;	/* required: the send may block */
	io_uring_submit(&ring);
	if (io_uring_wait_cqe(&ring, &cqe))
		return -EIO;
	ret = cqe->res;
	io_uring_cqe_seen(&ring, cqe);
	return ret;
}

static void req_init(struct splicemsg_send *r, int sock, int file,
		     uint64_t off, uint64_t count)
{
	memset(r, 0, sizeof(*r));
	r->size = sizeof(*r);
	r->sock_fd = sock;
	r->file_fd = file;
	r->offset = off;
	r->count = count;
}

/* ---- OFFPTR: sendfile(2)'s offset argument ------------------------------- */

/* The struct's offset field after the last offptr_send(). */
static uint64_t offptr_field;

/* Send @count bytes of @f with OFFPTR at @off (0: the file position). */
static long offptr_send(int f, uint64_t off, size_t count, size_t *got,
			uint64_t *sent, int *first_bad)
{
	struct splicemsg_send r;
	int s, peer;
	struct rx rx;
	long ret;
	size_t i;

	s = sock_pair(AF_INET, SOCK_STREAM, &peer);
	rx_start(&rx, peer, count + 1);
	req_init(&r, s, f, off, count);
	r.flags = SPLICEMSG_SEND_OFFPTR;
	ret = sm_ioctl_send(&r);
	shutdown(s, SHUT_WR);
	rx_finish(&rx);
	*got = rx.len;
	*sent = r.sent;
	offptr_field = r.offset;
	*first_bad = -1;
	for (i = 0; i < rx.len; i++)
		if (rx.buf[i] != pattern(i + 100)) {
			*first_bad = (int)i;
			break;
		}
	free(rx.buf);
	close(s);
	close(peer);
	return ret;
}

static void test_offptr(void)
{
	struct splicemsg_version v = { .size = sizeof(v) };
	long pg = sysconf(_SC_PAGESIZE);
	char path[256];
	loff_t *ro, pos = 100;
	uint64_t sent;
	size_t got;
	int f, bad, d;
	long ret;
	char *map;

	ioctl(dev, SPLICEMSG_IOC_VERSION, &v);
	result(v.features & SPLICEMSG_FEAT_OFFPTR, "offptr_feature",
	       "features %#llx", (unsigned long long)v.features);
	f = make_file("offptr", 9000, path);
	ret = offptr_send(f, (uintptr_t)&pos, 5000, &got, &sent, &bad);
	result(ret == 5000 && got == 5000 && bad < 0 && pos == 5100 &&
	       lseek(f, 0, SEEK_CUR) == 9000, "offptr_pointer",
	       "ret %ld got %zu bad %d pos %lld", ret, got, bad,
	       (long long)pos);
	result(offptr_field == (uintptr_t)&pos, "offptr_field_kept",
	       "offset field %#llx after the send, the pointer was %p",
	       (unsigned long long)offptr_field, (void *)&pos);
	lseek(f, 100, SEEK_SET);
	ret = offptr_send(f, 0, 20000, &got, &sent, &bad);
	result(ret == 8900 && got == 8900 && bad < 0 &&
	       lseek(f, 0, SEEK_CUR) == 9000, "offptr_file_position",
	       "ret %ld got %zu bad %d f_pos %lld", ret, got, bad,
	       (long long)lseek(f, 0, SEEK_CUR));

	map = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ro = (loff_t *)map;
	*ro = 100;
	mprotect(map, pg, PROT_READ);
	mprotect(map + pg, pg, PROT_NONE);
	ret = offptr_send(f, (uintptr_t)(map + pg), 1000, &got, &sent, &bad);
	result(ret == -EFAULT && got == 0 && sent == 0, "offptr_unreadable",
	       "ret %ld got %zu", ret, got);
	/* sendfile(2): the bytes go, the write-back fails, EFAULT */
	ret = offptr_send(f, (uintptr_t)ro, 1000, &got, &sent, &bad);
	result(ret == -EFAULT && got == 1000 && sent == 1000 && bad < 0 &&
	       *ro == 100, "offptr_readonly", "ret %ld got %zu sent %llu",
	       ret, got, (unsigned long long)sent);
	munmap(map, 2 * pg);

	/* past the filesystem's s_maxbytes (EOVERFLOW) or at EOF (0) */
	{
		off_t npos = LLONG_MAX - 10;
		int s2, p2;
		long want;

		s2 = sock_pair(AF_INET, SOCK_STREAM, &p2);
		want = sendfile(s2, f, &npos, 5);
		want = want < 0 ? -errno : want;
		close(s2);
		close(p2);
		pos = LLONG_MAX - 10;
		ret = offptr_send(f, (uintptr_t)&pos, 5, &got, &sent, &bad);
		result(ret == want && got == 0, "offptr_past_maxbytes",
		       "ret %ld, sendfile(2) %ld", ret, want);
	}
	d = open(path, O_RDONLY | O_DIRECT);
	if (d < 0) {
		printf("SKIP offptr_o_direct: %s\n", strerror(errno));
	} else {
		pos = 0;
		ret = offptr_send(d, (uintptr_t)&pos, 4096, &got, &sent,
				  &bad);
		result(ret == -EOPNOTSUPP && got == 0 && pos == 0,
		       "offptr_o_direct", "ret %ld got %zu", ret, got);
		close(d);
	}
	close(f);
}

/* ---- staging area ---------------------------------------------------------- */

static uint64_t stage_pages(void)
{
	struct splicemsg_stats st = { .size = sizeof(st) };

	return ioctl(dev, SPLICEMSG_IOC_STATS, &st) ? ~0ULL : st.stage_pages;
}

static void expect_mmap(const char *name, int fd, size_t len, int flags,
			off_t off, int err)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, off);
	int e = p == MAP_FAILED ? errno : 0;

	if (p != MAP_FAILED)
		munmap(p, len);
	result(e == err, name, "mmap: %s, want %s", strerror(e),
	       strerror(err));
}

/* Header bytes staged in the mapped area, sent by SEND_ZC from it. */
static void stage_send_zc(uint8_t *area, size_t len)
{
	struct io_uring_cqe *cqe;
	struct iovec iov = { area, len };
	struct io_uring_sqe *sqe;
	int s, peer, ret, res = 0, notif = 0, i;
	struct rx r;

	ret = io_uring_register_buffers(&ring, &iov, 1);
	result(ret == 0, "stage_register",
	       "IORING_REGISTER_BUFFERS: %s", strerror(-ret));
	if (ret)
		return;
	for (i = 0; i < 3000; i++)
		area[i] = pattern(i + 7);
	s = sock_pair(AF_INET, SOCK_STREAM, &peer);
	rx_start(&r, peer, 3000);
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_send_zc_fixed(sqe, s, area, 3000, 0, 0, 0);
	io_uring_submit(&ring);
	/* the result, then (IORING_CQE_F_MORE) the notification */
	for (i = 0; i < 2 && !io_uring_wait_cqe(&ring, &cqe); i++) {
		if (cqe->flags & IORING_CQE_F_NOTIF)
			notif++;
		else
			res = cqe->res;
		ret = !(cqe->flags & IORING_CQE_F_MORE);
		io_uring_cqe_seen(&ring, cqe);
		if (ret)
			break;
	}
	close(s);
	rx_finish(&r);
	for (i = 0; i < 3000 && r.len == 3000; i++)
		if (r.buf[i] != pattern(i + 7))
			break;
	result(res == 3000 && notif == 1 && i == 3000, "stage_send_zc",
	       "res %d notif %d received %zu matched %d", res, notif, r.len,
	       i);
	free(r.buf);
	close(peer);
	io_uring_unregister_buffers(&ring);
}

static void test_stage(void)
{
	struct splicemsg_version v = { .size = sizeof(v) };
	uint64_t before = stage_pages();
	size_t len = 16 * 4096, i;
	uint8_t *area;
	int fd, fds[80], n, areas;

	ioctl(dev, SPLICEMSG_IOC_VERSION, &v);
	result((v.features & SPLICEMSG_FEAT_STAGE) && v.max_stage >= len,
	       "stage_feature", "features %#llx max_stage %u",
	       (unsigned long long)v.features, v.max_stage);
	fd = open(SPLICEMSG_DEVICE, O_RDWR);
	expect_mmap("stage_private", fd, len, MAP_PRIVATE, 0, EINVAL);
	expect_mmap("stage_offset", fd, len, MAP_SHARED, 4096, EINVAL);
	expect_mmap("stage_too_big", fd, v.max_stage + 4096UL, MAP_SHARED, 0,
		    EINVAL);
	area = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	result(area != MAP_FAILED, "stage_mmap", "%s", strerror(errno));
	if (area == MAP_FAILED) {
		close(fd);
		return;
	}
	for (i = 0; i < len && !area[i]; i++)
		;
	result(i == len, "stage_zeroed", "nonzero byte at %zu", i);
	result(stage_pages() == before + 16, "stage_counted",
	       "stage_pages %llu -> %llu", (unsigned long long)before,
	       (unsigned long long)stage_pages());
	expect_mmap("stage_once", fd, len, MAP_SHARED, 0, EBUSY);
	if (ring_ok)
		stage_send_zc(area, len);
	munmap(area, len);
	close(fd);
	result(stage_pages() == before, "stage_released",
	       "stage_pages %llu, was %llu",
	       (unsigned long long)stage_pages(), (unsigned long long)before);

	/* the global budget: 64 MiB, so the 65th full area is refused */
	for (n = 0; n < 80; n++) {
		fds[n] = open(SPLICEMSG_DEVICE, O_RDWR);
		area = mmap(NULL, v.max_stage, PROT_READ | PROT_WRITE,
			    MAP_SHARED, fds[n], 0);
		if (area == MAP_FAILED)
			break;
		munmap(area, v.max_stage);
	}
	i = area == MAP_FAILED ? errno : 0;
	for (areas = 0; areas <= n && areas < 80; areas++)
		close(fds[areas]);
	result(i == ENOMEM && n == 64 && stage_pages() == before,
	       "stage_budget", "refused after %d areas: %s", n,
	       strerror((int)i));
}

/* ---- validation ------------------------------------------------------------ */

static void expect_err(const char *name, struct splicemsg_send *r, int err)
{
	long ret = sm_ioctl_send(r);

	result(ret == -err, name, "got %ld (%s), want -%d", ret,
	       ret < 0 ? strerror(-ret) : "ok", err);
}

/* What the module writes back: only what the caller's size covers. */
static bool tail_untouched(const uint8_t *buf, size_t from, size_t to)
{
	size_t i;

	for (i = from; i < to; i++)
		if (buf[i] != 0xa5)
			return false;
	return true;
}

static void test_abi(void)
{
	union {
		struct splicemsg_version v;
		struct splicemsg_stats st;
		uint8_t b[256];
	} u;
	struct splicemsg_send r;
	int s, peer;

	memset(&u, 0xa5, sizeof(u));
	u.v.size = 8;
	result(ioctl(dev, SPLICEMSG_IOC_VERSION, &u) == 0 &&
	       u.v.api_version == SPLICEMSG_API_VERSION &&
	       tail_untouched(u.b, 8, sizeof(u.b)), "version_cut_to_size",
	       "api %u, bytes past the caller's 8 changed: %d",
	       u.v.api_version, !tail_untouched(u.b, 8, sizeof(u.b)));
	memset(&u, 0xa5, sizeof(u));
	u.st.size = 16;
	result(ioctl(dev, SPLICEMSG_IOC_STATS, &u) == 0 &&
	       tail_untouched(u.b, 16, sizeof(u.b)), "stats_cut_to_size",
	       "bytes past the caller's 16 changed");

	/* an error with nothing sent leaves the struct as it was */
	s = sock_pair(AF_INET, SOCK_STREAM, &peer);
	req_init(&r, s, -1, 0, 0);
	r.file_fd = 99999;
	r.count = 10;
	r.sent = 0x1234;
	r.file_sent = 0x5678;
	expect_err("error_bad_file", &r, EBADF);
	result(r.sent == 0x1234 && r.file_sent == 0x5678 && r.offset == 0,
	       "error_leaves_struct", "sent %#llx file_sent %#llx",
	       (unsigned long long)r.sent, (unsigned long long)r.file_sent);

	/* URING_CMD: IOSQE_ASYNC or EINVAL (docs in the uapi header) */
	if (ring_ok) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		struct io_uring_cqe *cqe;
		long ret = -EIO;

		req_init(&r, s, -1, 0, 0);
		io_uring_prep_rw(IORING_OP_URING_CMD, sqe, dev, NULL, 0, 0);
		sqe->cmd_op = SPLICEMSG_IOC_SEND;
		*(uint64_t *)sqe->cmd = (uintptr_t)&r;
		io_uring_submit(&ring);
		if (!io_uring_wait_cqe(&ring, &cqe)) {
			ret = cqe->res;
			io_uring_cqe_seen(&ring, cqe);
		}
		result(ret == -EINVAL, "uring_cmd_needs_async",
		       "without IOSQE_ASYNC: %ld", ret);
	}
	close(s);
	close(peer);
}

static void test_validation(void)
{
	struct splicemsg_iovec iov[17];
	struct splicemsg_version v = { .size = sizeof(v) };
	struct splicemsg_send r;
	char path[256];
	int s, peer, f, p[2], w, u, up, ud, udp_peer;
	uint8_t big[sizeof(struct splicemsg_send) + 8] = { 0 };
	static uint8_t hbuf[64 << 10];

	result(ioctl(dev, SPLICEMSG_IOC_VERSION, &v) == 0 &&
	       v.api_version == SPLICEMSG_API_VERSION &&
	       (v.features & SPLICEMSG_FEAT_URING_CMD), "version",
	       "api %u features %llx", v.api_version,
	       (unsigned long long)v.features);
	result(ioctl(dev, _IO(SPLICEMSG_IOC_MAGIC, 77)) < 0 && errno == ENOTTY,
	       "unknown_ioctl_enotty", "errno %d", errno);
	result(ioctl(dev, SPLICEMSG_IOC_SEND, (void *)8) < 0 &&
	       errno == EFAULT, "bad_struct_pointer_efault", "errno %d", errno);

	s = sock_pair(AF_INET, SOCK_STREAM, &peer);
	f = make_file("val", 10000, path);
	req_init(&r, s, f, 0, 100);
	r.size = 8;
	expect_err("size_too_small", &r, EINVAL);
	memcpy(big, &r, sizeof(r));
	((struct splicemsg_send *)big)->size = sizeof(big);
	big[sizeof(big) - 1] = 1;
	result(ioctl(dev, SPLICEMSG_IOC_SEND, big) < 0 && errno == EINVAL,
	       "larger_struct_nonzero_tail", "errno %d", errno);
	req_init(&r, s, f, 0, 100);
	r.flags = 1u << 20;
	expect_err("unknown_flag", &r, EINVAL);
	req_init(&r, s, f, 0, 100);
	r.reserved[1] = 1;
	expect_err("reserved_nonzero", &r, EINVAL);
	req_init(&r, s, f, 0, 1ULL << 40);
	expect_err("count_too_large", &r, EINVAL);
	req_init(&r, s, f, INT64_MAX, 100);
	expect_err("offset_overflow", &r, EINVAL);
	req_init(&r, s, -1, 0, 100);
	expect_err("count_without_file", &r, EINVAL);
	req_init(&r, s, f, 0, 100);
	r.hdr_cnt = 17;
	r.hdr_iov = (uintptr_t)iov;
	expect_err("too_many_iovecs", &r, EINVAL);
	memset(iov, 0, sizeof(iov));
	iov[0].base = (uintptr_t)hbuf;
	iov[0].len = 64 << 10;
	req_init(&r, s, f, 0, 100);
	r.hdr_cnt = 1;
	r.hdr_iov = (uintptr_t)iov;
	expect_err("header_too_large", &r, EINVAL);
	iov[0].base = 8;
	iov[0].len = 100;
	expect_err("header_bad_pointer_efault", &r, EFAULT);
	r.hdr_iov = 16;
	expect_err("iovec_array_bad_pointer_efault", &r, EFAULT);
	req_init(&r, 12345, f, 0, 100);
	expect_err("bad_socket_fd", &r, EBADF);
	req_init(&r, f, f, 0, 100);
	expect_err("file_as_socket_enotsock", &r, ENOTSOCK);
	req_init(&r, s, 12345, 0, 100);
	expect_err("bad_file_fd", &r, EBADF);
	pipe(p);
	req_init(&r, s, p[0], 0, 100);
	expect_err("pipe_as_file_einval", &r, EINVAL);
	w = open(path, O_WRONLY);
	req_init(&r, s, w, 0, 100);
	expect_err("writeonly_file_ebadf", &r, EBADF);
	ud = socket(AF_UNIX, SOCK_DGRAM, 0);
	req_init(&r, ud, f, 0, 100);
	expect_err("unix_dgram_eopnotsupp", &r, EOPNOTSUPP);
	u = socket(AF_INET, SOCK_DGRAM, 0);
	req_init(&r, u, f, 0, 100);
	expect_err("udp_unconnected_edestaddrreq", &r, EDESTADDRREQ);
	up = sock_pair(AF_INET, SOCK_DGRAM, &udp_peer);
	req_init(&r, up, f, 0, 40000);
	iov[0].base = (uintptr_t)hbuf;
	iov[0].len = 30000;
	r.hdr_cnt = 1;
	r.hdr_iov = (uintptr_t)iov;
	expect_err("udp_too_big_emsgsize", &r, EMSGSIZE);
	close(up);
	close(udp_peer);
	close(u);
	close(ud);
	close(w);
	close(p[0]);
	close(p[1]);
	close(f);
	close(s);
	close(peer);
}

/* ---- byte streams ------------------------------------------------------------ */

struct layout {
	const char *name;
	size_t file_size;
	uint64_t off, count;
	size_t hdr[3], trl[3];	/* iovec lengths, 0-terminated */
};

static const struct layout layouts[] = {
	{ "small", 4096, 0, 4096, { 250 }, { 0 } },
	{ "hdr_trl", 10000, 0, 10000, { 100, 37 }, { 2 } },
	{ "offset_unaligned", 100000, 4097, 50000, { 200 }, { 10 } },
	{ "header_crosses_pages", 8192, 0, 8192, { 4097, 3000, 1 }, { 0 } },
	{ "header_only", 100, 0, 0, { 300 }, { 0 } },
	{ "file_only", 70000, 0, 70000, { 0 }, { 0 } },
	{ "past_eof_trailer", 5000, 1000, 100000, { 50 }, { 30 } },
	{ "at_eof", 5000, 5000, 100, { 50 }, { 30 } },
	{ "one_mib", 1 << 20, 17, (1 << 20) - 17, { 250 }, { 8 } },
	{ "sixteen_mib", 16 << 20, 0, 16 << 20, { 250 }, { 0 } },
};

static size_t sum(const size_t *v)
{
	size_t s = 0;
	int i;

	for (i = 0; i < 3 && v[i]; i++)
		s += v[i];
	return s;
}

static int fill_iov(struct splicemsg_iovec *iov, const size_t *lens,
		    uint8_t *store, uint8_t seed)
{
	int i, n = 0;
	size_t off = 0, k;

	for (i = 0; i < 3 && lens[i]; i++) {
		for (k = 0; k < lens[i]; k++)
			store[off + k] = (uint8_t)(seed + off + k);
		iov[n].base = (uintptr_t)(store + off);
		iov[n++].len = lens[i];
		off += lens[i];
	}
	return n;
}

static void run_layout(const char *tname, int family, int type,
		       const struct layout *l, bool uring)
{
	size_t hl = sum(l->hdr), tl = sum(l->trl), flen, want;
	struct splicemsg_iovec hiov[3], tiov[3];
	static uint8_t hst[16384], tst[16384];
	struct splicemsg_send r;
	char name[128], path[256];
	uint8_t *exp;
	struct rx rx;
	int s, peer, f;
	long ret;

	snprintf(name, sizeof(name), "%s_%s%s", tname, l->name,
		 uring ? "_uring" : "");
	s = sock_pair(family, type, &peer);
	if (s < 0) {
		printf("SKIP %s: no socket pair (%s)\n", name, strerror(errno));
		return;
	}
	f = make_file(l->name, l->file_size, path);
	flen = l->off >= l->file_size ? 0 :
	       (l->file_size - l->off < l->count ? l->file_size - l->off :
		l->count);
	want = hl + flen + tl;
	exp = malloc(want + 1);
	req_init(&r, s, l->count ? f : -1, l->off, l->count);
	r.hdr_cnt = fill_iov(hiov, l->hdr, hst, 1);
	r.trl_cnt = fill_iov(tiov, l->trl, tst, 101);
	r.hdr_iov = (uintptr_t)hiov;
	r.trl_iov = (uintptr_t)tiov;
	memcpy(exp, hst, hl);
	for (size_t i = 0; i < flen; i++)
		exp[hl + i] = pattern(l->off + i);
	memcpy(exp + hl + flen, tst, tl);
	rx_start(&rx, peer, type == SOCK_DGRAM ? 65536 : want + 1);
	ret = uring ? sm_uring_send(&r) : sm_ioctl_send(&r);
	if (type == SOCK_DGRAM) {
		/* one datagram: the reader's single read gets all of it */
		usleep(100000);
		shutdown(peer, SHUT_RDWR);
	} else {
		shutdown(s, SHUT_WR);
	}
	rx_finish(&rx);
	result(ret == (long)want && r.sent == want && r.file_sent == flen &&
	       r.offset == l->off + flen && rx.len == want &&
	       !memcmp(rx.buf, exp, want), name,
	       "ret %ld sent %llu file_sent %llu offset %llu got %zu want %zu "
	       "match %d", ret, (unsigned long long)r.sent,
	       (unsigned long long)r.file_sent, (unsigned long long)r.offset,
	       rx.len, want, rx.len == want && !memcmp(rx.buf, exp, want));
	free(rx.buf);
	free(exp);
	close(f);
	unlink(path);
	close(s);
	close(peer);
}

static void test_streams(bool smoke)
{
	static const struct { const char *n; int fam, type; } tr[] = {
		{ "tcp4", AF_INET, SOCK_STREAM },
		{ "tcp6", AF_INET6, SOCK_STREAM },
		{ "unix", AF_UNIX, SOCK_STREAM },
	};
	size_t i, j;

	for (i = 0; i < sizeof(tr) / sizeof(tr[0]); i++) {
		for (j = 0; j < sizeof(layouts) / sizeof(layouts[0]); j++) {
			if (smoke && j > 1)
				break;
			run_layout(tr[i].n, tr[i].fam, tr[i].type,
				   &layouts[j], false);
			if (ring_ok && (j == 1 || j == 8))
				run_layout(tr[i].n, tr[i].fam, tr[i].type,
					   &layouts[j], true);
		}
	}
	/* datagrams: header + file + trailer in exactly one */
	for (j = 0; j < 3; j++)
		run_layout("udp4", AF_INET, SOCK_DGRAM, &layouts[j], false);
	if (!smoke) {
		run_layout("udp6", AF_INET6, SOCK_DGRAM, &layouts[1], false);
		if (ring_ok)
			run_layout("udp4", AF_INET, SOCK_DGRAM, &layouts[1],
				   true);
	}
}

/* ---- non-blocking, signals, SIGPIPE -------------------------------------------- */

/*
 * Like nginx: a non-blocking socket with a small buffer and nobody reading
 * until the first EAGAIN, then partial sends, each resumed after POLLOUT
 * with whatever is left (header first, then the file).
 */
static void test_nonblocking(void)
{
	size_t total = 0, want = 300 + (4 << 20), fsent = 0;
	int s, peer, f, sz = 4096, eagain = 0, partial = 0;
	struct splicemsg_iovec h = { 0 };
	struct splicemsg_send r;
	static uint8_t hdr[300];
	bool reading = false;
	struct rx rx = { 0 };
	char path[256];

	s = sock_pair(AF_INET, SOCK_STREAM, &peer);
	setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	fcntl(s, F_SETFL, O_NONBLOCK);
	f = make_file("nb", 4 << 20, path);
	memset(hdr, 'H', sizeof(hdr));
	while (total < want) {
		struct pollfd pfd = { .fd = s, .events = POLLOUT };
		size_t asked;
		long ret;

		req_init(&r, s, f, fsent, (4 << 20) - fsent);
		if (total < 300) {
			h.base = (uintptr_t)(hdr + total);
			h.len = 300 - total;
			r.hdr_cnt = 1;
			r.hdr_iov = (uintptr_t)&h;
		}
		asked = (total < 300 ? 300 - total : 0) + r.count;
		ret = sm_ioctl_send(&r);
		if (ret == -EAGAIN) {
			eagain++;
			if (!reading) {
				rx_start(&rx, peer, want);
				reading = true;
			}
			poll(&pfd, 1, 1000);
			continue;
		}
		if (ret <= 0)
			break;
		if ((size_t)ret < asked)
			partial++;
		total += ret;
		fsent += r.file_sent;
	}
	shutdown(s, SHUT_WR);
	if (!reading)
		rx_start(&rx, peer, want);
	rx_finish(&rx);
	result(eagain > 0 && partial > 0 && total == want && rx.len == want &&
	       rx.buf[0] == 'H' && rx.buf[299] == 'H' &&
	       rx.buf[300] == pattern(0) &&
	       rx.buf[want - 1] == pattern((4 << 20) - 1),
	       "nonblocking_eagain_partial",
	       "eagain %d partial %d total %zu got %zu", eagain, partial,
	       total, rx.len);
	free(rx.buf);
	close(f);
	unlink(path);
	close(s);
	close(peer);
}

static volatile int alarms, pipes;
static void on_alarm(int sig) { (void)sig; alarms++; }
static void on_pipe(int sig) { (void)sig; pipes++; }

static void test_signals(void)
{
	struct sigaction sa = { .sa_handler = on_alarm };	/* no SA_RESTART */
	struct splicemsg_send r;
	char path[256];
	int s, peer, f;
	long ret;

	sigaction(SIGALRM, &sa, NULL);
	s = sock_pair(AF_INET, SOCK_STREAM, &peer);
	f = make_file("sig", 16 << 20, path);
	req_init(&r, s, f, 0, 16 << 20);
	alarm(1);
	ret = sm_ioctl_send(&r);	/* nobody reads: blocks, then signal */
	result(alarms == 1 && ret > 0 && ret < (16 << 20) &&
	       r.file_sent == (uint64_t)ret && r.offset == (uint64_t)ret,
	       "signal_returns_partial_count", "ret %ld alarms %d", ret,
	       alarms);
	/* buffer full now: nothing can go before the signal */
	req_init(&r, s, f, r.offset, 1 << 20);
	alarm(1);
	ret = sm_ioctl_send(&r);
	result(ret == -EINTR && r.sent == 0, "signal_before_any_byte_eintr",
	       "ret %ld", ret);
	close(s);
	close(peer);

	sa.sa_handler = on_pipe;
	sigaction(SIGPIPE, &sa, NULL);
	s = sock_pair(AF_INET, SOCK_STREAM, &peer);
	close(peer);
	usleep(50000);
	req_init(&r, s, f, 0, 1000);
	sm_ioctl_send(&r);		/* may succeed: RST comes back */
	usleep(50000);
	ret = sm_ioctl_send(&r);
	result(ret == -EPIPE && pipes >= 1, "epipe_raises_sigpipe",
	       "ret %ld pipes %d", ret, pipes);
	pipes = 0;
	r.flags = SPLICEMSG_SEND_NOSIGNAL;
	ret = sm_ioctl_send(&r);
	result(ret == -EPIPE && pipes == 0, "nosignal_flag",
	       "ret %ld pipes %d", ret, pipes);
	if (ring_ok) {
		r.flags = 0;
		ret = sm_uring_send(&r);
		result(ret == -EPIPE && pipes == 0, "uring_never_signals",
		       "ret %ld pipes %d", ret, pipes);
	}
	close(s);
	close(f);
	unlink(path);
}

/* ---- concurrency, counters, leaks ---------------------------------------------- */

static void *conc_main(void *arg)
{
	long *ok = arg, i;

	for (i = 0; i < 20; i++) {
		struct splicemsg_send r;
		struct splicemsg_iovec h;
		char path[256], name[32];
		uint8_t hdr[64];
		struct rx rx;
		int s, peer, f;
		long ret;

		snprintf(name, sizeof(name), "conc%ld.%lu", i,
			 (unsigned long)pthread_self());
		s = sock_pair(AF_INET, SOCK_STREAM, &peer);
		f = make_file(name, 65536 + i, path);
		memset(hdr, 'c', sizeof(hdr));
		h.base = (uintptr_t)hdr;
		h.len = sizeof(hdr);
		req_init(&r, s, f, 0, 65536 + i);
		r.hdr_cnt = 1;
		r.hdr_iov = (uintptr_t)&h;
		rx_start(&rx, peer, 64 + 65536 + i + 1);
		ret = sm_ioctl_send(&r);
		shutdown(s, SHUT_WR);
		rx_finish(&rx);
		if (ret == 64 + 65536 + i && rx.len == (size_t)ret &&
		    rx.buf[64] == pattern(0) &&
		    rx.buf[rx.len - 1] == pattern(65536 + i - 1))
			(*ok)++;
		else
			printf("# conc: ret %ld (%s) got %zu\n", ret,
			       ret < 0 ? strerror(-ret) : "", rx.len);
		free(rx.buf);
		close(f);
		unlink(path);
		close(s);
		close(peer);
	}
	return NULL;
}

static void test_concurrency(void)
{
	pthread_t th[8];
	long ok[8] = { 0 }, total = 0;
	int i;

	for (i = 0; i < 8; i++)
		pthread_create(&th[i], NULL, conc_main, &ok[i]);
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		total += ok[i];
	}
	result(total == 160, "eight_threads", "%ld of 160 sends ok", total);
}

static void test_counters(void)
{
	struct splicemsg_stats a = { .size = sizeof(a) }, b = { .size = sizeof(b) };
	char buf[64] = "";
	FILE *fp;

	ioctl(dev, SPLICEMSG_IOC_STATS, &a);
	run_layout("counted", AF_INET, SOCK_STREAM, &layouts[0], false);
	ioctl(dev, SPLICEMSG_IOC_STATS, &b);
	result(b.calls == a.calls + 1 && b.bytes == a.bytes + 4096 + 250 &&
	       b.file_bytes == a.file_bytes + 4096 &&
	       b.pages_attached > a.pages_attached &&
	       b.frags_allocated > a.frags_allocated, "stats_ioctl",
	       "calls %llu->%llu bytes %llu->%llu",
	       (unsigned long long)a.calls, (unsigned long long)b.calls,
	       (unsigned long long)a.bytes, (unsigned long long)b.bytes);
	fp = fopen("/sys/class/misc/splicemsg/calls", "r");
	if (fp) {
		fgets(buf, sizeof(buf), fp);
		fclose(fp);
	}
	result(fp && strtoull(buf, NULL, 10) >= b.calls, "stats_sysfs",
	       "sysfs calls '%s'", buf);
}

static long memfree_kb(void)
{
	char line[128];
	long v = -1;
	FILE *fp;
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	if (fd >= 0) {
		write(fd, "3", 1);
		close(fd);
	}
	fp = fopen("/proc/meminfo", "r");
	while (fp && fgets(line, sizeof(line), fp))
		if (sscanf(line, "MemFree: %ld kB", &v) == 1)
			break;
	if (fp)
		fclose(fp);
	return v;
}

/* 20 x 16 MiB: a leaked page reference per page would pin 320 MiB. */
static void test_leak(void)
{
	long before, after;
	int i;

	run_layout("warmup", AF_INET, SOCK_STREAM, &layouts[9], false);
	sleep(1);
	before = memfree_kb();
	for (i = 0; i < 20; i++)
		run_layout("leak", AF_INET, SOCK_STREAM, &layouts[9], false);
	sleep(1);
	after = memfree_kb();
	/* half the leak's signature: normal drift reached ~70 MiB here */
	result(before > 0 && before - after < 160 * 1024, "no_page_leak",
	       "MemFree %ld kB -> %ld kB", before, after);
}

int main(int argc, char **argv)
{
	bool smoke = argc > 1 && !strcmp(argv[1], "smoke");

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	dev = open(SPLICEMSG_DEVICE, O_RDWR);
	if (dev < 0) {
		printf("FAIL open_device: %s\n", strerror(errno));
		return 1;
	}
	if (!mkdtemp(dir)) {
		printf("FAIL mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	ring_ok = io_uring_queue_init(8, &ring, 0) == 0;
	if (!ring_ok)
		printf("SKIP uring_cmd: io_uring unavailable\n");
	if (!smoke) {
		test_validation();
		test_abi();
		test_nonblocking();
		test_signals();
		test_concurrency();
		test_counters();
		test_stage();
		test_offptr();
	}
	test_streams(smoke);
	if (!smoke)
		test_leak();
	rmdir(dir);
	return failures ? 1 : 0;
}
