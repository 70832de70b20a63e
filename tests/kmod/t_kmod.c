// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * splicemsg.ko tests, run inside the VM (scripts/vm-test): every validation
 * error, each transport (TCP v4/v6, AF_UNIX, UDP), header/trailer layouts,
 * offsets and EOF, non-blocking partial sends, io_uring URING_CMD, signals,
 * SIGPIPE, concurrency, counters, the mappable staging area (registered
 * with io_uring, sent from by SEND_ZC), registered buffers (REG_FILE,
 * REG_BYTES, UNREG: Linux 7.3+) and a page-reference leak check.
 * Prints "PASS name" / "FAIL name: why" / "SKIP name: why"; exits 0 or 1.
 * `t_kmod smoke` runs a quick subset (after rmmod/insmod cycles);
 * `t_kmod GROUP...` only the groups named (see groups[] below), e.g.
 * `scripts/vm-run --kernel 7.3 -- build/tests/kmod/t_kmod reg`.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <dirent.h>
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
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/magic.h>
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

/* @size bytes of pattern() in @where/@name (its path in @path). */
static int make_file_at(const char *where, const char *name, size_t size,
			char *path)
{
	static __thread uint8_t buf[1 << 16];
	size_t i, off = 0;
	int fd;

	snprintf(path, 256, "%s/%s", where, name);
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

static int make_file(const char *name, size_t size, char *path)
{
	return make_file_at(dir, name, size, path);
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

/* ---- registered buffers (REG_FILE, REG_BYTES, UNREG) --------------------- */

#define REG_SLOTS 8

static struct splicemsg_version reg_ver;

static void reg_init(struct splicemsg_reg *r, int file, uint64_t off,
		     uint64_t len, uint32_t index)
{
	memset(r, 0, sizeof(*r));
	r->size = sizeof(*r);
	r->file_fd = file;
	r->offset = off;
	r->len = len;
	r->index = index;
}

/* A ring whose buffer table has REG_SLOTS empty slots (or none). */
static int reg_ring(struct io_uring *r, bool table)
{
	int ret = io_uring_queue_init(16, r, 0);

	if (!ret && table)
		ret = io_uring_register_buffers_sparse(r, REG_SLOTS);
	return ret;
}

/* One CQE's result (a send's, not its notification's). */
static int reap(struct io_uring *r, int n)
{
	struct io_uring_cqe *cqe;
	int res = -EIO, i;

	for (i = 0; i < n; i++) {
		if (io_uring_wait_cqe(r, &cqe))
			return -EIO;
		if (!(cqe->flags & IORING_CQE_F_NOTIF))
			res = cqe->res;
		if (cqe->flags & IORING_CQE_F_MORE)
			n++;
		io_uring_cqe_seen(r, cqe);
	}
	return res;
}

/* A registration command on @r through @dfd; IOSQE_ASYNC if @async. */
static int reg_cmd_on(struct io_uring *r, int dfd, uint32_t op,
		      struct splicemsg_reg *req, bool async)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(r);

	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, dfd, NULL, 0, 0);
	sqe->cmd_op = op;
	*(uint64_t *)sqe->cmd = (uintptr_t)req;
	if (async)
		sqe->flags |= IOSQE_ASYNC;
	io_uring_submit(r);
	return reap(r, 1);
}

static int reg_cmd(struct io_uring *r, uint32_t op, struct splicemsg_reg *req)
{
	return reg_cmd_on(r, dev, op, req, true);
}

static int reg_file(struct io_uring *r, int f, uint64_t off, uint64_t len,
		    uint32_t index)
{
	struct splicemsg_reg req;

	reg_init(&req, f, off, len, index);
	return reg_cmd(r, SPLICEMSG_IOC_REG_FILE, &req);
}

static int reg_bytes(struct io_uring *r, const void *p, size_t len,
		     uint32_t index)
{
	struct splicemsg_iovec iov = { (uintptr_t)p, len };
	struct splicemsg_reg req;

	reg_init(&req, 0, 0, 0, index);
	req.iov = (uintptr_t)&iov;
	req.iov_cnt = 1;
	return reg_cmd(r, SPLICEMSG_IOC_REG_BYTES, &req);
}

static int unreg(struct io_uring *r, uint32_t index)
{
	struct splicemsg_reg req;

	reg_init(&req, 0, 0, 0, index);
	return reg_cmd(r, SPLICEMSG_IOC_UNREG, &req);
}

/*
 * SEND_ZC from registered buffers: (index, offset, len) triples, linked
 * in order, over a fresh TCP loopback pair; the receiver's bytes go to
 * @got (malloc'ed, *@got_len).  Returns the total sent or the first error.
 */
struct zc_part {
	uint32_t index;
	uint64_t off, len;
};

