// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Per-fd facts shared by all threads: what kind of descriptor it is, whether
 * the peer is on this host, and the zero-copy verdict of a socket.
 *
 * A stale entry (fd closed behind our back with a raw syscall) is harmless:
 * it can only send a call to the native path, and the io_uring path checks
 * the socket's inode before trusting an entry.  Fields are read and written
 * with relaxed atomics; a torn view only costs a suboptimal path choice.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "sm.h"

struct sm_fdinfo *sm_fd_chunks[SM_FD_NCHUNKS];

/* sm_fd_get() of an fd whose chunk is not there yet. */
struct sm_fdinfo *sm_fd_make(int fd)
{
	struct sm_fdinfo *c, *expected = NULL, **slot;

	if (fd < 0 || fd >= SM_FD_NCHUNKS * SM_FD_CHUNK_SIZE)
		return NULL;
	slot = &sm_fd_chunks[fd >> SM_FD_CHUNK_BITS];
	c = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	if (!c) {
		c = calloc(SM_FD_CHUNK_SIZE, sizeof(*c));
		if (!c)
			return NULL;
		if (!__atomic_compare_exchange_n(slot, &expected, c, false,
						 __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE)) {
			free(c);
			c = expected;
		}
	}
	return &c[fd & (SM_FD_CHUNK_SIZE - 1)];
}

static bool addr_is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;

		return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss;

		if (IN6_IS_ADDR_LOOPBACK(&a->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) &&
		       a->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

static bool same_host(const struct sockaddr_storage *a,
		      const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		       &((const struct sockaddr_in6 *)b)->sin6_addr,
		       sizeof(struct in6_addr));
}

/*
 * The kernel copies zero-copy skbs that are delivered to a local socket, so
 * a peer on this host (loopback, or our own address) never gains from it.
 * Other local addresses and veth peers are caught by the kernel's report.
 */
static bool peer_is_local(int fd, const struct sockaddr_storage *peer)
{
	struct sockaddr_storage self;
	socklen_t slen = sizeof(self);

	if (addr_is_loopback(peer))
		return true;
	if (getsockname(fd, (struct sockaddr *)&self, &slen) < 0)
		return false;
	return same_host(peer, &self);
}

/* What the shim makes of a socket(@domain, @type, @proto). */
static int kind_of(int domain, int type, int proto)
{
	type &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (domain == AF_UNIX && type == SOCK_STREAM)
		return SM_FD_UNIX;
	/* 0 is the stream protocol's default, TCP */
	if ((domain == AF_INET || domain == AF_INET6) && type == SOCK_STREAM &&
	    (proto == IPPROTO_TCP || proto == 0))
		return SM_FD_TCP;
	return SM_FD_OTHER;
}

