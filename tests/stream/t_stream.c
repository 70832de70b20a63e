// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Helpers for sm_sender; see t_stream.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "t_stream.h"

/*
 * `sendfile` must stay the 32-bit-offset symbol: with a 64-bit off_t ABI
 * switch glibc would redirect it to sendfile64 and one of the two
 * interposed entry points would never be exercised.
 */
#if defined(_FILE_OFFSET_BITS) && _FILE_OFFSET_BITS == 64
#error "build sm_sender without _FILE_OFFSET_BITS=64"
#endif

static pid_t t_owner;
static unsigned int t_timeout;
static char t_dir[2048];
static const char *t_meta_pattern;
static int t_failed;

#define T_META_MAX 8
static struct {
	const char *key;
	const char *value;
} t_meta[T_META_MAX];

/* What this process's sendfile calls returned, by kind of call. */
static struct {
	uint64_t eligible_calls;
	uint64_t eligible_bytes;
	uint64_t ineligible_calls;
	uint64_t ineligible_bytes;
	uint64_t other_calls;
	uint64_t other_bytes;
} t_acct;

void t_die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "sm_sender[%d]: harness error: ", (int)getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(T_EXIT_ERROR);
}

void t_mismatch(void)
{
	__atomic_store_n(&t_failed, 1, __ATOMIC_RELAXED);
}

int t_result(void)
{
	return __atomic_load_n(&t_failed, __ATOMIC_RELAXED) ?
		T_EXIT_FAIL : T_EXIT_PASS;
}

/* ---- hashing ---------------------------------------------------------- */

void t_digest_init(struct t_digest *d)
{
	d->bytes = 0;
	d->hash = T_FNV_INIT;
}

void t_digest_add(struct t_digest *d, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint64_t h = d->hash;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	d->hash = h;
	d->bytes += len;
}

bool t_digest_equal(const struct t_digest *a, const struct t_digest *b)
{
	return a->bytes == b->bytes && a->hash == b->hash;
}

/* ---- process setup ---------------------------------------------------- */

static void t_on_alarm(int sig)
{
	static const char msg[] = "sm_sender: timeout, giving up\n";

	(void)sig;
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* nothing more we can do */
	}
	_exit(T_EXIT_ERROR);
}

/* A shim that maps the file must never let a truncation kill us. */
static void t_on_sigbus(int sig)
{
	static const char msg[] = "sm_sender: SIGBUS\n";

	(void)sig;
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0 ||
	    write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* nothing more we can do */
	}
	_exit(T_EXIT_FAIL);
}

static void t_meta_write(void)
{
	char path[4096];
	const char *p;
	size_t n = 0;
	FILE *f;
	int i;

	if (!t_meta_pattern)
		return;
	for (p = t_meta_pattern; *p && n + 16 < sizeof(path); p++) {
		if (p[0] == '%' && p[1] == 'p') {
			n += snprintf(path + n, sizeof(path) - n, "%d",
				      (int)getpid());
			p++;
		} else {
			path[n++] = *p;
		}
	}
	path[n] = '\0';
	f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "sm_sender: %s: %s\n", path, strerror(errno));
		return;
	}
	fprintf(f, "pid %d\n", (int)getpid());
	fprintf(f, "eligible_calls %llu\n",
		(unsigned long long)t_acct.eligible_calls);
	fprintf(f, "eligible_bytes %llu\n",
		(unsigned long long)t_acct.eligible_bytes);
	fprintf(f, "ineligible_calls %llu\n",
		(unsigned long long)t_acct.ineligible_calls);
	fprintf(f, "ineligible_bytes %llu\n",
		(unsigned long long)t_acct.ineligible_bytes);
	fprintf(f, "other_calls %llu\n",
		(unsigned long long)t_acct.other_calls);
	fprintf(f, "other_bytes %llu\n",
		(unsigned long long)t_acct.other_bytes);
	for (i = 0; i < T_META_MAX && t_meta[i].key; i++)
		fprintf(f, "%s %s\n", t_meta[i].key, t_meta[i].value);
	fclose(f);
}