static long send_fixed(struct io_uring *r, const struct zc_part *parts,
		       int n, uint8_t **got, size_t *got_len)
{
	struct io_uring_sqe *sqe;
	size_t want = 0;
	long total = 0;
	int s, peer, i, results = 0, notifs = 0, more = 0;
	struct rx rx;

	for (i = 0; i < n; i++)
		want += parts[i].len;
	s = sock_pair(AF_INET, SOCK_STREAM, &peer);
	rx_start(&rx, peer, want + 1);
	for (i = 0; i < n; i++) {
		sqe = io_uring_get_sqe(r);
		/* all of it: a stream socket may otherwise take part */
		io_uring_prep_send_zc_fixed(sqe, s,
					    (void *)(uintptr_t)parts[i].off,
					    parts[i].len, MSG_WAITALL, 0,
					    parts[i].index);
		if (i + 1 < n)
			sqe->flags |= IOSQE_IO_LINK;
	}
	io_uring_submit(r);
	/* results in link order; notifications whenever the skbs go */
	while (results < n || notifs < more) {
		struct io_uring_cqe *cqe;

		if (io_uring_wait_cqe(r, &cqe)) {
			total = -EIO;
			break;
		}
		if (cqe->flags & IORING_CQE_F_NOTIF) {
			notifs++;
		} else {
			results++;
			more += !!(cqe->flags & IORING_CQE_F_MORE);
			if (cqe->res < 0 && total >= 0)
				total = cqe->res;
			else if (total >= 0)
				total += cqe->res;
		}
		io_uring_cqe_seen(r, cqe);
	}
	shutdown(s, SHUT_WR);
	rx_finish(&rx);
	*got = rx.buf;
	*got_len = rx.len;
	close(s);
	close(peer);
	return total;
}

/* Whether @buf holds the pattern of the file's bytes from @off. */
static bool is_pattern(const uint8_t *buf, size_t len, uint64_t off)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (buf[i] != pattern(off + i))
			return false;
	return true;
}

static uint64_t reg_pages(void)
{
	struct splicemsg_stats st = { .size = sizeof(st) };

	return ioctl(dev, SPLICEMSG_IOC_STATS, &st) ? ~0ULL : st.reg_pages;
}

/* The module's reference count, or -1. */
static long mod_refcnt(void)
{
	FILE *fp = fopen("/sys/module/splicemsg/refcnt", "r");
	long v = -1;

	if (fp) {
		if (fscanf(fp, "%ld", &v) != 1)
			v = -1;
		fclose(fp);
	}
	return v;
}

/* Wait (up to 3 s) for deferred releases to bring @now() to @want. */
static bool settles(uint64_t (*now)(void), uint64_t want)
{
	int i;

	for (i = 0; i < 300 && now() != want; i++)
		usleep(10000);
	return now() == want;
}

static uint64_t refcnt_now(void)
{
	return (uint64_t)mod_refcnt();
}

static void expect_reg(const char *name, int got, int want)
{
	result(got == want, name, "got %d (%s), want %d", got,
	       got < 0 ? strerror(-got) : "bytes", want);
}