/* @fd's kind by asking the kernel; SM_FD_UNKNOWN if it would not say. */
static int ask_kind(int fd)
{
	int domain, type, proto;
	socklen_t len = sizeof(int);

	if (sm_real.getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
		/* EBADF must not stick: the number may be opened later. */
		return errno == ENOTSOCK ? SM_FD_OTHER : SM_FD_UNKNOWN;
	len = sizeof(int);
	if (sm_real.getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return SM_FD_UNKNOWN;
	len = sizeof(int);
	if (sm_real.getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) < 0)
		return SM_FD_UNKNOWN;
	return kind_of(domain, type, proto);
}

/*
 * A descriptor seen made needs no getsockopt(2) for its kind, and an
 * accepted one no getpeername(2) to tell it is connected (nor, with a
 * loopback peer, to tell the peer is local): per connection, only the
 * fstat(2) for its inode is left.
 */
int sm_fd_classify_slow(int fd, struct sm_fdinfo *fi)
{
	int kind = __atomic_load_n(&fi->kind, __ATOMIC_RELAXED);
	int peer = __atomic_load_n(&fi->born_peer, __ATOMIC_RELAXED);
	struct sockaddr_storage addr;
	socklen_t alen = sizeof(addr);
	struct stat st;

	if (kind != SM_FD_UNKNOWN)
		return kind;
	kind = __atomic_load_n(&fi->born_kind, __ATOMIC_RELAXED);
	if (!kind)
		kind = ask_kind(fd);
	if (kind != SM_FD_TCP && kind != SM_FD_UNIX)
		goto out;
	/* Not connected yet: ask again next time rather than remember. */
	if ((peer == SM_TRI_UNKNOWN &&
	     getpeername(fd, (struct sockaddr *)&addr, &alen) < 0) ||
	    sm_real.fstat(fd, &st) < 0) {
		kind = SM_FD_UNKNOWN;
		goto out;
	}
	fi->ino = st.st_ino;
	/*
	 * A loopback peer is known local now; one on another address (every
	 * client of a real server) is asked about only when a choice needs
	 * it (sm_fd_local()), as a 4 KiB response's never does.
	 */
	fi->local_peer = kind == SM_FD_UNIX || peer == SM_TRI_YES ||
			 (peer == SM_TRI_UNKNOWN && addr_is_loopback(&addr)) ?
			 SM_TRI_YES : SM_TRI_UNKNOWN;
	fi->zc_state = SM_ZCS_PROBING;
	fi->sndtimeo = SM_TRI_UNKNOWN;
	fi->paced = SM_TRI_UNKNOWN;
	/* flags learnt at its birth are its own; others may be stale */
	if (!sm_fd_own(fi))
		__atomic_store_n(&fi->fl_word, 0, __ATOMIC_RELAXED);
	fi->zc_notifs = 0;
	fi->zc_copied = 0;
out:
	/* Remembered, so a forced engine can tell a replaced descriptor. */
	if (kind == SM_FD_OTHER && sm_real.fstat(fd, &st) == 0)
		fi->ino = st.st_ino;
	__atomic_store_n(&fi->kind, kind, __ATOMIC_RELEASE);
	return kind;
}

static void forget(struct sm_fdinfo *fi)
{
	sm_hold_detach(fi);
	__atomic_store_n(&fi->born, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&fi->st_gen, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&fi->fl_word, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&fi->born_kind, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&fi->born_peer, SM_TRI_UNKNOWN, __ATOMIC_RELAXED);
	__atomic_store_n(&fi->dup_seen, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&fi->shut_wr, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&fi->fresh, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&fi->sndbuf0, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&fi->kind, SM_FD_UNKNOWN, __ATOMIC_RELEASE);
}

void sm_fd_forget(int fd)
{
	struct sm_fdinfo *fi = sm_fd_peek(fd);

	if (fi && fi->kind != SM_FD_OWNED)
		forget(fi);
}

/* ---- who else may write: births, dups, forks ---------------------------- */

/* Bumped at every fork, in both processes; 0 means "not seen made". */
static uint32_t fork_gen = 1;

static void learn_flags(struct sm_fdinfo *fi, int fl);

void sm_fd_born(int fd, int fl)
{
	struct sm_fdinfo *fi = sm_fd_get(fd);

	if (!fi || fi->kind == SM_FD_OWNED)
		return;
	forget(fi);
	learn_flags(fi, fl);
	__atomic_store_n(&fi->born, __atomic_load_n(&fork_gen,
						    __ATOMIC_RELAXED),
			 __ATOMIC_RELAXED);
}

void sm_fd_socket(int fd, int domain, int type, int proto)
{
	struct sm_fdinfo *fi;

	sm_fd_born(fd, SM_SOCK_FL(type));
	fi = sm_fd_peek(fd);
	if (fi && fi->kind != SM_FD_OWNED)
		__atomic_store_n(&fi->born_kind, kind_of(domain, type, proto),
				 __ATOMIC_RELAXED);
}

void sm_fd_accepted(int lfd, int fd, int fl, const struct sockaddr *addr,
		    socklen_t room, const socklen_t *lenp)
{
	struct sm_fdinfo *li = sm_fd_get(lfd), *fi;
	struct sockaddr_storage ss = { 0 };
	socklen_t alen, len = sizeof(int);
	uint32_t sndbuf;
	int kind, v;

	sm_fd_born(fd, fl);
	fi = sm_fd_peek(fd);
	if (!li || !fi || li->kind == SM_FD_OWNED || fi->kind == SM_FD_OWNED)
		return;
	/* what a listener accepts: asked once per listener, not per peer */
	kind = __atomic_load_n(&li->born_kind, __ATOMIC_RELAXED);
	if (!kind) {
		kind = ask_kind(lfd);
		__atomic_store_n(&li->born_kind, kind, __ATOMIC_RELAXED);
	}
	if (kind != SM_FD_TCP && kind != SM_FD_UNIX)
		return;
	fi->born_kind = kind;
	/* a TCP send buffer: the first budget of a hold (hold.c) */
	sndbuf = __atomic_load_n(&li->sndbuf0, __ATOMIC_RELAXED);
	if (kind == SM_FD_TCP) {
		if (!sndbuf &&
		    !sm_real.getsockopt(lfd, SOL_SOCKET, SO_SNDBUF, &v, &len) &&
		    v > 0) {
			sndbuf = v;
			__atomic_store_n(&li->sndbuf0, sndbuf,
					 __ATOMIC_RELAXED);
		}
		fi->sndbuf0 = sndbuf;
		__atomic_store_n(&fi->fresh, sndbuf != 0, __ATOMIC_RELAXED);
	}
	/*
	 * Accepted, so connected; the peer's address if the caller asked for
	 * it (a truncated one reads as not loopback: then the classification
	 * asks the kernel).
	 */
	if (!room || sm_copy_in(&alen, lenp, sizeof(alen)))
		return;
	if (alen > room)
		alen = room;
	if (alen > sizeof(ss))
		alen = sizeof(ss);
	if (alen >= sizeof(sa_family_t) && !sm_copy_in(&ss, addr, alen))
		fi->born_peer = addr_is_loopback(&ss) ? SM_TRI_YES : SM_TRI_NO;
}

void sm_fd_dup(int oldfd, int newfd)
{
	struct sm_fdinfo *o = sm_fd_peek(oldfd), *n;

	if (oldfd == newfd)
		return;
	n = sm_fd_get(newfd);
	if (!n || n->kind == SM_FD_OWNED)
		return;
	forget(n);
	if (!o || __atomic_load_n(&o->kind, __ATOMIC_ACQUIRE) ==
		  SM_FD_OWNED)
		return;
	/* The same open file: the same socket, flags and verdicts. */
	n->local_peer = o->local_peer;
	n->zc_state = o->zc_state;
	n->sndtimeo = o->sndtimeo;
	n->ino = o->ino;
	__atomic_store_n(&n->fl_word,
			 __atomic_load_n(&o->fl_word, __ATOMIC_RELAXED),
			 __ATOMIC_RELAXED);
	n->born = __atomic_load_n(&o->born, __ATOMIC_RELAXED);
	n->born_kind = o->born_kind;
	n->born_peer = o->born_peer;
	n->shut_wr = __atomic_load_n(&o->shut_wr, __ATOMIC_RELAXED);
	/* neither is alone any more (sm_fd_alone()) */
	__atomic_store_n(&o->dup_seen, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&n->dup_seen, 1, __ATOMIC_RELAXED);
	sm_hold_attach_dup(n, o);
	__atomic_store_n(&n->kind, __atomic_load_n(&o->kind, __ATOMIC_RELAXED),
			 __ATOMIC_RELEASE);
}

void sm_fd_shared(int fd)
{
	struct sm_fdinfo *fi = sm_fd_peek(fd);

	if (fi)
		__atomic_store_n(&fi->born, 0, __ATOMIC_RELAXED);
	sm_hold_shared(fd);
}

bool sm_fd_alone(const struct sm_fdinfo *fi)
{
	return sm_fd_own(fi) && !__atomic_load_n(&fi->dup_seen,
						 __ATOMIC_RELAXED);
}

bool sm_fd_own(const struct sm_fdinfo *fi)
{
	uint32_t b = __atomic_load_n(&fi->born, __ATOMIC_RELAXED);

	return b && b == __atomic_load_n(&fork_gen, __ATOMIC_RELAXED);
}

void sm_fd_forked(void)
{
	__atomic_add_fetch(&fork_gen, 1, __ATOMIC_RELAXED);
	sm_hold_forked();
}

int sm_fd_other_of(const struct sm_hold *h, int fd)
{
	unsigned int c, i;

	for (c = 0; c < SM_FD_NCHUNKS; c++) {
		struct sm_fdinfo *t = __atomic_load_n(&sm_fd_chunks[c],
						      __ATOMIC_ACQUIRE);

		for (i = 0; t && i < SM_FD_CHUNK_SIZE; i++)
			if ((int)(c * SM_FD_CHUNK_SIZE + i) != fd &&
			    __atomic_load_n(&t[i].hold, __ATOMIC_RELAXED) == h)
				return c * SM_FD_CHUNK_SIZE + i;
	}
	return -1;
}

/*
 * File status flags (O_NONBLOCK of a socket, O_DIRECT and the access mode
 * of a file) are asked for on every sendfile.  They change only through
 * fcntl(F_SETFL) and ioctl(FIONBIO), which the shim interposes: any such
 * call, on any descriptor (a dup shares the flags), starts a new
 * generation and every cached value is asked for again.  Changes made by
 * another process sharing the open file, or by raw syscalls, are not seen:
 * the cost is one wrong guess of blocking mode or O_DIRECT, never bytes.
 */
uint32_t sm_fd_flags_gen = 1;

void sm_fd_flags_changed(void)
{
	__atomic_add_fetch(&sm_fd_flags_gen, 1, __ATOMIC_RELEASE);
	if (!__atomic_load_n(&sm_fd_flags_gen, __ATOMIC_RELAXED))
		__atomic_store_n(&sm_fd_flags_gen, 1, __ATOMIC_RELAXED);
}

#define FL_WORD(gen, fl) ((uint64_t)(gen) << 32 | (uint32_t)(fl))

/* Flags known without asking: at a descriptor's birth. */
static void learn_flags(struct sm_fdinfo *fi, int fl)
{
	__atomic_store_n(&fi->fl_word,
			 FL_WORD(__atomic_load_n(&sm_fd_flags_gen,
						 __ATOMIC_ACQUIRE), fl),
			 __ATOMIC_RELEASE);
}

/*
 * sm_fd_flags() when @fi had @seen, no answer of generation @gen.  Stored
 * only over @seen: a change made meanwhile (sm_fd_setfl()) has its own.
 */
int sm_fd_flags_slow(int fd, struct sm_fdinfo *fi, uint32_t gen,
		     uint64_t seen)
{
	int fl = sm_real.fcntl(fd, F_GETFL);

	if (fi && fl >= 0)
		__atomic_compare_exchange_n(&fi->fl_word, &seen,
					    FL_WORD(gen, fl), false,
					    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
	return fl;
}

/* What F_SETFL changes, as the kernel has it (fs/fcntl.c: SETFL_MASK). */
#define SETFL_MASK (O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME)

/*
 * A change to a descriptor that is alone (sm_fd_alone(): born here, never
 * duplicated or passed) is its own: its new flags follow from the old
 * ones, and the rest of the process keeps its answers.  apache sets
 * O_NONBLOCK on each connection it accepts, from every thread.  Any
 * other change starts a new generation for all.
 */
void sm_fd_setfl(int fd, bool fionbio, int arg, int ret)
{
	struct sm_fdinfo *fi = sm_fd_peek(fd);
	uint32_t gen = __atomic_load_n(&sm_fd_flags_gen, __ATOMIC_ACQUIRE);
	uint64_t w;
	int fl;

	if (ret < 0)
		return;
	if (!fi || fi->kind == SM_FD_OWNED || !sm_fd_alone(fi)) {
		sm_fd_flags_changed();
		return;
	}
	w = __atomic_load_n(&fi->fl_word, __ATOMIC_ACQUIRE);
	if ((uint32_t)(w >> 32) != gen) {
		/* unknown still, but not the word a slower asker saw */
		__atomic_store_n(&fi->fl_word, FL_WORD(0, (uint32_t)w + 1),
				 __ATOMIC_RELEASE);
		return;
	}
	fl = (int32_t)w;
	if (fionbio)
		fl = arg ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	else
		fl = (arg & SETFL_MASK) | (fl & ~SETFL_MASK);
	__atomic_store_n(&fi->fl_word, FL_WORD(gen, fl), __ATOMIC_RELEASE);
}

void sm_fd_forget_range(unsigned int first, unsigned int last)
{
	unsigned int fd, end = SM_FD_NCHUNKS * SM_FD_CHUNK_SIZE - 1;

	if (last < end)
		end = last;
	for (fd = first; fd <= end && fd >= first; fd++) {
		if (!(fd & (SM_FD_CHUNK_SIZE - 1)) &&
		    !__atomic_load_n(&sm_fd_chunks[fd >> SM_FD_CHUNK_BITS],
				     __ATOMIC_RELAXED)) {
			fd += SM_FD_CHUNK_SIZE - 1;
			continue;
		}
		sm_fd_forget(fd);
	}
}

/*
 * The shim's own descriptors (rings, log file).  The application
 * never opened them, so closing one by number is an EBADF for it, exactly
 * what it would get without us; a range close steps around them, and a
 * dup2() onto one first moves ours elsewhere.  Each is kept in a high fd
 * number, where "lowest free descriptor" allocation never reaches.
 */
#define SM_MAX_OWNED 512
struct owned_slot {
	int fd;
	int *where[2];		/* the variables that hold this number */
};
static struct owned_slot owned[SM_MAX_OWNED];
static pthread_mutex_t owned_lock = PTHREAD_MUTEX_INITIALIZER;
static int owned_count;

bool sm_fd_is_owned(int fd)
{
	struct sm_fdinfo *fi = sm_fd_peek(fd);

	return fi && __atomic_load_n(&fi->kind, __ATOMIC_RELAXED) ==
		     SM_FD_OWNED;
}

int sm_fd_owned_above(int fd)
{
	int i, best = -1;

	if (!__atomic_load_n(&owned_count, __ATOMIC_ACQUIRE))
		return -1;
	for (i = 0; i < SM_MAX_OWNED; i++) {
		int o = __atomic_load_n(&owned[i].fd, __ATOMIC_RELAXED);

		if (o > 0 && o >= fd && (best < 0 || o < best))
			best = o;
	}
	return best;
}

static int owned_base(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < 256)
		return 3;
	if (rl.rlim_cur > 65536)
		return 65536 - 256;
	return (int)rl.rlim_cur - 192;
}

static int dup_high(int fd)
{
	return sm_real.fcntl(fd, F_DUPFD_CLOEXEC, owned_base());
}

static void mark(int fd, int kind)
{
	struct sm_fdinfo *fi = sm_fd_get(fd);

	if (fi)
		__atomic_store_n(&fi->kind, kind, __ATOMIC_RELEASE);
}

int sm_fd_adopt(int fd, int *where0, int *where1)
{
	int nfd, i;

	sm_real_resolve();
	nfd = dup_high(fd);
	if (nfd >= 0) {
		sm_sys_close(fd);
		fd = nfd;
	}
	pthread_mutex_lock(&owned_lock);
	for (i = 0; i < SM_MAX_OWNED; i++) {
		if (owned[i].fd <= 0) {
			owned[i].where[0] = where0;
			owned[i].where[1] = where1;
			__atomic_store_n(&owned[i].fd, fd, __ATOMIC_RELEASE);
			owned_count++;
			break;
		}
	}
	pthread_mutex_unlock(&owned_lock);
	mark(fd, SM_FD_OWNED);
	if (where0)
		*where0 = fd;
	if (where1)
		*where1 = fd;
	return fd;
}

/* Before the shim closes one of its own descriptors. */
void sm_fd_disown(int fd)
{
	int i;

	pthread_mutex_lock(&owned_lock);
	for (i = 0; i < SM_MAX_OWNED; i++) {
		if (owned[i].fd == fd) {
			__atomic_store_n(&owned[i].fd, 0, __ATOMIC_RELEASE);
			owned_count--;
			break;
		}
	}
	pthread_mutex_unlock(&owned_lock);
	mark(fd, SM_FD_UNKNOWN);
}

/*
 * The application names one of our numbers as a dup2() target: give it the
 * number and keep our object under another.  The old number stays valid
 * until the application's dup2() replaces it atomically, so a thread using
 * it in the meantime still reaches our object.
 */
void sm_fd_relocate(int fd)
{
	int i, nfd;

	pthread_mutex_lock(&owned_lock);
	for (i = 0; i < SM_MAX_OWNED; i++) {
		if (owned[i].fd != fd)
			continue;
		nfd = dup_high(fd);
		if (nfd < 0)
			break;
		mark(nfd, SM_FD_OWNED);
		if (owned[i].where[0])
			__atomic_store_n(owned[i].where[0], nfd,
					 __ATOMIC_RELEASE);
		if (owned[i].where[1])
			__atomic_store_n(owned[i].where[1], nfd,
					 __ATOMIC_RELEASE);
		__atomic_store_n(&owned[i].fd, nfd, __ATOMIC_RELEASE);
		mark(fd, SM_FD_UNKNOWN);
		break;
	}
	pthread_mutex_unlock(&owned_lock);
}

/* In a forked child every slot is released by its owner; start clean. */
void sm_fd_after_fork(void)
{
	pthread_mutex_init(&owned_lock, NULL);
}

/* Cached per socket; sm_fd_sockopt_set() forgets it on a change. */
bool sm_fd_sndtimeo_slow(int fd, struct sm_fdinfo *fi)
{
	struct timeval tv = { 0 };
	socklen_t len = sizeof(tv);
	int v;

	if (sm_real.getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, &len) < 0)
		return false;
	v = tv.tv_sec || tv.tv_usec ? SM_TRI_YES : SM_TRI_NO;
	__atomic_store_n(&fi->sndtimeo, v, __ATOMIC_RELAXED);
	return v == SM_TRI_YES;
}

