// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * A bounded-time fuzzer for splicemsg.ko, run inside the VM by
 * tests/kmod/kmod-fuzz.sh: worker threads throw random and boundary
 * requests at /dev/splicemsg (the ioctls, IORING_OP_URING_CMD, the mmap
 * staging area) while a chaos thread closes and reopens the descriptors
 * they name and a drain thread reads every peer, so that blocking sends end.
 *
 * Results are not checked against a model: the kernel must survive, which
 * the caller judges from the kernel log and from unloading the module.
 * Here: no operation may hang past the deadline, the module's stage_pages
 * and reg_pages gauges must come back to where they were once everything
 * is closed, and the ABI promises it can see cheaply on the way must hold
 * (no output past a caller's size, the OFFPTR pointer kept, no SQE read
 * after the submit, nothing written into a registered buffer).  Prints a summary (operations, errno histogram); exits 0, 1 (a
 * post-condition failed), 77 (no device) or 99 (the harness broke).
 *
 *   t_kmod_fuzz --seed S --seconds N [--threads T] [--trace] [--lo-mtu]
 *               [--ops send,uring,...] [--no-chaos] [--device PATH]
 *
 * Each thread has its own random stream derived from S; timing makes runs
 * differ anyway, so --trace (every operation on stderr, before it runs)
 * and --ops (only these kinds) are what narrows a finding down.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <liburing.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <uapi/linux/splicemsg.h>

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#define FZ_MADV_GUARD_INSTALL 102
#define FZ_MADV_GUARD_REMOVE 103

#define PG 4096UL
#define MAX_WORKERS 32
#define NR_SOCK_SLOTS 24
#define NR_POOL 40		/* NR_SOCK_SLOTS sockets, then files */
#define NR_DEVS 4		/* shared /dev/splicemsg descriptors */
#define DATA_LEN (64UL << 10)	/* header/trailer source bytes */
#define NR_SLOTS 9		/* request memory: 0 ioctl, 1.. io_uring */
#define MAX_MAPS 4		/* staging areas per worker */
#define NR_ERR 135		/* 0 success, errno 1..133, 134 other */
#define STRUCT_SZ ((uint32_t)sizeof(struct splicemsg_send))
#define KERNEL_PTR 0xffffffff81000000ULL
#define NONCANON_PTR 0x8000000000000000ULL

/* ---- operations and their statistics ------------------------------------- */

#define FZ_OPS(X)							\
	X(send)	X(send_uring) X(uring_res) X(ring_setup) X(sqe_copy)	\
	X(version) X(stats) X(bad_ioctl)				\
	X(stage_map) X(stage_again) X(stage_touch)			\
	X(stage_mprotect) X(stage_madvise) X(stage_mremap)		\
	X(stage_punch) X(stage_register) X(stage_fixed_io)		\
	X(zc_notif) X(stage_unmap) X(stage_closefd) X(stage_misc)	\
	X(stage_budget) X(reg) X(reg_res) X(reg_io) X(reg_io_res)	\
	X(fork) X(dev) X(sysfs) X(sockopt)				\
	X(chaos_replace) X(chaos_dev) X(chaos_file) X(chaos_signal)	\
	X(chaos_mtu)

enum fz_op {
#define X(n) OP_##n,
	FZ_OPS(X)
#undef X
	NR_OPS
};

static const char *const op_names[] = {
#define X(n) #n,
	FZ_OPS(X)
#undef X
};

static uint64_t hist[NR_OPS][NR_ERR];
static uint64_t abi_overrun;	/* VERSION/STATS wrote past a small size */
static uint64_t abi_offptr;	/* OFFPTR: the struct's pointer overwritten */
static uint64_t abi_sqe;	/* sqe->cmd read after the submit returned */
static uint64_t abi_reg_write;	/* READ_FIXED/RECV into a module buffer */
static volatile sig_atomic_t sigpipes;

/* Count one result: @ret is >= 0 or -errno. */
static void record(enum fz_op op, long ret)
{
	long e = ret >= 0 ? 0 : -ret;

	if (e >= NR_ERR)
		e = NR_ERR - 1;
	__atomic_fetch_add(&hist[op][e], 1, __ATOMIC_RELAXED);
}

static long sys_ret(long ret)
{
	return ret < 0 ? -errno : ret;
}

/* ---- options, time, random numbers --------------------------------------- */

static struct {
	uint64_t seed;
	int seconds, threads;
	bool trace, lo_mtu, chaos;
	uint64_t ops;		/* bit per enum fz_op; 0: all */
	const char *device;
} opt = { .seconds = 10, .threads = 4, .chaos = true,
	  .device = SPLICEMSG_DEVICE };

static volatile int stop;
static struct splicemsg_version ver;
static dev_t dev_rdev;		/* /dev/splicemsg's device number */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd64(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static uint32_t rnd(uint64_t *s, uint32_t n)
{
	return n ? rnd64(s) % n : 0;
}

static bool chance(uint64_t *s, unsigned int pct)
{
	return rnd(s, 100) < pct;
}

/* A pointer the kernel must refuse: never one into our own memory. */
static uint64_t bad_ptr(uint64_t *s)
{
	switch (rnd(s, 5)) {
	case 0:
		return 0;
	case 1:
		return KERNEL_PTR + rnd(s, 1 << 20);
	case 2:
		return NONCANON_PTR | rnd64(s);
	case 3:
		return rnd(s, 0x10000);		/* below mmap_min_addr */
	default:
		return 0x7ffffffff000ULL + rnd(s, PG);	/* top of user space */
	}
}

/* ---- fault probes: touching a staging area may SIGBUS by design ---------- */

static __thread sigjmp_buf probe_env;
static __thread volatile sig_atomic_t probing;

static __thread const char *self_desc;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	char buf[400];
	int n;

	if (probing) {
		probing = 0;
		siglongjmp(probe_env, 1);
	}
	/* a fault outside a probe is our bug: say where, die of it */
	n = snprintf(buf, sizeof(buf), "harness: signal %d at %p ip %#llx "
		     "in: %s\n", sig, si->si_addr, (unsigned long long)
		     ((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP],
		     self_desc ? self_desc : "?");
	write(2, buf, n);
	signal(sig, SIG_DFL);
}

/* Copy @len bytes; returns -1 if a fault (SIGBUS, SIGSEGV) stopped it. */
static int probe_copy(volatile uint8_t *dst, const volatile uint8_t *src,
		      size_t len)
{
	size_t i;

	if (sigsetjmp(probe_env, 1))
		return -1;
	probing = 1;
	for (i = 0; i < len; i++)
		dst[i] = src[i];
	probing = 0;
	return 0;
}

static int probe_fill(volatile uint8_t *dst, uint8_t v, size_t len)
{
	size_t i;

	if (sigsetjmp(probe_env, 1))
		return -1;
	probing = 1;
	for (i = 0; i < len; i += 64)
		dst[i] = v;
	probing = 0;
	return 0;
}

static void on_nothing(int sig)
{
	(void)sig;
}

static void on_pipe(int sig)
{
	(void)sig;
	sigpipes++;
}

static void on_watchdog(int sig);

/* No SA_RESTART: a signal is how blocked sends are interrupted. */
static void signals_setup(void)
{
	struct sigaction sa = { 0 };

	sa.sa_handler = on_nothing;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_pipe;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_watchdog;
	sigaction(SIGALRM, &sa, NULL);
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_NODEFER | SA_SIGINFO;
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
}

/* ---- the descriptor pool ------------------------------------------------- */

enum kind {
	K_TCP4, K_TCP6, K_TCP_STALL, K_TCP_RST, K_TCP_REPAIR, K_TCP_LONE,
	K_TCP_LISTEN, K_UDP4, K_UDP6, K_UDP_LONE, K_UNIX, K_UNIX_STALL,
	K_UNIX_DGRAM, K_UNIX_SEQ, K_MPTCP, K_OTHER_SOCK, K_PIPE, K_EVENTFD,
	K_CLOSED,
	K_FILE, K_FILE_SHM, K_FILE_DIRECT, K_FILE_WRONLY, K_FILE_PATH,
	K_MEMFD, K_DIR, K_PROCFS, K_SYSFS, K_LOWER, K_UNLINKED,
	NR_KINDS
};
#define K_FIRST_FILE K_FILE

static const char *const kind_names[] = {
	"tcp4", "tcp6", "tcp-stall", "tcp-rst", "tcp-repair", "tcp-lone",
	"tcp-listen", "udp4", "udp6", "udp-lone", "unix", "unix-stall",
	"unix-dgram", "unix-seq", "mptcp", "other-sock", "pipe", "eventfd",
	"closed",
	"file", "file-shm", "file-direct", "file-wronly", "file-path",
	"memfd", "dir", "procfs", "sysfs", "lower", "unlinked",
};

/*
 * Workers read slots without a lock, on purpose: a descriptor may be closed
 * and its number reused while a send names it.  Only the chaos thread (and
 * setup, teardown) writes them, under pool_lock, and it alone closes them.
 */
struct slot {
	int fd, peer;
	int kind;
	int64_t size;		/* file size when opened */
};

static struct slot pool[NR_POOL];
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static int devs[NR_DEVS];
static pthread_mutex_t dev_lock = PTHREAD_MUTEX_INITIALIZER;
static int listen4 = -1, listen6 = -1, epfd = -1;
static struct sockaddr_in addr4;
static struct sockaddr_in6 addr6;

struct fz_file {
	char path[256];
	int64_t size;
};

#define NR_FILES 12
static struct fz_file files[NR_FILES];
static int nfiles, first_shm;	/* files[first_shm..] are on tmpfs */
static char tmpdir[] = "/tmp/t_kmod_fuzz.XXXXXX";
static char shmdir[] = "/dev/shm/t_kmod_fuzz.XXXXXX";

static int slot_fd(int i)
{
	return __atomic_load_n(&pool[i].fd, __ATOMIC_RELAXED);
}

/* What a number names now (racy, for --trace and hang reports only). */
static const char *fd_kind(int fd)
{
	int i;

	if (fd < 0)
		return "-";
	for (i = 0; i < NR_POOL; i++) {
		if (slot_fd(i) == fd)
			return kind_names[pool[i].kind];
		if (pool[i].peer == fd)
			return "peer";
	}
	for (i = 0; i < NR_DEVS; i++)
		if (devs[i] == fd)
			return "dev";
	return "?";
}

/* Every socket the drain thread should read: edge-triggered, so a closed
 * and reused number never needs EPOLL_CTL_DEL (only read until EAGAIN). */
static void drain_add(int fd)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLRDHUP | EPOLLET,
		.data.fd = fd,
	};

	if (fd >= 0)
		epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void set_timeo(int fd, int opt_name, long ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, opt_name, &tv, sizeof(tv));
}

static void set_int(int fd, int level, int name, int v)
{
	setsockopt(fd, level, name, &v, sizeof(v));
}

static int listener(int family)
{
	socklen_t len = family == AF_INET ? sizeof(addr4) : sizeof(addr6);
	void *a = family == AF_INET ? (void *)&addr4 : (void *)&addr6;
	int l = socket(family, SOCK_STREAM, 0);

	if (family == AF_INET) {
		addr4.sin_family = AF_INET;
		addr4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else {
		addr6.sin6_family = AF_INET6;
		addr6.sin6_addr = in6addr_loopback;
	}
	if (l < 0 || bind(l, a, len) || listen(l, 128) ||
	    getsockname(l, a, &len)) {
		if (l >= 0)
			close(l);
		return -1;
	}
	/* accept() after a loopback connect() is immediate; never hang */
	set_timeo(l, SO_RCVTIMEO, 1000);
	return l;
}

static int tcp_pair(int family, int *peer)
{
	int l = family == AF_INET ? listen4 : listen6;
	socklen_t len = family == AF_INET ? sizeof(addr4) : sizeof(addr6);
	void *a = family == AF_INET ? (void *)&addr4 : (void *)&addr6;
	int c;

	*peer = -1;
	if (l < 0)
		return -1;
	c = socket(family, SOCK_STREAM, 0);
	if (c < 0)
		return -1;
	if (connect(c, a, len) || (*peer = accept(l, NULL, NULL)) < 0) {
		close(c);
		return -1;
	}
	return c;
}

static int udp_pair(int family, int *peer)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int r, c;

	*peer = -1;
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
	r = socket(family, SOCK_DGRAM, 0);
	if (r < 0)
		return -1;
	c = socket(family, SOCK_DGRAM, 0);
	if (c < 0 || bind(r, (void *)&ss, len) ||
	    getsockname(r, (void *)&ss, &len) ||
	    connect(c, (void *)&ss, len)) {
		close(r);
		if (c >= 0)
			close(c);
		return -1;
	}
	*peer = r;
	return c;
}

