// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * sm_bench: bulk sendfile() throughput from a page-cached file to a
 * receiver in a forked process, over TCP loopback or AF_UNIX.
 *
 * The sender calls plain sendfile() so that the same binary measures the
 * kernel path (no preload) and every libsplicemsg mode (LD_PRELOAD).  The
 * clock runs from just before the first sendfile() until the receiver has
 * reported, over the same connection, that it got every byte.
 *
 * Output is one line of key=value fields; GB/s means 10^9 bytes per second.
 * Exit: 0 ok, 1 transfer failed, 2 usage, 77 congestion control missing,
 * 99 setup error.
 */
#ifndef _GNU_SOURCE	/* the autotools build has it from config.h */
#define _GNU_SOURCE	/* accept4, mkostemp, SOCK_CLOEXEC */
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RECV_BUF_SIZE	(256u << 10)
#define FILE_SIZE	(64ull << 20)
#define CC_NAME_MAX	16

enum exit_code {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
	EXIT_SKIP = 77,
	EXIT_SETUP = 99,
};

struct bench {
	bool tcp;
	bool verify;
	const char *cc;
	const char *path;
	uint64_t chunk;
	uint64_t total;
	int file_fd;
	uint64_t file_size;
};

struct result {
	double seconds;
	uint64_t calls;
	uint64_t short_calls;
};

static void usage(FILE *f)
{
	fputs("usage: sm_bench --transport tcp|unix --chunk BYTES\n"
	      "                --total BYTES [--cc cubic|bbr] [--file PATH]\n"
	      "                [--verify]\n"
	      "BYTES takes a k, m or g suffix (binary).  Without --file a\n"
	      "64 MiB unlinked file is made in $TMPDIR (default /var/tmp);\n"
	      "a --file that does not exist is created with 64 MiB.\n"
	      "--verify: the receiver compares every byte with the file.\n",
	      f);
}

static int parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;
	int shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	case '\0':
		break;
	default:
		return -EINVAL;
	}
	if (shift) {
		end++;
		/* Accept "64k", "64K", "64KiB" and "64KB" as the same size. */
		if (!strcmp(end, "iB") || !strcmp(end, "B"))
			end += strlen(end);
	}
	if (*end || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= n;
	}
	return 0;
}

/*
 * Each 8-byte word holds its own file offset, so a reordered, repeated or
 * shifted range shows up under --verify.
 */
static int fill_file(int fd, uint64_t size)
{
	static uint64_t buf[(1u << 20) / sizeof(uint64_t)];
	uint64_t off = 0;
	size_t i;
	int ret;

	while (off < size) {
		size_t len = sizeof(buf);

		if (len > size - off)
			len = size - off;
		for (i = 0; i < sizeof(buf) / sizeof(buf[0]); i++)
			buf[i] = off + i * sizeof(buf[0]);
		ret = write_all(fd, buf, len);
		if (ret)
			return ret;
		off += len;
	}
	return fsync(fd) ? -errno : 0;
}

static int create_file(struct bench *b)
{
	char tmpl[4096];
	const char *dir;
	int fd, ret;

	if (b->path) {
		fd = open(b->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	} else {
		dir = getenv("TMPDIR");
		if (!dir || !*dir)
			dir = "/var/tmp";
		snprintf(tmpl, sizeof(tmpl), "%s/sm_bench.XXXXXX", dir);
		fd = mkostemp(tmpl, O_CLOEXEC);
		if (fd >= 0)
			unlink(tmpl);
	}
	if (fd < 0)
		return -errno;
	ret = fill_file(fd, FILE_SIZE);
	if (ret) {
		close(fd);
		if (b->path)
			unlink(b->path);
		return ret;
	}
	return fd;
}

static int open_file(struct bench *b)
{
	struct stat st;
	int fd;

	if (!b->path)
		fd = create_file(b);
	else if ((fd = open(b->path, O_RDONLY | O_CLOEXEC)) < 0)
		fd = errno == ENOENT ? create_file(b) : -errno;
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size <= 0) {
		close(fd);
		return -EINVAL;
	}
	b->file_fd = fd;
	b->file_size = st.st_size;
	return 0;
}

/* Pull the whole file into the page cache so disk never enters the timing. */
static int warm_file(const struct bench *b)
{
	static char buf[1 << 20];
	uint64_t off = 0;

	while (off < b->file_size) {
		ssize_t n = pread(b->file_fd, buf, sizeof(buf), off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		off += n;
	}
	return 0;
}

static int set_cc(int fd, const char *cc)
{
	char got[CC_NAME_MAX] = "";
	socklen_t len = sizeof(got);

	if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, strlen(cc)))
		return -errno;
	if (getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, got, &len))
		return -errno;
	if (strncmp(got, cc, sizeof(got)))
		return -EPROTO;
	return 0;
}