/*
 * Is the peer on this host?  Asked once per connection, and only when a
 * choice depends on it (sm_policy_asks_local()); a socket that is no
 * longer connected counts as remote (its sends fail anyway).
 */
bool sm_fd_local_slow(int fd, struct sm_fdinfo *fi)
{
	struct sockaddr_storage addr;
	socklen_t alen = sizeof(addr);
	int v;

	v = !getpeername(fd, (struct sockaddr *)&addr, &alen) &&
	    peer_is_local(fd, &addr) ? SM_TRI_YES : SM_TRI_NO;
	__atomic_store_n(&fi->local_peer, v, __ATOMIC_RELAXED);
	return v == SM_TRI_YES;
}

/*
 * BBR paces its sends with a timer of the socket's own where no qdisc does
 * (loopback): the name is all user space can ask.  Cached per socket;
 * sm_fd_sockopt_set() forgets it when TCP_CONGESTION is set.
 */
bool sm_fd_paced_slow(int fd, struct sm_fdinfo *fi)
{
	char cc[16] = "";
	socklen_t len = sizeof(cc) - 1;
	int v;

	if (sm_real.getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, &len) < 0)
		return false;
	v = !strncmp(cc, "bbr", 3) ? SM_TRI_YES : SM_TRI_NO;
	__atomic_store_n(&fi->paced, v, __ATOMIC_RELAXED);
	return v == SM_TRI_YES;
}