/* Random socket options: small buffers, timeouts, corking, non-blocking. */
static void tune_sock(uint64_t *s, struct slot *sl)
{
	/* never drained, or queued without sending (repair): time out */
	bool stall = sl->kind == K_TCP_STALL || sl->kind == K_UNIX_STALL ||
		     sl->kind == K_TCP_REPAIR;

	if (stall || chance(s, 50))
		set_timeo(sl->fd, SO_SNDTIMEO, 10 + rnd(s, 300));
	/* the drain's splice() waits on a blocking socket: not for long */
	set_timeo(sl->fd, SO_RCVTIMEO, 100);
	if (chance(s, 30))
		set_int(sl->fd, SOL_SOCKET, SO_SNDBUF, 4096 + rnd(s, 65536));
	if (chance(s, 15))
		fcntl(sl->fd, F_SETFL, O_NONBLOCK);
	if (sl->kind <= K_TCP_REPAIR && chance(s, 10))
		set_int(sl->fd, IPPROTO_TCP, TCP_CORK, 1);
	if (sl->kind <= K_TCP_REPAIR && chance(s, 10))
		set_int(sl->fd, IPPROTO_TCP, TCP_NODELAY, 1);
	if ((sl->kind == K_UDP4 || sl->kind == K_UDP6) && chance(s, 10))
		set_int(sl->fd, IPPROTO_UDP, UDP_CORK, 1);
	if ((sl->kind == K_UDP4 || sl->kind == K_UDP6) && chance(s, 15))
		set_int(sl->fd, IPPROTO_UDP, UDP_SEGMENT, 500 + rnd(s, 1000));
	if (sl->peer < 0)
		return;
	/* a send on the peer (a reused number) must not block forever */
	set_timeo(sl->peer, SO_SNDTIMEO, 200);
	set_timeo(sl->peer, SO_RCVTIMEO, 100);
	fcntl(sl->peer, F_SETFL, O_NONBLOCK);
	if (chance(s, 30))
		set_int(sl->peer, SOL_SOCKET, SO_RCVBUF, 2048 + rnd(s, 65536));
}

static void tcp_repair(uint64_t *s, int fd)
{
	set_int(fd, IPPROTO_TCP, TCP_REPAIR, 1);
	set_int(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, rnd(s, 3));
}

static void tcp_reset(int *peer)
{
	struct linger lg = { 1, 0 };

	setsockopt(*peer, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(*peer);
	*peer = -1;
}

static int other_sock(uint64_t *s)
{
	switch (rnd(s, 4)) {
	case 0:
		return socket(AF_NETLINK, SOCK_RAW, 0);
	case 1:
		return socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
	case 2:
		return socket(AF_INET, SOCK_RAW, IPPROTO_UDP);
	default:
		return socket(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE);
	}
}

static int sock_kind_open(uint64_t *s, struct slot *sl)
{
	int sv[2] = { -1, -1 };

	switch (sl->kind) {
	case K_TCP4:
	case K_TCP_STALL:
	case K_TCP_RST:
	case K_TCP_REPAIR:
		sl->fd = tcp_pair(AF_INET, &sl->peer);
		if (sl->fd >= 0 && sl->kind == K_TCP_RST)
			tcp_reset(&sl->peer);
		if (sl->fd >= 0 && sl->kind == K_TCP_REPAIR)
			tcp_repair(s, sl->fd);
		break;
	case K_TCP6:
		sl->fd = tcp_pair(AF_INET6, &sl->peer);
		break;
	case K_TCP_LONE:
		sl->fd = socket(chance(s, 50) ? AF_INET : AF_INET6,
				SOCK_STREAM, 0);
		break;
	case K_TCP_LISTEN:
		sl->fd = listener(AF_INET);
		break;
	case K_UDP4:
	case K_UDP6:
		sl->fd = udp_pair(sl->kind == K_UDP4 ? AF_INET : AF_INET6,
				  &sl->peer);
		break;
	case K_UDP_LONE:
		sl->fd = socket(AF_INET, SOCK_DGRAM, 0);
		break;
	case K_UNIX:
	case K_UNIX_STALL:
	case K_UNIX_DGRAM:
	case K_UNIX_SEQ:
		socketpair(AF_UNIX, sl->kind == K_UNIX_DGRAM ? SOCK_DGRAM :
			   sl->kind == K_UNIX_SEQ ? SOCK_SEQPACKET :
			   SOCK_STREAM, 0, sv);
		sl->fd = sv[0];
		sl->peer = sv[1];
		break;
	case K_MPTCP:
		sl->fd = socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP);
		break;
	case K_OTHER_SOCK:
		sl->fd = other_sock(s);
		break;
	case K_PIPE:
		if (!pipe2(sv, O_NONBLOCK)) {
			sl->fd = sv[rnd(s, 2)];
			close(sv[sl->fd == sv[0]]);
		}
		break;
	case K_EVENTFD:
		sl->fd = eventfd(0, 0);
		break;
	default:	/* K_CLOSED: a number that was just closed */
		sl->fd = eventfd(0, 0);
		close(sl->fd);
		return 0;
	}
	return sl->fd;
}

static int file_open(uint64_t *s, struct slot *sl)
{
	struct fz_file *f = &files[sl->kind == K_FILE ? rnd(s, first_shm) :
				   sl->kind == K_FILE_SHM ?
				   first_shm + rnd(s, nfiles - first_shm) :
				   rnd(s, nfiles)];
	char path[300];
	int fd = -1;

	sl->size = f->size;
	switch (sl->kind) {
	case K_FILE:
	case K_FILE_SHM:
		return open(f->path, chance(s, 80) ? O_RDONLY : O_RDWR);
	case K_FILE_DIRECT:
		fd = open(f->path, O_RDONLY | O_DIRECT);
		return fd >= 0 ? fd : open(f->path, O_RDONLY);
	case K_FILE_WRONLY:
		return open(f->path, O_WRONLY);
	case K_FILE_PATH:
		return open(f->path, O_PATH);
	case K_MEMFD:
		fd = memfd_create("t_kmod_fuzz", 0);
		sl->size = rnd(s, 3) * 8192 + rnd(s, 5000);
		if (fd >= 0 && ftruncate(fd, sl->size))
			sl->size = 0;
		return fd;
	case K_DIR:
		sl->size = 0;
		return open(tmpdir, O_RDONLY | O_DIRECTORY);
	case K_PROCFS:
		sl->size = 4096;
		return open(chance(s, 50) ? "/proc/meminfo" :
			    "/proc/sys/kernel/ostype", O_RDONLY);
	case K_SYSFS:
		sl->size = 4096;
		return open("/sys/class/misc/splicemsg/calls", O_RDONLY);
	case K_LOWER:
		/* the read-only host share, under the overlay */
		sl->size = 1 << 20;
		return open("/proc/self/exe", O_RDONLY);
	default:	/* K_UNLINKED */
		snprintf(path, sizeof(path), "%s/gone.%lu", tmpdir,
			 (unsigned long)rnd64(s));
		fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
		sl->size = rnd(s, 20000);
		if (fd >= 0 && ftruncate(fd, sl->size))
			sl->size = 0;
		unlink(path);
		return fd;
	}
}

static void slot_open(uint64_t *s, int i, struct slot *sl)
{
	sl->fd = sl->peer = -1;
	sl->size = 0;
	if (i < NR_SOCK_SLOTS) {
		sl->kind = rnd(s, K_FIRST_FILE);
		if (sock_kind_open(s, sl) < 0)
			return;
		if (sl->kind != K_CLOSED && sl->kind < K_PIPE)
			tune_sock(s, sl);
		/* a stalled peer is never read: its sender's buffer fills */
		if (sl->kind != K_TCP_STALL && sl->kind != K_UNIX_STALL)
			drain_add(sl->peer);
		drain_add(sl->fd);
	} else {
		sl->kind = K_FIRST_FILE + rnd(s, NR_KINDS - K_FIRST_FILE);
		sl->fd = file_open(s, sl);
	}
}

static void slot_close(struct slot *sl)
{
	if (sl->kind != K_CLOSED && sl->fd >= 0)
		close(sl->fd);
	if (sl->peer >= 0)
		close(sl->peer);
}

/* Replace pool[i]; closing first lets the new object take the number. */
static void pool_replace(uint64_t *s, int i)
{
	struct slot old, new;
	bool close_first = chance(s, 50);

	pthread_mutex_lock(&pool_lock);
	old = pool[i];
	if (close_first)
		slot_close(&old);
	slot_open(s, i, &new);
	__atomic_store_n(&pool[i].kind, new.kind, __ATOMIC_RELAXED);
	__atomic_store_n(&pool[i].size, new.size, __ATOMIC_RELAXED);
	__atomic_store_n(&pool[i].peer, new.peer, __ATOMIC_RELAXED);
	__atomic_store_n(&pool[i].fd, new.fd, __ATOMIC_RELAXED);
	if (!close_first)
		slot_close(&old);
	pthread_mutex_unlock(&pool_lock);
}

static int dev_open(uint64_t *s)
{
	static const int modes[] = { O_RDWR, O_RDWR, O_RDWR, O_RDONLY,
				     O_WRONLY, O_RDWR | O_NONBLOCK };

	return open(opt.device, modes[rnd(s, 6)]);
}

static void dev_replace(uint64_t *s, int i)
{
	pthread_mutex_lock(&dev_lock);
	close(devs[i]);
	devs[i] = dev_open(s);
	pthread_mutex_unlock(&dev_lock);
}

/* ---- the drain thread ---------------------------------------------------- */

static volatile int drain_stop;

static int drain_pipe[2] = { -1, -1 };

/*
 * Read until EAGAIN; true if the cap stopped us with data left.  Every
 * fourth socket goes through a pipe: splice() moves the skbs' pages (the
 * file's page-cache pages, the module's fragments) into pipe buffers.
 */
static bool drain_fd(int fd, uint8_t *buf, size_t len)
{
	bool pipe_it = drain_pipe[0] >= 0 && !(fd & 3);
	ssize_t n;
	int i;

	for (i = 0; i < 64; i++) {
		if (pipe_it) {
			n = splice(fd, NULL, drain_pipe[1], NULL, len,
				   SPLICE_F_NONBLOCK);
			while (read(drain_pipe[0], buf, len) > 0)
				;
			if (n < 0 && errno == EINVAL)	/* not a stream */
				n = recv(fd, buf, len, MSG_DONTWAIT);
		} else {
			n = recv(fd, buf, len, MSG_DONTWAIT);
		}
		if (n <= 0)
			return false;
	}
	return true;
}

static pid_t drain_tid, chaos_tid;

static void *drain_main(void *arg)
{
	static uint8_t buf[256 << 10];
	struct epoll_event ev[64];
	int retry[128], nretry = 0, n, i, j;

	(void)arg;
	drain_tid = gettid();
	if (pipe2(drain_pipe, O_NONBLOCK))
		drain_pipe[0] = -1;
	while (!drain_stop) {
		int again[128], nagain = 0;

		n = epoll_wait(epfd, ev, 64, nretry ? 0 : 50);
		for (i = 0; i < n; i++)
			if (drain_fd(ev[i].data.fd, buf, sizeof(buf)) &&
			    nagain < 128)
				again[nagain++] = ev[i].data.fd;
		for (i = 0; i < nretry; i++)
			if (drain_fd(retry[i], buf, sizeof(buf)) &&
			    nagain < 128)
				again[nagain++] = retry[i];
		for (j = 0; j < nagain; j++)
			retry[j] = again[j];
		nretry = nagain;
	}
	return NULL;
}

/* ---- test files ---------------------------------------------------------- */

static int add_file(const char *dir, const char *name, int64_t size,
		    bool holes)
{
	struct fz_file *f = &files[nfiles];
	static uint8_t buf[64 << 10];
	int64_t off;
	int fd;

	snprintf(f->path, sizeof(f->path), "%s/%s", dir, name);
	fd = open(f->path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, size))
		return -1;
	for (off = 0; off < size; off += sizeof(buf)) {
		size_t n = size - off < (int64_t)sizeof(buf) ?
			   (size_t)(size - off) : sizeof(buf);

		memset(buf, (int)(off >> 16) + 'a', n);
		/* every other 64 KiB left a hole: the zero page in pipes */
		if ((!holes || !(off & (1 << 16))) &&
		    pwrite(fd, buf, n, off) != (ssize_t)n)
			return -1;
	}
	close(fd);
	f->size = size;
	nfiles++;
	return 0;
}

static int files_setup(void)
{
	static const struct {
		const char *name;
		int64_t size;
		bool holes;
	} spec[] = {
		{ "empty", 0, false }, { "one", 1, false },
		{ "page-1", 4095, false }, { "page", 4096, false },
		{ "page+1", 4097, false }, { "64k+1", 65537, false },
		{ "1m", 1 << 20, true }, { "4m", 4 << 20, true },
	};
	size_t i;

	if (!mkdtemp(tmpdir))
		return -1;
	if (!mkdtemp(shmdir))
		strcpy(shmdir, tmpdir);
	for (i = 0; i < sizeof(spec) / sizeof(spec[0]); i++)
		if (add_file(tmpdir, spec[i].name, spec[i].size,
			     spec[i].holes))
			return -1;
	/* tmpfs directly: shmem's own splice_read, O_DIRECT */
	first_shm = nfiles;
	if (add_file(shmdir, "shm-page+1", 4097, false) ||
	    add_file(shmdir, "shm-1m", 1 << 20, true) ||
	    add_file(shmdir, "shm-100k", 100000, false))
		return -1;
	return 0;
}

static void files_cleanup(void)
{
	int i;

	for (i = 0; i < nfiles; i++)
		unlink(files[i].path);
	rmdir(tmpdir);
	rmdir(shmdir);
}

/* ---- the workers --------------------------------------------------------- */

struct stage_map {
	uint8_t *addr;
	size_t len;
	int fd;			/* ours to close, or -1 */
};