static int report_cc_error(const char *cc, int err)
{
	fprintf(stderr, "sm_bench: TCP_CONGESTION %s: %s\n", cc,
		strerror(-err));
	/*
	 * ENOENT: no such module; EPERM: an unprivileged user asked for one
	 * not in net.ipv4.tcp_allowed_congestion_control.
	 */
	return err == -ENOENT || err == -EPERM ? EXIT_SKIP : EXIT_SETUP;
}

/* The receiver's end: compare what arrived with the file at @pos. */
static bool verify_chunk(const struct bench *b, const unsigned char *map,
			 uint64_t pos, const unsigned char *buf, size_t len)
{
	while (len) {
		uint64_t off = pos % b->file_size;
		size_t n = b->file_size - off < len ? b->file_size - off : len;

		if (memcmp(map + off, buf, n)) {
			size_t i = 0;

			while (map[off + i] == buf[i])
				i++;
			fprintf(stderr,
				"sm_bench: receiver: stream byte %" PRIu64
				" differs from file offset %" PRIu64 "\n",
				pos + i, off + i);
			return false;
		}
		pos += n;
		buf += n;
		len -= n;
	}
	return true;
}

/*
 * Receive until EOF, then send back the byte count (8 bytes, host order)
 * as the sender's "everything arrived" signal.
 */
static int receive(const struct bench *b, int fd)
{
	static unsigned char buf[RECV_BUF_SIZE];
	unsigned char *map = NULL;
	uint64_t got = 0;
	bool ok = true;

	if (b->verify) {
		map = mmap(NULL, b->file_size, PROT_READ, MAP_SHARED,
			   b->file_fd, 0);
		if (map == MAP_FAILED) {
			perror("sm_bench: receiver: mmap");
			return EXIT_SETUP;
		}
	}
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			perror("sm_bench: receiver: recv");
			return EXIT_FAIL;
		}
		if (!n)
			break;
		if (ok && map)
			ok = verify_chunk(b, map, got, buf, n);
		got += n;
	}
	if (write_all(fd, &got, sizeof(got))) {
		perror("sm_bench: receiver: ack");
		return EXIT_FAIL;
	}
	return ok ? EXIT_OK : EXIT_FAIL;
}

static int send_loop(const struct bench *b, int fd, struct result *r)
{
	uint64_t left = b->total;
	off_t off = 0;

	while (left) {
		size_t want = b->chunk;
		ssize_t n;

		if ((uint64_t)off == b->file_size)
			off = 0;
		if (want > b->file_size - off)
			want = b->file_size - off;
		if (want > left)
			want = left;
		n = sendfile(fd, b->file_fd, &off, want);
		r->calls++;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			perror("sm_bench: sendfile");
			return -1;
		}
		if (n == 0) {
			fprintf(stderr,
				"sm_bench: sendfile returned 0 at %jd\n",
				(intmax_t)off);
			return -1;
		}
		if ((size_t)n < want)
			r->short_calls++;
		left -= n;
	}
	return 0;
}