void sm_fd_sockopt_set(int fd, int level, int name)
{
	bool timeo = level == SOL_SOCKET &&
		     (name == SO_SNDTIMEO_OLD || name == SO_SNDTIMEO_NEW);
	bool cc = level == IPPROTO_TCP && name == TCP_CONGESTION;
	bool sndbuf = level == SOL_SOCKET &&
		      (name == SO_SNDBUF || name == SO_SNDBUFFORCE);
	struct sm_fdinfo *fi;

	/* every TCP_CORK comes here: no lookup for the others */
	if (!timeo && !cc && !sndbuf)
		return;
	fi = sm_fd_peek(fd);
	if (fi && sndbuf) {
		__atomic_store_n(&fi->fresh, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&fi->sndbuf0, 0, __ATOMIC_RELAXED);
	}
	if (fi && timeo)
		__atomic_store_n(&fi->sndtimeo, SM_TRI_UNKNOWN,
				 __ATOMIC_RELAXED);
	if (fi && cc)
		__atomic_store_n(&fi->paced, SM_TRI_UNKNOWN,
				 __ATOMIC_RELAXED);
}

/* ---- the close family: keep this table honest ------------------------- */

int sm_fd_close(int fd)
{
	/* Not the application's: for it this fd is not open. */
	if (sm_fd_is_owned(fd))
		return -EBADF;
	sm_hold_close(fd);
	sm_fd_forget(fd);
	return 0;
}