void t_meta_set(const char *key, const char *value)
{
	int i;

	for (i = 0; i < T_META_MAX; i++) {
		if (!t_meta[i].key || !strcmp(t_meta[i].key, key)) {
			t_meta[i].key = key;
			t_meta[i].value = value;
			return;
		}
	}
	t_die("too many meta keys");
}

static void t_cleanup(void)
{
	struct dirent *de;
	DIR *d;

	if (getpid() != t_owner || !t_dir[0])
		return;
	d = opendir(t_dir);
	if (d) {
		while ((de = readdir(d))) {
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				unlinkat(dirfd(d), de->d_name, 0);
		}
		closedir(d);
	}
	rmdir(t_dir);
}

static void t_set_handler(int sig, void (*fn)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	t_check(sigaction(sig, &sa, NULL) == 0);
}

void t_setup(unsigned int timeout_sec, const char *meta_pattern)
{
	const char *base = getenv("TMPDIR");

	t_owner = getpid();
	t_timeout = timeout_sec;
	t_meta_pattern = meta_pattern;
	t_set_handler(SIGALRM, t_on_alarm);
	t_set_handler(SIGBUS, t_on_sigbus);
	alarm(timeout_sec);
	if (!base || !*base)
		base = "/tmp";
	snprintf(t_dir, sizeof(t_dir), "%s/sm_stream.XXXXXX", base);
	if (!mkdtemp(t_dir))
		t_die("mkdtemp %s: %s", t_dir, strerror(errno));
	atexit(t_cleanup);
	atexit(t_meta_write);
}

void t_after_fork_child(void)
{
	memset(&t_acct, 0, sizeof(t_acct));
	alarm(t_timeout);
}

const char *t_tmpdir(void)
{
	return t_dir;
}

/* ---- files ------------------------------------------------------------ */

/* splitmix64: cheap, and the same bytes on every machine. */
void t_fill(unsigned char *buf, size_t len, uint64_t seed)
{
	uint64_t x = seed, z;
	size_t i, j;

	for (i = 0; i < len; i += 8) {
		x += 0x9e3779b97f4a7c15ULL;
		z = x;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		z ^= z >> 31;
		for (j = 0; j < 8 && i + j < len; j++)
			buf[i + j] = (unsigned char)(z >> (8 * j));
	}
}

void t_file_create(struct t_file *f, const char *name, size_t size,
		   uint64_t seed)
{
	size_t done = 0;
	ssize_t n;
	int fd;

	snprintf(f->path, sizeof(f->path), "%s/%s", t_dir, name);
	f->size = size;
	f->data = malloc(size ? size : 1);
	t_check(f->data);
	t_fill(f->data, size, seed);
	fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	t_check(fd >= 0);
	while (done < size) {
		n = write(fd, f->data + done, size - done);
		t_check(n > 0);
		done += n;
	}
	t_check(close(fd) == 0);
	f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
	t_check(f->fd >= 0);
}

void t_file_close(struct t_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	free(f->data);
	f->data = NULL;
	unlink(f->path);
}

/* ---- connections ------------------------------------------------------ */

const char *t_family_name(int family)
{
	return family == AF_INET6 ? "tcp6" : "tcp4";
}

static socklen_t t_loopback(int family, struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
		return sizeof(*s6);
	}
	s4->sin_family = AF_INET;
	s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sizeof(*s4);
}