static void test_reg_validation(int f, const char *path)
{
	struct splicemsg_iovec iov[17];
	static uint8_t big[64 << 10];
	struct splicemsg_reg req;
	struct io_uring r, bare;
	loff_t pos;
	int p[2], w, d, s, peer = -1;

	if (reg_ring(&r, true)) {
		result(false, "reg_ring", "no ring with a buffer table");
		return;
	}
	expect_reg("reg_bad_fd", reg_file(&r, 99999, 0, 100, 0), -EBADF);
	w = open(path, O_WRONLY);
	expect_reg("reg_writeonly_ebadf", reg_file(&r, w, 0, 100, 0), -EBADF);
	close(w);
	pipe(p);
	expect_reg("reg_pipe_einval", reg_file(&r, p[0], 0, 100, 0), -EINVAL);
	close(p[0]);
	close(p[1]);
	d = open(dir, O_RDONLY | O_DIRECTORY);
	expect_reg("reg_directory_einval", reg_file(&r, d, 0, 100, 0),
		   -EINVAL);
	close(d);
	s = sock_pair(AF_UNIX, SOCK_STREAM, &peer);
	expect_reg("reg_socket_einval", reg_file(&r, s, 0, 100, 0), -EINVAL);
	close(s);
	close(peer);
	expect_reg("reg_negative_offset", reg_file(&r, f, -1ULL, 100, 0),
		   -EINVAL);
	expect_reg("reg_offset_overflow",
		   reg_file(&r, f, INT64_MAX - 10, 100, 0), -EINVAL);
	expect_reg("reg_offset_past_eof", reg_file(&r, f, 1ULL << 40, 100, 0),
		   0);
	expect_reg("reg_zero_length", reg_file(&r, f, 0, 0, 0), -EINVAL);
	expect_reg("reg_length_too_big",
		   reg_file(&r, f, 0, reg_ver.max_reg + 1, 0), -EINVAL);
	expect_reg("reg_index_out_of_range",
		   reg_file(&r, f, 0, 100, REG_SLOTS), -EINVAL);
	expect_reg("reg_index_huge", reg_file(&r, f, 0, 100, 1u << 31),
		   -EINVAL);
	/* the past-EOF call above registered nothing: slot 0 is free */
	expect_reg("reg_slot_free_after_eof", reg_file(&r, f, 0, 100, 0), 100);
	expect_reg("reg_index_occupied", reg_file(&r, f, 0, 100, 0), -EBUSY);
	expect_reg("reg_bytes_occupied", reg_bytes(&r, "x", 1, 0), -EBUSY);
	expect_reg("unreg", unreg(&r, 0), 0);
	expect_reg("unreg_empty", unreg(&r, 0), -EINVAL);
	expect_reg("unreg_out_of_range", unreg(&r, REG_SLOTS), -EINVAL);

	pos = -5;
	reg_init(&req, f, (uintptr_t)&pos, 100, 0);
	req.flags = SPLICEMSG_REG_OFFPTR;
	expect_reg("reg_offptr_negative",
		   reg_cmd(&r, SPLICEMSG_IOC_REG_FILE, &req), -EINVAL);
	reg_init(&req, f, 8, 100, 0);
	req.flags = SPLICEMSG_REG_OFFPTR;
	expect_reg("reg_offptr_bad_pointer",
		   reg_cmd(&r, SPLICEMSG_IOC_REG_FILE, &req), -EFAULT);
	reg_init(&req, f, 0, 100, 0);
	req.flags = 1u << 20;
	expect_reg("reg_unknown_flag",
		   reg_cmd(&r, SPLICEMSG_IOC_REG_FILE, &req), -EINVAL);
	reg_init(&req, f, 0, 100, 0);
	req.reserved[1] = 1;
	expect_reg("reg_reserved_nonzero",
		   reg_cmd(&r, SPLICEMSG_IOC_REG_FILE, &req), -EINVAL);
	reg_init(&req, f, 0, 100, 0);
	req.iov = (uintptr_t)iov;
	expect_reg("reg_file_iov_without_count",
		   reg_cmd(&r, SPLICEMSG_IOC_REG_FILE, &req), -EINVAL);
	req.iov_cnt = 17;
	expect_reg("reg_file_too_many_iovecs",
		   reg_cmd(&r, SPLICEMSG_IOC_REG_FILE, &req), -EINVAL);
	reg_init(&req, f, 0, 100, 0);
	req.size = 8;
	expect_reg("reg_size_too_small",
		   reg_cmd(&r, SPLICEMSG_IOC_REG_FILE, &req), -EINVAL);
	expect_reg("reg_bad_struct_pointer",
		   reg_cmd(&r, SPLICEMSG_IOC_REG_FILE, (void *)8), -EFAULT);
	reg_init(&req, f, 0, 100, 0);
	result(ioctl(dev, SPLICEMSG_IOC_REG_FILE, &req) < 0 &&
	       errno == ENOTTY, "reg_ioctl_enotty", "errno %d", errno);

	/* REG_BYTES: the send's header rules */
	memset(iov, 0, sizeof(iov));
	reg_init(&req, 0, 0, 0, 1);
	req.iov = (uintptr_t)iov;
	expect_reg("reg_bytes_no_iovecs",
		   reg_cmd(&r, SPLICEMSG_IOC_REG_BYTES, &req), -EINVAL);
	req.iov_cnt = 17;
	expect_reg("reg_bytes_too_many_iovecs",
		   reg_cmd(&r, SPLICEMSG_IOC_REG_BYTES, &req), -EINVAL);
	req.iov_cnt = 2;
	expect_reg("reg_bytes_empty",
		   reg_cmd(&r, SPLICEMSG_IOC_REG_BYTES, &req), -EINVAL);
	iov[0].base = (uintptr_t)big;
	iov[0].len = sizeof(big);
	expect_reg("reg_bytes_too_many_bytes",
		   reg_cmd(&r, SPLICEMSG_IOC_REG_BYTES, &req), -EINVAL);
	iov[0].base = 8;
	iov[0].len = 100;
	expect_reg("reg_bytes_bad_pointer",
		   reg_cmd(&r, SPLICEMSG_IOC_REG_BYTES, &req), -EFAULT);
	req.iov = 16;
	expect_reg("reg_bytes_bad_iovec_array",
		   reg_cmd(&r, SPLICEMSG_IOC_REG_BYTES, &req), -EFAULT);
	reg_init(&req, f, 0, 0, 1);
	req.iov = (uintptr_t)iov;
	req.iov_cnt = 1;
	iov[0].base = (uintptr_t)big;
	expect_reg("reg_bytes_with_file",
		   reg_cmd(&r, SPLICEMSG_IOC_REG_BYTES, &req), -EINVAL);
	io_uring_queue_exit(&r);

	if (!reg_ring(&bare, false)) {
		expect_reg("reg_no_buffer_table",
			   reg_file(&bare, f, 0, 100, 0), -EINVAL);
		io_uring_queue_exit(&bare);
	}
}