/*
 * Before dup2/dup3: ours cannot be duplicated (for the application it is
 * not open), and a descriptor of ours that is the target moves elsewhere.
 */
int sm_fd_dup_onto(int oldfd, int newfd)
{
	if (sm_fd_is_owned(oldfd))
		return -EBADF;
	if (sm_fd_is_owned(newfd))
		sm_fd_relocate(newfd);
	if (oldfd != newfd)
		sm_hold_close(newfd);
	sm_fd_forget(newfd);
	return 0;
}

/* Close [first, last] except the shim's descriptors. */
static int close_range_around(unsigned int first, unsigned int last,
			      int flags)
{
	sm_hold_flush_all();	/* simpler than finding which are held */
	while (first <= last) {
		int own = sm_fd_owned_above(first);
		unsigned int end = last;

		if (own >= 0 && (unsigned int)own <= last)
			end = own - 1;
		if (own < 0 || (unsigned int)own != first) {
			sm_fd_forget_range(first, end);
			if (sm_real.close_range(first, end, flags) < 0)
				return -errno;
		}
		if (own < 0 || (unsigned int)own >= last)
			break;
		first = own + 1;
	}
	return 0;
}

int sm_fd_close_range(unsigned int first, unsigned int last, int flags)
{
	if (first > last)
		return -EINVAL;
	return close_range_around(first, last, flags);
}