static int t_listener(int family, int rcvbuf, struct sockaddr_storage *ss,
		      socklen_t *len)
{
	int fd, err;

	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (rcvbuf)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	*len = t_loopback(family, ss);
	if (bind(fd, (struct sockaddr *)ss, *len) || listen(fd, 8) ||
	    getsockname(fd, (struct sockaddr *)ss, len)) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int t_tcp_pair(const struct t_conn_opts *o, int *sender, int *receiver)
{
	const char *cc = getenv("SM_TEST_CC") ? getenv("SM_TEST_CC") : "cubic";
	struct sockaddr_storage ss, peer;
	socklen_t len, plen = sizeof(peer);
	int lfd, cfd, sfd, snd;

	lfd = t_listener(o->family, o->rcvbuf, &ss, &len);
	if (lfd < 0)
		return lfd;
	cfd = socket(o->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	t_check(cfd >= 0);
	t_check(connect(cfd, (struct sockaddr *)&ss, len) == 0);
	/* a server's way: the peer's address asked for */
	sfd = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
	t_check(sfd >= 0);
	close(lfd);
	snd = o->accepted ? sfd : cfd;
	/* Same congestion control in every run, whatever the default
	 * (SM_TEST_CC: another, as stream-auto.sh asks for bbr). */
	t_check(setsockopt(snd, IPPROTO_TCP, TCP_CONGESTION, cc,
			   strlen(cc)) == 0);
	if (o->sndbuf)
		setsockopt(snd, SOL_SOCKET, SO_SNDBUF, &o->sndbuf,
			   sizeof(o->sndbuf));
	if (o->nonblock)
		t_check(fcntl(snd, F_SETFL,
			      fcntl(snd, F_GETFL) | O_NONBLOCK) == 0);
	*sender = snd;
	*receiver = o->accepted ? cfd : sfd;
	return 0;
}

bool t_family_available(int family)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	fd = t_listener(family, 0, &ss, &len);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* ---- receiver --------------------------------------------------------- */

static void t_rx_check_ref(struct t_rx *rx, const unsigned char *buf,
			   size_t n)
{
	uint64_t at = rx->got.bytes;

	size_t i;

	if (!rx->ref || !rx->ref_prefix)
		return;
	if (at + n > rx->ref_len) {
		rx->ref_prefix = false;
		return;
	}
	if (!memcmp(rx->ref + at, buf, n))
		return;
	for (i = 0; i < n; i++) {
		if (buf[i] != rx->ref[at + i] &&
		    (buf[i] || at + i < rx->ref_zero_from)) {
			rx->ref_prefix = false;
			return;
		}
	}
}

static void *t_rx_main(void *arg)
{
	struct t_rx *rx = arg;
	unsigned char *buf;
	ssize_t n;

	buf = malloc(rx->chunk);
	t_check(buf);
	pthread_mutex_lock(&rx->lock);
	while (rx->paused)
		pthread_cond_wait(&rx->cond, &rx->lock);
	pthread_mutex_unlock(&rx->lock);
	for (;;) {
		n = recv(rx->fd, buf, rx->chunk, 0);
		if (n > 0) {
			t_rx_check_ref(rx, buf, n);
			t_digest_add(&rx->got, buf, n);
			__atomic_store_n(&rx->progress, rx->got.bytes,
					 __ATOMIC_RELEASE);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		rx->err = n < 0 ? errno : 0;
		break;
	}
	free(buf);
	return NULL;
}

void t_rx_start(struct t_rx *rx, int fd, bool paused)
{
	sigset_t all, old;

	rx->fd = fd;
	if (!rx->chunk)
		rx->chunk = 256 * T_KIB;
	rx->paused = paused;
	rx->err = 0;
	rx->progress = 0;
	rx->ref_prefix = true;
	if (!rx->ref_zero_from)
		rx->ref_zero_from = SIZE_MAX;
	t_digest_init(&rx->got);
	pthread_mutex_init(&rx->lock, NULL);
	pthread_cond_init(&rx->cond, NULL);
	/* Signals aimed at the process must reach the sending thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	t_check(pthread_create(&rx->thread, NULL, t_rx_main, rx) == 0);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void t_rx_resume(struct t_rx *rx)
{
	pthread_mutex_lock(&rx->lock);
	rx->paused = false;
	pthread_cond_broadcast(&rx->cond);
	pthread_mutex_unlock(&rx->lock);
}

void t_rx_join(struct t_rx *rx)
{
	t_rx_resume(rx);
	t_check(pthread_join(rx->thread, NULL) == 0);
	close(rx->fd);
	rx->fd = -1;
	pthread_mutex_destroy(&rx->lock);
	pthread_cond_destroy(&rx->cond);
}

void t_rx_wait_for(struct t_rx *rx, uint64_t bytes)
{
	struct timespec ts = { 0, 1000 * 1000 };
	int i;

	for (i = 0; i < 10000; i++) {
		if (__atomic_load_n(&rx->progress, __ATOMIC_ACQUIRE) >= bytes)
			return;
		nanosleep(&ts, NULL);
	}
	t_die("the receiver never got %llu bytes", (unsigned long long)bytes);
}

void t_wait_stalled(int fd)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int last = -1, q, stable = 0, i;

	for (i = 0; i < 2000; i++) {
		nanosleep(&ts, NULL);
		t_check(ioctl(fd, SIOCOUTQ, &q) == 0);
		if (q > 0 && q == last)
			stable++;
		else
			stable = 0;
		last = q;
		if (stable >= 5)
			return;
	}
	t_die("the send never stalled (outq %d)", q);
}

/* ---- calls ------------------------------------------------------------ */

const char *t_api_name(enum t_api api)
{
	return api == T_SENDFILE ? "sendfile" : "sendfile64";
}

const char *t_errname(int err)
{
	static __thread char buf[16];
	const char *name;

	if (!err)
		return "ok";
	name = strerrorname_np(err);
	if (name)
		return name;
	snprintf(buf, sizeof(buf), "E%d", err);
	return buf;
}

enum t_kind { T_ELIGIBLE, T_INELIGIBLE, T_OTHER };

static bool t_offp_bad(const struct t_call *c)
{
	return c->offp_bad || c->offp == T_BAD_OFFP;
}

static bool t_fd_open(int fd)
{
	return fd >= 0 && fcntl(fd, F_GETFD) >= 0;
}

static int t_sockopt(int fd, int opt)
{
	socklen_t len = sizeof(int);
	int v = -1;

	if (getsockopt(fd, SOL_SOCKET, opt, &v, &len))
		return -1;
	return v;
}

static bool t_is_tcp(int fd)
{
	struct stat st;
	int dom;

	if (fstat(fd, &st) || !S_ISSOCK(st.st_mode))
		return false;
	dom = t_sockopt(fd, SO_DOMAIN);
	return (dom == AF_INET || dom == AF_INET6) &&
		t_sockopt(fd, SO_TYPE) == SOCK_STREAM &&
		t_sockopt(fd, SO_PROTOCOL) == IPPROTO_TCP;
}

static bool t_is_connected(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	return getpeername(fd, (struct sockaddr *)&ss, &len) == 0;
}

static bool t_is_regular(int fd)
{
	struct stat st;

	return !fstat(fd, &st) && S_ISREG(st.st_mode);
}

static bool t_is_readable(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl >= 0 && !(fl & O_PATH) && (fl & O_ACCMODE) != O_WRONLY;
}

/*
 * What the contract says the shim may carry itself (eligible), must pass
 * to libc because of the descriptor types (ineligible), or anything else
 * (bad descriptors, pointers, offsets, unconnected sockets), which the
 * driver does not try to account for.
 */
static enum t_kind t_classify(const struct t_call *c)
{
	bool out_tcp, in_reg;

	if (!t_fd_open(c->out_fd) || !t_fd_open(c->in_fd))
		return T_OTHER;
	out_tcp = t_is_tcp(c->out_fd);
	/* O_DIRECT files keep the kernel's alignment rules: left to libc */
	in_reg = t_is_regular(c->in_fd) &&
		 !(fcntl(c->in_fd, F_GETFL) & O_DIRECT);
	if (!out_tcp || !in_reg)
		return T_INELIGIBLE;
	if (!t_is_connected(c->out_fd) || !t_is_readable(c->in_fd) ||
	    t_offp_bad(c) || (c->offp && *c->offp < 0))
		return T_OTHER;
	return T_ELIGIBLE;
}

static void t_account(enum t_kind kind, ssize_t ret)
{
	uint64_t bytes = ret > 0 ? ret : 0;
	uint64_t *calls, *sum;

	switch (kind) {
	case T_ELIGIBLE:
		calls = &t_acct.eligible_calls;
		sum = &t_acct.eligible_bytes;
		break;
	case T_INELIGIBLE:
		calls = &t_acct.ineligible_calls;
		sum = &t_acct.ineligible_bytes;
		break;
	default:
		calls = &t_acct.other_calls;
		sum = &t_acct.other_bytes;
		break;
	}
	__atomic_fetch_add(calls, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(sum, bytes, __ATOMIC_RELAXED);
}

void t_call(struct t_call *c)
{
	enum t_kind kind = t_classify(c);

	errno = 0;
	if (c->api == T_SENDFILE)
		c->ret = sendfile(c->out_fd, c->in_fd, c->offp, c->count);
	else
		c->ret = sendfile64(c->out_fd, c->in_fd, (off64_t *)c->offp,
				    c->count);
	c->err = c->ret < 0 ? errno : 0;
	c->off_after = c->offp && !t_offp_bad(c) ? *c->offp : -1;
	c->pos_after = lseek(c->in_fd, 0, SEEK_CUR);
	c->pos_err = c->pos_after < 0 ? errno : 0;
	t_account(kind, c->ret);
}

void t_call_print(FILE *out, const char *label, const char *out_name,
		  const char *in_name, off_t off_before,
		  const struct t_call *c)
{
	char off[32], after[32], pos[32];

	if (!c->offp) {
		snprintf(off, sizeof(off), "NULL");
		snprintf(after, sizeof(after), "-");
	} else if (t_offp_bad(c)) {
		snprintf(off, sizeof(off), "%s",
			 c->offp == T_BAD_OFFP ? "(off_t *)8" : "bad");
		snprintf(after, sizeof(after), "-");
	} else {
		snprintf(off, sizeof(off), "&%lld", (long long)off_before);
		snprintf(after, sizeof(after), "%lld",
			 (long long)c->off_after);
	}
	if (c->pos_err)
		snprintf(pos, sizeof(pos), "%s", t_errname(c->pos_err));
	else
		snprintf(pos, sizeof(pos), "%lld", (long long)c->pos_after);
	fprintf(out, "%s: %s(%s, %s, %s, %zu) = %zd %s off=%s pos=%s\n",
		label, t_api_name(c->api), out_name, in_name, off, c->count,
		c->ret, t_errname(c->err), after, pos);
}

ssize_t t_send(FILE *out, const char *label, enum t_api api, int out_fd,
	       const char *out_name, int in_fd, const char *in_name,
	       off_t *offp, size_t count)
{
	struct t_call c = {
		.api = api,
		.out_fd = out_fd,
		.in_fd = in_fd,
		.offp = offp,
		.count = count,
	};
	off_t before = offp && offp != T_BAD_OFFP ? *offp : 0;

	t_call(&c);
	t_call_print(out, label, out_name, in_name, before, &c);
	errno = c.err;
	return c.ret;
}

/* ---- verdicts --------------------------------------------------------- */

void t_report_stream(FILE *out, const char *label, const struct t_digest *got,
		     const struct t_digest *want)
{
	bool ok = t_digest_equal(got, want);

	fprintf(out, "%s: received bytes=%llu hash=%016llx match=%s\n", label,
		(unsigned long long)got->bytes, (unsigned long long)got->hash,
		ok ? "yes" : "no");
	if (!ok) {
		fprintf(stderr, "%s: received %llu bytes hash %016llx, "
			"expected %llu bytes hash %016llx\n", label,
			(unsigned long long)got->bytes,
			(unsigned long long)got->hash,
			(unsigned long long)want->bytes,
			(unsigned long long)want->hash);
		t_mismatch();
	}
}

void t_expect(FILE *out, const char *label, const char *text, bool ok)
{
	fprintf(out, "%s: %s: %s\n", label, text, ok ? "yes" : "no");
	if (!ok)
		t_mismatch();
}

static volatile sig_atomic_t t_sigpipes;

static void t_on_sigpipe(int sig)
{
	(void)sig;
	t_sigpipes++;
}

void t_sigpipe_count_install(void)
{
	t_set_handler(SIGPIPE, t_on_sigpipe);
}

unsigned int t_sigpipe_seen(void)
{
	return t_sigpipes;
}
