// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * sm_fuzz: a seeded differential fuzzer for libsplicemsg.
 *
 *   sm_fuzz --seed S [--ops N] [--profile mixed|idiom|core] [--keep LIST]
 *           [--print-ops]
 *
 * From the seed it first generates the whole run -- the connections, the
 * files and every operation with all of its parameters -- and only then
 * runs the operations whose indices are in LIST (default: all), so that a
 * subset replays identically and tests/fuzz/fuzz.sh can minimise a
 * difference by delta debugging.  Operations name symbolic slots
 * (connection cN, dup slot dN, file fN); one whose slot is empty in this
 * run prints "skip".
 *
 * The transcript (stdout, one line per operation, then one per connection)
 * must be the same natively and under the shim.  What timing decides --
 * how much a non-blocking send took, whether poll saw POLLOUT yet -- is
 * printed marked with '~' and not exactly; instead the program checks an
 * invariant: every receiver got exactly the concatenation, in call order,
 * of the bytes the calls reported as accepted (UDP: those datagrams).
 * Two operations check time as well as order: "sync" (every accepted byte
 * arrives without the sender's help, as the kernel's probe timer ends any
 * cork natively) and "prompt" (an uncorked socket's bytes do not wait for
 * that timer).  Receivers are threads that only read, with raw system
 * calls the shim cannot interpose.  Exit 0, 1 (an invariant failed), 98
 * (timeout), 99 (harness error).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NCONN_MAX 4
#define NDUP 4
#define NSLOT (NCONN_MAX + NDUP)
#define NFILE 4
#define MAX_IOV 8
#define MAX_SUB 3
/* UDP payload per call: with the default op count no pending (corked)
 * datagram can reach 64 KiB, where the kernel would drop what it took. */
#define UDP_MAX 200
#define WAIT_MS 20
#define SYNC_MS 1500		/* natively 200-400 ms at most (the probe) */
#define PROMPT_MS 120		/* below TCP_RTO_MIN, the probe timer's 200 */
#define RUN_TIMEOUT 60
#define CHILD_TIMEOUT 20
#define EXIT_INVARIANT 1
#define EXIT_TIMEOUT 98
#define EXIT_HARNESS 99
#define MAX_RW ((size_t)(INT_MAX & ~4095))	/* the kernel's MAX_RW_COUNT */
#define DUP2_BASE 200		/* dup2 target of dup slot j: 200 + j */
#define DUPFD_MIN 300		/* F_DUPFD's lowest number */
#define PRIV_FD_MIN 900		/* the harness's own descriptors */
#define JOURNAL_CAP ((size_t)48 << 20)
#define TEXT_CAP ((size_t)64 << 10)
#define CHILD_ARENA ((size_t)16 << 20)
static const char sentinel[] = "sm_fuzz:end-of-datagrams";

/* ---- small things ------------------------------------------------------ */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2),
						   noreturn));

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

struct rng {
	uint64_t s;
};

static uint64_t rnext(struct rng *r)
{
	r->s += 0x9e3779b97f4a7c15ULL;
	return mix64(r->s);
}

static uint64_t rbelow(struct rng *r, uint64_t n)
{
	return n ? rnext(r) % n : 0;
}

static bool rchance(struct rng *r, int pct)
{
	return (int)rbelow(r, 100) < pct;
}

/* Pick an index by weight; @w has @n entries. */
static int rweighted(struct rng *r, const int *w, int n)
{
	int i, total = 0, x;

	for (i = 0; i < n; i++)
		total += w[i];
	x = (int)rbelow(r, total);
	for (i = 0; i < n; i++) {
		if (x < w[i])
			return i;
		x -= w[i];
	}
	return n - 1;
}

/* Deterministic content: every operation's bytes differ from the rest. */
static void fill(unsigned char *b, size_t n, uint64_t seed)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!(i & 7))
			v = mix64(seed + i);
		b[i] = (unsigned char)(v >> ((i & 7) * 8));
	}
}

static const char *errname(int e)
{
	static __thread char b[16];
	const char *s = strerrorname_np(e);

	if (s)
		return s;
	snprintf(b, sizeof(b), "E%d", e);
	return b;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

/* ---- sha256: the final per-connection digest --------------------------- */

struct sha256 {
	uint32_t h[8];
	uint64_t len;
	unsigned char buf[64];
	size_t n;
};

static const uint32_t sha_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha_block(struct sha256 *s, const unsigned char *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, h, t1, t2;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (; i < 64; i++)
		w[i] = w[i - 16] + w[i - 7] +
		       (ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^
			(w[i - 15] >> 3)) +
		       (ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10));
	a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3];
	e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
	for (i = 0; i < 64; i++) {
		t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) +
		     ((e & f) ^ (~e & g)) + sha_k[i] + w[i];
		t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) +
		     ((a & b) ^ (a & c) ^ (b & c));
		h = g; g = f; f = e; e = d + t1;
		d = c; c = b; b = a; a = t1 + t2;
	}
	s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d;
	s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

static void sha_init(struct sha256 *s)
{
	static const uint32_t iv[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};

	memcpy(s->h, iv, sizeof(iv));
	s->len = 0;
	s->n = 0;
}

static void sha_add(struct sha256 *s, const void *data, size_t n)
{
	const unsigned char *p = data;

	s->len += n;
	while (n) {
		size_t k = 64 - s->n < n ? 64 - s->n : n;

		memcpy(s->buf + s->n, p, k);
		s->n += k;
		p += k;
		n -= k;
		if (s->n == 64) {
			sha_block(s, s->buf);
			s->n = 0;
		}
	}
}

static void sha_hex(struct sha256 *s, char out[65])
{
	uint64_t bits = s->len * 8;
	unsigned char pad = 0x80, len[8];
	int i;

	sha_add(s, &pad, 1);
	pad = 0;
	while (s->n != 56)
		sha_add(s, &pad, 1);
	for (i = 0; i < 8; i++)
		len[i] = (unsigned char)(bits >> (56 - 8 * i));
	sha_add(s, len, 8);
	for (i = 0; i < 8; i++)
		snprintf(out + 8 * i, 9, "%08x", s->h[i]);
}

/* ---- output: raw writes, so a crash loses nothing and fork is safe ----- */

struct line {
	char s[2048];
	size_t n;
};