void sm_fd_closefrom(int lowfd)
{
	if (lowfd < 0)
		lowfd = 0;
	if (sm_fd_owned_above(lowfd) < 0 || !sm_real.close_range) {
		sm_fd_forget_range(lowfd, ~0U);
		sm_real.closefrom(lowfd);
		return;
	}
	close_range_around(lowfd, ~0U, 0);
}

/* ---- the application's own answers: open flags and fstat -------------- */

void sm_fd_opened(int fd, int flags)
{
	struct sm_fdinfo *fi = sm_fd_get(fd);

	if (flags & O_TRUNC)
		sm_fd_files_changed();
	if (!fi || fi->kind == SM_FD_OWNED)
		return;
	forget(fi);
	/* F_GETFL would answer the access mode and these, as given */
	learn_flags(fi, flags & (O_ACCMODE | O_APPEND | O_NONBLOCK | O_DIRECT |
				 O_PATH | O_NOATIME | O_DSYNC | O_SYNC));
}

/*
 * A file's size, as the application's own fstat() saw it, is what a
 * sendfile(2) right after would see -- unless a file changed since.  The
 * shim sees every change this process makes through libc (a write to
 * anything but a known socket, truncate, fallocate, copy_file_range, an
 * open with O_TRUNC) and then asks the kernel again.  A change by another
 * process in between is an event that may as well come after the send.
 */