struct worker {
	int id;
	pid_t tid;
	pthread_t th;
	uint64_t rng;
	uint8_t *mem;		/* the arena below */
	size_t mem_len;
	uint8_t *data;		/* DATA_LEN random bytes, then a guard page */
	uint8_t *ro;		/* a read-only page */
	uint8_t *none;		/* a PROT_NONE page */
	uint8_t *slots;		/* NR_SLOTS x (struct page, aux page, guard) */
	uint32_t slot_busy;	/* io_uring requests in flight, by slot */
	uint32_t slot_dirty;	/* slot pages replaced: remap before use */
	struct io_uring ring;
	unsigned int ring_flags;
	bool ring_ok, ring_fixed_file;
	uint8_t *reg;		/* registered buffer (maybe unmapped now) */
	size_t reg_len;
	bool kslots;		/* a sparse table for the module's buffers */
	struct stage_map maps[MAX_MAPS];
	int nmaps;
	int dev;		/* this worker's own /dev/splicemsg */
	volatile int op;	/* running now, or -1 */
	volatile int64_t op_start;
	char desc[256];		/* the running operation, for a hang */
	uint64_t nops;
	volatile bool done;
};

static struct worker workers[MAX_WORKERS];

#define SLOT_PAGES 3
#define UD_CMD (1ULL << 32)
#define UD_FIXED (2ULL << 32)
#define UD_SQE (3ULL << 32)
#define UD_REG (4ULL << 32)
#define UD_REG_IO (5ULL << 32)
#define REG_SLOTS 8		/* the sparse table's slots */

static uint8_t *slot_page(struct worker *w, int i)
{
	return w->slots + (size_t)i * SLOT_PAGES * PG;
}

static void trace(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->desc, sizeof(w->desc), fmt, ap);
	va_end(ap);
	if (opt.trace)
		fprintf(stderr, "T%d %s\n", w->id, w->desc);
}