static void lp(struct line *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void lp(struct line *l, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (l->n >= sizeof(l->s) - 1)
		return;
	va_start(ap, fmt);
	k = vsnprintf(l->s + l->n, sizeof(l->s) - l->n, fmt, ap);
	va_end(ap);
	if (k > 0)
		l->n += (size_t)k < sizeof(l->s) - l->n ? (size_t)k :
			sizeof(l->s) - l->n - 1;
}

static void raw_out(const char *s, size_t n)
{
	while (n) {
		ssize_t k = syscall(SYS_write, 1, s, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return;
		s += k;
		n -= k;
	}
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
	struct line l = { .n = 0 };
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(l.s, sizeof(l.s) - 1, fmt, ap);
	va_end(ap);
	if (k < 0)
		return;
	l.n = (size_t)k < sizeof(l.s) - 1 ? (size_t)k : sizeof(l.s) - 2;
	l.s[l.n++] = '\n';
	raw_out(l.s, l.n);
}

static void die(const char *fmt, ...)
{
	char b[512];
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(b, sizeof(b) - 1, fmt, ap);
	va_end(ap);
	if (k < 0)
		k = 0;
	if (k > (int)sizeof(b) - 2)
		k = sizeof(b) - 2;
	b[k++] = '\n';
	raw_out("HARNESS-ERROR ", 14);
	raw_out(b, k);
	syscall(SYS_exit_group, EXIT_HARNESS);
	__builtin_unreachable();
}

/* ---- the generated run --------------------------------------------------- */

enum conn_type { CT_TCP4, CT_TCP6, CT_UNIX, CT_UDP, CT_PIPE, CT_NTYPES };
static const char *const ct_name[] = { "tcp4", "tcp6", "unix", "udp",
				       "pipe" };

enum op_kind {
	OP_WRITE, OP_WRITEV, OP_SEND, OP_SENDTO, OP_SENDMSG, OP_SENDMMSG,
	OP_PWRITEV, OP_SENDFILE, OP_SPLICE, OP_CORK, OP_GETCORK, OP_NODELAY,
	OP_DUP, OP_CLOSE, OP_SHUTDOWN, OP_NONBLOCK, OP_SNDBUF, OP_WAIT,
	OP_LSEEK, OP_SLEEP, OP_FORK, OP_BAD, OP_SYNC, OP_PROMPT, OP_NKINDS
};
static const char *const op_name[] = {
	"write", "writev", "send", "sendto-addr", "sendmsg", "sendmmsg",
	"pwritev", "sendfile", "splice", "cork", "getcork", "nodelay",
	"dup", "close", "shutdown", "nonblock", "sndbuf", "wait",
	"lseek", "sleep", "fork", "bad", "sync", "prompt",
};

/* How a sendfile offset is passed. */
enum off_mode { OFF_NULL, OFF_STACK, OFF_HEAP, OFF_MISALIGNED, OFF_BAD,
		OFF_RDONLY, OFF_NMODES };
static const char *const off_name[] = { "null", "stack", "heap", "odd",
					"bad", "rdonly" };

/* OP_BAD forms: pointers the kernel answers with EFAULT. */
enum bad_form { BAD_WRITE, BAD_WRITEV_ARR, BAD_WRITEV_BASE, BAD_SEND,
		BAD_MSGHDR, BAD_MSG_IOV, BAD_CORKVAL, BAD_SENDFILE_OFF,
		BAD_GETCORK, BAD_SENDTO_ADDR, BAD_SENDMMSG, BAD_PWRITEV,
		BAD_NFORMS };
static const char *const bad_name[] = {
	"write-buf", "writev-array", "writev-base", "send-buf", "sendmsg-hdr",
	"sendmsg-iov", "cork-optval", "sendfile-offp", "getcork-optval",
	"sendto-addr", "sendmmsg-vec", "pwritev2-base",
};

struct op {
	enum op_kind kind;
	int var;		/* which form of the call */
	int slot;		/* the descriptor slot it acts on */
	int slot2;		/* OP_DUP: the dup slot it fills */
	int file;
	int flags;
	int niov;
	uint32_t len[MAX_IOV];
	uint64_t dseed;		/* its bytes */
	int64_t off;		/* sendfile *offset, lseek position */
	uint64_t count;
	int offmode;
	int val;
	int nsub;
	struct op *sub;		/* OP_FORK: what the child does */
};

struct plan {
	uint64_t seed;
	bool idiom;		/* three TCP connections, the idiom's calls */
	bool core;		/* only those: no dup, fork, bad pointer... */
	int nconn;
	int ctype[NCONN_MAX];
	size_t fsize[NFILE];
	int nops;
	struct op *ops;
};

static const size_t file_sizes[] = { 0, 1, 4095, 4097, 100 << 10,
				     (1 << 20) + 3 };

/* Sizes that matter to the shim: 0, 1, its 16 KiB hold and body limits. */
static uint32_t pick_len(struct rng *r)
{
	static const int w[] = { 3, 5, 25, 25, 16, 6, 10, 6, 4 };

	switch (rweighted(r, w, 9)) {
	case 0:
		return 0;
	case 1:
		return 1;
	case 2:
		return 2 + rbelow(r, 63);
	case 3:
		return 65 + rbelow(r, 1436);
	case 4:
		return 1501 + rbelow(r, 14884);
	case 5:
		return 16383 + rbelow(r, 3);
	case 6:
		return 16386 + rbelow(r, 50000);
	case 7:
		return 66000 + rbelow(r, 150000);
	default:
		return 300000 + rbelow(r, 800000);
	}
}

static int pick_flags(struct rng *r, bool idiom)
{
	int f = 0;

	if (rchance(r, idiom ? 70 : 45))
		f |= MSG_MORE;
	if (rchance(r, 30))
		f |= MSG_NOSIGNAL;
	if (rchance(r, idiom ? 5 : 12))
		f |= MSG_DONTWAIT;
	return f;
}

/* Which slots hold a descriptor, as the whole run would have them. */
struct gen_state {
	bool used[NSLOT];
	int nconn;
};

static int pick_slot(struct rng *r, const struct gen_state *g)
{
	int cand[NSLOT], n = 0, i;

	for (i = 0; i < NSLOT; i++)
		if (g->used[i])
			cand[n++] = i;
	/* mostly the live ones; now and then one that may be empty */
	if (!n || rchance(r, 3))
		return rchance(r, 60) ? (int)rbelow(r, g->nconn) :
		       NCONN_MAX + (int)rbelow(r, NDUP);
	/* the original sockets carry the idiom; dups less often */
	for (i = 0; i < 2; i++) {
		int s = cand[rbelow(r, n)];

		if (s < NCONN_MAX)
			return s;
	}
	return cand[rbelow(r, n)];
}

static void gen_sendfile(struct rng *r, struct op *o, const struct plan *p)
{
	static const int wm[] = { 35, 30, 15, 10, 5, 5 };
	size_t sz;

	o->file = rbelow(r, NFILE);
	sz = p->fsize[o->file];
	o->offmode = rweighted(r, wm, OFF_NMODES);
	o->var = rchance(r, 50);	/* sendfile64 */
	switch (rbelow(r, 10)) {
	case 0:
		o->off = sz;
		break;
	case 1:
		o->off = sz + 1 + rbelow(r, 5000);
		break;
	case 2:
		o->off = rchance(r, 50) ? -1 : INT64_MAX - 10;
		break;
	case 3:
		o->off = sz ? sz - 1 : 0;
		break;
	case 4:
	case 5:
		o->off = 0;
		break;
	default:
		o->off = rbelow(r, sz + 1);
		break;
	}
	switch (rbelow(r, 12)) {
	case 0:
		o->count = 0;
		break;
	case 1:
		o->count = 1;
		break;
	case 2:
		o->count = rchance(r, 50) ? SIZE_MAX : (1ULL << 40);
		break;
	case 3:
		o->count = 86723;
		break;
	case 4:
	case 5:
		o->count = sz ? sz : 4096;
		break;
	case 6:
		o->count = 16384 + rbelow(r, 3) - 1;
		break;
	default:
		o->count = 2 + rbelow(r, rchance(r, 60) ? 16384 : 300000);
		break;
	}
	o->val = rbelow(r, 7);	/* misalignment */
}

static void gen_data(struct rng *r, struct op *o, bool idiom)
{
	int i;

	o->niov = 1;
	if (o->kind == OP_WRITEV || o->kind == OP_SENDMSG ||
	    o->kind == OP_PWRITEV || o->kind == OP_SENDMMSG ||
	    (o->kind == OP_BAD && (o->var == BAD_WRITEV_BASE ||
				   o->var == BAD_WRITEV_ARR ||
				   o->var == BAD_MSG_IOV ||
				   o->var == BAD_PWRITEV)))
		o->niov = 1 + rbelow(r, o->kind == OP_SENDMMSG ? 3 : MAX_IOV);
	for (i = 0; i < o->niov; i++)
		o->len[i] = pick_len(r);
	if (o->kind == OP_BAD && !o->len[o->niov - 1])
		o->len[o->niov - 1] = 1 + rbelow(r, 100);
	o->flags = pick_flags(r, idiom);
}

static void gen_op(struct rng *r, struct op *o, const struct plan *p,
		   struct gen_state *g, bool child);

static const int w_mixed[OP_NKINDS] = {
	[OP_WRITE] = 8, [OP_WRITEV] = 8, [OP_SEND] = 10, [OP_SENDTO] = 3,
	[OP_SENDMSG] = 6, [OP_SENDMMSG] = 2, [OP_PWRITEV] = 2,
	[OP_SENDFILE] = 12, [OP_SPLICE] = 3, [OP_CORK] = 12,
	[OP_GETCORK] = 2, [OP_NODELAY] = 2, [OP_DUP] = 5, [OP_CLOSE] = 2,
	[OP_SHUTDOWN] = 1, [OP_NONBLOCK] = 3, [OP_SNDBUF] = 1, [OP_WAIT] = 4,
	[OP_LSEEK] = 2, [OP_SLEEP] = 1, [OP_FORK] = 2, [OP_BAD] = 5,
	[OP_SYNC] = 3, [OP_PROMPT] = 2,
};
static const int w_idiom[OP_NKINDS] = {
	[OP_WRITE] = 6, [OP_WRITEV] = 12, [OP_SEND] = 12, [OP_SENDTO] = 1,
	[OP_SENDMSG] = 3, [OP_SENDMMSG] = 1, [OP_PWRITEV] = 1,
	[OP_SENDFILE] = 20, [OP_SPLICE] = 1, [OP_CORK] = 20,
	[OP_GETCORK] = 1, [OP_NODELAY] = 1, [OP_DUP] = 2, [OP_CLOSE] = 1,
	[OP_SHUTDOWN] = 0, [OP_NONBLOCK] = 3, [OP_SNDBUF] = 2, [OP_WAIT] = 3,
	[OP_LSEEK] = 1, [OP_SLEEP] = 1, [OP_FORK] = 1, [OP_BAD] = 1,
	[OP_SYNC] = 5, [OP_PROMPT] = 5,
};

/*
 * The response idiom and nothing else -- every call a server like nginx
 * makes around it -- to look past what the other profiles find first.
 */
static const int w_core[OP_NKINDS] = {
	[OP_WRITE] = 6, [OP_WRITEV] = 12, [OP_SEND] = 12, [OP_SENDMSG] = 3,
	[OP_SENDFILE] = 20, [OP_CORK] = 20, [OP_GETCORK] = 1,
	[OP_NODELAY] = 1, [OP_NONBLOCK] = 3, [OP_SNDBUF] = 2, [OP_WAIT] = 3,
	[OP_LSEEK] = 1, [OP_SLEEP] = 1, [OP_SYNC] = 5, [OP_PROMPT] = 8,
};

/* A forked child only sends: it must not change what the parent models. */
static const int w_child[OP_NKINDS] = {
	[OP_WRITE] = 6, [OP_WRITEV] = 6, [OP_SEND] = 8, [OP_SENDTO] = 2,
	[OP_SENDMSG] = 3, [OP_PWRITEV] = 1, [OP_SENDFILE] = 8, [OP_CORK] = 4,
	[OP_BAD] = 2,
};

static void gen_fork(struct rng *r, struct op *o, const struct plan *p,
		     struct gen_state *g)
{
	int i;

	o->nsub = 1 + rbelow(r, MAX_SUB);
	o->sub = calloc(o->nsub, sizeof(*o->sub));
	if (!o->sub)
		die("out of memory");
	for (i = 0; i < o->nsub; i++)
		gen_op(r, &o->sub[i], p, g, true);
}

static void gen_op(struct rng *r, struct op *o, const struct plan *p,
		   struct gen_state *g, bool child)
{
	const int *w = child ? w_child : p->core ? w_core :
		       p->idiom ? w_idiom : w_mixed;

	memset(o, 0, sizeof(*o));
	o->kind = rweighted(r, w, OP_NKINDS);
	o->slot = pick_slot(r, g);
	o->dseed = rnext(r);
	switch (o->kind) {
	case OP_WRITE:
	case OP_WRITEV:
	case OP_SEND:
	case OP_SENDTO:
	case OP_SENDMSG:
	case OP_SENDMMSG:
	case OP_PWRITEV:
		o->var = rbelow(r, o->kind == OP_SENDMSG ? 4 :
				   o->kind == OP_WRITEV ? 12 : 2);
		if (o->kind == OP_SENDMSG && p->idiom)
			o->var = rchance(r, 80) ? 0 : o->var;
		if (o->kind == OP_SENDMSG && p->core)
			o->var = 0;	/* no address, no SCM_RIGHTS */
		o->file = rbelow(r, NFILE);	/* SCM_RIGHTS passes it */
		gen_data(r, o, p->idiom);
		break;
	case OP_SENDFILE:
		gen_sendfile(r, o, p);
		break;
	case OP_SPLICE:
		o->len[0] = 1 + rbelow(r, rchance(r, 50) ? 4096 : 60000);
		o->count = rchance(r, 70) ? o->len[0] :
			   rchance(r, 50) ? 1 + rbelow(r, o->len[0]) :
			   o->len[0] + 1000;
		o->flags = rbelow(r, 4);	/* SPLICE_F_MORE / NONBLOCK */
		break;
	case OP_CORK:
		o->var = rbelow(r, 10) ? 0 : 1 + rbelow(r, 2);
		o->val = rchance(r, 50) ? 1 : rchance(r, 85) ? 0 : 2;
		break;
	case OP_GETCORK:
	case OP_CLOSE:
		o->var = rbelow(r, 2);
		break;
	case OP_DUP:
		o->var = rbelow(r, 5);
		o->slot2 = NCONN_MAX + rbelow(r, NDUP);
		if (o->slot >= NCONN_MAX)	/* dup the original mostly */
			o->slot = rchance(r, 70) ? (int)rbelow(r, p->nconn) :
				  o->slot;
		break;
	case OP_SHUTDOWN:
		o->var = rbelow(r, 6) ? 0 : 1 + rbelow(r, 2);
		break;
	case OP_NONBLOCK:
		o->var = rbelow(r, 4) ? 0 : 1;
		o->val = rchance(r, 50);
		break;
	case OP_SNDBUF:
		o->val = rchance(r, 50) ? 4096 : rchance(r, 50) ? 2048 : 65536;
		break;
	case OP_WAIT:
		o->var = rbelow(r, 4);
		break;
	case OP_LSEEK:
		o->file = rbelow(r, NFILE);
		o->var = rbelow(r, 5) ? SEEK_SET : rchance(r, 50) ? SEEK_CUR :
			 SEEK_END;
		o->off = o->var == SEEK_SET ?
			 (int64_t)rbelow(r, p->fsize[o->file] + 2) : 0;
		break;
	case OP_FORK:
		gen_fork(r, o, p, g);
		break;
	case OP_SYNC:
	case OP_PROMPT:
		o->val = rbelow(r, p->nconn);
		break;
	case OP_BAD:
		o->var = rbelow(r, BAD_NFORMS);
		o->file = rbelow(r, NFILE);
		gen_data(r, o, p->idiom);
		o->count = 1 + rbelow(r, 20000);
		break;
	default:
		break;
	}
	if (child)
		return;
	if (o->kind == OP_DUP)
		g->used[o->slot2] = true;
	if (o->kind == OP_CLOSE && rchance(r, 50))
		g->used[o->slot] = false;	/* sometimes closes a dup */
	if (o->kind == OP_CLOSE && o->slot >= NCONN_MAX)
		g->used[o->slot] = false;
}

static void plan_make(struct plan *p, uint64_t seed, int nops, int profile)
{
	static const int wt[CT_NTYPES] = { 30, 15, 25, 15, 15 };
	struct rng r = { .s = seed };
	struct gen_state g = { .nconn = 0 };
	int i;

	memset(p, 0, sizeof(*p));
	p->seed = seed;
	p->idiom = rchance(&r, 30);
	if (profile >= 0)
		p->idiom = profile > 0;
	p->core = profile == 2;
	p->nconn = p->idiom ? 3 : 2 + rbelow(&r, 3);
	for (i = 0; i < p->nconn; i++) {
		p->ctype[i] = rweighted(&r, wt, CT_NTYPES);
		if (p->idiom)
			p->ctype[i] = rchance(&r, 75) ? CT_TCP4 : CT_TCP6;
		g.used[i] = true;
	}
	g.nconn = p->nconn;
	for (i = 0; i < NFILE; i++)
		p->fsize[i] = file_sizes[rbelow(&r, 6)];
	if (nops < 0)
		nops = p->idiom ? 48 : 40;
	p->nops = nops;
	p->ops = calloc(nops ? nops : 1, sizeof(*p->ops));
	if (!p->ops)
		die("out of memory");
	for (i = 0; i < nops; i++)
		gen_op(&r, &p->ops[i], p, &g, false);
}

/* ---- runtime state ----------------------------------------------------- */

struct conn {
	int type;
	int fd;			/* the sending end as created */
	int rfd;		/* the receiving end: only its thread reads */
	int priv;		/* UDP: the harness's own reference */
	struct sockaddr_storage peer;
	socklen_t peerlen;
	bool nonblock;		/* O_NONBLOCK on the sending file */
	bool timing;		/* a timing-dependent result touched it */
	/* what the receiver got */
	pthread_t thr;
	bool started;
	unsigned char *rbuf;
	size_t rlen, rcap;
	size_t *rdg;		/* UDP datagram sizes */
	size_t nrdg, rdgcap;
	int rerr;
	/* what the calls said they sent */
	unsigned char *ebuf;
	size_t elen, ecap;
	size_t *edg;
	size_t nedg, edgcap;
	int *seglab;		/* which op each expected segment came from */
	size_t *segend;
	size_t nseg, segcap;
	bool udp_cork, pend_exists, dg_uncertain;
	bool shut;		/* SHUT_WR: the FIN pushed everything */
	bool tcp_cork;		/* TCP_CORK on, as the kernel would have it */
	bool last_more;		/* the last bytes went with MSG_MORE */
	bool more_unknown;	/* or a non-blocking call's may have */
	unsigned char *pbuf;	/* UDP: the datagram being built */
	size_t plen, pcap;
	int impossible;		/* label of a call that claimed too much */
	bool unchecked;		/* the model lost track (rdonly offset) */
};

struct tfile {
	int fd;
	size_t size;
	unsigned char *data;
	bool taint;		/* its position depends on timing */
};

struct slot {
	int fd;
	int conn;
};

/* What a forked child reports: its lines and the bytes it sent. */
struct shared {
	size_t tlen;
	char text[TEXT_CAP];
	size_t jlen;
	bool joverflow;
	unsigned char journal[];
};

static struct plan plan;
static struct conn conns[NCONN_MAX];
static struct tfile files[NFILE];
static struct slot slots[NSLOT];
static struct shared *shm;
static bool in_child;
static int ctl_fd = -1;		/* UDP: sends the end-of-data datagram */
static struct sockaddr_storage ctl_addr;
static socklen_t ctl_len;
static off_t *ro_off;		/* a read-only page for OFF_RDONLY */
static unsigned char *child_arena;	/* a forked child's buffers */
static size_t child_used;
static unsigned char *odd_buf;	/* misaligned offsets live here */
static volatile sig_atomic_t sigpipes;
static int cur_label;

static void on_sigpipe(int sig)
{
	(void)sig;
	sigpipes++;
}

static void on_alarm(int sig)
{
	char b[64];
	int n;

	(void)sig;
	n = snprintf(b, sizeof(b), "TIMEOUT at %s%d\n",
		     in_child ? "child op " : "op ", cur_label);
	raw_out(b, n);
	syscall(SYS_exit_group, EXIT_TIMEOUT);
}

static long raw_close(int fd)
{
	return syscall(SYS_close, fd);
}

static off_t raw_lseek(int fd, off_t off, int whence)
{
	return syscall(SYS_lseek, fd, off, whence);
}

/* ---- the model: what each connection must receive ----------------------- */

enum ev_type { EV_DATA, EV_UNCERTAIN, EV_UDPCORK, EV_DROP, EV_TAINT_FILE,
	       EV_TAINT_CONN, EV_IMPOSSIBLE, EV_UNCHECKED, EV_SHUT, EV_TCPCORK,
	       EV_MAYBE_MORE };

struct jrec {
	uint32_t type;
	int32_t conn;
	int32_t more;
	int32_t label;
	uint64_t n;
};

static void seg_add(struct conn *c, int label)
{
	if (c->nseg && c->seglab[c->nseg - 1] == label) {
		c->segend[c->nseg - 1] = c->elen;
		return;
	}
	if (c->nseg == c->segcap) {
		c->segcap = c->segcap ? 2 * c->segcap : 64;
		c->seglab = xrealloc(c->seglab, c->segcap * sizeof(int));
		c->segend = xrealloc(c->segend, c->segcap * sizeof(size_t));
	}
	c->seglab[c->nseg] = label;
	c->segend[c->nseg++] = c->elen;
}

static void expect(struct conn *c, const void *p, size_t n, int label)
{
	if (c->elen + n > c->ecap) {
		while (c->elen + n > c->ecap)
			c->ecap = c->ecap ? 2 * c->ecap : 65536;
		c->ebuf = xrealloc(c->ebuf, c->ecap);
	}
	memcpy(c->ebuf + c->elen, p, n);
	c->elen += n;
	seg_add(c, label);
}

static void udp_emit(struct conn *c, int label)
{
	expect(c, c->pbuf, c->plen, label);
	if (c->nedg == c->edgcap) {
		c->edgcap = c->edgcap ? 2 * c->edgcap : 64;
		c->edg = xrealloc(c->edg, c->edgcap * sizeof(size_t));
	}
	c->edg[c->nedg++] = c->plen;
	c->plen = 0;
	c->pend_exists = false;
}

static void apply(int type, int ci, const void *p, size_t n, int more,
		  int label)
{
	struct conn *c = &conns[ci];

	switch (type) {
	case EV_DATA:
		if (c->type != CT_UDP) {
			if (n) {
				c->last_more = more;
				c->more_unknown = false;
			}
			expect(c, p, n, label);
			break;
		}
		if (c->plen + n > c->pcap) {
			c->pcap = c->plen + n + 4096;
			c->pbuf = xrealloc(c->pbuf, c->pcap);
		}
		memcpy(c->pbuf + c->plen, p, n);
		c->plen += n;
		c->pend_exists = true;
		if (!more && !c->udp_cork)
			udp_emit(c, label);
		break;
	case EV_UNCERTAIN:
		c->dg_uncertain = true;
		break;
	case EV_UDPCORK:
		c->udp_cork = more;
		if (!more && c->pend_exists)
			udp_emit(c, label);
		break;
	case EV_DROP:
		/* the kernel flushes a corked datagram on a failed append */
		c->plen = 0;
		c->pend_exists = false;
		break;
	case EV_TAINT_FILE:
		files[ci].taint = true;
		break;
	case EV_TAINT_CONN:
		c->timing = true;
		break;
	case EV_IMPOSSIBLE:
		if (!c->impossible)
			c->impossible = label + 1;
		break;
	case EV_UNCHECKED:
		c->unchecked = true;
		break;
	case EV_SHUT:
		c->shut = true;
		break;
	case EV_TCPCORK:
		c->tcp_cork = more;
		break;
	case EV_MAYBE_MORE:
		/* timing decided whether it sent: the state it may leave */
		c->more_unknown = true;
		break;
	}
}

/* In a forked child the parent applies the events after it is reaped. */
static void model(int type, int ci, const void *p, size_t n, int more)
{
	struct jrec j = { type, ci, more, cur_label, n };
	size_t need = sizeof(j) + ((n + 7) & ~(size_t)7);

	if (!in_child) {
		apply(type, ci, p, n, more, cur_label);
		return;
	}
	if (shm->jlen + need > JOURNAL_CAP) {
		shm->joverflow = true;
		return;
	}
	memcpy(shm->journal + shm->jlen, &j, sizeof(j));
	if (n)
		memcpy(shm->journal + shm->jlen + sizeof(j), p, n);
	__atomic_store_n(&shm->jlen, shm->jlen + need, __ATOMIC_RELEASE);
}

static void journal_replay(void)
{
	size_t pos = 0;

	while (pos < shm->jlen) {
		struct jrec j;

		memcpy(&j, shm->journal + pos, sizeof(j));
		apply(j.type, j.conn, shm->journal + pos + sizeof(j), j.n,
		      j.more, j.label);
		pos += sizeof(j) + ((j.n + 7) & ~(size_t)7);
	}
	if (shm->joverflow)
		die("the child's journal overflowed");
}

/* @n bytes of @p went to connection @ci; @avail of them were readable. */
static void model_sent(int ci, const void *p, size_t n, size_t avail,
		       int more)
{
	if (n > avail) {
		model(EV_IMPOSSIBLE, ci, NULL, 0, 0);
		n = avail;
	}
	model(EV_DATA, ci, p, n, more);
}

/* ---- setup --------------------------------------------------------------- */

static void file_make(int i)
{
	char path[4096];
	const char *dir = getenv("TMPDIR");
	struct tfile *f = &files[i];
	size_t done = 0;
	int fd;

	f->size = plan.fsize[i];
	f->data = malloc(f->size ? f->size : 1);
	if (!f->data)
		die("out of memory");
	fill(f->data, f->size, mix64(plan.seed * 31 + i + 1));
	snprintf(path, sizeof(path), "%s/sm_fuzz.XXXXXX", dir ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		die("mkstemp %s: %s", path, strerror(errno));
	while (done < f->size) {
		ssize_t k = syscall(SYS_write, fd, f->data + done,
				    f->size - done);

		if (k <= 0)
			die("writing %s: %s", path, strerror(errno));
		done += k;
	}
	raw_close(fd);
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0)
		die("open %s: %s", path, strerror(errno));
	unlink(path);
}

static socklen_t loopback(int family, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		return sizeof(*a);
	}
	((struct sockaddr_in *)ss)->sin_family = AF_INET;
	((struct sockaddr_in *)ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return sizeof(struct sockaddr_in);
}

static bool family_ok(int family)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(family, &ss);
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok = fd >= 0 && !bind(fd, (struct sockaddr *)&ss, len);

	if (fd >= 0)
		raw_close(fd);
	return ok;
}

static void tcp_pair(struct conn *c, int family)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(family, &ss);
	int l = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (l < 0 || bind(l, (struct sockaddr *)&ss, len) ||
	    listen(l, 1) || getsockname(l, (struct sockaddr *)&ss, &len))
		die("tcp listener: %s", strerror(errno));
	c->fd = socket(family, SOCK_STREAM, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&ss, len))
		die("tcp connect: %s", strerror(errno));
	c->rfd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (c->rfd < 0)
		die("accept: %s", strerror(errno));
	raw_close(l);
}