/* Header bytes and a file range, sent by two linked SEND_ZCs. */
static void test_reg_send(int f)
{
	static const char hdr[] = "HTTP/1.1 200 OK\r\nContent-Length: 50000\r\n\r\n";
	struct zc_part parts[2] = { { 1, 0, sizeof(hdr) - 1 }, { 0, 0, 50000 } };
	uint64_t pages = reg_pages();
	size_t len, hl = sizeof(hdr) - 1;
	struct io_uring r;
	uint8_t *got;
	long ret;

	if (reg_ring(&r, true))
		return;
	expect_reg("reg_file_bytes", reg_file(&r, f, 4097, 50000, 0), 50000);
	expect_reg("reg_header_bytes", reg_bytes(&r, hdr, hl, 1), (int)hl);
	result(reg_pages() >= pages + 13, "reg_pages_counted",
	       "reg_pages %llu -> %llu", (unsigned long long)pages,
	       (unsigned long long)reg_pages());
	ret = send_fixed(&r, parts, 2, &got, &len);
	result(ret == (long)(hl + 50000) && len == hl + 50000 &&
	       !memcmp(got, hdr, hl) && is_pattern(got + hl, 50000, 4097),
	       "reg_send_zc_exact_bytes", "ret %ld received %zu match %d",
	       ret, len, len == hl + 50000 && is_pattern(got + hl, 50000,
							   4097));
	free(got);

	/* a part of the buffer: offsets count from 0 */
	parts[0] = (struct zc_part){ 0, 12345, 20000 };
	ret = send_fixed(&r, parts, 1, &got, &len);
	result(ret == 20000 && len == 20000 &&
	       is_pattern(got, len, 4097 + 12345), "reg_send_zc_offset",
	       "ret %ld received %zu", ret, len);
	free(got);
	parts[0] = (struct zc_part){ 0, 40000, 10001 };
	ret = send_fixed(&r, parts, 1, &got, &len);
	result(ret == -EFAULT && len == 0, "reg_send_zc_past_buffer",
	       "ret %ld received %zu", ret, len);
	free(got);

	/* SENDMSG_ZC: iovec bases are offsets into the one fixed buffer */
	{
		struct iovec iov[2] = { { (void *)100, 50 },
					{ (void *)30000, 3000 } };
		struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
		struct io_uring_sqe *sqe;
		int s, peer;
		struct rx rx;

		s = sock_pair(AF_INET, SOCK_STREAM, &peer);
		rx_start(&rx, peer, 3051);
		sqe = io_uring_get_sqe(&r);
		io_uring_prep_sendmsg_zc(sqe, s, &msg, 0);
		sqe->ioprio |= IORING_RECVSEND_FIXED_BUF;
		sqe->buf_index = 0;
		io_uring_submit(&r);
		ret = reap(&r, 1);
		shutdown(s, SHUT_WR);
		rx_finish(&rx);
		result(ret == 3050 && rx.len == 3050 &&
		       is_pattern(rx.buf, 50, 4097 + 100) &&
		       is_pattern(rx.buf + 50, 3000, 4097 + 30000),
		       "reg_sendmsg_zc_vectored", "ret %ld received %zu",
		       ret, rx.len);
		free(rx.buf);
		close(s);
		close(peer);
	}
	/* header and body in one buffer: one SEND_ZC */
	{
		struct splicemsg_iovec iov[2] = { { (uintptr_t)hdr, 10 },
			{ (uintptr_t)hdr + 10, hl - 10 } };
		struct splicemsg_reg req;

		reg_init(&req, f, 4097, 50000, 2);
		req.iov = (uintptr_t)iov;
		req.iov_cnt = 2;
		expect_reg("reg_file_with_header",
			   reg_cmd(&r, SPLICEMSG_IOC_REG_FILE, &req),
			   (int)hl + 50000);
		parts[0] = (struct zc_part){ 2, 0, hl + 50000 };
		ret = send_fixed(&r, parts, 1, &got, &len);
		result(ret == (long)(hl + 50000) && len == hl + 50000 &&
		       !memcmp(got, hdr, hl) &&
		       is_pattern(got + hl, 50000, 4097),
		       "reg_file_with_header_one_send",
		       "ret %ld received %zu", ret, len);
		free(got);
		unreg(&r, 2);
		/* at the end of the file: the header alone */
		reg_init(&req, f, 100000, 10, 2);
		req.iov = (uintptr_t)iov;
		req.iov_cnt = 2;
		expect_reg("reg_file_header_at_eof",
			   reg_cmd(&r, SPLICEMSG_IOC_REG_FILE, &req), (int)hl);
		parts[0] = (struct zc_part){ 2, 0, hl };
		ret = send_fixed(&r, parts, 1, &got, &len);
		result(ret == (long)hl && len == hl && !memcmp(got, hdr, hl),
		       "reg_file_header_at_eof_sent", "ret %ld received %zu",
		       ret, len);
		free(got);
		unreg(&r, 2);
	}
	expect_reg("reg_unreg_file", unreg(&r, 0), 0);
	expect_reg("reg_unreg_bytes", unreg(&r, 1), 0);
	result(settles(reg_pages, pages), "reg_pages_released",
	       "reg_pages %llu, was %llu", (unsigned long long)reg_pages(),
	       (unsigned long long)pages);
	io_uring_queue_exit(&r);
}