static int arena_setup(struct worker *w)
{
	size_t i;

	/* data + guard, ro, none, slots */
	w->mem_len = DATA_LEN + 3 * PG + NR_SLOTS * SLOT_PAGES * PG;
	w->mem = mmap(NULL, w->mem_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (w->mem == MAP_FAILED)
		return -1;
	w->data = w->mem;
	w->none = w->data + DATA_LEN;
	w->ro = w->none + PG;
	w->slots = w->ro + 2 * PG;
	for (i = 0; i < DATA_LEN; i++)
		w->data[i] = (uint8_t)rnd64(&w->rng);
	/* plausible positions, for OFFPTR through read-only memory */
	for (i = 0; i < PG / 8; i++)
		((int64_t *)w->ro)[i] = (int64_t)(i * 997) % 70000;
	if (mprotect(w->none, PG, PROT_NONE) ||
	    mprotect(w->ro, PG, PROT_READ) ||
	    mprotect(w->ro + PG, PG, PROT_NONE))
		return -1;
	for (i = 0; i < NR_SLOTS; i++)
		if (mprotect(slot_page(w, i) + 2 * PG, PG, PROT_NONE))
			return -1;
	return 0;
}

/* Fresh zeroed pages for a slot whose memory was pulled away. */
static void slot_restore(struct worker *w, int i)
{
	if (!(w->slot_dirty & (1U << i)))
		return;
	if (mmap(slot_page(w, i), 2 * PG, PROT_READ | PROT_WRITE,
		 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED) {
		fprintf(stderr, "harness: slot remap: %s\n", strerror(errno));
		exit(99);
	}
	w->slot_dirty &= ~(1U << i);
}

static struct stage_map *some_map(struct worker *w)
{
	return w->nmaps ? &w->maps[rnd(&w->rng, w->nmaps)] : NULL;
}

static int pick_dev(struct worker *w)
{
	unsigned int c = rnd(&w->rng, 100);

	if (c < 50)
		return w->dev;
	if (c < 95)
		return __atomic_load_n(&devs[rnd(&w->rng, NR_DEVS)],
				       __ATOMIC_RELAXED);
	return slot_fd(rnd(&w->rng, NR_POOL));
}

/* ---- send requests ------------------------------------------------------- */

/*
 * A request is sane in every field except, sometimes, one (so that the
 * deep paths run with one odd value at a time), or wild in all of them.
 */
enum field {
	F_FLAGS, F_SOCK, F_FILE, F_COUNT, F_OFFSET, F_IOVCNT, F_IOV, F_ARRAY,
	F_SIZE, F_PTR, F_RESERVED, NR_FIELDS
};

static bool sane_kind(int k, bool file)
{
	if (file)
		return k == K_FILE || k == K_FILE_SHM || k == K_FILE_DIRECT ||
		       k == K_MEMFD || k == K_LOWER || k == K_UNLINKED ||
		       k == K_PROCFS || k == K_SYSFS;
	return k == K_TCP4 || k == K_TCP6 || k == K_UDP4 || k == K_UDP6 ||
	       k == K_UNIX || k == K_TCP_STALL || k == K_UNIX_STALL ||
	       k == K_TCP_REPAIR || k == K_TCP_RST;
}

/* A slot of a sane kind in [first, first + n), or any after 8 tries. */
static int pick_slot(struct worker *w, int first, int n, bool file)
{
	int i = first, t;

	for (t = 0; t < 8; t++) {
		i = first + rnd(&w->rng, n);
		if (sane_kind(__atomic_load_n(&pool[i].kind, __ATOMIC_RELAXED),
			      file))
			break;
	}
	return i;
}

static int pick_sock(struct worker *w, bool sane)
{
	uint64_t *s = &w->rng;
	unsigned int c = rnd(s, 100);
	int i = pick_slot(w, 0, NR_SOCK_SLOTS, false);

	if (sane || c < 60)
		return slot_fd(i);
	i = rnd(s, NR_SOCK_SLOTS);
	if (c < 75)
		return slot_fd(i);
	if (c < 85)
		return __atomic_load_n(&pool[i].peer, __ATOMIC_RELAXED);
	if (c < 89)
		return pick_dev(w);
	if (c < 94)
		return slot_fd(NR_SOCK_SLOTS + rnd(s, NR_POOL - NR_SOCK_SLOTS));
	if (c < 97)
		return chance(s, 50) ? -1 : INT_MIN;
	return rnd(s, 1024);
}

static int pick_file(struct worker *w, bool sane, int64_t *size)
{
	uint64_t *s = &w->rng;
	unsigned int c = rnd(s, 100);
	int i = pick_slot(w, NR_SOCK_SLOTS, NR_POOL - NR_SOCK_SLOTS, true);

	*size = __atomic_load_n(&pool[i].size, __ATOMIC_RELAXED);
	if (sane || c < 40)
		return slot_fd(i);
	i = NR_SOCK_SLOTS + rnd(s, NR_POOL - NR_SOCK_SLOTS);
	*size = __atomic_load_n(&pool[i].size, __ATOMIC_RELAXED);
	if (c < 70)
		return slot_fd(i);
	*size = 0;
	if (c < 82)
		return -1;
	if (c < 90)
		return slot_fd(rnd(s, NR_SOCK_SLOTS));
	if (c < 95)
		return pick_dev(w);
	return chance(s, 50) ? rnd(s, 1024) : INT_MIN;
}

static uint64_t gen_offset(uint64_t *s, bool sane, int64_t size,
			   uint64_t count)
{
	switch (rnd(s, sane ? 11 : 16)) {
	case 0: case 1: case 2: case 3:
		return 0;
	case 4: case 5: case 6:
		return size > 0 ? rnd64(s) % size : 0;
	case 7:
		return size ? size - 1 : 0;
	case 8:
		return size;
	case 9:
		return size + 1 + rnd(s, 8192);
	case 10:
		return (rnd64(s) % (size / PG + 2)) * PG;
	case 11:
		return (uint64_t)LLONG_MAX - count;	/* just valid */
	case 12:
		return (uint64_t)LLONG_MAX - count + 1;	/* overflows */
	case 13:
		return LLONG_MAX;
	case 14:
		return -(uint64_t)(1 + rnd(s, 8192));	/* negative */
	default:
		return rnd64(s);
	}
}

static uint64_t gen_count(uint64_t *s, bool sane, int64_t size)
{
	switch (rnd(s, sane ? 13 : 19)) {
	case 0: case 1:
		return 0;
	case 2:
		return 1;
	case 3: case 4: case 5:
		return 1 + rnd(s, 4096);
	case 6:
		return PG;
	case 7: case 8:
		return size > 0 ? size : 1 + rnd(s, 100000);
	case 9:
		return rnd64(s) % (size + 2);
	case 10:
		return 60000 - rnd(s, 30000);	/* about one datagram */
	case 11:
		return 1 << 20;
	case 12:
		return ver.max_count;
	case 13:
		return 65536;
	case 14:
		return ver.max_count + 1;
	case 15:
		return ~0ULL;
	default:
		return rnd64(s);
	}
}

static uint32_t gen_flags(uint64_t *s, bool sane)
{
	uint32_t f = rnd(s, 16);	/* the four valid bits */
	unsigned int c = rnd(s, 100);

	if (sane)
		return f;
	if (c < 50)
		f |= 1U << (4 + rnd(s, 28));
	else
		f = (uint32_t)rnd64(s);
	return f;
}

/* SEND_OFFPTR: @offset points at a loff_t (or is 0: the file position). */
static uint64_t gen_offptr(struct worker *w, bool sane, uint8_t *aux,
			   int64_t size, uint64_t count)
{
	uint64_t *s = &w->rng;
	int64_t *lp = (int64_t *)(aux + 1024);

	switch (rnd(s, sane ? 8 : 12)) {
	case 0: case 1: case 2:
		return 0;
	case 3: case 4: case 5: case 6:
		*lp = (int64_t)gen_offset(s, sane, size, count);
		return (uintptr_t)lp;
	case 7:		/* read-only: the write-back fails */
		return (uintptr_t)(w->ro + 8 * rnd(s, PG / 8));
	case 8:
		return (uintptr_t)w->none;
	case 9:		/* straddles into the guard page */
		return (uintptr_t)(aux + PG - 4);
	case 10:
		return bad_ptr(s);
	default:	/* misaligned */
		memcpy(aux + 1025, &size, sizeof(size));
		return (uintptr_t)(aux + 1025);
	}
}

static uint64_t gen_len(uint64_t *s, bool sane)
{
	static const uint64_t odd[] = {
		32768, 32769, 65536, 1ULL << 32, 1ULL << 63, ~0ULL,
		~0ULL - 15, 16385,
	};
	unsigned int c = rnd(s, 100);

	if (!sane && c < 40)
		return c < 35 ? odd[rnd(s, 8)] : rnd64(s);
	if (c < 50)
		return c < 10 ? 0 : 1 + rnd(s, 256);
	if (c < 80)
		return 1 + rnd(s, PG);
	return c < 90 ? PG : 1 + rnd(s, 2 * PG);
}

static uint64_t gen_base(struct worker *w, bool sane, uint64_t len)
{
	uint64_t *s = &w->rng;
	unsigned int c = rnd(s, 100);
	struct stage_map *m;

	if (c < 80 && len <= DATA_LEN)
		return (uintptr_t)(w->data + rnd(s, DATA_LEN - len + 1));
	if (c < 85 && len <= PG)
		return (uintptr_t)(w->ro + rnd(s, PG - len + 1));
	m = some_map(w);
	if ((sane || c < 90) && m && len <= m->len)
		return (uintptr_t)(m->addr + rnd(s, m->len - len + 1));
	if (sane)
		return (uintptr_t)w->data;
	if (c < 93)	/* runs into the guard page */
		return (uintptr_t)(w->data + DATA_LEN - rnd(s, 64));
	if (c < 95)
		return (uintptr_t)w->none;
	return chance(s, 50) ? bad_ptr(s) : rnd64(s);
}

static uint32_t gen_iov_cnt(uint64_t *s, bool sane)
{
	unsigned int c = rnd(s, 100);

	if (c < 40)
		return 0;
	if (c < 80 || sane)
		return 1 + rnd(s, sane ? 4 : 3);
	if (c < 90)
		return 4 + rnd(s, 5);
	if (c < 97)
		return 9 + rnd(s, 8);
	return 17 + rnd(s, 4);
}

/* The iovec array: where it is, or a pointer the kernel must refuse. */
static uint64_t gen_iov_array(struct worker *w, const bool *sane,
			      struct splicemsg_iovec *v, uint32_t cnt,
			      uint8_t *aux)
{
	uint64_t *s = &w->rng;
	unsigned int c = rnd(s, 100);
	uint32_t i;

	for (i = 0; i < cnt; i++) {
		v[i].len = gen_len(s, sane[F_IOV]);
		v[i].base = gen_base(w, sane[F_IOV], v[i].len);
	}
	if (sane[F_ARRAY] || c < 30)
		return (uintptr_t)v;
	if (c < 50 && cnt) {	/* ends inside the guard page */
		size_t at = PG - cnt * sizeof(*v) + 8;

		memmove(aux + at, v, cnt * sizeof(*v) - 8);
		return (uintptr_t)(aux + at);
	}
	if (c < 65)
		return (uintptr_t)(w->data + rnd(s, 4096));	/* junk */
	if (c < 75)
		return (uintptr_t)w->ro;
	if (c < 85) {		/* misaligned */
		memmove((uint8_t *)v + 3, v, cnt * sizeof(*v));
		return (uintptr_t)v + 3;
	}
	return chance(s, 50) ? bad_ptr(s) : (uintptr_t)w->none;
}

/* The size field: exact; else too small, larger, huge. */
static void gen_size(uint64_t *s, bool sane, struct splicemsg_send *r,
		     uint8_t *page)
{
	static const uint32_t sizes[] = {
		0, 4, STRUCT_SZ - 1, STRUCT_SZ + 1, STRUCT_SZ + 8, 512,
		PG, PG + 1, 0xffffffff, STRUCT_SZ + 16,
	};

	r->size = STRUCT_SZ;
	if (sane)
		return;
	r->size = chance(s, 85) ? sizes[rnd(s, 10)] : (uint32_t)rnd64(s);
	/* a larger struct with a non-zero byte the module does not know */
	if (r->size > STRUCT_SZ && r->size <= PG && chance(s, 40))
		page[STRUCT_SZ + rnd(s, r->size - STRUCT_SZ)] = 1 + rnd(s, 255);
}

/* Where the struct is: its slot, or somewhere the kernel must cope with. */
static uint64_t gen_ptr(struct worker *w, bool sane, uint8_t *page)
{
	uint64_t *s = &w->rng;
	uint8_t *aux = page + PG;
	struct stage_map *m;
	unsigned int c = rnd(s, 100);

	if (sane)
		return (uintptr_t)page;
	if (c < 30) {		/* at the end of page 1: runs into the guard */
		memcpy(aux + PG - STRUCT_SZ, page, STRUCT_SZ);
		return (uintptr_t)(aux + PG - STRUCT_SZ);
	}
	if (c < 50) {		/* in the staging area */
		m = some_map(w);
		if (m && m->len >= PG && !probe_copy(m->addr, page, STRUCT_SZ))
			return (uintptr_t)m->addr;
		return (uintptr_t)page;
	}
	if (c < 60)
		return (uintptr_t)w->ro;
	if (c < 75)
		return bad_ptr(s);
	if (c < 85)
		return (uintptr_t)w->none;
	memmove(page + 1 + rnd(s, 7), page, STRUCT_SZ);	/* misaligned */
	return (uintptr_t)page + 1;
}

static void gen_sanity(uint64_t *s, bool *sane)
{
	unsigned int c = rnd(s, 100), i;

	for (i = 0; i < NR_FIELDS; i++)
		sane[i] = c < 80 || chance(s, 30);
	if (c < 40)
		sane[rnd(s, NR_FIELDS)] = false;	/* one odd field */
}

/*
 * Fill slot @i with a request; returns the pointer to pass.  Slot layout:
 * page 0 holds the struct at its start (the rest zero, so larger sizes
 * read a zero tail), page 1 the iovec arrays (0, 512), the OFFPTR loff_t
 * (1024) and sometimes the struct at its very end, page 2 is a guard, so
 * that a struct or an array that runs on faults.
 */
static uint64_t gen_send(struct worker *w, int i)
{
	uint64_t *s = &w->rng;
	uint8_t *page = slot_page(w, i), *aux = page + PG;
	struct splicemsg_send *r = (void *)page;
	struct splicemsg_iovec *hv = (void *)aux, *tv = (void *)(aux + 512);
	bool sane[NR_FIELDS];
	uint64_t ptr;
	int64_t fsize;

	gen_sanity(s, sane);
	slot_restore(w, i);
	memset(page, 0, 2 * PG);
	r->flags = gen_flags(s, sane[F_FLAGS]);
	r->sock_fd = pick_sock(w, sane[F_SOCK]);
	r->file_fd = pick_file(w, sane[F_FILE], &fsize);
	r->count = gen_count(s, sane[F_COUNT], fsize);
	r->offset = r->flags & SPLICEMSG_SEND_OFFPTR ?
		    gen_offptr(w, sane[F_OFFSET], aux, fsize, r->count) :
		    gen_offset(s, sane[F_OFFSET], fsize, r->count);
	r->hdr_cnt = gen_iov_cnt(s, sane[F_IOVCNT]);
	r->trl_cnt = gen_iov_cnt(s, sane[F_IOVCNT]);
	r->hdr_iov = gen_iov_array(w, sane, hv, r->hdr_cnt, aux);
	r->trl_iov = gen_iov_array(w, sane, tv, r->trl_cnt, aux);
	if (!sane[F_RESERVED])
		r->reserved[rnd(s, 2)] = rnd64(s) | 1;
	if (chance(s, 2))
		r->sent = rnd64(s);	/* out fields: ignored on input */
	gen_size(s, sane[F_SIZE], r, page);
	ptr = gen_ptr(w, sane[F_PTR], page);
	trace(w, "send slot %d ptr %#llx size %u flags %#x sock %d(%s) "
	      "file %d(%s) off %#llx count %#llx hdr %u@%#llx trl %u@%#llx "
	      "res %#llx/%#llx", i, (unsigned long long)ptr, r->size,
	      r->flags, r->sock_fd, fd_kind(r->sock_fd), r->file_fd,
	      fd_kind(r->file_fd), (unsigned long long)r->offset,
	      (unsigned long long)r->count, r->hdr_cnt,
	      (unsigned long long)r->hdr_iov, r->trl_cnt,
	      (unsigned long long)r->trl_iov,
	      (unsigned long long)r->reserved[0],
	      (unsigned long long)r->reserved[1]);
	return ptr;
}

static void op_send(struct worker *w)
{
	uint64_t ptr = gen_send(w, 0);
	struct splicemsg_send *r = (void *)slot_page(w, 0);
	uint64_t loff = (uintptr_t)(slot_page(w, 0) + PG + 1024);
	bool offptr = ptr == (uintptr_t)r && r->offset == loff &&
		      (r->flags & SPLICEMSG_SEND_OFFPTR);
	long ret = ioctl(pick_dev(w), SPLICEMSG_IOC_SEND,
			 (void *)(uintptr_t)ptr);

	record(OP_send, sys_ret(ret));
	/* the caller's pointer, replaced by a file position? */
	if (offptr && ret >= 0 && r->offset != loff)
		__atomic_fetch_add(&abi_offptr, 1, __ATOMIC_RELAXED);
}

/* ---- io_uring ------------------------------------------------------------ */

static void ring_setup(struct worker *w)
{
	struct io_uring_params p = { 0 };
	unsigned int c = rnd(&w->rng, 100);
	int ret;

	if (c < 10) {
		p.flags = IORING_SETUP_SQPOLL;
		p.sq_thread_idle = 10;
	} else if (c < 14) {
		p.flags = IORING_SETUP_IOPOLL;	/* no uring_cmd_iopoll */
	} else if (c < 30) {
		p.flags = IORING_SETUP_SQE128;
	} else if (c < 45) {
		p.flags = IORING_SETUP_SINGLE_ISSUER |
			  IORING_SETUP_DEFER_TASKRUN;
	}
	ret = io_uring_queue_init_params(32, &w->ring, &p);
	if (ret) {
		record(OP_ring_setup, ret);
		memset(&p, 0, sizeof(p));
		ret = io_uring_queue_init_params(32, &w->ring, &p);
	}
	record(OP_ring_setup, ret);
	w->ring_ok = !ret;
	w->ring_flags = p.flags;
	w->slot_busy = 0;
	w->reg = NULL;
	w->kslots = false;
	w->ring_fixed_file = w->ring_ok && chance(&w->rng, 30) &&
			     !io_uring_register_files(&w->ring, &w->dev, 1);
}

static void cqe_handle(struct worker *w, struct io_uring_cqe *cqe)
{
	uint64_t ud = cqe->user_data;

	if (ud == UD_SQE) {
		record(OP_sqe_copy, cqe->res);	/* too late to judge */
	} else if ((ud >> 32) == (UD_CMD >> 32)) {
		w->slot_busy &= ~(1U << ((ud & 0xff) % NR_SLOTS));
		record(OP_uring_res, cqe->res);
	} else if ((ud >> 32) == (UD_REG >> 32)) {
		w->slot_busy &= ~(1U << ((ud & 0xff) % NR_SLOTS));
		record(OP_reg_res, cqe->res);
	} else if ((ud >> 32) == (UD_REG_IO >> 32) &&
		   !(cqe->flags & IORING_CQE_F_NOTIF)) {
		record(OP_reg_io_res, cqe->res);
		/* the table holds only the module's send-only buffers */
		if ((ud & 1) && cqe->res > 0)
			__atomic_fetch_add(&abi_reg_write, 1,
					   __ATOMIC_RELAXED);
	} else if (cqe->flags & IORING_CQE_F_NOTIF) {
		record(OP_zc_notif, cqe->res);
	} else {
		record(OP_stage_fixed_io, cqe->res);
	}
}

static void ring_reap(struct worker *w, long timeout_ms)
{
	struct __kernel_timespec ts = {
		.tv_sec = timeout_ms / 1000,
		.tv_nsec = (timeout_ms % 1000) * 1000000L,
	};
	struct io_uring_cqe *cqe;

	if (!w->ring_ok)
		return;
	if (timeout_ms && io_uring_wait_cqe_timeout(&w->ring, &cqe, &ts))
		return;
	while (!io_uring_peek_cqe(&w->ring, &cqe)) {
		cqe_handle(w, cqe);
		io_uring_cqe_seen(&w->ring, cqe);
	}
}

/* Tear the ring down with whatever is in flight: io_uring cancels it. */
static void ring_exit(struct worker *w)
{
	if (!w->ring_ok)
		return;
	io_uring_queue_exit(&w->ring);
	w->ring_ok = false;
	w->reg = NULL;
	w->kslots = false;
	/* in-flight requests may still write there: fresh pages for them */
	w->slot_dirty |= w->slot_busy;
	w->slot_busy = 0;
}

static struct io_uring_sqe *get_sqe(struct worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);

	if (!sqe) {
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	return sqe;
}

static int free_slot(struct worker *w)
{
	int i;

	for (i = 1; i < NR_SLOTS; i++)
		if (!(w->slot_busy & (1U << i)))
			return i;
	return -1;
}

static void prep_cmd(struct worker *w, struct io_uring_sqe *sqe,
		     uint64_t ptr, int i)
{
	uint64_t *s = &w->rng;
	unsigned int c = rnd(s, 100);
	int fd = pick_dev(w);

	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
	if (c < 10 && w->ring_fixed_file) {
		sqe->fd = 0;
		sqe->flags |= IOSQE_FIXED_FILE;
	}
	sqe->cmd_op = chance(s, 95) ? SPLICEMSG_IOC_SEND :
		      chance(s, 50) ? SPLICEMSG_IOC_VERSION :
		      (uint32_t)rnd64(s);
	if (chance(s, 30))
		sqe->flags |= IOSQE_ASYNC;
	if (chance(s, 3))
		sqe->uring_cmd_flags = 1U << rnd(s, 32);
	*(uint64_t *)sqe->cmd = chance(s, 96) ? ptr : bad_ptr(s);
	sqe->user_data = UD_CMD | i;
}

/* What happens to the request's memory right after the submit. */
static void after_submit(struct worker *w, int i, uint64_t ptr)
{
	uint8_t *page = slot_page(w, i);
	unsigned int c = rnd(&w->rng, 100);
	int prot = c < 65 ? PROT_NONE : PROT_READ | PROT_WRITE;

	if (c < 55)
		return;
	if (c < 72 || (c >= 79 && c < 84)) {
		/* the ABI says it must stay valid: the kernel must cope */
		uint8_t *at = c < 72 ? page : page + PG;

		mmap(at, PG, prot, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS,
		     -1, 0);
		w->slot_dirty |= 1U << i;
	} else if (c < 79) {
		size_t k;

		for (k = 0; k < STRUCT_SZ; k++)
			page[k] = (uint8_t)rnd64(&w->rng);
	} else if (c < 88) {
		struct io_uring_sqe *sqe = get_sqe(w);

		/* the same struct in a second request */
		if (sqe) {
			prep_cmd(w, sqe, ptr, i);
			io_uring_submit(&w->ring);
		}
	} else if (c < 92) {
		ring_exit(w);
	}
}

/*
 * Submit the command prepared for slot @i (its struct at @ptr), do to its
 * memory what after_submit() picks, reap a little, and now and then (one
 * in @exit_odds) tear the ring down under it.
 */
static void submit_slot(struct worker *w, enum fz_op op, int i, uint64_t ptr,
			unsigned int exit_odds)
{
	int ret;

	w->slot_busy |= 1U << i;
	ret = io_uring_submit(&w->ring);
	record(op, ret < 0 ? ret : 0);
	if (ret < 0) {
		w->slot_busy &= ~(1U << i);
		return;
	}
	after_submit(w, i, ptr);
	ring_reap(w, rnd(&w->rng, 4) ? 1 + rnd(&w->rng, 200) : 0);
	if (!rnd(&w->rng, exit_odds))
		ring_exit(w);
}

static void op_send_uring(struct worker *w)
{
	struct io_uring_sqe *sqe;
	uint64_t ptr;
	int i;

	if (!w->ring_ok)
		ring_setup(w);
	if (!w->ring_ok)
		return;
	i = free_slot(w);
	if (i < 0) {
		record(OP_send_uring, -EBUSY);
		ring_reap(w, 50);
		return;
	}
	ptr = gen_send(w, i);
	sqe = get_sqe(w);
	if (!sqe)
		return;
	prep_cmd(w, sqe, ptr, i);
	submit_slot(w, OP_send_uring, i, ptr, 200);
}

/*
 * The module reads sqe->cmd only when io-wq issues the command again, after
 * its first, non-blocking issue said EAGAIN: io_uring must have copied the
 * SQE by then.  Submit a request that fails with EBADF and, as soon as the
 * submit returns, point the SQE in the shared ring at a struct of size 0:
 * EINVAL means the kernel used the ring after the submit (a false negative
 * is possible: the worker may have been quicker than we are).
 */
static void op_sqe_copy(struct worker *w)
{
	struct splicemsg_send *r, *late;
	struct io_uring_sqe *sqe;
	struct __kernel_timespec ts = { .tv_sec = 2 };
	struct io_uring_cqe *cqe;
	int i;

	if (!w->ring_ok)
		ring_setup(w);
	/* SQPOLL reads SQEs after the submit by design; IOPOLL refuses */
	if (!w->ring_ok || w->slot_busy ||
	    (w->ring_flags & (IORING_SETUP_SQPOLL | IORING_SETUP_IOPOLL)))
		return;
	i = free_slot(w);
	slot_restore(w, i);
	r = (void *)slot_page(w, i);
	memset(r, 0, sizeof(*r));
	r->size = sizeof(*r);
	r->sock_fd = -1;
	r->file_fd = -1;
	late = (void *)(slot_page(w, i) + PG + PG - sizeof(*late));
	memset(late, 0, sizeof(*late));
	sqe = get_sqe(w);
	if (!sqe)
		return;
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, w->dev, NULL, 0, 0);
	sqe->cmd_op = SPLICEMSG_IOC_SEND;
	/* as the ABI asks; without it the answer is EINVAL by design */
	sqe->flags |= IOSQE_ASYNC;
	*(uint64_t *)sqe->cmd = (uintptr_t)r;
	sqe->user_data = UD_SQE;
	trace(w, "sqe copy check");
	if (io_uring_submit(&w->ring) != 1)
		return;
	__atomic_store_n((uint64_t *)sqe->cmd, (uintptr_t)late,
			 __ATOMIC_RELEASE);
	/* other completions (fixed buffers, notifications) may come first */
	while (!io_uring_wait_cqe_timeout(&w->ring, &cqe, &ts)) {
		bool mine = cqe->user_data == UD_SQE;

		if (mine) {
			record(OP_sqe_copy, cqe->res);
			if (cqe->res == -EINVAL)
				__atomic_fetch_add(&abi_sqe, 1,
						   __ATOMIC_RELAXED);
		} else {
			cqe_handle(w, cqe);
		}
		io_uring_cqe_seen(&w->ring, cqe);
		if (mine)
			break;
	}
}

/* ---- VERSION, STATS, unknown commands ------------------------------------ */

static void op_info(struct worker *w, bool stats)
{
	static const uint32_t sizes[] = { 0, 1, 3, 4, 8, 16, 512, PG, PG + 1,
					  0xffffffff };
	uint64_t *s = &w->rng;
	uint32_t ks = stats ? sizeof(struct splicemsg_stats) :
		      sizeof(struct splicemsg_version);
	uint8_t *page = slot_page(w, 0), *aux = page + PG, *p = page;
	unsigned int c = rnd(s, 100);
	uint32_t us = c < 60 ? ks : c < 75 ? ks + 8 * rnd(s, 3) :
		      c < 95 ? sizes[rnd(s, 10)] : (uint32_t)rnd64(s);
	uint64_t ptr;
	long ret;
	size_t k;

	slot_restore(w, 0);
	memset(page, 0, 2 * PG);
	c = rnd(s, 100);
	if (c < 15 && us >= 4 && us <= PG)
		p = aux + PG - us;	/* exactly @us bytes before the guard */
	else if (us < PG)
		memset(page + us, 0xa5, PG - us);	/* not the caller's */
	if (us > ks && us <= PG && chance(s, 30))
		p[ks + rnd(s, us - ks)] = 1;	/* non-zero unknown tail */
	memcpy(p, &us, sizeof(us));
	ptr = (uintptr_t)p;
	if (c >= 90)
		ptr = c < 93 ? (uintptr_t)w->ro : c < 96 ? bad_ptr(s) :
		      (uintptr_t)w->none;
	trace(w, "%s size %u ptr %#llx", stats ? "stats" : "version", us,
	      (unsigned long long)ptr);
	ret = ioctl(pick_dev(w), stats ? SPLICEMSG_IOC_STATS :
		    SPLICEMSG_IOC_VERSION, (void *)(uintptr_t)ptr);
	record(stats ? OP_stats : OP_version, sys_ret(ret));
	/* a caller with a smaller struct owns only @us bytes */
	if (ret == 0 && p == page && us >= 4 && us < ks)
		for (k = us; k < ks; k++)
			if (p[k] != 0xa5) {
				__atomic_fetch_add(&abi_overrun, 1,
						   __ATOMIC_RELAXED);
				break;
			}
}

static void op_bad_ioctl(struct worker *w)
{
	uint64_t *s = &w->rng;
	unsigned long cmds[] = {
		_IO(SPLICEMSG_IOC_MAGIC, 3 + rnd(s, 250)),
		_IOWR(SPLICEMSG_IOC_MAGIC, 1, uint64_t),
		_IOR(SPLICEMSG_IOC_MAGIC, 1, struct splicemsg_send),
		_IOW(SPLICEMSG_IOC_MAGIC, 0, struct splicemsg_version),
		(unsigned long)rnd64(s), SPLICEMSG_IOC_SEND | (1UL << 32),
		FIONREAD,
	};
	unsigned long cmd = cmds[rnd(s, 7)];
	uint64_t arg = chance(s, 50) ? (uintptr_t)slot_page(w, 0) :
		       bad_ptr(s);
	int fd = chance(s, 90) ? pick_dev(w) : slot_fd(rnd(s, NR_POOL));

	slot_restore(w, 0);
	/* another file's ioctl with our numbers: only the send */
	if (fd != w->dev && chance(s, 90))
		fd = w->dev;
	trace(w, "bad ioctl fd %d cmd %#lx arg %#llx", fd, cmd,
	      (unsigned long long)arg);
	record(OP_bad_ioctl, sys_ret(ioctl(fd, cmd, (void *)(uintptr_t)arg)));
}

/* ---- the staging area ---------------------------------------------------- */

static void map_drop(struct worker *w, int i)
{
	struct stage_map *m = &w->maps[i];

	munmap(m->addr, m->len);
	if (m->fd >= 0)
		close(m->fd);
	w->maps[i] = w->maps[--w->nmaps];
}

static size_t gen_map_len(uint64_t *s)
{
	switch (rnd(s, 10)) {
	case 0:
		return 0;
	case 1:
		return PG - 1 - rnd(s, 100);
	case 2:
		return ver.max_stage;
	case 3:
		return ver.max_stage + PG;
	case 4:
		return (1 + rnd(s, 600)) * PG;
	default:
		return (1 + rnd(s, 16)) * PG;
	}
}

static void op_stage_map(struct worker *w)
{
	static const int prots[] = {
		PROT_READ | PROT_WRITE, PROT_READ | PROT_WRITE,
		PROT_READ | PROT_WRITE, PROT_READ | PROT_WRITE, PROT_READ,
		PROT_WRITE, PROT_NONE, PROT_READ | PROT_WRITE | PROT_EXEC,
	};
	static const int flags[] = {
		MAP_SHARED, MAP_SHARED, MAP_SHARED, MAP_SHARED,
		MAP_SHARED | MAP_POPULATE, MAP_SHARED | MAP_LOCKED,
		MAP_SHARED_VALIDATE, MAP_SHARED_VALIDATE | MAP_SYNC,
		MAP_PRIVATE, MAP_SHARED | MAP_NORESERVE,
	};
	uint64_t *s = &w->rng;
	size_t len = gen_map_len(s);
	int prot = prots[rnd(s, 8)], fl = flags[rnd(s, 10)];
	off_t off = chance(s, 90) ? 0 : chance(s, 50) ? PG : rnd(s, 64) * PG;
	bool own = chance(s, 85);
	void *p;
	/*
	 * Device descriptors only: a pool number may have been reused for
	 * another worker's io_uring, whose rings we must not scribble on.
	 */
	int fd = own ? dev_open(s) : chance(s, 50) ? w->dev :
		 __atomic_load_n(&devs[rnd(s, NR_DEVS)], __ATOMIC_RELAXED);
	struct stat st;

	/* a shared number chaos closed may be anything now */
	if (!own && (fstat(fd, &st) || st.st_rdev != dev_rdev))
		return;

	if (w->nmaps == MAX_MAPS)
		map_drop(w, rnd(s, w->nmaps));
	trace(w, "stage map fd %d len %zu prot %d flags %#x off %lld", fd, len,
	      prot, fl, (long long)off);
	p = mmap(NULL, len, prot, fl, fd, off);
	record(OP_stage_map, p == MAP_FAILED ? -errno : 0);
	if (p == MAP_FAILED) {
		if (own && fd >= 0)
			close(fd);
		return;
	}
	w->maps[w->nmaps++] = (struct stage_map){ p, (len + PG - 1) & ~(PG - 1),
						  own ? fd : -1 };
}

/* A second mapping of an open file that has its area: EBUSY. */
static void op_stage_again(struct worker *w)
{
	struct stage_map *m = some_map(w);
	int fd;
	void *p;

	if (!m || m->fd < 0)
		return;
	fd = chance(&w->rng, 50) ? dup(m->fd) : m->fd;
	trace(w, "stage again fd %d", fd);
	p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	record(OP_stage_again, p == MAP_FAILED ? -errno : 0);
	if (p != MAP_FAILED)
		munmap(p, PG);
	if (fd != m->fd)
		close(fd);
}

static void op_stage_touch(struct worker *w)
{
	struct stage_map *m = some_map(w);
	size_t off, len;
	int ret;

	if (!m)
		return;
	off = rnd(&w->rng, m->len);
	len = 1 + rnd(&w->rng, m->len - off);
	trace(w, "stage touch %p+%zu len %zu", m->addr, off, len);
	if (chance(&w->rng, 50))
		ret = probe_fill(m->addr + off, (uint8_t)rnd64(&w->rng), len);
	else
		ret = probe_copy(w->data, m->addr + off,
				 len < DATA_LEN ? len : DATA_LEN);
	record(OP_stage_touch, ret ? -EFAULT : 0);
}

static void map_range(struct worker *w, struct stage_map *m, uint8_t **at,
		      size_t *len)
{
	size_t pages = m->len / PG, first = rnd(&w->rng, pages);

	*at = m->addr + first * PG;
	*len = (1 + rnd(&w->rng, pages - first)) * PG;
}

static void op_stage_mprotect(struct worker *w)
{
	static const int prots[] = { PROT_NONE, PROT_READ, PROT_WRITE,
				     PROT_READ | PROT_WRITE,
				     PROT_READ | PROT_EXEC };
	struct stage_map *m = some_map(w);
	uint8_t *at;
	size_t len;
	int prot;

	if (!m)
		return;
	map_range(w, m, &at, &len);
	prot = prots[rnd(&w->rng, 5)];
	trace(w, "stage mprotect %p len %zu prot %d", at, len, prot);
	record(OP_stage_mprotect, sys_ret(mprotect(at, len, prot)));
}

static void op_stage_madvise(struct worker *w)
{
	static const int advice[] = {
		MADV_DONTNEED, MADV_COLD, MADV_PAGEOUT, MADV_WILLNEED,
		MADV_POPULATE_READ, MADV_POPULATE_WRITE, MADV_DONTFORK,
		MADV_DOFORK, MADV_REMOVE, MADV_FREE, MADV_HUGEPAGE,
		MADV_NOHUGEPAGE, MADV_COLLAPSE, MADV_MERGEABLE,
		MADV_SEQUENTIAL, MADV_WIPEONFORK, MADV_DONTDUMP,
		FZ_MADV_GUARD_INSTALL, FZ_MADV_GUARD_REMOVE, MADV_COLD,
		MADV_PAGEOUT,
	};
	struct stage_map *m = some_map(w);
	uint8_t *at;
	size_t len;
	int a;

	if (!m)
		return;
	map_range(w, m, &at, &len);
	a = advice[rnd(&w->rng, sizeof(advice) / sizeof(advice[0]))];
	trace(w, "stage madvise %p len %zu advice %d", at, len, a);
	record(OP_stage_madvise, sys_ret(madvise(at, len, a)));
}

static void op_stage_mremap(struct worker *w)
{
	struct stage_map *m = some_map(w);
	uint64_t *s = &w->rng;
	size_t nlen = m ? m->len : 0;
	int flags = MREMAP_MAYMOVE;
	void *to = NULL, *p;

	if (!m)
		return;
	switch (rnd(s, 4)) {
	case 0:		/* shrink in place */
		nlen = m->len > PG ? m->len - PG : m->len;
		flags = 0;
		break;
	case 1:		/* grow: VM_DONTEXPAND refuses */
		nlen = m->len + PG;
		break;
	default:	/* move, perhaps leaving the old range behind */
		to = mmap(NULL, m->len, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (to == MAP_FAILED)
			return;
		flags |= MREMAP_FIXED;
		if (chance(s, 30))
			flags |= MREMAP_DONTUNMAP;
	}
	trace(w, "stage mremap %p len %zu -> %zu flags %#x", m->addr, m->len,
	      nlen, flags);
	p = mremap(m->addr, m->len, nlen, flags, to);
	record(OP_stage_mremap, p == MAP_FAILED ? -errno : 0);
	/*
	 * On failure @to is left alone: mremap() may have unmapped it
	 * already (before it found the area unmovable), and another thread
	 * may have mapped its io_uring rings there since.  At worst an
	 * address-space reservation leaks.
	 */
	if (p == MAP_FAILED)
		return;
	if (flags & MREMAP_DONTUNMAP) {
		/* the old range stays mapped, without pages: SIGBUS */
		record(OP_stage_touch, probe_fill(m->addr, 1, PG) ?
		       -EFAULT : 0);
		munmap(m->addr, m->len);
	}
	m->addr = p;
	m->len = nlen;
}

static void op_stage_punch(struct worker *w)
{
	struct stage_map *m = some_map(w);
	uint8_t *at;

	if (!m || m->len < 2 * PG)
		return;
	at = m->addr + rnd(&w->rng, m->len / PG) * PG;
	trace(w, "stage punch %p", at);
	/*
	 * The device page goes (the VMA splits) but the address stays ours:
	 * with munmap() another thread's mmap() could land in the hole and
	 * be unmapped with the rest of the area later.
	 */
	at = mmap(at, PG, PROT_NONE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS,
		  -1, 0);
	record(OP_stage_punch, at == MAP_FAILED ? -errno : 0);
}

static void op_stage_register(struct worker *w)
{
	struct stage_map *m = some_map(w);
	struct iovec iov[2];
	int n = 1, ret;

	if (!m)
		return;
	if (!w->ring_ok)
		ring_setup(w);
	if (!w->ring_ok)
		return;
	if (w->reg || w->kslots)
		io_uring_unregister_buffers(&w->ring);
	w->reg = NULL;
	w->kslots = false;
	iov[0].iov_base = m->addr;
	iov[0].iov_len = m->len;
	if (chance(&w->rng, 30)) {
		iov[1].iov_base = w->data;
		iov[1].iov_len = PG;
		n = 2;
	}
	trace(w, "stage register %p len %zu", m->addr, m->len);
	ret = io_uring_register_buffers(&w->ring, iov, n);
	record(OP_stage_register, ret);
	if (ret)
		return;
	w->reg = m->addr;
	w->reg_len = m->len;
	/* unmapped and closed while io_uring still holds the pages */
	if (chance(&w->rng, 40))
		map_drop(w, m - w->maps);
}

static void op_stage_fixed_io(struct worker *w)
{
	uint64_t *s = &w->rng;
	struct io_uring_sqe *sqe;
	size_t off, len;
	int fd;

	if (!w->ring_ok || !w->reg)
		return;
	sqe = get_sqe(w);
	if (!sqe)
		return;
	off = rnd(s, w->reg_len);
	len = 1 + rnd(s, w->reg_len - off);
	switch (rnd(s, 3)) {
	case 0:
		trace(w, "fixed send_zc %p+%zu len %zu", w->reg, off, len);
		io_uring_prep_send_zc_fixed(sqe, pick_sock(w, false),
					    w->reg + off, len, chance(s, 50) ?
					    MSG_DONTWAIT : 0, 0, 0);
		break;
	case 1:
		trace(w, "fixed read %p+%zu len %zu", w->reg, off, len);
		io_uring_prep_read_fixed(sqe, slot_fd(NR_SOCK_SLOTS +
					 rnd(s, NR_POOL - NR_SOCK_SLOTS)),
					 w->reg + off, len, rnd(s, 8192), 0);
		break;
	default:
		trace(w, "fixed write %p+%zu len %zu", w->reg, off, len);
		fd = chance(s, 50) ? pick_sock(w, false) :
		     slot_fd(NR_SOCK_SLOTS + rnd(s, NR_POOL - NR_SOCK_SLOTS));
		io_uring_prep_write_fixed(sqe, fd, w->reg + off, len, 0, 0);
	}
	sqe->user_data = UD_FIXED;
	io_uring_submit(&w->ring);
	ring_reap(w, 1 + rnd(s, 100));
}

static void op_stage_unmap(struct worker *w)
{
	if (!w->nmaps)
		return;
	trace(w, "stage unmap");
	map_drop(w, rnd(&w->rng, w->nmaps));
	record(OP_stage_unmap, 0);
}

/* The open file goes; the mapping keeps it (and its area) alive. */
static void op_stage_closefd(struct worker *w)
{
	struct stage_map *m = some_map(w);

	if (!m || m->fd < 0)
		return;
	trace(w, "stage close fd %d", m->fd);
	record(OP_stage_closefd, sys_ret(close(m->fd)));
	m->fd = -1;
}

/* Other ways the kernel reaches the pages: vmsplice, O_DIRECT, /proc. */
static void op_stage_misc(struct worker *w)
{
	struct stage_map *m = some_map(w);
	uint64_t *s = &w->rng;
	uint8_t *at;
	size_t len;
	int p[2], fd;
	long ret = 0;

	if (!m)
		return;
	map_range(w, m, &at, &len);
	trace(w, "stage misc %p len %zu", at, len);
	switch (rnd(s, 5)) {
	case 0: {
		struct iovec iov = { at, len };

		if (pipe2(p, O_NONBLOCK))
			return;
		ret = sys_ret(vmsplice(p[1], &iov, 1, chance(s, 50) ?
				       SPLICE_F_GIFT : 0));
		if (ret > 0)
			splice(p[0], NULL, pick_sock(w, false), NULL, ret,
			       SPLICE_F_NONBLOCK);
		close(p[0]);
		close(p[1]);
		break;
	}
	case 1:		/* O_DIRECT pins the pages, in both directions */
		fd = open(files[nfiles - 1].path, O_RDWR | O_DIRECT);
		if (fd < 0)
			return;
		ret = sys_ret(chance(s, 50) ? pwrite(fd, at, PG, 0) :
			      pread(fd, at, PG, 0));
		close(fd);
		break;
	case 2: {
		struct iovec l = { w->data, len < DATA_LEN ? len : DATA_LEN };
		struct iovec r = { at, l.iov_len };

		ret = sys_ret(process_vm_readv(getpid(), &l, 1, &r, 1, 0));
		break;
	}
	case 3: {
		static __thread char buf[64 << 10];

		fd = open(chance(s, 50) ? "/proc/self/smaps" :
			  "/proc/self/pagemap", O_RDONLY);
		if (fd < 0)
			return;
		ret = sys_ret(pread(fd, buf, sizeof(buf),
				    ((uintptr_t)at / PG) * 8));
		close(fd);
		break;
	}
	default:	/* the kernel writes into the area */
		fd = __atomic_load_n(&pool[rnd(s, NR_SOCK_SLOTS)].peer,
				     __ATOMIC_RELAXED);
		ret = sys_ret(recv(fd, at, len, MSG_DONTWAIT));
	}
	record(OP_stage_misc, ret);
}

/* The global budget (64 MiB): map full areas until it says ENOMEM. */
static void op_stage_budget(struct worker *w)
{
	int fds[80], n, i;
	void *p = MAP_FAILED;

	trace(w, "stage budget");
	for (n = 0; n < 80 && !stop; n++) {
		fds[n] = open(opt.device, O_RDWR);
		if (fds[n] < 0)
			break;
		p = mmap(NULL, ver.max_stage, PROT_READ | PROT_WRITE,
			 MAP_SHARED, fds[n], 0);
		if (p == MAP_FAILED) {
			n++;
			break;
		}
		munmap(p, ver.max_stage);
	}
	record(OP_stage_budget, p == MAP_FAILED ? -errno : 0);
	for (i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* ---- fork, the device itself, sysfs, socket options ---------------------- */

/* The child: async-signal-safe calls only; the areas are inherited. */
/* ---- registered buffers (REG_FILE, REG_BYTES, UNREG) -------------------- */

/* The ring's table: the module's sparse slots, unless the stage's is there. */
static bool reg_table(struct worker *w)
{
	if (!w->ring_ok)
		ring_setup(w);
	if (!w->ring_ok)
		return false;
	if (!w->kslots && !w->reg)
		w->kslots = !io_uring_register_buffers_sparse(&w->ring,
							       REG_SLOTS);
	return true;
}

/* Fill slot @i with a registration request; returns the pointer to pass. */
static uint64_t gen_reg(struct worker *w, int i, uint32_t *op)
{
	static const uint32_t sizes[] = { 0, 4, 63, 65, 72, 512, PG + 1 };
	uint64_t *s = &w->rng;
	uint8_t *page = slot_page(w, i), *aux = page + PG;
	struct splicemsg_reg *r = (void *)page;
	unsigned int c = rnd(s, 100);
	bool sane[NR_FIELDS];
	int64_t fsize = 0;

	gen_sanity(s, sane);
	slot_restore(w, i);
	memset(page, 0, 2 * PG);
	*op = c < 45 ? SPLICEMSG_IOC_REG_FILE :
	      c < 70 ? SPLICEMSG_IOC_REG_BYTES :
	      c < 98 ? SPLICEMSG_IOC_UNREG : (uint32_t)rnd64(s);
	r->size = sizeof(*r);
	r->index = sane[F_SOCK] || chance(s, 50) ? rnd(s, REG_SLOTS) :
		   chance(s, 50) ? REG_SLOTS + rnd(s, 4) : (uint32_t)rnd64(s);
	if (*op == SPLICEMSG_IOC_REG_FILE || !sane[F_FILE]) {
		r->flags = sane[F_FLAGS] ? (chance(s, 30) ?
					   SPLICEMSG_REG_OFFPTR : 0) :
			   gen_flags(s, false);
		r->file_fd = pick_file(w, sane[F_FILE], &fsize);
		/* sane: within the file and 4 MiB, so slots fill and empty */
		r->len = sane[F_COUNT] ?
			 1 + rnd64(s) % ((fsize > 0 && fsize < (4 << 20) ?
					  fsize : 4 << 20) + PG) :
			 gen_count(s, false, fsize);
		r->offset = r->flags & SPLICEMSG_REG_OFFPTR ?
			    gen_offptr(w, sane[F_OFFSET], aux, fsize, r->len) :
			    gen_offset(s, sane[F_OFFSET], fsize, r->len);
	}
	/* REG_FILE: now and then a header in front of the range */
	if (*op == SPLICEMSG_IOC_REG_BYTES || !sane[F_IOV] || chance(s, 30)) {
		r->iov_cnt = gen_iov_cnt(s, sane[F_IOVCNT]);
		if (*op == SPLICEMSG_IOC_REG_BYTES && sane[F_IOVCNT] &&
		    !r->iov_cnt)
			r->iov_cnt = 1;
		r->iov = gen_iov_array(w, sane, (void *)aux, r->iov_cnt, aux);
	}
	if (!sane[F_RESERVED]) {
		if (chance(s, 50))
			r->reserved[rnd(s, 2)] = rnd64(s) | 1;
		else
			r->pad = 1 + rnd(s, 255);
	}
	if (!sane[F_SIZE])
		r->size = chance(s, 85) ? sizes[rnd(s, 7)] : (uint32_t)rnd64(s);
	trace(w, "reg slot %d op %#x size %u flags %#x file %d(%s) off %#llx "
	      "len %#llx iov %u@%#llx index %u", i, *op, r->size, r->flags,
	      r->file_fd, fd_kind(r->file_fd), (unsigned long long)r->offset,
	      (unsigned long long)r->len, r->iov_cnt,
	      (unsigned long long)r->iov, r->index);
	return gen_ptr(w, sane[F_PTR], page);
}

static void op_reg(struct worker *w)
{
	struct io_uring_sqe *sqe;
	uint64_t ptr;
	uint32_t op;
	int i;

	if (!reg_table(w))
		return;
	i = free_slot(w);
	if (i < 0) {
		record(OP_reg, -EBUSY);
		ring_reap(w, 50);
		return;
	}
	ptr = gen_reg(w, i, &op);
	sqe = get_sqe(w);
	if (!sqe)
		return;
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, pick_dev(w), NULL, 0, 0);
	sqe->cmd_op = op;
	if (chance(&w->rng, 85))
		sqe->flags |= IOSQE_ASYNC;
	*(uint64_t *)sqe->cmd = ptr;
	sqe->user_data = UD_REG | i;
	submit_slot(w, OP_reg, i, ptr, 300);
}

/*
 * Use a slot: SEND_ZC or SENDMSG_ZC from it, and the operations that would
 * write into it (READ_FIXED, RECV), which must fail; its buffer may be
 * unregistered or the ring torn down while they are in flight.
 */
static void op_reg_io(struct worker *w)
{
	uint64_t *s = &w->rng;
	struct io_uring_sqe *sqe;
	static __thread struct iovec iov[3];
	static __thread struct msghdr msg;
	uint32_t index = rnd(s, REG_SLOTS + 1);
	uint64_t off = chance(s, 50) ? 0 : rnd(s, 1 << 20);
	uint32_t len = 1 + rnd(s, chance(s, 80) ? 65536 : 4 << 20);
	uint64_t writes = 1;
	int k;

	if (!w->ring_ok || !w->kslots)
		return;
	sqe = get_sqe(w);
	if (!sqe)
		return;
	switch (rnd(s, 5)) {
	case 0: case 1:
		trace(w, "reg send_zc slot %u +%llu len %u", index,
		      (unsigned long long)off, len);
		io_uring_prep_send_zc_fixed(sqe, pick_sock(w, false),
					    (void *)(uintptr_t)off, len,
					    MSG_DONTWAIT, 0, index);
		writes = 0;
		break;
	case 2:
		for (k = 0; k < 3; k++) {
			iov[k].iov_base = (void *)(uintptr_t)rnd(s, 1 << 16);
			iov[k].iov_len = rnd(s, 8192);
		}
		msg = (struct msghdr){ .msg_iov = iov, .msg_iovlen = 3 };
		trace(w, "reg sendmsg_zc slot %u", index);
		io_uring_prep_sendmsg_zc(sqe, pick_sock(w, false), &msg,
					 MSG_DONTWAIT);
		sqe->ioprio |= IORING_RECVSEND_FIXED_BUF;
		sqe->buf_index = index;
		writes = 0;
		break;
	case 3:
		trace(w, "reg read_fixed slot %u len %u", index, len);
		io_uring_prep_read_fixed(sqe, slot_fd(NR_SOCK_SLOTS +
					 rnd(s, NR_POOL - NR_SOCK_SLOTS)),
					 (void *)(uintptr_t)off, len, 0, index);
		break;
	default:
		trace(w, "reg recv slot %u len %u", index, len);
		io_uring_prep_recv(sqe, pick_sock(w, false),
				   (void *)(uintptr_t)off, len, MSG_DONTWAIT);
		sqe->ioprio |= IORING_RECVSEND_FIXED_BUF;
		sqe->buf_index = index;
	}
	sqe->user_data = UD_REG_IO | writes;
	record(OP_reg_io, io_uring_submit(&w->ring));
	ring_reap(w, 1 + rnd(s, 100));
}

static void child_main(struct worker *w)
{
	struct splicemsg_send *r = (void *)slot_page(w, 0);
	int i;

	for (i = 0; i < w->nmaps; i++)
		probe_fill(w->maps[i].addr, 0x5a, w->maps[i].len);
	if (w->nmaps && rnd(&w->rng, 2))
		munmap(w->maps[0].addr, w->maps[0].len);
	/* a send with whatever the last request was, maybe killed in it */
	r->flags |= SPLICEMSG_SEND_NOSIGNAL;
	ioctl(w->dev, SPLICEMSG_IOC_SEND, r);
	_exit(0);
}

static void op_fork(struct worker *w)
{
	int64_t end = now_ms() + (chance(&w->rng, 50) ? rnd(&w->rng, 300) :
				  3000);
	pid_t pid;
	int st;

	trace(w, "fork with %d areas", w->nmaps);
	pid = fork();
	if (pid == 0)
		child_main(w);
	if (pid < 0) {
		record(OP_fork, -errno);
		return;
	}
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (now_ms() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			break;
		}
		sleep_ms(5);
	}
	record(OP_fork, WIFEXITED(st) ? 0 : -EINTR);
}

static void op_dev(struct worker *w)
{
	uint64_t *s = &w->rng;
	char b[16];
	struct pollfd pfd = { .events = POLLIN | POLLOUT };
	long ret = 0;

	switch (rnd(s, 6)) {
	case 0:
		trace(w, "dev reopen own");
		close(w->dev);
		w->dev = dev_open(s);
		ret = w->dev < 0 ? -errno : 0;
		break;
	case 1:		/* the shared one others are using right now */
		trace(w, "dev reopen shared");
		dev_replace(s, rnd(s, NR_DEVS));
		break;
	case 2:
		trace(w, "dev read/write");
		ret = sys_ret(chance(s, 50) ? read(w->dev, b, sizeof(b)) :
			      write(w->dev, b, sizeof(b)));
		break;
	case 3:
		pfd.fd = w->dev;
		trace(w, "dev poll");
		ret = sys_ret(poll(&pfd, 1, 0));
		break;
	case 4:
		trace(w, "dev lseek");
		ret = sys_ret(lseek(w->dev, rnd64(s), rnd(s, 3)));
		break;
	default:
		trace(w, "dev nonblock");
		ret = sys_ret(fcntl(w->dev, F_SETFL,
				    chance(s, 50) ? O_NONBLOCK : 0));
	}
	record(OP_dev, ret);
}

static const char *const counters[] = {
	"calls", "bytes", "file_bytes", "pages_attached", "frags_allocated",
	"err_inval", "err_fault", "err_again", "err_intr", "err_other",
	"stage_pages", "reg_pages",
};

static long read_counter(const char *name)
{
	char path[128], buf[32] = "";
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/class/misc/splicemsg/%s", name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? strtol(buf, NULL, 10) : -EIO;
}

static void op_sysfs(struct worker *w)
{
	const char *name = counters[rnd(&w->rng, sizeof(counters) /
					    sizeof(counters[0]))];
	long v = read_counter(name);

	trace(w, "sysfs %s", name);
	record(OP_sysfs, v < 0 ? v : 0);
}

static void op_sockopt(struct worker *w)
{
	uint64_t *s = &w->rng;
	int fd = slot_fd(rnd(s, NR_SOCK_SLOTS));
	long ret;

	trace(w, "sockopt fd %d", fd);
	switch (rnd(s, 8)) {
	case 5:		/* our own bytes between the module's, corked */
		ret = sys_ret(send(fd, w->data, 1 + rnd(s, 8192),
				   MSG_DONTWAIT | (chance(s, 50) ?
						   MSG_MORE : 0)));
		break;
	case 6: {	/* MSG_ZEROCOPY skbs the module's frags may join */
		char cbuf[256];
		struct msghdr mh = { .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };

		set_int(fd, SOL_SOCKET, SO_ZEROCOPY, 1);
		ret = sys_ret(send(fd, w->data + rnd(s, PG), 1 + rnd(s, 16384),
				   MSG_DONTWAIT | MSG_ZEROCOPY));
		recvmsg(fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT);
		break;
	}
	case 7:
		ret = sys_ret(recvmsg(fd, &(struct msghdr){ 0 },
				      MSG_ERRQUEUE | MSG_DONTWAIT));
		break;
	case 0:
		ret = sys_ret(fcntl(fd, F_SETFL, chance(s, 50) ?
				    O_NONBLOCK : 0));
		break;
	case 1:
		set_timeo(fd, SO_SNDTIMEO, 10 + rnd(s, 300));
		ret = 0;
		break;
	case 2:
		ret = sys_ret(setsockopt(fd, IPPROTO_TCP, TCP_CORK,
					 &(int){ chance(s, 50) }, sizeof(int)));
		break;
	case 3:
		ret = sys_ret(setsockopt(fd, SOL_SOCKET, SO_SNDBUF,
					 &(int){ 1 + rnd(s, 1 << 17) },
					 sizeof(int)));
		break;
	default:
		ret = sys_ret(shutdown(fd, SHUT_WR));
	}
	record(OP_sockopt, ret);
}

/* ---- the worker loop ----------------------------------------------------- */

struct op_weight {
	enum fz_op op;
	unsigned int w;		/* per 10000 */
	const char *group;	/* --ops name */
};

static const struct op_weight weights[] = {
	{ OP_send, 3700, "send" },
	{ OP_send_uring, 1800, "uring" },
	{ OP_sqe_copy, 100, "uring" },
	{ OP_version, 250, "info" },
	{ OP_stats, 250, "info" },
	{ OP_bad_ioctl, 150, "info" },
	{ OP_stage_map, 500, "stage" },
	{ OP_stage_again, 100, "stage" },
	{ OP_stage_touch, 400, "stage" },
	{ OP_stage_mprotect, 150, "stage" },
	{ OP_stage_madvise, 250, "stage" },
	{ OP_stage_mremap, 150, "stage" },
	{ OP_stage_punch, 100, "stage" },
	{ OP_stage_register, 250, "stage" },
	{ OP_stage_fixed_io, 300, "stage" },
	{ OP_stage_unmap, 250, "stage" },
	{ OP_stage_closefd, 100, "stage" },
	{ OP_stage_misc, 250, "stage" },
	{ OP_stage_budget, 3, "budget" },
	{ OP_reg, 400, "reg" },
	{ OP_reg_io, 300, "reg" },
	{ OP_fork, 40, "fork" },
	{ OP_dev, 200, "dev" },
	{ OP_sysfs, 100, "info" },
	{ OP_sockopt, 200, "sockopt" },
};
#define NR_WEIGHTS (sizeof(weights) / sizeof(weights[0]))

static enum fz_op pick_op(struct worker *w)
{
	unsigned int total = 0, r;
	size_t i;

	for (i = 0; i < NR_WEIGHTS; i++)
		if (!opt.ops || (opt.ops >> weights[i].op & 1))
			total += weights[i].w;
	r = rnd(&w->rng, total);
	for (i = 0; i < NR_WEIGHTS; i++) {
		if (opt.ops && !(opt.ops >> weights[i].op & 1))
			continue;
		if (r < weights[i].w)
			return weights[i].op;
		r -= weights[i].w;
	}
	return OP_send;
}

static void run_op(struct worker *w, enum fz_op op)
{
	switch (op) {
	case OP_send: op_send(w); break;
	case OP_send_uring: op_send_uring(w); break;
	case OP_sqe_copy: op_sqe_copy(w); break;
	case OP_version: op_info(w, false); break;
	case OP_stats: op_info(w, true); break;
	case OP_bad_ioctl: op_bad_ioctl(w); break;
	case OP_stage_map: op_stage_map(w); break;
	case OP_stage_again: op_stage_again(w); break;
	case OP_stage_touch: op_stage_touch(w); break;
	case OP_stage_mprotect: op_stage_mprotect(w); break;
	case OP_stage_madvise: op_stage_madvise(w); break;
	case OP_stage_mremap: op_stage_mremap(w); break;
	case OP_stage_punch: op_stage_punch(w); break;
	case OP_stage_register: op_stage_register(w); break;
	case OP_stage_fixed_io: op_stage_fixed_io(w); break;
	case OP_stage_unmap: op_stage_unmap(w); break;
	case OP_stage_closefd: op_stage_closefd(w); break;
	case OP_stage_misc: op_stage_misc(w); break;
	case OP_stage_budget: op_stage_budget(w); break;
	case OP_reg: op_reg(w); break;
	case OP_reg_io: op_reg_io(w); break;
	case OP_fork: op_fork(w); break;
	case OP_dev: op_dev(w); break;
	case OP_sysfs: op_sysfs(w); break;
	case OP_sockopt: op_sockopt(w); break;
	default: break;
	}
}

static void worker_cleanup(struct worker *w)
{
	int64_t end = now_ms() + 2000;

	while (w->ring_ok && w->slot_busy && now_ms() < end)
		ring_reap(w, 100);
	ring_exit(w);
	while (w->nmaps)
		map_drop(w, 0);
	if (w->dev >= 0)
		close(w->dev);
	w->dev = -1;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	w->tid = gettid();
	self_desc = w->desc;
	while (!stop) {
		enum fz_op op = pick_op(w);

		w->op_start = now_ms();
		w->op = op;
		run_op(w, op);
		w->op = -1;
		w->nops++;
		if (w->ring_ok && w->slot_busy && !(w->nops & 7))
			ring_reap(w, 0);
	}
	w->op = NR_OPS;		/* cleaning up */
	worker_cleanup(w);
	w->op = -1;
	w->done = true;
	return NULL;
}

/* ---- the chaos thread ---------------------------------------------------- */

static int lo_mtu_orig;

static int lo_mtu(int set)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM, 0), ret;

	strcpy(ifr.ifr_name, "lo");
	ifr.ifr_mtu = set;
	ret = ioctl(fd, set ? SIOCSIFMTU : SIOCGIFMTU, &ifr);
	close(fd);
	return ret ? -errno : ifr.ifr_mtu;
}