static void udp_pair(struct conn *c)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(AF_INET, &ss);
	int big = 16 << 20;

	c->rfd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (c->rfd < 0 || bind(c->rfd, (struct sockaddr *)&ss, len) ||
	    getsockname(c->rfd, (struct sockaddr *)&ss, &len))
		die("udp receiver: %s", strerror(errno));
	/* Loopback UDP has no back pressure: room for every datagram. */
	if (setsockopt(c->rfd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)))
		setsockopt(c->rfd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	c->fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&ss, len))
		die("udp connect: %s", strerror(errno));
	c->priv = syscall(SYS_fcntl, c->fd, F_DUPFD_CLOEXEC, PRIV_FD_MIN);
	if (c->priv < 0)
		die("udp dup: %s", strerror(errno));
	if (ctl_fd < 0) {
		ctl_len = loopback(AF_INET, &ctl_addr);
		ctl_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (ctl_fd < 0 ||
		    bind(ctl_fd, (struct sockaddr *)&ctl_addr, ctl_len) ||
		    getsockname(ctl_fd, (struct sockaddr *)&ctl_addr,
				&ctl_len))
			die("udp control: %s", strerror(errno));
	}
}

static void conn_make(int i, bool v6)
{
	struct conn *c = &conns[i];
	int sv[2];

	memset(c, 0, sizeof(*c));
	c->type = plan.ctype[i];
	c->priv = -1;
	if (c->type == CT_TCP6 && !v6)
		c->type = CT_TCP4;	/* the same on every run here */
	switch (c->type) {
	case CT_TCP4:
	case CT_TCP6:
		tcp_pair(c, c->type == CT_TCP6 ? AF_INET6 : AF_INET);
		break;
	case CT_UNIX:
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
			die("socketpair: %s", strerror(errno));
		c->fd = sv[0];
		c->rfd = sv[1];
		syscall(SYS_fcntl, c->rfd, F_SETFD, FD_CLOEXEC);
		break;
	case CT_UDP:
		udp_pair(c);
		break;
	default:
		if (pipe(sv))
			die("pipe: %s", strerror(errno));
		c->rfd = sv[0];
		c->fd = sv[1];
		syscall(SYS_fcntl, c->rfd, F_SETFD, FD_CLOEXEC);
		break;
	}
	c->peerlen = sizeof(c->peer);
	if (c->type == CT_PIPE ||
	    getpeername(c->fd, (struct sockaddr *)&c->peer, &c->peerlen))
		c->peerlen = 0;
	slots[i].fd = c->fd;
	slots[i].conn = i;
}