static uint32_t file_gen = 1;

void sm_fd_files_changed(void)
{
	if (!__atomic_add_fetch(&file_gen, 1, __ATOMIC_RELEASE))
		__atomic_store_n(&file_gen, 1, __ATOMIC_RELAXED);
}

void sm_fd_stat_seen(int fd, const struct stat *st)
{
	struct sm_fdinfo *fi = sm_fd_get(fd);

	if (!fi || fi->kind == SM_FD_OWNED || !S_ISREG(st->st_mode))
		return;
	__atomic_store_n(&fi->st_gen, 0, __ATOMIC_RELEASE);
	fi->st_mode = st->st_mode;
	fi->st_size = st->st_size;
	fi->st_ino = st->st_ino;
	fi->st_dev = st->st_dev;
	__atomic_store_n(&fi->st_gen, __atomic_load_n(&file_gen,
						      __ATOMIC_ACQUIRE),
			 __ATOMIC_RELEASE);
}

int sm_fd_stat(int fd, struct sm_fdinfo *fi, struct sm_file *f)
{
	uint32_t gen = fi ? __atomic_load_n(&fi->st_gen, __ATOMIC_ACQUIRE) : 0;
	struct stat st;

	if (gen && gen == __atomic_load_n(&file_gen, __ATOMIC_ACQUIRE)) {
		f->mode = fi->st_mode;
		f->size = fi->st_size;
		f->ino = fi->st_ino;
		f->dev = fi->st_dev;
		/* torn by a concurrent fstat of the same fd: ask the kernel */
		if (__atomic_load_n(&fi->st_gen, __ATOMIC_ACQUIRE) == gen)
			return 0;
	}
	if (sm_real.fstat(fd, &st) < 0)
		return -errno;
	f->mode = st.st_mode;
	f->size = st.st_size;
	f->ino = st.st_ino;
	f->dev = st.st_dev;
	/* kept as the application's own answer would be: the next send
	 * from this descriptor asks no more (a Python or rsync loop) */
	if (fi)
		sm_fd_stat_seen(fd, &st);
	return 0;
}

void sm_fd_stat_path(int dir, const char *path, const struct stat *st)
{
	/* the kernel read @path: it is there */
	if (path && !path[0])
		sm_fd_stat_seen(dir, st);
}