/* Shrink, grow, punch or rewrite a test file under the senders. */
static void chaos_file(uint64_t *s)
{
	struct fz_file *f = &files[rnd(s, nfiles)];
	int fd = open(f->path, O_RDWR);
	char buf[4096];
	long ret = 0;

	if (fd < 0)
		return;
	switch (rnd(s, 5)) {
	case 0:
		ret = ftruncate(fd, rnd64(s) % (f->size + 1));
		break;
	case 1:
		ret = ftruncate(fd, f->size);
		break;
	case 2:
		ret = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				rnd64(s) % (f->size + 1), 1 + rnd(s, 65536));
		break;
	case 3:
		memset(buf, rnd(s, 256), sizeof(buf));
		ret = pwrite(fd, buf, sizeof(buf), rnd64(s) % (f->size + 1));
		break;
	default:
		ret = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	}
	record(OP_chaos_file, ret < 0 ? -errno : 0);
	close(fd);
}

static void chaos_step(uint64_t *s)
{
	unsigned int c = rnd(s, 1000);

	if (c < 600) {
		pool_replace(s, rnd(s, NR_POOL));
		record(OP_chaos_replace, 0);
	} else if (c < 700) {
		dev_replace(s, rnd(s, NR_DEVS));
		record(OP_chaos_dev, 0);
	} else if (c < 800) {
		chaos_file(s);
	} else if (c < 990) {
		struct worker *w = &workers[rnd(s, opt.threads)];

		if (!w->done)
			pthread_kill(w->th, SIGUSR1);
		record(OP_chaos_signal, 0);
	} else if (opt.lo_mtu) {
		static const int mtus[] = { 65536, 1500, 1280, 9000, 16384 };

		record(OP_chaos_mtu, lo_mtu(mtus[rnd(s, 5)]));
	}
}