static void rx_grow(unsigned char **b, size_t *cap, size_t want)
{
	if (want <= *cap)
		return;
	while (*cap < want)
		*cap = *cap ? 2 * *cap : 1 << 20;
	*b = xrealloc(*b, *cap);
}

static bool from_ctl(const struct sockaddr_storage *a, socklen_t len)
{
	return len == ctl_len && !memcmp(a, &ctl_addr, len);
}

/*
 * Its buffer is on the heap: 64 KiB of static TLS in the program would
 * make the shim's timer thread (a 64 KiB stack) fail to start, and with it
 * the cork ceiling -- a bug in its own right, but one that would hide
 * every other timer-driven flush from this fuzzer.
 */
static void *rx_udp(struct conn *c)
{
	unsigned char *tmp = malloc(65536);
	bool done = false;

	if (!tmp)
		die("out of memory");

	for (;;) {
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		long n = syscall(SYS_recvfrom, c->rfd, tmp, 65536,
				 done ? MSG_DONTWAIT : 0, &from, &flen);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			c->rerr = done && errno == EAGAIN ? 0 : errno;
			free(tmp);
			return NULL;
		}
		if (from_ctl(&from, flen)) {
			done = done || ((size_t)n == sizeof(sentinel) - 1 &&
					!memcmp(tmp, sentinel, n));
			continue;
		}
		rx_grow(&c->rbuf, &c->rcap, c->rlen + n);
		memcpy(c->rbuf + c->rlen, tmp, n);
		c->rlen += n;
		if (c->nrdg == c->rdgcap) {
			c->rdgcap = c->rdgcap ? 2 * c->rdgcap : 64;
			c->rdg = xrealloc(c->rdg, c->rdgcap * sizeof(size_t));
		}
		c->rdg[c->nrdg++] = n;
	}
}

/* Only reads, through raw system calls: nothing the shim interposes. */
static void *rx_main(void *arg)
{
	struct conn *c = arg;

	if (c->type == CT_UDP)
		return rx_udp(c);
	for (;;) {
		long n;

		rx_grow(&c->rbuf, &c->rcap, c->rlen + 65536);
		n = syscall(SYS_read, c->rfd, c->rbuf + c->rlen,
			    c->rcap - c->rlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			c->rerr = n < 0 ? errno : 0;
			return NULL;
		}
		__atomic_store_n(&c->rlen, c->rlen + n, __ATOMIC_RELEASE);
	}
}