/* This thread's io-wq workers (io_uring names them iou-wrk-TID). */
static int iowq_workers(void)
{
	char want[32], path[300], comm[32];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(want, sizeof(want), "iou-wrk-%d\n", (int)gettid());
	d = opendir("/proc/self/task");
	while (d && (de = readdir(d))) {
		FILE *fp;

		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
			 de->d_name);
		fp = fopen(path, "r");
		if (fp && fgets(comm, sizeof(comm), fp) && !strcmp(comm, want))
			n++;
		if (fp)
			fclose(fp);
	}
	if (d)
		closedir(d);
	return n;
}

/*
 * REG_FILE without IOSQE_ASYNC: inline when the range is in the page
 * cache (no io-wq worker appears for this thread), through io-wq when it
 * is not (tmpfs holes have no pages): the same answer either way.  In a
 * thread of its own, whose io-wq starts empty; on tmpfs (/dev/shm), and on
 * the VM's root, an overlayfs, whose cache is the real file's.
 */
static void *reg_inline_main(void *arg)
{
	struct splicemsg_reg req;
	int *res = arg, f, g;
	char path[256], gpath[256];
	struct io_uring r;
	struct statfs sf;

	if (reg_ring(&r, true))
		return NULL;
	/* tmpfs itself: an overlayfs file's own mapping stays empty */
	f = make_file_at("/dev/shm", "t_kmod_reg_inline", 100000, path);
	reg_init(&req, f, 5000, 60000, 0);
	res[0] = reg_cmd_on(&r, dev, SPLICEMSG_IOC_REG_FILE, &req, false);
	res[1] = iowq_workers();
	/*
	 * The test directory: the VM's root, an overlayfs, whose pages are
	 * the real (upper) file's.  Written just now, so cached: inline,
	 * and still no io-wq worker.
	 */
	g = make_file("reg_inline_ovl", 100000, gpath);
	reg_init(&req, g, 5000, 60000, 2);
	res[4] = reg_cmd_on(&r, dev, SPLICEMSG_IOC_REG_FILE, &req, false);
	res[5] = iowq_workers();
	if (!statfs(gpath, &sf))
		res[6] = sf.f_type == OVERLAYFS_SUPER_MAGIC;
	close(g);
	unlink(gpath);
	ftruncate(f, 8 << 20);		/* a hole from 100000 on */
	reg_init(&req, f, 1 << 20, 60000, 1);
	res[2] = reg_cmd_on(&r, dev, SPLICEMSG_IOC_REG_FILE, &req, false);
	res[3] = iowq_workers();
	io_uring_queue_exit(&r);
	close(f);
	unlink(path);
	return NULL;
}

static void test_reg_inline(void)
{
	int res[7] = { -1, -1, -1, -1, -1, -1, -1 };
	pthread_t th;

	pthread_create(&th, NULL, reg_inline_main, res);
	pthread_join(th, NULL);
	result(res[0] == 60000 && res[1] == 0, "reg_file_inline_cached",
	       "res %d, %d io-wq workers", res[0], res[1]);
	result(res[2] == 60000 && res[3] >= 1, "reg_file_iowq_uncached",
	       "res %d, %d io-wq workers", res[2], res[3]);
	if (res[6] != 1)
		printf("SKIP reg_file_inline_overlayfs: %s is not on "
		       "overlayfs\n", dir);
	else
		result(res[4] == 60000 && res[5] == 0,
		       "reg_file_inline_overlayfs",
		       "res %d, %d io-wq workers", res[4], res[5]);
}

/* Where the file ends: the range is cut there, as sendfile(2) cuts it. */
static void test_reg_eof(void)
{
	struct zc_part part = { 0, 0, 4000 };
	struct splicemsg_reg req;
	struct io_uring r;
	char path[256];
	uint8_t *got;
	loff_t pos;
	size_t len;
	long ret;
	int f;

	if (reg_ring(&r, true))
		return;
	f = make_file("reg_eof", 5000, path);
	expect_reg("reg_past_eof_cut", reg_file(&r, f, 1000, 100000, 0),
		   4000);
	ret = send_fixed(&r, &part, 1, &got, &len);
	result(ret == 4000 && len == 4000 && is_pattern(got, len, 1000),
	       "reg_past_eof_bytes", "ret %ld received %zu", ret, len);
	free(got);
	part.len = 4001;
	ret = send_fixed(&r, &part, 1, &got, &len);
	result(ret == -EFAULT, "reg_past_eof_no_more", "ret %ld", ret);
	free(got);
	unreg(&r, 0);
	expect_reg("reg_at_eof", reg_file(&r, f, 5000, 100, 0), 0);

	/* OFFPTR: a pointer, advanced; or 0, the file position */
	pos = 100;
	reg_init(&req, f, (uintptr_t)&pos, 1000, 0);
	req.flags = SPLICEMSG_REG_OFFPTR;
	ret = reg_cmd(&r, SPLICEMSG_IOC_REG_FILE, &req);
	result(ret == 1000 && pos == 1100 && req.offset == (uintptr_t)&pos,
	       "reg_offptr_pointer", "ret %ld pos %lld", ret,
	       (long long)pos);
	unreg(&r, 0);
	lseek(f, 4500, SEEK_SET);
	reg_init(&req, f, 0, 1000, 0);
	req.flags = SPLICEMSG_REG_OFFPTR;
	ret = reg_cmd(&r, SPLICEMSG_IOC_REG_FILE, &req);
	part.len = 500;
	if (ret == 500)
		ret = send_fixed(&r, &part, 1, &got, &len);
	else
		got = NULL, len = 0;
	result(ret == 500 && len == 500 && is_pattern(got, 500, 4500) &&
	       lseek(f, 0, SEEK_CUR) == 5000, "reg_offptr_file_position",
	       "ret %ld received %zu f_pos %lld", ret, len,
	       (long long)lseek(f, 0, SEEK_CUR));
	free(got);
	unreg(&r, 0);
	io_uring_queue_exit(&r);
	close(f);
	unlink(path);
}