static void *chaos_main(void *arg)
{
	uint64_t s = *(uint64_t *)arg;

	chaos_tid = gettid();
	while (!stop) {
		chaos_step(&s);
		sleep_ms(1 + rnd(&s, 10));
	}
	return NULL;
}

/* ---- setup, teardown, summary -------------------------------------------- */

static void usage(void)
{
	fprintf(stderr, "usage: t_kmod_fuzz --seed S --seconds N "
		"[--threads T] [--trace] [--lo-mtu] [--no-chaos]\n"
		"       [--ops send,uring,info,stage,budget,fork,dev,sockopt] "
		"[--device PATH]\n");
	exit(99);
}

static uint64_t ops_mask(const char *list)
{
	uint64_t m = 0;
	size_t i;

	for (i = 0; i < NR_WEIGHTS; i++) {
		const char *g = weights[i].group, *p = list;
		size_t n = strlen(g);

		while ((p = strstr(p, g))) {
			if ((p == list || p[-1] == ',') &&
			    (p[n] == ',' || !p[n]))
				m |= 1ULL << weights[i].op;
			p += n;
		}
	}
	if (!m)
		usage();
	return m;
}

static void parse_args(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--trace")) {
			opt.trace = true;
		} else if (!strcmp(a, "--lo-mtu")) {
			opt.lo_mtu = true;
		} else if (!strcmp(a, "--no-chaos")) {
			opt.chaos = false;
		} else if (!v) {
			usage();
		} else if (!strcmp(a, "--seed")) {
			opt.seed = strtoull(v, NULL, 0);
			i++;
		} else if (!strcmp(a, "--seconds")) {
			opt.seconds = atoi(v);
			i++;
		} else if (!strcmp(a, "--threads")) {
			opt.threads = atoi(v);
			i++;
		} else if (!strcmp(a, "--ops")) {
			opt.ops = ops_mask(v);
			i++;
		} else if (!strcmp(a, "--device")) {
			opt.device = v;
			i++;
		} else {
			usage();
		}
	}
	if (opt.threads < 1 || opt.threads > MAX_WORKERS || opt.seconds < 0)
		usage();
}

