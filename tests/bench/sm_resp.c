// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Response benchmark: N responses of (header + file body) over loopback TCP,
 * the way a sendpage-era server sends them, against the kernel helper's
 * single send.  `sm_resp MODE HDR BODY N` prints "mode=.. resp_per_s=.."
 *   writev    writev(header) + sendfile(body)
 *   cork      TCP_CORK on, writev(header), sendfile(body), TCP_CORK off
 *   kmod      one SPLICEMSG_IOC_SEND with the header iovec and the range
 * Run inside the VM by `scripts/bench --vm` (the module is loaded there);
 * run `writev` under LD_PRELOAD with SPLICEMSG_ENGINE=uring for "shim".
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
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

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	size_t hlen, blen, n, i, total;
	char tmpl[] = "/tmp/sm_resp.XXXXXX", *hdr, *buf;
	int l, s, c, f, dev = -1, one = 1, zero = 0;
	const char *mode;
	double t0, t1;
	pid_t pid;

	if (argc != 5)
		return fprintf(stderr, "usage: sm_resp MODE HDR BODY N\n"), 2;
	mode = argv[1];
	hlen = strtoul(argv[2], NULL, 0);
	blen = strtoul(argv[3], NULL, 0);
	n = strtoul(argv[4], NULL, 0);
	hdr = malloc(hlen + 1);
	buf = malloc(blen + 1);
	memset(hdr, 'h', hlen);
	memset(buf, 'b', blen);
	f = mkstemp(tmpl);
	if (f < 0 || write(f, buf, blen) != (ssize_t)blen)
		die("file");
	unlink(tmpl);
	if (!strcmp(mode, "kmod") &&
	    (dev = open(SPLICEMSG_DEVICE, O_RDWR)) < 0)
		die(SPLICEMSG_DEVICE);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (bind(l, (void *)&a, sizeof(a)) || listen(l, 1) ||
	    getsockname(l, (void *)&a, &alen))
		die("listen");
	total = n * (hlen + blen);
	pid = fork();
	if (!pid) {		/* receiver: read all, then ack one byte */
		static char rb[1 << 18];
		size_t got = 0;
		ssize_t k;

		c = accept(l, NULL, NULL);
		while (got < total && (k = read(c, rb, sizeof(rb))) > 0)
			got += k;
		k = write(c, "k", 1);
		_exit(got == total && k == 1 ? 0 : 1);
	}
	s = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(s, IPPROTO_TCP, TCP_CONGESTION, "cubic", 5);
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(s, (void *)&a, sizeof(a)))
		die("connect");
	t0 = now();
	for (i = 0; i < n; i++) {
		struct iovec v = { hdr, hlen };
		off_t off = 0;

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
	waitpid(pid, &c, 0);
	printf("mode=%s hdr=%zu body=%zu n=%zu seconds=%.4f resp_per_s=%.0f "
	       "gbps=%.3f ok=%d\n", mode, hlen, blen, n, t1 - t0,
	       n / (t1 - t0), total / (t1 - t0) / 1e9,
	       WIFEXITED(c) && !WEXITSTATUS(c));
	return WIFEXITED(c) && !WEXITSTATUS(c) ? 0 : 1;
}