/* A sparse file: its holes are zeros, its data where it was written. */
static void test_reg_sparse(void)
{
	size_t len, size = 3 << 20, i, bad = 0;
	struct zc_part part = { 0, 0, 3 << 20 };
	static uint8_t data[5000];
	struct io_uring r;
	char path[256];
	uint8_t *got;
	long ret;
	int f;

	if (reg_ring(&r, true))
		return;
	snprintf(path, sizeof(path), "%s/reg_sparse", dir);
	f = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	ftruncate(f, size);
	for (i = 0; i < sizeof(data); i++)
		data[i] = pattern(i);
	pwrite(f, data, sizeof(data), (1 << 20) + 100);
	expect_reg("reg_sparse", reg_file(&r, f, 0, size, 0), (int)size);
	ret = send_fixed(&r, &part, 1, &got, &len);
	for (i = 0; i < len; i++) {
		bool in = i >= (1 << 20) + 100 &&
			  i < (1 << 20) + 100 + sizeof(data);
		uint8_t want = in ? data[i - (1 << 20) - 100] : 0;

		if (got[i] != want)
			bad++;
	}
	result(ret == (long)size && len == size && !bad, "reg_sparse_bytes",
	       "ret %ld received %zu, %zu bytes differ", ret, len, bad);
	free(got);
	unreg(&r, 0);
	io_uring_queue_exit(&r);
	close(f);
	unlink(path);
}

/*
 * Truncated after the registration: the buffer keeps its pages and its
 * length (a page-aligned truncation zeroes nothing), and no crash.
 */
static void test_reg_truncate(void)
{
	struct zc_part part = { 0, 0, 65536 };
	struct io_uring r;
	char path[256];
	uint8_t *got;
	size_t len;
	long ret;
	int f;

	if (reg_ring(&r, true))
		return;
	f = make_file("reg_trunc", 65536, path);
	expect_reg("reg_truncate_register", reg_file(&r, f, 0, 65536, 0),
		   65536);
	ftruncate(f, 0);
	ret = send_fixed(&r, &part, 1, &got, &len);
	result(ret == 65536 && len == 65536 && is_pattern(got, len, 0),
	       "reg_truncated_sends_registered", "ret %ld received %zu "
	       "match %d", ret, len, is_pattern(got, len, 0));
	free(got);
	close(f);
	unlink(path);
	ret = send_fixed(&r, &part, 1, &got, &len);
	result(ret == 65536 && len == 65536 && is_pattern(got, len, 0),
	       "reg_unlinked_sends_registered", "ret %ld received %zu",
	       ret, len);
	free(got);
	unreg(&r, 0);
	io_uring_queue_exit(&r);
}

/* Registered to be sent from only: nothing may write into it. */
static void test_reg_readonly(int f, const char *path)
{
	struct io_uring_sqe *sqe;
	static uint8_t junk[8192];
	struct io_uring r;
	uint8_t back[8192];
	int s, peer, g, ret;
	char gpath[256];

	if (reg_ring(&r, true))
		return;
	expect_reg("reg_readonly_register", reg_file(&r, f, 0, 8192, 0), 8192);
	memset(junk, 'J', sizeof(junk));
	g = make_file("reg_junk", 8192, gpath);
	pwrite(g, junk, sizeof(junk), 0);
	sqe = io_uring_get_sqe(&r);
	io_uring_prep_read_fixed(sqe, g, (void *)0, 4096, 0, 0);
	io_uring_submit(&r);
	ret = reap(&r, 1);
	result(ret == -EFAULT, "reg_read_fixed_refused", "READ_FIXED: %d (%s)",
	       ret, ret < 0 ? strerror(-ret) : "bytes read into the file");

	s = sock_pair(AF_INET, SOCK_STREAM, &peer);
	write(peer, junk, 4096);
	sqe = io_uring_get_sqe(&r);
	io_uring_prep_recv(sqe, s, (void *)0, 4096, 0);
	sqe->ioprio |= IORING_RECVSEND_FIXED_BUF;
	sqe->buf_index = 0;
	io_uring_submit(&r);
	ret = reap(&r, 1);
	result(ret == -EFAULT, "reg_recv_fixed_refused", "RECV: %d (%s)", ret,
	       ret < 0 ? strerror(-ret) : "bytes received into the file");
	close(s);
	close(peer);
	close(g);
	unlink(gpath);
	unreg(&r, 0);
	io_uring_queue_exit(&r);

	/* the page cache and, after dropping it, the file itself */
	ret = pread(f, back, sizeof(back), 0);
	result(ret == (int)sizeof(back) && is_pattern(back, sizeof(back), 0),
	       "reg_file_unchanged", "pread %d", ret);
	g = open(path, O_RDONLY);
	posix_fadvise(g, 0, 0, POSIX_FADV_DONTNEED);
	ret = pread(g, back, sizeof(back), 0);
	result(ret == (int)sizeof(back) && is_pattern(back, sizeof(back), 0),
	       "reg_file_unchanged_reread", "pread %d", ret);
	close(g);
}