/* A gauge (stage_pages, reg_pages): sysfs, else the STATS ioctl. */
static long gauge_now(const char *name)
{
	struct splicemsg_stats st = { .size = sizeof(st) };
	long v = read_counter(name);
	int fd;

	if (v >= 0)
		return v;
	fd = open(opt.device, O_RDONLY);
	if (fd < 0)
		return -1;
	if (ioctl(fd, SPLICEMSG_IOC_STATS, &st))
		v = -1;
	else
		v = !strcmp(name, "reg_pages") ? (long)st.reg_pages :
		    (long)st.stage_pages;
	close(fd);
	return v;
}

static int setup(void)
{
	uint64_t s = opt.seed;
	struct stat st;
	int i, fd;

	fd = open(opt.device, O_RDWR);
	if (fd < 0) {
		printf("SKIP t_kmod_fuzz: %s: %s\n", opt.device,
		       strerror(errno));
		exit(77);
	}
	if (!fstat(fd, &st))
		dev_rdev = st.st_rdev;
	ver.size = sizeof(ver);
	if (ioctl(fd, SPLICEMSG_IOC_VERSION, &ver)) {
		/* not the module (--device for a harness dry run) */
		ver.max_count = 0x7ffff000 - (32 << 10);
		ver.max_stage = 1 << 20;
	}
	close(fd);
	epfd = epoll_create1(0);
	listen4 = listener(AF_INET);
	listen6 = listener(AF_INET6);
	if (epfd < 0 || listen4 < 0 || files_setup())
		return -1;
	for (i = 0; i < NR_DEVS; i++)
		devs[i] = dev_open(&s);
	for (i = 0; i < NR_POOL; i++)
		slot_open(&s, i, &pool[i]);
	for (i = 0; i < opt.threads; i++) {
		struct worker *w = &workers[i];
		uint64_t x = opt.seed ^ (0x1000ULL * (i + 1));

		w->id = i;
		w->rng = splitmix(&x) | 1;
		w->dev = open(opt.device, O_RDWR);
		w->op = -1;
		if (arena_setup(w))
			return -1;
	}
	return 0;
}