static void setup(void)
{
	bool v6 = family_ok(AF_INET6);
	sigset_t all, old;
	struct sigaction sa;
	int i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigpipe;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	alarm(RUN_TIMEOUT);

	shm = mmap(NULL, sizeof(*shm) + JOURNAL_CAP, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ro_off = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	child_arena = mmap(NULL, CHILD_ARENA, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	odd_buf = malloc(64);
	if (shm == MAP_FAILED || ro_off == MAP_FAILED ||
	    child_arena == MAP_FAILED || !odd_buf)
		die("mmap: %s", strerror(errno));
	for (i = 0; i < NSLOT; i++)
		slots[i].fd = -1;
	for (i = 0; i < NFILE; i++)
		file_make(i);
	for (i = 0; i < plan.nconn; i++)
		conn_make(i, v6);
	/* The receivers take no signal: SIGPIPE counts the main thread's. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < plan.nconn; i++) {
		if (pthread_create(&conns[i].thr, NULL, rx_main, &conns[i]))
			die("pthread_create");
		conns[i].started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* ---- describing an operation ------------------------------------------- */

static bool needs_slot(const struct op *o);

static void slot_name(struct line *l, int s)
{
	if (s < NCONN_MAX)
		lp(l, "c%d", s);
	else
		lp(l, "d%d", s - NCONN_MAX);
}

static void flags_name(struct line *l, int f)
{
	lp(l, " flags=%s%s%s%s", f ? "" : "0", f & MSG_MORE ? "M" : "",
	   f & MSG_NOSIGNAL ? "N" : "", f & MSG_DONTWAIT ? "D" : "");
}

static void lens_name(struct line *l, const struct op *o)
{
	int i;

	lp(l, " len=");
	for (i = 0; i < o->niov; i++)
		lp(l, "%s%u", i ? "+" : "", o->len[i]);
}

/* Drawn from the op's data seed, so the plan's random stream is unchanged. */
static bool fork_raw(const struct op *o)
{
	return o->dseed & 1;
}

static void describe(struct line *l, const struct op *o)
{
	lp(l, " %s", op_name[o->kind]);
	if (o->kind == OP_BAD)
		lp(l, ":%s", bad_name[o->var]);
	else if (needs_slot(o))
		lp(l, "/%d", o->var);
	if (needs_slot(o)) {
		lp(l, " ");
		slot_name(l, o->slot);
	}
	switch (o->kind) {
	case OP_WRITE:
	case OP_WRITEV:
	case OP_PWRITEV:
		lens_name(l, o);
		break;
	case OP_SEND:
	case OP_SENDTO:
	case OP_SENDMSG:
	case OP_SENDMMSG:
	case OP_BAD:
		lens_name(l, o);
		flags_name(l, o->flags);
		break;
	case OP_SENDFILE:
		lp(l, " f%d off=%s:%" PRId64 " count=%" PRIu64, o->file,
		   off_name[o->offmode], o->off, o->count);
		break;
	case OP_SPLICE:
		lp(l, " piped=%u len=%" PRIu64 " flags=%d", o->len[0],
		   o->count, o->flags);
		break;
	case OP_CORK:
	case OP_NONBLOCK:
	case OP_SNDBUF:
		lp(l, " %d", o->val);
		break;
	case OP_DUP:
		lp(l, " -> ");
		slot_name(l, o->slot2);
		break;
	case OP_LSEEK:
		lp(l, " f%d %" PRId64 " whence=%d", o->file, o->off, o->var);
		break;
	case OP_FORK:
		lp(l, " by=%s children-ops=%d", fork_raw(o) ? "clone" : "fork",
		   o->nsub);
		break;
	case OP_SYNC:
	case OP_PROMPT:
		lp(l, " c%d", o->val);
		break;
	default:
		break;
	}
}

/* ---- running an operation ----------------------------------------------- */

/*
 * The result, exactly when it cannot depend on timing.  @timing: the call
 * was non-blocking, so any count and EAGAIN are possible natively (and,
 * with @fault, EFAULT too: a full socket answers before memory is read):
 * all of them print as "~nb", and the invariant checks the bytes.
 */
static void put_res(struct line *l, ssize_t ret, int err, bool timing,
		    bool fault)
{
	if (timing && (ret >= 0 || err == EAGAIN || (fault && err == EFAULT)))
		lp(l, " -> ~nb");
	else if (ret < 0)
		lp(l, " -> -1 %s", errname(err));
	else
		lp(l, " -> %zd", ret);
}

static void put_sig(struct line *l, int before)
{
	if (sigpipes != before)
		lp(l, " SIGPIPE=%d", sigpipes - before);
}

/*
 * An operation's buffer.  A child made by a raw clone(2) has none of
 * glibc's fork handlers: a lock a receiver thread held in malloc stays
 * held, so the child takes its buffers from an arena of its own.
 */
static void *op_alloc(size_t n)
{
	void *p;

	n = (n + 15) & ~(size_t)15;
	if (in_child) {
		if (n > CHILD_ARENA - child_used)
			die("the child's arena is full");
		p = child_arena + child_used;
		child_used += n;
		return p;
	}
	p = malloc(n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

static void op_free(void *p)
{
	if (!in_child)
		free(p);
}

/* The operation's bytes, split as its iovecs; UDP gets small datagrams. */
static size_t build_iov(const struct op *o, const struct conn *c,
			unsigned char **bufp, struct iovec *iov)
{
	uint32_t len[MAX_IOV];
	size_t total = 0, pos = 0;
	int i;

	for (i = 0; i < o->niov; i++) {
		len[i] = o->len[i];
		if (c->type == CT_UDP)
			len[i] %= UDP_MAX / o->niov + 1;
		total += len[i];
	}
	*bufp = op_alloc(total);
	fill(*bufp, total, o->dseed);
	for (i = 0; i < o->niov; i++) {
		iov[i].iov_base = *bufp + pos;
		iov[i].iov_len = len[i];
		pos += len[i];
	}
	return total;
}

/* SCM_RIGHTS with one descriptor: a file, never a socket of ours. */
union cmsg_fd {
	struct cmsghdr h;
	char b[CMSG_SPACE(sizeof(int))];
};

static ssize_t call_sendmsg(const struct op *o, int fd, struct conn *c,
			    struct iovec *iov, int niov)
{
	union cmsg_fd u;
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = niov };

	if (o->var & 1) {
		m.msg_name = &c->peer;
		m.msg_namelen = c->peerlen;
	}
	if (o->var & 2) {
		memset(&u, 0, sizeof(u));
		u.h.cmsg_level = SOL_SOCKET;
		u.h.cmsg_type = SCM_RIGHTS;
		u.h.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&u.h), &files[o->file].fd, sizeof(int));
		m.msg_control = u.b;
		m.msg_controllen = sizeof(u.b);
	}
	return sendmsg(fd, &m, o->flags);
}

static ssize_t call_sendmmsg(const struct op *o, int fd, struct iovec *iov,
			     struct line *l, size_t *lens)
{
	struct mmsghdr mm[MAX_IOV];
	int i, ret;

	memset(mm, 0, sizeof(mm));
	for (i = 0; i < o->niov; i++) {
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	ret = sendmmsg(fd, mm, o->niov, o->flags);
	for (i = 0; i < o->niov; i++)
		lens[i] = mm[i].msg_len;
	(void)l;
	return ret;
}

static bool is_udp(const struct conn *c)
{
	return c->type == CT_UDP;
}

static void op_data(const struct op *o, struct line *l, int fd,
		    struct conn *c)
{
	struct iovec iov[MAX_IOV];
	unsigned char *buf;
	size_t total = build_iov(o, c, &buf, iov), lens[MAX_IOV];
	bool flagged = o->kind != OP_WRITE && o->kind != OP_WRITEV &&
		       o->kind != OP_PWRITEV;
	int flags = flagged ? o->flags : 0, sig = sigpipes, err, cnt, i;
	bool timing = c->nonblock || (flags & MSG_DONTWAIT);
	size_t pos = 0;
	ssize_t ret;

	errno = 0;
	switch (o->kind) {
	case OP_WRITE:
		ret = write(fd, buf, iov[0].iov_len);
		break;
	case OP_WRITEV:
		cnt = o->var == 1 ? -1 : o->var == 2 ? 0 : o->niov;
		ret = writev(fd, iov, cnt);
		break;
	case OP_SEND:
		ret = o->var ? sendto(fd, buf, total, flags, NULL, 0) :
		      send(fd, buf, total, flags);
		break;
	case OP_SENDTO:
		ret = sendto(fd, buf, total, flags,
			     (struct sockaddr *)&c->peer, c->peerlen);
		break;
	case OP_SENDMSG:
		ret = call_sendmsg(o, fd, c, iov, o->niov);
		break;
	case OP_SENDMMSG:
		ret = call_sendmmsg(o, fd, iov, l, lens);
		break;
	default:
		ret = o->var ? pwritev(fd, iov, o->niov, 0) :
		      pwritev2(fd, iov, o->niov, -1, 0);
		break;
	}
	err = errno;
	if (o->kind == OP_WRITEV && o->var == 2)
		total = 0;
	if (o->kind == OP_SENDMMSG) {
		if (timing && (ret >= 0 || err == EAGAIN)) {
			lp(l, " -> ~nb");
		} else if (ret >= 0) {
			lp(l, " -> %zd [", ret);
			for (i = 0; i < ret; i++)
				lp(l, "%s%zu", i ? "," : "", lens[i]);
			lp(l, "]");
		} else {
			put_res(l, ret, err, timing, false);
		}
		for (i = 0; i < ret; i++) {
			model_sent(slots[o->slot].conn, iov[i].iov_base,
				   lens[i], iov[i].iov_len, flags & MSG_MORE);
			pos += iov[i].iov_len;
		}
	} else {
		put_res(l, ret, err, timing, false);
		/*
		 * An empty send reaches a UDP socket (an empty datagram, or
		 * the corked one); an empty writev/pwritev does not: the VFS
		 * returns 0 before the socket sees it (vfs_writev()).
		 */
		if (ret > 0 || (ret == 0 && is_udp(c) && total == 0 &&
				o->kind != OP_WRITEV && o->kind != OP_PWRITEV)) {
			model_sent(slots[o->slot].conn, buf, ret, total,
				   flags & MSG_MORE);
			if (is_udp(c) && !ret)
				model(EV_UNCERTAIN, slots[o->slot].conn,
				      NULL, 0, 0);
		}
	}
	put_sig(l, sig);
	op_free(buf);
}

/* Read back what sendfile left in an offset pointer, if it can be read. */
static bool off_read(int mode, off_t *p, off_t *v)
{
	switch (mode) {
	case OFF_NULL:
	case OFF_BAD:
		return false;
	case OFF_MISALIGNED:
		memcpy(v, p, sizeof(*v));
		return true;
	default:
		*v = *p;
		return true;
	}
}

static off_t *off_place(const struct op *o, off_t *stack_off)
{
	static off_t heap_off;
	off_t *p;

	switch (o->offmode) {
	case OFF_NULL:
		return NULL;
	case OFF_STACK:
		*stack_off = o->off;
		return stack_off;
	case OFF_HEAP:
		heap_off = o->off;
		return &heap_off;
	case OFF_MISALIGNED:
		p = (off_t *)(odd_buf + 1 + o->val);
		memcpy(p, &o->off, sizeof(o->off));
		return p;
	case OFF_BAD:
		return (off_t *)8;
	default:
		mprotect(ro_off, 4096, PROT_READ | PROT_WRITE);
		*ro_off = o->off;
		mprotect(ro_off, 4096, PROT_READ);
		return ro_off;
	}
}

static size_t sendfile_count(const struct op *o, const struct conn *c)
{
	if (is_udp(c))
		return o->count % (UDP_MAX + 1);
	return o->count;
}

/* sendfile(2) natively: the bytes from @start, at most @count, to EOF. */
static size_t file_avail(const struct tfile *f, off_t start)
{
	if (start < 0 || (size_t)start >= f->size)
		return 0;
	return f->size - start;
}

/*
 * A read-only offset: sendfile(2) reads it, sends, and only then fails to
 * store it back, so EFAULT comes after whatever the send did: nothing for
 * a count the kernel refuses (negative as ssize_t), an offset outside the
 * file, or a socket shut down for writing; else the count cut at EOF.
 */
static void rdonly_sent(const struct op *o, const struct conn *c,
			const struct tfile *f, off_t start, size_t count,
			bool sigpipe)
{
	size_t avail = file_avail(f, start);

	if (c->nonblock || c->type == CT_PIPE) {
		model(EV_UNCHECKED, slots[o->slot].conn, NULL, 0, 0);
		return;
	}
	if (sigpipe || c->shut || (ssize_t)count < 0 || !count || !avail)
		return;
	if (count > MAX_RW)
		count = MAX_RW;
	model(EV_DATA, slots[o->slot].conn, f->data + start,
	      count < avail ? count : avail, 0);
}

static void op_sendfile(const struct op *o, struct line *l, int fd,
			struct conn *c)
{
	struct tfile *f = &files[o->file];
	size_t count = sendfile_count(o, c), avail;
	off_t stack_off, *offp = off_place(o, &stack_off), start, after;
	/* into a pipe it takes what fits, waiting only for some room */
	bool timing = c->nonblock || c->type == CT_PIPE, readable;
	int sig = sigpipes, err;
	ssize_t ret;

	start = offp ? o->off : raw_lseek(f->fd, 0, SEEK_CUR);
	errno = 0;
	if (o->var)
		ret = sendfile64(fd, f->fd, (off64_t *)offp, count);
	else
		ret = sendfile(fd, f->fd, offp, count);
	err = errno;
	readable = off_read(o->offmode, offp, &after);
	if (o->offmode == OFF_RDONLY)
		mprotect(ro_off, 4096, PROT_READ | PROT_WRITE);
	/* from an unknown position even a blocking call's count is unknown */
	put_res(l, ret, err, timing || (!offp && f->taint), o->offmode ==
		OFF_BAD);
	if (readable)
		lp(l, timing ? " off=~" : " off=%jd", (intmax_t)after);
	after = raw_lseek(f->fd, 0, SEEK_CUR);
	lp(l, f->taint || (timing && !offp) ? " pos=~" : " pos=%jd",
	   (intmax_t)after);
	put_sig(l, sig);
	avail = file_avail(f, start);
	if (ret > 0)
		model_sent(slots[o->slot].conn, f->data + start, ret, avail,
			   0);
	if (ret < 0 && err == EFAULT && o->offmode == OFF_RDONLY)
		rdonly_sent(o, c, f, start, count, sigpipes != sig);
	/*
	 * Into UDP the splice path corks (MSG_MORE while the caller's count
	 * is not reached) and what becomes of that pending datagram is the
	 * kernel's affair: the shim passes UDP through, so the comparison
	 * with native covers it and the model stops there.
	 */
	if (is_udp(c))
		model(EV_UNCHECKED, slots[o->slot].conn, NULL, 0, 0);
	if (timing && !offp)
		model(EV_TAINT_FILE, o->file, NULL, 0, 0);
	/* from a position timing chose, the count is timing too */
	if (!offp && f->taint)
		model(EV_TAINT_CONN, slots[o->slot].conn, NULL, 0, 0);
}

static void op_splice(const struct op *o, struct line *l, int fd,
		      struct conn *c)
{
	unsigned int fl = (o->flags & 1 ? SPLICE_F_MORE : 0) |
			  (o->flags & 2 ? SPLICE_F_NONBLOCK : 0);
	size_t n = o->len[0], len = o->count, done = 0;
	bool timing = c->nonblock || (fl & SPLICE_F_NONBLOCK) ||
		      c->type == CT_PIPE;
	int p[2], sig = sigpipes, err;
	unsigned char *buf;
	ssize_t ret;

	if (is_udp(c)) {
		n = n % UDP_MAX + 1;
		len = len % (UDP_MAX + 1);
	}
	buf = malloc(n);
	if (!buf || syscall(SYS_pipe2, p, O_CLOEXEC))
		die("splice pipe: %s", strerror(errno));
	fill(buf, n, o->dseed);
	while (done < n) {
		long k = syscall(SYS_write, p[1], buf + done, n - done);

		if (k <= 0)
			die("filling the splice pipe: %s", strerror(errno));
		done += k;
	}
	/* no writer: an emptied pipe is the end, not a wait */
	raw_close(p[1]);
	errno = 0;
	ret = splice(p[0], NULL, fd, NULL, len, fl);
	err = errno;
	put_res(l, ret, err, timing, false);
	put_sig(l, sig);
	if (ret > 0)
		model_sent(slots[o->slot].conn, buf, ret, n,
			   fl & SPLICE_F_MORE);
	if (is_udp(c))
		model(EV_UNCHECKED, slots[o->slot].conn, NULL, 0, 0);
	raw_close(p[0]);
	free(buf);
}

static void op_cork(const struct op *o, struct line *l, int fd,
		    struct conn *c)
{
	bool udp = is_udp(c) && o->var != 1;
	int v = o->val, ret, err;
	socklen_t len = o->var == 2 ? 2 : sizeof(v);

	errno = 0;
	ret = setsockopt(fd, udp ? IPPROTO_UDP : IPPROTO_TCP,
			 udp ? UDP_CORK : TCP_CORK, &v, len);
	err = errno;
	put_res(l, ret, err, false, false);
	if (udp && !ret)
		model(EV_UDPCORK, slots[o->slot].conn, NULL, 0, v != 0);
	if (!udp && !ret && (c->type == CT_TCP4 || c->type == CT_TCP6))
		model(EV_TCPCORK, slots[o->slot].conn, NULL, 0, v != 0);
}

static void op_getcork(const struct op *o, struct line *l, int fd,
		       struct conn *c)
{
	bool udp = is_udp(c) && !o->var;
	int v = -1, ret, err;
	socklen_t len = sizeof(v);

	errno = 0;
	ret = getsockopt(fd, udp ? IPPROTO_UDP : IPPROTO_TCP,
			 udp ? UDP_CORK : TCP_CORK, &v, &len);
	err = errno;
	put_res(l, ret, err, false, false);
	if (!ret)
		lp(l, " val=%d len=%u", v, len);
}

static void slot_drop(int s)
{
	slots[s].fd = -1;
	slots[s].conn = -1;
}

static void op_dup(const struct op *o, struct line *l, int fd)
{
	struct slot *d = &slots[o->slot2];
	int nfd, err, target;

	if (o->var < 3 && d->fd >= 0) {
		/* dup and F_DUPFD choose the number: free the slot first */
		lp(l, " (close %d)", close(d->fd) ? errno : 0);
		slot_drop(o->slot2);
	}
	target = d->fd >= 0 ? d->fd : DUP2_BASE + o->slot2 - NCONN_MAX;
	errno = 0;
	switch (o->var) {
	case 0:
		nfd = dup(fd);
		break;
	case 1:
		nfd = fcntl(fd, F_DUPFD, DUPFD_MIN);
		break;
	case 2:
		nfd = fcntl(fd, F_DUPFD_CLOEXEC, DUPFD_MIN);
		break;
	case 3:
		nfd = dup2(fd, target);
		break;
	default:
		nfd = dup3(fd, target, O_CLOEXEC);
		break;
	}
	err = errno;
	put_res(l, nfd < 0 ? -1 : 0, err, false, false);
	if (nfd >= 0) {
		d->fd = nfd;
		d->conn = slots[o->slot].conn;
	}
}

static void op_close(const struct op *o, struct line *l, int fd)
{
	int ret, err;

	errno = 0;
	ret = o->var ? close_range(fd, fd, 0) : close(fd);
	err = errno;
	put_res(l, ret, err, false, false);
	slot_drop(o->slot);
}

static void op_nonblock(const struct op *o, struct line *l, int fd,
			struct conn *c)
{
	int ret, err, fl, on = o->val;

	errno = 0;
	if (o->var) {
		ret = ioctl(fd, FIONBIO, &on);
	} else {
		fl = fcntl(fd, F_GETFL);
		ret = fl < 0 ? -1 : fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK :
					  fl & ~O_NONBLOCK);
	}
	err = errno;
	put_res(l, ret, err, false, false);
	if (!ret)
		c->nonblock = on;
}

static void op_setopt(const struct op *o, struct line *l, int fd)
{
	int one = 1, v = o->val, ret, err;

	errno = 0;
	if (o->kind == OP_NODELAY)
		ret = setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				 sizeof(one));
	else
		ret = setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	err = errno;
	put_res(l, ret, err, false, false);
}

static void op_shutdown(const struct op *o, struct line *l, int fd,
			struct conn *c)
{
	static const int how[] = { SHUT_WR, SHUT_RDWR, SHUT_RD };
	int ret, err;

	errno = 0;
	ret = shutdown(fd, how[o->var]);
	err = errno;
	put_res(l, ret, err, false, false);
	if (!ret && how[o->var] != SHUT_RD)
		model(EV_SHUT, slots[o->slot].conn, NULL, 0, 0);
}

/*
 * Liveness: natively every accepted byte reaches the receiver without the
 * sender doing anything more -- on AF_UNIX and pipes at once, on TCP once
 * nothing is in flight even under TCP_CORK or MSG_MORE: the zero-window
 * probe timer sends the partial segment after TCP_RTO_MIN (200 ms, the
 * cork's ceiling).  Wait for them; "stuck" is what the closing checks
 * cannot see, since close() flushes whatever a shim forgot.
 */
static const char *sync_conn(struct conn *c)
{
	struct timespec ts = { 0, 1000000L };
	int ms;

	if (c->type == CT_UDP)
		return "skip (udp)";
	for (ms = 0; ms < SYNC_MS; ms++) {
		if (__atomic_load_n(&c->rlen, __ATOMIC_ACQUIRE) >= c->elen)
			return "ok";
		nanosleep(&ts, NULL);
	}
	return "stuck";
}

/*
 * Promptness: with TCP_CORK off and the last bytes sent without MSG_MORE,
 * natively nothing waits for the probe timer: the uncork (or the last
 * send) pushed every segment, and the receiver has them in well under
 * PROMPT_MS.  Bytes that need the 200 ms probe are late -- left under a
 * cork the application removed.  Skipped where a cork may stand, and on
 * AF_UNIX after MSG_MORE, which the shim holds by design (natively a
 * no-op there: a delay, not a result).  First the check returns to a wait,
 * as an event loop does between responses: once this thread has waited in
 * epoll_wait, an uncorked response waits for the next wait by design
 * (batching, docs/cork.md), so prompt means "by then".
 */
static const char *prompt_conn(struct conn *c)
{
	static int ep = -1;
	struct timespec ts = { 0, 1000000L };
	struct epoll_event ev;
	int ms;

	if (ep < 0 && (ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("epoll: %s", strerror(errno));
	epoll_wait(ep, &ev, 1, 0);	/* nothing in it: the turn's end */
	if (c->type == CT_UDP)
		return "skip (udp)";
	if (c->type != CT_PIPE && !c->shut &&
	    (c->tcp_cork || c->last_more || c->more_unknown))
		return c->tcp_cork ? "skip (corked)" : "skip (more)";
	for (ms = 0; ms < PROMPT_MS; ms++) {
		if (__atomic_load_n(&c->rlen, __ATOMIC_ACQUIRE) >= c->elen)
			return "ok";
		nanosleep(&ts, NULL);
	}
	return "late";
}

/* A blocking wait: a flush point.  Whether POLLOUT came is timing. */
static void op_wait(const struct op *o, struct line *l, int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	struct timespec ts = { 0, WAIT_MS * 1000000L };
	struct timeval tv = { 0, WAIT_MS * 1000 };
	struct epoll_event ev = { .events = EPOLLOUT };
	int ret, err, ep, bad = 0;
	fd_set w;

	errno = 0;
	switch (o->var) {
	case 0:
		ret = poll(&p, 1, WAIT_MS);
		bad = p.revents & (POLLERR | POLLHUP | POLLNVAL);
		break;
	case 1:
		FD_ZERO(&w);
		FD_SET(fd, &w);
		ret = select(fd + 1, NULL, &w, NULL, &tv);
		break;
	case 2:
		ep = epoll_create1(EPOLL_CLOEXEC);
		if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
			die("epoll: %s", strerror(errno));
		ret = epoll_wait(ep, &ev, 1, WAIT_MS);
		if (ret > 0)
			bad = ev.events & (EPOLLERR | EPOLLHUP);
		raw_close(ep);
		break;
	default:
		ret = ppoll(&p, 1, &ts, NULL);
		bad = p.revents & (POLLERR | POLLHUP | POLLNVAL);
		break;
	}
	err = errno;
	if (ret < 0)
		lp(l, " -> -1 %s", errname(err));
	else
		lp(l, " -> ~ bad=%#x", bad);
}

static void op_lseek(const struct op *o, struct line *l)
{
	struct tfile *f = &files[o->file];
	off_t ret = lseek(f->fd, o->off, o->var);

	if (ret < 0) {
		lp(l, " -> -1 %s", errname(errno));
		return;
	}
	if (o->var == SEEK_CUR && f->taint) {
		lp(l, " -> ~");
		return;
	}
	f->taint = false;
	lp(l, " -> %jd", (intmax_t)ret);
}

/* OP_BAD: every form hands the kernel a pointer it cannot read. */
static ssize_t call_bad(const struct op *o, int fd, unsigned char *buf,
			size_t total, struct iovec *iov)
{
	struct msghdr m = { .msg_iov = (struct iovec *)8,
			    .msg_iovlen = o->niov };
	socklen_t vl = sizeof(int);

	switch (o->var) {
	case BAD_WRITE:
		return write(fd, (void *)1, iov[0].iov_len);
	case BAD_WRITEV_ARR:
		return writev(fd, (struct iovec *)8, o->niov);
	case BAD_WRITEV_BASE:
		return writev(fd, iov, o->niov);
	case BAD_SEND:
		return send(fd, (void *)1, iov[0].iov_len, o->flags);
	case BAD_MSGHDR:
		return sendmsg(fd, (struct msghdr *)8, o->flags);
	case BAD_MSG_IOV:
		return sendmsg(fd, &m, o->flags);
	case BAD_CORKVAL:
		return setsockopt(fd, IPPROTO_TCP, TCP_CORK, (void *)8,
				  sizeof(int));
	case BAD_SENDFILE_OFF:
		return sendfile(fd, files[o->file].fd, (off_t *)8, o->count);
	case BAD_GETCORK:
		return getsockopt(fd, IPPROTO_TCP, TCP_CORK, (void *)8, &vl);
	case BAD_SENDTO_ADDR:
		return sendto(fd, buf, total, o->flags, (struct sockaddr *)8,
			      sizeof(struct sockaddr_in));
	case BAD_SENDMMSG:
		return sendmmsg(fd, (struct mmsghdr *)8, 1, o->flags);
	default:
		return pwritev2(fd, iov, o->niov, -1, 0);
	}
}

/* Forms that pass the op's flags to the kernel. */
static bool bad_flagged(int form)
{
	return form == BAD_SEND || form == BAD_MSGHDR || form == BAD_MSG_IOV ||
	       form == BAD_SENDTO_ADDR || form == BAD_SENDMMSG;
}

/* Forms whose fault comes while the protocol copies the data. */
static bool data_fault(int form)
{
	return form == BAD_WRITE || form == BAD_WRITEV_BASE ||
	       form == BAD_SEND || form == BAD_PWRITEV;
}

static void op_bad(const struct op *o, struct line *l, int fd,
		   struct conn *c)
{
	struct iovec iov[MAX_IOV];
	unsigned char *buf;
	size_t total = build_iov(o, c, &buf, iov), good = 0;
	bool flagged = bad_flagged(o->var);
	bool timing = c->nonblock ||
		      (flagged && (o->flags & MSG_DONTWAIT));
	int sig = sigpipes, err, i;
	ssize_t ret;

	/* the bad base is the last iovec: what comes before can be sent */
	if (!iov[o->niov - 1].iov_len)
		iov[o->niov - 1].iov_len = 1;
	for (i = 0; i < o->niov - 1; i++)
		good += iov[i].iov_len;
	if (o->var == BAD_SENDTO_ADDR)
		good = total;
	else
		iov[o->niov - 1].iov_base = (void *)1;
	errno = 0;
	ret = call_bad(o, fd, buf, total, iov);
	err = errno;
	/*
	 * Only a fault met while copying data can lose a race to EAGAIN.
	 * Good bytes before the bad ones: how many go before the fault
	 * depends on how the kernel chunks the copy (TCP: the thread's page
	 * fragment, which every socket shares; a pipe: whether the reader
	 * left room in its last page), so any count up to them is native;
	 * so is EAGAIN where the call does not wait (a full socket answers
	 * before memory is read).
	 */
	if (data_fault(o->var) && good &&
	    (ret >= 0 || err == EFAULT || (timing && err == EAGAIN)) &&
	    (ret < 0 || (size_t)ret <= good)) {
		lp(l, " -> ~fault");
		model(EV_TAINT_CONN, slots[o->slot].conn, NULL, 0, 0);
		model(EV_MAYBE_MORE, slots[o->slot].conn, NULL, 0, 0);
	} else
		put_res(l, ret, err, timing && data_fault(o->var), true);
	put_sig(l, sig);
	if (ret > 0 && o->var != BAD_CORKVAL && o->var != BAD_GETCORK &&
	    o->var != BAD_SENDMMSG)
		model_sent(slots[o->slot].conn, buf, ret, good,
			   flagged ? o->flags & MSG_MORE : 0);
	if (is_udp(c) && ret < 0 && data_fault(o->var))
		model(EV_DROP, slots[o->slot].conn, NULL, 0, 0);
	op_free(buf);
}

static void run_op(const struct op *o, int label, int sub);

static void op_fork(const struct op *o, struct line *l, int label)
{
	pid_t pid;
	int st, i;

	shm->tlen = 0;
	shm->jlen = 0;
	shm->joverflow = false;
	/*
	 * Half of them by a raw clone(2), as runtimes that bypass glibc's
	 * fork() make children: no atfork handler runs, in the shim either.
	 */
	pid = fork_raw(o) ? syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0) : fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (!pid) {
		in_child = true;
		alarm(CHILD_TIMEOUT);
		for (i = 0; i < o->nsub; i++)
			run_op(&o->sub[i], label, i + 1);
		_exit(0);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			die("waitpid: %s", strerror(errno));
	raw_out(shm->text, shm->tlen);
	journal_replay();
	if (WIFEXITED(st))
		lp(l, " -> child exit %d", WEXITSTATUS(st));
	else
		lp(l, " -> child killed by %s",
		   sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st)) :
		   "?");
}

static void emit(struct line *l)
{
	l->s[l->n++] = '\n';
	if (!in_child) {
		raw_out(l->s, l->n);
		return;
	}
	if (shm->tlen + l->n <= TEXT_CAP) {
		memcpy(shm->text + shm->tlen, l->s, l->n);
		shm->tlen += l->n;
	}
}

/* Does the call itself ask not to wait? */
static bool op_dontwait(const struct op *o)
{
	switch (o->kind) {
	case OP_SPLICE:
		return o->flags & 2;
	case OP_SEND:
	case OP_SENDTO:
	case OP_SENDMSG:
	case OP_SENDMMSG:
		return o->flags & MSG_DONTWAIT;
	case OP_BAD:
		return bad_flagged(o->var) && (o->flags & MSG_DONTWAIT);
	default:
		return false;
	}
}

static bool needs_slot(const struct op *o)
{
	return o->kind != OP_SLEEP && o->kind != OP_FORK &&
	       o->kind != OP_LSEEK && o->kind != OP_SYNC &&
	       o->kind != OP_PROMPT;
}

static void dispatch(const struct op *o, struct line *l, int fd,
		     struct conn *c, int label)
{
	struct timespec ts = { 0, 250 * 1000000L };

	switch (o->kind) {
	case OP_SENDFILE:
		op_sendfile(o, l, fd, c);
		break;
	case OP_SPLICE:
		op_splice(o, l, fd, c);
		break;
	case OP_CORK:
		op_cork(o, l, fd, c);
		break;
	case OP_GETCORK:
		op_getcork(o, l, fd, c);
		break;
	case OP_NODELAY:
	case OP_SNDBUF:
		op_setopt(o, l, fd);
		break;
	case OP_DUP:
		op_dup(o, l, fd);
		break;
	case OP_CLOSE:
		op_close(o, l, fd);
		break;
	case OP_SHUTDOWN:
		op_shutdown(o, l, fd, c);
		break;
	case OP_NONBLOCK:
		op_nonblock(o, l, fd, c);
		break;
	case OP_WAIT:
		op_wait(o, l, fd);
		break;
	case OP_LSEEK:
		op_lseek(o, l);
		break;
	case OP_SYNC:
		lp(l, " -> %s", sync_conn(&conns[o->val]));
		break;
	case OP_PROMPT:
		lp(l, " -> %s", prompt_conn(&conns[o->val]));
		break;
	case OP_SLEEP:
		/* past the shim's 200 ms cork ceiling */
		nanosleep(&ts, NULL);
		lp(l, " -> 0");
		break;
	case OP_FORK:
		/* SM_FUZZ_NOFORK: under a runtime that is not fork-safe */
		if (getenv("SM_FUZZ_NOFORK"))
			lp(l, " -> skipped");
		else
			op_fork(o, l, label);
		break;
	case OP_BAD:
		op_bad(o, l, fd, c);
		break;
	default:
		op_data(o, l, fd, c);
		break;
	}
}

static void run_op(const struct op *o, int label, int sub)
{
	struct line l = { .n = 0 };
	struct conn *c = NULL;
	int fd = -1;

	cur_label = label * 8 + sub;
	if (sub)
		lp(&l, "%d.%d", label, sub);
	else
		lp(&l, "%d", label);
	describe(&l, o);
	if (needs_slot(o)) {
		fd = slots[o->slot].fd;
		if (fd < 0) {
			lp(&l, " skip");
			emit(&l);
			return;
		}
		c = &conns[slots[o->slot].conn];
	}
	dispatch(o, &l, fd, c, label);
	/* a non-blocking call took some count: the stream's length is timing */
	if (c && (c->nonblock || op_dontwait(o) ||
		  (c->type == CT_PIPE && (o->kind == OP_SENDFILE ||
					  o->kind == OP_SPLICE)))) {
		model(EV_TAINT_CONN, slots[o->slot].conn, NULL, 0, 0);
		if (o->kind != OP_CORK && o->kind != OP_GETCORK &&
		    o->kind != OP_NONBLOCK && o->kind != OP_WAIT)
			model(EV_MAYBE_MORE, slots[o->slot].conn, NULL, 0, 0);
	}
	emit(&l);
}

/* ---- the end: flush, close, wait for every receiver, check ------------- */

static void flush_and_close(void)
{
	struct pollfd p[NSLOT];
	int i, n = 0, zero = 0;

	cur_label = -1;
	/* a blocking wait is a flush point for the shim */
	for (i = 0; i < NSLOT; i++)
		if (slots[i].fd >= 0)
			p[n++] = (struct pollfd){ .fd = slots[i].fd,
						  .events = POLLOUT };
	if (n)
		poll(p, n, WAIT_MS);
	for (i = 0; i < plan.nconn; i++)
		say("sync-end c%d -> %s", i, sync_conn(&conns[i]));
	for (i = 0; i < plan.nconn; i++) {
		struct conn *c = &conns[i];

		if (c->type != CT_UDP)
			continue;
		/* corked UDP data would die with the socket: push it */
		syscall(SYS_setsockopt, c->priv, IPPROTO_UDP, UDP_CORK, &zero,
			sizeof(zero));
		apply(EV_UDPCORK, i, NULL, 0, 0, -8);
		raw_close(c->priv);
	}
	for (i = 0; i < NSLOT; i++)
		if (slots[i].fd >= 0 && close(slots[i].fd))
			say("end close %d: %s", i, errname(errno));
}

static void join_all(void)
{
	int i;

	for (i = 0; i < plan.nconn; i++) {
		struct conn *c = &conns[i];

		if (c->type == CT_UDP &&
		    syscall(SYS_sendto, ctl_fd, sentinel,
			    sizeof(sentinel) - 1, 0, &c->peer,
			    c->peerlen) < 0)
			die("sentinel: %s", strerror(errno));
	}
	for (i = 0; i < plan.nconn; i++)
		pthread_join(conns[i].thr, NULL);
}

static void label_name(char *b, size_t n, int label)
{
	if (label == -16)
		snprintf(b, n, "bytes no call sent");
	else if (label < 0)
		snprintf(b, n, "end");
	else if (label % 8)
		snprintf(b, n, "op %d.%d", label / 8, label % 8);
	else
		snprintf(b, n, "op %d", label / 8);
}

static int seg_label(const struct conn *c, size_t k)
{
	size_t i;

	for (i = 0; i < c->nseg; i++)
		if (k < c->segend[i])
			return c->seglab[i];
	return -8;
}

/*
 * Whose bytes arrived at @k instead: a call whose bytes begin there (an
 * overtaking call sent all of its own), else the call whose expected
 * bytes hold the next 16 received ones (the data is random, so that is
 * unique).
 */
static int got_label(const struct conn *c, size_t k)
{
	size_t i, start = 0, n, best = 0;
	const unsigned char *p;
	int label = -16;

	if (k >= c->rlen)
		return -8;
	for (i = 0; i < c->nseg; start = c->segend[i++]) {
		n = c->segend[i] - start;
		n = n < 16 ? n : 16;
		n = n < c->rlen - k ? n : c->rlen - k;
		if (n > best && start != k &&
		    !memcmp(c->ebuf + start, c->rbuf + k, n)) {
			best = n;
			label = c->seglab[i];
		}
	}
	if (best)
		return label;
	n = c->rlen - k < 16 ? c->rlen - k : 16;
	p = memmem(c->ebuf, c->elen, c->rbuf + k, n);
	return p ? seg_label(c, p - c->ebuf) : -16;
}

/*
 * Do the expected bytes at @k arrive after it (reordered, not lost)?  Up
 * to 16 of them, from their own call only: what followed them may have
 * been reordered too.
 */
static bool arrives_later(const struct conn *c, size_t k)
{
	size_t i, n = 16;

	if (k >= c->elen || k >= c->rlen)
		return false;
	for (i = 0; i < c->nseg; i++)
		if (k < c->segend[i]) {
			n = c->segend[i] - k < n ? c->segend[i] - k : n;
			break;
		}
	return memmem(c->rbuf + k, c->rlen - k, c->ebuf + k, n);
}

/* Returns true when the receiver got exactly what the model says. */
static bool check_conn(int i)
{
	struct conn *c = &conns[i];
	size_t k, n = c->rlen < c->elen ? c->rlen : c->elen;
	char b[64], g[64];

	if (c->unchecked) {
		say("invariant c%d unchecked", i);
		return true;
	}
	if (c->impossible) {
		label_name(b, sizeof(b), c->impossible - 1);
		say("INVARIANT-FAIL conn %d at byte 0: %s reported more bytes than it had",
		    i, b);
		return false;
	}
	for (k = 0; k < n && c->rbuf[k] == c->ebuf[k]; k++)
		;
	if (k < n || c->rlen != c->elen) {
		label_name(b, sizeof(b), k < c->elen ? seg_label(c, k) : -8);
		label_name(g, sizeof(g), got_label(c, k));
		say("INVARIANT-FAIL conn %d at byte %zu: received %zu expected %zu (expected byte from %s, got %s; %s)",
		    i, k, c->rlen, c->elen, k < c->elen ? b : "nothing",
		    k < c->rlen ? g : "nothing",
		    arrives_later(c, k) ? "it comes later" : "it never comes");
		return false;
	}
	if (c->type == CT_UDP && !c->dg_uncertain &&
	    (c->nrdg != c->nedg ||
	     memcmp(c->rdg, c->edg, c->nrdg * sizeof(size_t)))) {
		say("INVARIANT-FAIL conn %d at byte 0: %zu datagrams, expected %zu",
		    i, c->nrdg, c->nedg);
		return false;
	}
	return true;
}

static void report_conn(int i)
{
	struct conn *c = &conns[i];
	struct line l = { .n = 0 };
	struct sha256 s;
	char hex[65];
	size_t k;

	lp(&l, "end c%d %s", i, ct_name[c->type]);
	if (c->rerr)
		lp(&l, " rx-error=%s", errname(c->rerr));
	if (c->timing) {
		lp(&l, " bytes=~ sha256=~");
	} else {
		sha_init(&s);
		sha_add(&s, c->rbuf, c->rlen);
		sha_hex(&s, hex);
		lp(&l, " bytes=%zu sha256=%.16s", c->rlen, hex);
	}
	if (c->type == CT_UDP && !c->timing) {
		lp(&l, " datagrams=%zu sizes=", c->nrdg);
		for (k = 0; k < c->nrdg && k < 24; k++)
			lp(&l, "%s%zu", k ? "," : "", c->rdg[k]);
		if (k < c->nrdg)
			lp(&l, ",...");
	}
	emit(&l);
}

/* ---- main --------------------------------------------------------------- */

static bool *parse_keep(const char *s, int nops)
{
	bool *keep = calloc(nops ? nops : 1, sizeof(bool));
	char *end;

	if (!keep)
		die("out of memory");
	while (*s) {
		long a = strtol(s, &end, 10), b = a;

		if (end == s)
			die("--keep: bad list at '%s'", s);
		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		for (; a <= b; a++)
			if (a >= 0 && a < nops)
				keep[a] = true;
		s = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			die("--keep: bad list at '%s'", end);
	}
	return keep;
}

static void usage(void)
{
	static const char u[] = "usage: sm_fuzz --seed S [--ops N] "
		"[--profile mixed|idiom|core] [--keep LIST] [--print-ops]\n";

	raw_out(u, sizeof(u) - 1);
	syscall(SYS_exit_group, 2);
}

static void print_plan(void)
{
	int i, j;

	for (i = 0; i < plan.nops; i++) {
		struct line l = { .n = 0 };

		lp(&l, "%d", i);
		describe(&l, &plan.ops[i]);
		emit(&l);
		for (j = 0; j < plan.ops[i].nsub; j++) {
			struct line s = { .n = 0 };

			lp(&s, "%d.%d", i, j + 1);
			describe(&s, &plan.ops[i].sub[j]);
			emit(&s);
		}
	}
}

int main(int argc, char **argv)
{
	uint64_t seed = 0;
	const char *keep_s = NULL;
	int nops = -1, profile = -1, i, bad = 0;
	bool print_ops = false, have_seed = false, *keep;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			seed = strtoull(argv[++i], NULL, 0);
			have_seed = true;
		} else if (!strcmp(argv[i], "--ops") && i + 1 < argc) {
			nops = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--keep") && i + 1 < argc) {
			keep_s = argv[++i];
		} else if (!strcmp(argv[i], "--profile") && i + 1 < argc) {
			i++;
			profile = !strcmp(argv[i], "core") ? 2 :
				  !strcmp(argv[i], "idiom") ? 1 :
				  !strcmp(argv[i], "mixed") ? 0 : -2;
			if (profile == -2)
				usage();
		} else if (!strcmp(argv[i], "--print-ops")) {
			print_ops = true;
		} else {
			usage();
		}
	}
	if (!have_seed)
		usage();
	plan_make(&plan, seed, nops, profile);
	say("sm_fuzz seed=%" PRIu64 " ops=%d profile=%s", seed, plan.nops,
	    plan.core ? "core" : plan.idiom ? "idiom" : "mixed");
	for (i = 0; i < plan.nconn; i++)
		say("conn c%d %s", i, ct_name[plan.ctype[i]]);
	for (i = 0; i < NFILE; i++)
		say("file f%d size=%zu", i, plan.fsize[i]);
	if (print_ops) {
		print_plan();
		return 0;
	}
	keep = keep_s ? parse_keep(keep_s, plan.nops) : NULL;
	setup();
	for (i = 0; i < plan.nops; i++)
		if (!keep || keep[i])
			run_op(&plan.ops[i], i, 0);
	flush_and_close();
	join_all();
	for (i = 0; i < plan.nconn; i++)
		report_conn(i);
	for (i = 0; i < plan.nconn; i++)
		bad += !check_conn(i);
	say("done");
	return bad ? EXIT_INVARIANT : 0;
}