/* The ring goes with its buffers registered: every page comes back. */
static void test_reg_ring_exit(int f)
{
	uint64_t pages = reg_pages();
	long refs = mod_refcnt();
	struct io_uring r;

	if (reg_ring(&r, true))
		return;
	reg_file(&r, f, 0, 100000, 0);
	reg_file(&r, f, 1, 5000, 1);
	reg_bytes(&r, "hdr", 3, 2);
	result(reg_pages() > pages, "reg_ring_exit_held",
	       "reg_pages %llu", (unsigned long long)reg_pages());
	io_uring_queue_exit(&r);
	result(settles(reg_pages, pages), "reg_ring_exit_released",
	       "reg_pages %llu, was %llu", (unsigned long long)reg_pages(),
	       (unsigned long long)pages);
	result(settles(refcnt_now, refs), "reg_ring_exit_refcnt",
	       "module refcnt %ld, was %ld", mod_refcnt(), refs);
}

/* A forked child shares the ring: its exit leaves the buffer whole. */
static void test_reg_fork(int f)
{
	struct zc_part part = { 0, 0, 30000 };
	uint64_t pages = reg_pages();
	struct io_uring r;
	int status = -1;
	uint8_t *got;
	size_t len;
	pid_t pid;
	long ret;

	if (reg_ring(&r, true))
		return;
	reg_file(&r, f, 0, 30000, 0);
	pid = fork();
	if (pid == 0) {
		io_uring_queue_exit(&r);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	ret = send_fixed(&r, &part, 1, &got, &len);
	result(status == 0 && ret == 30000 && len == 30000 &&
	       is_pattern(got, len, 0), "reg_fork", "child %d, ret %ld, "
	       "received %zu", status, ret, len);
	free(got);
	io_uring_queue_exit(&r);
	result(settles(reg_pages, pages), "reg_fork_released",
	       "reg_pages %llu, was %llu", (unsigned long long)reg_pages(),
	       (unsigned long long)pages);
}

static void *reg_thread(void *arg)
{
	static const char hdr[] = "header of a thread\r\n";
	size_t hl = sizeof(hdr) - 1;
	struct zc_part parts[2] = { { 1, 0, hl }, { 0, 0, 0 } };
	long *ok = arg, i;
	struct io_uring r;
	char path[256], name[32];
	int f;

	if (reg_ring(&r, true))
		return NULL;
	snprintf(name, sizeof(name), "reg_th.%lu",
		 (unsigned long)pthread_self());
	f = make_file(name, 200000, path);
	for (i = 0; i < 10; i++) {
		uint64_t off = (uint64_t)i * 7777, n = 100000 - i * 333;
		uint8_t *got;
		size_t len;
		long ret;

		parts[1].len = n;
		if (reg_file(&r, f, off, n, 0) != (int)n ||
		    reg_bytes(&r, hdr, hl, 1) != (int)hl) {
			printf("# reg_threads: registration failed\n");
			break;
		}
		ret = send_fixed(&r, parts, 2, &got, &len);
		if (ret == (long)(hl + n) && len == hl + n &&
		    !memcmp(got, hdr, hl) && is_pattern(got + hl, n, off))
			(*ok)++;
		free(got);
		if (unreg(&r, 0) || unreg(&r, 1))
			break;
	}
	io_uring_queue_exit(&r);
	close(f);
	unlink(path);
	return NULL;
}

static void test_reg_threads(void)
{
	uint64_t pages = reg_pages();
	long ok[4] = { 0 }, total = 0;
	pthread_t th[4];
	int i;

	for (i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, reg_thread, &ok[i]);
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		total += ok[i];
	}
	result(total == 40, "reg_four_threads", "%ld of 40 rounds ok", total);
	result(settles(reg_pages, pages), "reg_threads_released",
	       "reg_pages %llu, was %llu", (unsigned long long)reg_pages(),
	       (unsigned long long)pages);
}

/*
 * The budget of all registered buffers, 256 MiB of page references: the
 * same 64 MiB of a file registered again and again is refused the 4th
 * time (each is charged for 16385 pages until it is filled).
 */