/*
 * Where a thread that does not come back is, in the kernel: for the report.
 * Only open/read/write and snprintf: the watchdog calls it from a signal
 * handler.
 */
static void dump_task(pid_t tid, const char *what)
{
	char path[64], buf[4096];
	ssize_t n;
	int fd;

	n = snprintf(buf, sizeof(buf), "# stuck: %s (tid %d), kernel stack:\n",
		     what, tid);
	write(1, buf, n);
	snprintf(path, sizeof(path), "/proc/self/task/%d/stack", tid);
	fd = open(path, O_RDONLY);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf));
		if (n > 0)
			write(1, buf, n);
		close(fd);
	}
}

static void dump_stuck(struct worker *w)
{
	char what[400];

	snprintf(what, sizeof(what), "thread %d in %s for %lld ms: %s", w->id,
		 w->op >= 0 && w->op < NR_OPS ? op_names[w->op] : "cleanup",
		 (long long)(now_ms() - w->op_start), w->desc);
	dump_task(w->tid, what);
}

static void sysrq_blocked(void)
{
	int fd = open("/proc/sysrq-trigger", O_WRONLY);

	if (fd >= 0) {
		write(fd, "w", 1);	/* blocked tasks into the kernel log */
		close(fd);
	}
}

/* The last resort: everything is past its deadline.  Report, leave. */
static void on_watchdog(int sig)
{
	static const char msg[] = "FAIL hang: watchdog: the run did not "
				  "end 75 s after its deadline\n";
	int i;

	(void)sig;
	write(1, msg, sizeof(msg) - 1);
	for (i = 0; i < opt.threads; i++)
		if (!workers[i].done)
			dump_stuck(&workers[i]);
	dump_task(chaos_tid, "chaos thread");
	dump_task(drain_tid, "drain thread");
	dump_task(gettid(), "main thread");
	sysrq_blocked();
	_exit(1);
}

/* Join @th, kicking it out of blocking calls; false after @ms. */
static bool join_within(pthread_t th, long ms)
{
	int64_t end = now_ms() + ms;
	struct timespec ts;

	while (now_ms() < end) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (!pthread_timedjoin_np(th, NULL, &ts))
			return true;
		pthread_kill(th, SIGUSR1);
	}
	return false;
}

static void shutdown_pool(void)
{
	int i;

	for (i = 0; i < NR_POOL; i++) {
		shutdown(pool[i].fd, SHUT_RDWR);
		shutdown(pool[i].peer, SHUT_RDWR);
	}
}

/* Stop everyone; returns the number of workers that never came back. */
static int teardown(pthread_t chaos, bool have_chaos)
{
	int64_t start = now_ms();
	int i, left;

	stop = 1;
	if (have_chaos && !join_within(chaos, 10000)) {
		dump_task(chaos_tid, "chaos thread");
		sysrq_blocked();
		return -1;
	}
	do {
		left = 0;
		for (i = 0; i < opt.threads; i++) {
			if (workers[i].done)
				continue;
			left++;
			pthread_kill(workers[i].th, SIGUSR1);
		}
		/* after 2 s, pull the sockets out from under them */
		if (left && now_ms() - start > 2000)
			shutdown_pool();
		if (left)
			sleep_ms(50);
	} while (left && now_ms() - start < 20000);
	for (i = 0; i < opt.threads; i++) {
		if (workers[i].done)
			pthread_join(workers[i].th, NULL);
		else
			dump_stuck(&workers[i]);
	}
	if (left)
		sysrq_blocked();
	return left;
}

static int close_all(pthread_t drain)
{
	int i;

	drain_stop = 1;
	shutdown_pool();
	if (!join_within(drain, 10000)) {
		dump_task(drain_tid, "drain thread");
		sysrq_blocked();
		return -1;
	}
	for (i = 0; i < NR_POOL; i++)
		slot_close(&pool[i]);
	for (i = 0; i < NR_DEVS; i++)
		close(devs[i]);
	close(listen4);
	close(listen6);
	close(epfd);
	files_cleanup();
	if (opt.lo_mtu && lo_mtu_orig > 0)
		lo_mtu(lo_mtu_orig);
	return 0;
}

static const char *err_name(int e)
{
	static char buf[16];

	if (!e)
		return "ok";
	if (e == NR_ERR - 1)
		return "other";
	if (strerrorname_np(e))
		return strerrorname_np(e);
	snprintf(buf, sizeof(buf), "E%d", e);
	return buf;
}

static void summary(void)
{
	uint64_t total = 0, byerr[NR_ERR] = { 0 };
	int op, e;

	for (op = 0; op < NR_OPS; op++) {
		uint64_t n = 0;

		for (e = 0; e < NR_ERR; e++)
			n += hist[op][e];
		if (!n)
			continue;
		if (op < OP_chaos_replace && op != OP_uring_res &&
		    op != OP_zc_notif && op != OP_ring_setup &&
		    op != OP_sqe_copy)
			total += n;
		printf("# %-16s %8llu ", op_names[op], (unsigned long long)n);
		for (e = 0; e < NR_ERR; e++) {
			byerr[e] += hist[op][e];
			if (hist[op][e])
				printf(" %s %llu", err_name(e),
				       (unsigned long long)hist[op][e]);
		}
		printf("\n");
	}
	printf("# errno histogram:");
	for (e = 0; e < NR_ERR; e++)
		if (byerr[e])
			printf(" %s %llu", err_name(e),
			       (unsigned long long)byerr[e]);
	printf("\n# %llu operations in %d s with %d threads (seed %llu), "
	       "%d SIGPIPE\n", (unsigned long long)total, opt.seconds,
	       opt.threads, (unsigned long long)opt.seed, (int)sigpipes);
}

static void kernel_counters(void)
{
	size_t i;

	printf("# module counters:");
	for (i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
		printf(" %s %ld", counters[i], read_counter(counters[i]));
	printf("\n");
}

/* One of the ABI's promises, seen @n times broken. */
static bool abi_check(const char *name, uint64_t n, const char *what)
{
	if (!n) {
		printf("PASS %s\n", name);
		return true;
	}
	printf("FAIL %s: %s, %llu times\n", name, what, (unsigned long long)n);
	return false;
}

/*
 * Everything closed: the staging and registered pages come back (io_uring
 * lets go late).
 */
static bool gauge_back(const char *name, long before)
{
	int64_t end = now_ms() + 15000;
	long now;

	while ((now = gauge_now(name)) != before && now_ms() < end)
		sleep_ms(100);
	if (now == before) {
		printf("PASS %s: %ld, as before\n", name, now);
		return true;
	}
	printf("FAIL %s: %ld, was %ld before the run\n", name, now, before);
	return false;
}

int main(int argc, char **argv)
{
	pthread_t chaos, drain;
	uint64_t chaos_seed;
	int64_t deadline;
	long before, reg_before;
	int i, stuck;
	bool ok;

	parse_args(argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signals_setup();
	before = gauge_now("stage_pages");
	reg_before = gauge_now("reg_pages");
	if (opt.lo_mtu)
		lo_mtu_orig = lo_mtu(0);
	if (setup()) {
		printf("FAIL harness: setup: %s\n", strerror(errno));
		return 99;
	}
	printf("# t_kmod_fuzz: seed %llu, %d s, %d threads, stage_pages %ld\n",
	       (unsigned long long)opt.seed, opt.seconds, opt.threads, before);
	chaos_seed = opt.seed ^ 0xc4a05ULL;
	deadline = now_ms() + opt.seconds * 1000LL;
	alarm(opt.seconds + 75);
	if (pthread_create(&drain, NULL, drain_main, NULL)) {
		printf("FAIL harness: pthread_create\n");
		return 99;
	}
	for (i = 0; i < opt.threads; i++)
		if (pthread_create(&workers[i].th, NULL, worker_main,
				   &workers[i])) {
			printf("FAIL harness: pthread_create\n");
			return 99;
		}
	/* last: it signals the workers */
	if (opt.chaos &&
	    pthread_create(&chaos, NULL, chaos_main, &chaos_seed)) {
		printf("FAIL harness: pthread_create\n");
		return 99;
	}
	/* signals (SIGPIPE, SIGUSR1) may cut a sleep short */
	while (now_ms() < deadline)
		sleep_ms(deadline - now_ms());
	stuck = teardown(chaos, opt.chaos);
	if (!stuck && close_all(drain))
		stuck = -1;
	if (stuck) {
		printf("FAIL hang: %s still in the kernel after the deadline\n",
		       stuck < 0 ? "a helper thread" : "workers");
		summary();
		fflush(stdout);
		_exit(1);
	}
	printf("PASS no_hang: every thread back in time\n");
	summary();
	kernel_counters();
	/* the ABI's promises (include/uapi/linux/splicemsg.h) */
	ok = gauge_back("stage_pages", before);
	ok &= gauge_back("reg_pages", reg_before);
	ok &= abi_check("abi_size", abi_overrun,
			"VERSION/STATS with size < sizeof wrote past size");
	ok &= abi_check("abi_offptr", abi_offptr,
			"SEND_OFFPTR replaced the struct's offset pointer");
	ok &= abi_check("abi_sqe", abi_sqe,
			"a URING_CMD used sqe->cmd written after the submit");
	ok &= abi_check("abi_reg_write", abi_reg_write,
			"READ_FIXED or RECV wrote into a registered buffer");
	return ok ? 0 : 1;
}