static int read_ack(int fd, uint64_t *got)
{
	char *p = (char *)got;
	size_t len = sizeof(*got);

	while (len) {
		ssize_t n = recv(fd, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

static int transfer(const struct bench *b, int fd, struct result *r)
{
	uint64_t got = 0;
	double t0;
	int ret;

	t0 = now();
	ret = send_loop(b, fd, r);
	if (!ret && shutdown(fd, SHUT_WR)) {
		perror("sm_bench: shutdown");
		ret = -1;
	}
	if (!ret && read_ack(fd, &got)) {
		fprintf(stderr, "sm_bench: no ack from receiver\n");
		ret = -1;
	}
	r->seconds = now() - t0;
	if (!ret && got != b->total) {
		fprintf(stderr, "sm_bench: receiver got %" PRIu64
			" of %" PRIu64 " bytes\n", got, b->total);
		ret = -1;
	}
	return ret;
}

/*
 * The listener is made before fork() and accepted on by the receiver, so
 * the sender's connect() cannot race it.  Setting the congestion control
 * here too means the accepted socket starts with it.  Returns the fd or
 * minus an exit code.
 */
static int tcp_listener(const struct bench *b, struct sockaddr_in *sin)
{
	socklen_t len = sizeof(*sin);
	int fd, ret;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("sm_bench: socket");
		return -EXIT_SETUP;
	}
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ret = set_cc(fd, b->cc);
	if (ret) {
		ret = -report_cc_error(b->cc, ret);
		goto err;
	}
	if (bind(fd, (struct sockaddr *)sin, sizeof(*sin)) ||
	    listen(fd, 1) ||
	    getsockname(fd, (struct sockaddr *)sin, &len)) {
		perror("sm_bench: listen");
		ret = -EXIT_SETUP;
		goto err;
	}
	return fd;
err:
	close(fd);
	return ret;
}

static int run_receiver(const struct bench *b, int lfd, int peer_fd)
{
	int fd = peer_fd, ret;

	/* Never outlive a sender killed by a timeout. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (b->tcp) {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			perror("sm_bench: receiver: accept");
			return EXIT_SETUP;
		}
		close(lfd);
		ret = set_cc(fd, b->cc);
		if (ret)
			return report_cc_error(b->cc, ret);
	}
	return receive(b, fd);
}

static int connect_sender(const struct bench *b, const struct sockaddr_in *sin)
{
	int fd, ret;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ret = set_cc(fd, b->cc);
	if (ret) {
		close(fd);
		return ret;
	}
	if (connect(fd, (const struct sockaddr *)sin, sizeof(*sin))) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

static int run(const struct bench *b)
{
	struct sockaddr_in sin;
	struct result r = { 0 };
	int sv[2] = { -1, -1 };
	int lfd = -1, fd, status, ret;
	pid_t pid;

	if (b->tcp) {
		lfd = tcp_listener(b, &sin);
		if (lfd < 0)
			return -lfd;
	} else if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		perror("sm_bench: socketpair");
		return EXIT_SETUP;
	}

	pid = fork();
	if (pid < 0) {
		perror("sm_bench: fork");
		return EXIT_SETUP;
	}
	if (!pid) {
		if (sv[0] >= 0)
			close(sv[0]);
		/* _exit: the child is only a sink, keep its exit quiet. */
		_exit(run_receiver(b, lfd, sv[1]));
	}

	if (b->tcp) {
		close(lfd);
		fd = connect_sender(b, &sin);
		if (fd < 0) {
			fprintf(stderr, "sm_bench: connect: %s\n",
				strerror(-fd));
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return EXIT_SETUP;
		}
	} else {
		close(sv[1]);
		fd = sv[0];
	}

	ret = transfer(b, fd, &r) ? EXIT_FAIL : EXIT_OK;
	close(fd);
	if (waitpid(pid, &status, 0) != pid) {
		perror("sm_bench: waitpid");
		return EXIT_SETUP;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "sm_bench: receiver failed (status 0x%x)\n",
			status);
		return WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_FAIL;
	}
	if (ret)
		return ret;

	printf("transport=%s cc=%s chunk=%" PRIu64 " bytes=%" PRIu64
	       " seconds=%.6f gbps=%.3f calls=%" PRIu64 " short=%" PRIu64
	       " verified=%s\n",
	       b->tcp ? "tcp" : "unix", b->tcp ? b->cc : "-", b->chunk,
	       b->total, r.seconds, b->total / r.seconds / 1e9, r.calls,
	       r.short_calls, b->verify ? "yes" : "no");
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "transport", required_argument, NULL, 't' },
		{ "chunk", required_argument, NULL, 'c' },
		{ "total", required_argument, NULL, 'n' },
		{ "cc", required_argument, NULL, 'C' },
		{ "file", required_argument, NULL, 'f' },
		{ "verify", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench b = { .tcp = true, .cc = "cubic", .file_fd = -1 };
	const char *transport = NULL;
	int opt, ret;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 't':
			transport = optarg;
			break;
		case 'c':
			if (parse_size(optarg, &b.chunk) || !b.chunk)
				goto bad;
			break;
		case 'n':
			if (parse_size(optarg, &b.total) || !b.total)
				goto bad;
			break;
		case 'C':
			if (strlen(optarg) >= CC_NAME_MAX)
				goto bad;
			b.cc = optarg;
			break;
		case 'f':
			b.path = optarg;
			break;
		case 'v':
			b.verify = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			goto bad;
		}
	}
	if (optind != argc || !transport || !b.chunk || !b.total)
		goto bad;
	if (!strcmp(transport, "unix"))
		b.tcp = false;
	else if (strcmp(transport, "tcp"))
		goto bad;
	if (b.chunk > SIZE_MAX / 2)
		goto bad;

	/* A dead receiver must show up as EPIPE, not kill the sender. */
	signal(SIGPIPE, SIG_IGN);

	ret = open_file(&b);
	if (!ret)
		ret = warm_file(&b);
	if (ret) {
		fprintf(stderr, "sm_bench: test file %s: %s\n",
			b.path ? b.path : "(temporary)", strerror(-ret));
		return EXIT_SETUP;
	}
	return run(&b);
bad:
	usage(stderr);
	return EXIT_USAGE;
}