static void test_reg_budget(void)
{
	uint64_t pages = reg_pages(), len = reg_ver.max_reg;
	struct io_uring r;
	char path[256];
	int f, n, ret = 0;

	if (reg_ring(&r, true))
		return;
	f = make_file("reg_budget", len, path);
	for (n = 0; n < REG_SLOTS; n++) {
		ret = reg_file(&r, f, 0, len, n);
		if (ret != (int)len)
			break;
	}
	result(ret == -ENOMEM && n == 3 && pages == 0, "reg_budget",
	       "refused after %d buffers: %d, reg_pages %llu before",
	       n, ret, (unsigned long long)pages);
	io_uring_queue_exit(&r);
	close(f);
	unlink(path);
	result(settles(reg_pages, pages), "reg_budget_released",
	       "reg_pages %llu, was %llu", (unsigned long long)reg_pages(),
	       (unsigned long long)pages);
}

/*
 * With every /dev/splicemsg descriptor closed, a registered buffer still
 * holds the module: rmmod is refused until the buffer goes.
 */
static void test_reg_unload(int f)
{
	long refs = mod_refcnt(), held;
	struct io_uring r;
	int ret, err;

	if (reg_ring(&r, true))
		return;
	expect_reg("reg_unload_register", reg_file(&r, f, 0, 5000, 0), 5000);
	close(dev);
	held = mod_refcnt();
	if (held < 1) {
		/* do not ask: an unloaded module would take the suite */
		result(false, "reg_unload_refused", "refcnt %ld with a "
		       "buffer registered", held);
		ret = 0;
		err = 0;
	} else {
		ret = syscall(SYS_delete_module, "splicemsg", O_NONBLOCK);
		err = errno;
		result(ret < 0 && (err == EWOULDBLOCK || err == EBUSY) &&
		       access("/sys/module/splicemsg", F_OK) == 0,
		       "reg_unload_refused", "delete_module: %d (%s), "
		       "refcnt %ld", ret, strerror(err), held);
	}
	/* the whole table goes: the buffer's release drops the file */
	io_uring_unregister_buffers(&r);
	result(settles(refcnt_now, (uint64_t)(refs - 1)), "reg_unload_refcnt",
	       "module refcnt %ld, %ld with the device open", mod_refcnt(),
	       refs);
	io_uring_queue_exit(&r);
	dev = open(SPLICEMSG_DEVICE, O_RDWR);
}

static void test_reg(void)
{
	char path[256];
	int f;

	reg_ver.size = sizeof(reg_ver);
	ioctl(dev, SPLICEMSG_IOC_VERSION, &reg_ver);
	if (!(reg_ver.features & SPLICEMSG_FEAT_REG)) {
		struct splicemsg_reg req;
		struct io_uring r;

		/* what a kernel without io_buffer_register_bvec answers */
		if (!reg_ring(&r, true)) {
			reg_init(&req, 0, 0, 100, 0);
			expect_reg("reg_absent_enotty",
				   reg_cmd(&r, SPLICEMSG_IOC_REG_FILE, &req),
				   -ENOTTY);
			io_uring_queue_exit(&r);
		}
		printf("SKIP reg: the module has no registered buffers here "
		       "(they need Linux 7.3's io_buffer_register_bvec)\n");
		return;
	}
	result(reg_ver.max_reg == 64 << 20, "reg_feature", "max_reg %llu",
	       (unsigned long long)reg_ver.max_reg);
	f = make_file("reg", 100000, path);
	test_reg_validation(f, path);
	test_reg_send(f);
	test_reg_inline();
	test_reg_eof();
	test_reg_sparse();
	test_reg_truncate();
	test_reg_readonly(f, path);
	test_reg_ring_exit(f);
	test_reg_fork(f);
	test_reg_threads();
	test_reg_budget();
	test_reg_unload(f);
	close(f);
	unlink(path);
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

static void test_streams_all(void)
{
	test_streams(false);
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

/* The suite's groups, in the order a full run takes them. */
static const struct {
	const char *name;
	void (*run)(void);
} groups[] = {
	{ "validation", test_validation },
	{ "abi", test_abi },
	{ "nonblocking", test_nonblocking },
	{ "signals", test_signals },
	{ "concurrency", test_concurrency },
	{ "counters", test_counters },
	{ "stage", test_stage },
	{ "offptr", test_offptr },
	{ "reg", test_reg },
	{ "streams", test_streams_all },
	{ "leak", test_leak },
};

static bool wanted(const char *name, int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], name))
			return true;
	return argc < 2;
}

int main(int argc, char **argv)
{
	bool smoke = argc > 1 && !strcmp(argv[1], "smoke");
	size_t i, ran = 0;

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
	if (smoke) {
		test_streams(true);
		ran++;
	}
	for (i = 0; !smoke && i < sizeof(groups) / sizeof(groups[0]); i++) {
		if (wanted(groups[i].name, argc, argv)) {
			groups[i].run();
			ran++;
		}
	}
	rmdir(dir);
	if (!ran) {
		printf("usage: t_kmod [smoke | GROUP...]; groups:");
		for (i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
			printf(" %s", groups[i].name);
		printf("\n");
		return 99;
	}
	return failures ? 1 : 0;
}
