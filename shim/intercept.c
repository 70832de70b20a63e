// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Every libc name libsplicemsg exports (shim/intercept.def), and nothing
 * else: libvma's sock-redirect shape.  Each wrapper resolves the real
 * functions on first use (another library's constructor may call it before
 * ours ran), then either passes the call to the real function or makes one
 * engine call and returns sm_ret(), the one place errno is set.  Nothing
 * below this file calls these names: the engine reaches libc through
 * sm_real (tests/unit/t_noplt.sh checks the built library).
 *
 * The engine: sendfile.c (sendfile), hold.c (the cork idiom: the write
 * family, TCP_CORK, and every point where held bytes must reach the
 * kernel first), fdstate.c (the close family, file status flags), init.c
 * (fork, exit), stats.c (chroot).  A wrapper costs one table lookup on
 * descriptors that never corked.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <signal.h>
#include <linux/sockios.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include "sm.h"

static inline void resolve(void)
{
	if (sm_unlikely(!sm_real.sendfile64))
		sm_real_resolve();
}

/*
 * The one place errno is set: @res is a result or -errno.  A call that
 * succeeds leaves errno as it was (@errno_before), as the real call would,
 * whatever the engine met on the way.
 */
static inline ssize_t sm_ret(ssize_t res, int errno_before)
{
	if (res < 0) {
		errno = -res;
		return -1;
	}
	errno = errno_before;
	return res;
}

/* A write the real function made: its error may be the socket's death. */
static inline ssize_t sm_wrote(int fd, ssize_t res)
{
	if (sm_unlikely(res < 0))
		sm_hold_failed(fd, errno);
	return res;
}

/* ---- sendfile --------------------------------------------------------- */

SM_EXPORT ssize_t sendfile64(int out_fd, int in_fd, off64_t *offset,
			     size_t count)
{
	int e = errno;

	resolve();
	return sm_ret(sm_sendfile(out_fd, in_fd, offset, count), e);
}

SM_EXPORT ssize_t sendfile(int out_fd, int in_fd, off_t *offset,
			   size_t count)
{
	int e = errno;

	_Static_assert(sizeof(off_t) == sizeof(off64_t),
		       "32-bit off_t needs its own sendfile path");
	resolve();
	return sm_ret(sm_sendfile(out_fd, in_fd, (off64_t *)offset, count),
		      e);
}

/* ---- the write family: held while corked (hold.c) --------------------- */

SM_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	struct iovec v = { (void *)buf, n };
	int e = errno;
	ssize_t res;

	resolve();
	if (sm_hold_write(fd, &v, 1, 0, &res))
		return sm_ret(res, e);
	return sm_wrote(fd, sm_real.write(fd, buf, n));
}

SM_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	int e = errno;
	ssize_t res;

	resolve();
	if (sm_hold_write(fd, iov, cnt, 0, &res))
		return sm_ret(res, e);
	return sm_wrote(fd, sm_real.writev(fd, iov, cnt));
}

SM_EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	struct iovec v = { (void *)buf, n };
	int e = errno;
	ssize_t res;

	resolve();
	if (sm_hold_write(fd, &v, 1, flags, &res))
		return sm_ret(res, e);
	return sm_wrote(fd, sm_real.send(fd, buf, n, flags));
}

SM_EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags,
			 const struct sockaddr *to, socklen_t tolen)
{
	int e = errno;
	ssize_t res;

	resolve();
	if (sm_hold_sendto(fd, buf, n, flags, to, &res))
		return sm_ret(res, e);
	return sm_wrote(fd, sm_real.sendto(fd, buf, n, flags, to, tolen));
}

SM_EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
	int e = errno;
	ssize_t res;

	resolve();
	if (sm_hold_sendmsg(fd, m, flags, &res))
		return sm_ret(res, e);
	return sm_wrote(fd, sm_real.sendmsg(fd, m, flags));
}

SM_EXPORT int sendmmsg(int fd, struct mmsghdr *vec, unsigned int n,
		       int flags)
{
	int e = errno, res;

	resolve();
	if (sm_hold_sendmmsg(fd, vec, n, flags, &res))
		return sm_ret(res, e);
	return sm_real.sendmmsg(fd, vec, n, flags);
}

/* Positional writes reach a socket too (pwritev2 with offset -1). */
#define SM_PWRITE(call, ...)						\
	({								\
		int e_ = errno, r_;					\
		resolve();						\
		r_ = sm_hold_before_write(fd, 0);			\
		r_ < 0 ? sm_ret(r_, e_) : sm_real.call(__VA_ARGS__);	\
	})

SM_EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int cnt,
			  off_t off)
{
	return SM_PWRITE(pwritev, fd, iov, cnt, off);
}

SM_EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int cnt,
			    off64_t off)
{
	return SM_PWRITE(pwritev64, fd, iov, cnt, off);
}

SM_EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int cnt,
			   off_t off, int flags)
{
	return SM_PWRITE(pwritev2, fd, iov, cnt, off, flags);
}

SM_EXPORT ssize_t pwritev64v2(int fd, const struct iovec *iov, int cnt,
			      off64_t off, int flags)
{
	return SM_PWRITE(pwritev64v2, fd, iov, cnt, off, flags);
}

/*
 * splice() into a socket passes through: nothing here beats the kernel's
 * splice_to_socket for pipe data (the module and io_uring take files, not
 * pipes), but held headers must reach the socket before the spliced bytes.
 */
SM_EXPORT ssize_t splice(int in, loff_t *in_off, int out, loff_t *out_off,
			 size_t len, unsigned int flags)
{
	int e = errno, ret;

	resolve();
	ret = sm_hold_before_write(out, 0);
	if (ret < 0)
		return sm_ret(ret, e);
	return sm_real.splice(in, in_off, out, out_off, len, flags);
}

SM_EXPORT int setsockopt(int fd, int level, int name, const void *val,
			 socklen_t len)
{
	int e = errno, res;

	resolve();
	if (sm_hold_setsockopt(fd, level, name, val, len, &res))
		return sm_ret(res, e);
	return sm_real.setsockopt(fd, level, name, val, len);
}

SM_EXPORT int getsockopt(int fd, int level, int name, void *val,
			 socklen_t *len)
{
	int ret;

	resolve();
	ret = sm_real.getsockopt(fd, level, name, val, len);
	if (!ret)
		sm_hold_getsockopt(fd, level, name, val, len);
	return ret;
}

SM_EXPORT int shutdown(int fd, int how)
{
	resolve();
	sm_hold_shutdown(fd, how);
	return sm_real.shutdown(fd, how);
}

/* ---- blocking waits: what is held goes to the kernel first ------------ */

/*
 * @loop: an epoll wait, which makes the thread an event loop's, whose
 * responses may wait for the turn's end (hold.c, batching).
 */
static inline void before_wait(bool loop, bool blocking)
{
	if (loop || sm_unlikely(sm_hold_any()))
		sm_hold_before_wait(loop, blocking);
}

SM_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	resolve();
	before_wait(false, timeout != 0);
	return sm_real.poll(fds, n, timeout);
}

SM_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t,
		    const sigset_t *mask)
{
	resolve();
	before_wait(false, !t || t->tv_sec || t->tv_nsec);
	return sm_real.ppoll(fds, n, t, mask);
}

SM_EXPORT int select(int n, fd_set *r, fd_set *w, fd_set *e,
		     struct timeval *t)
{
	resolve();
	before_wait(false, !t || t->tv_sec || t->tv_usec);
	return sm_real.select(n, r, w, e, t);
}

SM_EXPORT int pselect(int n, fd_set *r, fd_set *w, fd_set *e,
		      const struct timespec *t, const sigset_t *mask)
{
	resolve();
	before_wait(false, !t || t->tv_sec || t->tv_nsec);
	return sm_real.pselect(n, r, w, e, t, mask);
}

SM_EXPORT int epoll_wait(int ep, struct epoll_event *ev, int max,
			 int timeout)
{
	int n;

	resolve();
	before_wait(true, timeout != 0);
	n = sm_real.epoll_wait(ep, ev, max, timeout);
	sm_hold_turn(n);
	return n;
}

SM_EXPORT int epoll_pwait(int ep, struct epoll_event *ev, int max,
			  int timeout, const sigset_t *mask)
{
	int n;

	resolve();
	before_wait(true, timeout != 0);
	n = sm_real.epoll_pwait(ep, ev, max, timeout, mask);
	sm_hold_turn(n);
	return n;
}

/* ---- the close family: keep the fd table honest (fdstate.c) ---------- */

SM_EXPORT int close(int fd)
{
	int e = errno, ret;

	resolve();
	ret = sm_fd_close(fd);
	if (ret < 0)
		return sm_ret(ret, e);
	return sm_real.close(fd);
}

SM_EXPORT int dup2(int oldfd, int newfd)
{
	int e = errno, ret;

	resolve();
	ret = sm_fd_dup_onto(oldfd, newfd);
	if (ret < 0)
		return sm_ret(ret, e);
	ret = sm_real.dup2(oldfd, newfd);
	if (ret >= 0)
		sm_fd_dup(oldfd, ret);
	return ret;
}

SM_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	int e = errno, ret;

	resolve();
	ret = sm_fd_dup_onto(oldfd, newfd);
	if (ret < 0)
		return sm_ret(ret, e);
	ret = sm_real.dup3(oldfd, newfd, flags);
	if (ret >= 0)
		sm_fd_dup(oldfd, ret);
	return ret;
}

SM_EXPORT int dup(int fd)
{
	int ret;

	resolve();
	ret = sm_real.dup(fd);
	if (ret >= 0)
		sm_fd_dup(fd, ret);
	return ret;
}

/* ---- where descriptors are born (fdstate.c) --------------------------- */

SM_EXPORT int socket(int domain, int type, int proto)
{
	int ret;

	resolve();
	ret = sm_real.socket(domain, type, proto);
	if (ret >= 0)
		sm_fd_socket(ret, domain, type, proto);
	return ret;
}

SM_EXPORT int socketpair(int domain, int type, int proto, int sv[2])
{
	int ret;

	resolve();
	ret = sm_real.socketpair(domain, type, proto, sv);
	if (!ret) {
		sm_fd_born(sv[0], SM_SOCK_FL(type));
		sm_fd_born(sv[1], SM_SOCK_FL(type));
	}
	return ret;
}

/* The room the caller gave accept() for the peer's address, read safely. */
static socklen_t addr_room(const struct sockaddr *addr, const socklen_t *len)
{
	socklen_t room;

	return addr && len && !sm_copy_in(&room, len, sizeof(room)) ? room : 0;
}

SM_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	socklen_t room;
	int ret;

	resolve();
	room = addr_room(addr, len);
	ret = sm_real.accept(fd, addr, len);
	if (ret >= 0)
		sm_fd_accepted(fd, ret, SM_SOCK_FL(0), addr, room, len);
	return ret;
}

SM_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len,
		      int flags)
{
	socklen_t room;
	int ret;

	resolve();
	room = addr_room(addr, len);
	ret = sm_real.accept4(fd, addr, len, flags);
	if (ret >= 0)
		sm_fd_accepted(fd, ret, SM_SOCK_FL(flags), addr, room, len);
	return ret;
}

SM_EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	int e = errno;

	resolve();
	return sm_ret(sm_fd_close_range(first, last, flags), e);
}

SM_EXPORT void closefrom(int lowfd)
{
	resolve();
	sm_fd_closefrom(lowfd);
}

/* ---- file status flags: the cache in fdstate.c follows every change --- */

/* Every fcntl and ioctl argument is an int or a pointer: one word. */
#define SM_VA_WORD(last)						\
	({								\
		va_list ap_;						\
		void *w_;						\
		va_start(ap_, last);					\
		w_ = va_arg(ap_, void *);				\
		va_end(ap_);						\
		w_;							\
	})

static int fcntl_via(int (*real)(int, int, ...), int fd, int cmd, void *arg)
{
	int ret;

	ret = real(fd, cmd, arg);
	if (cmd == F_SETFL)
		sm_fd_setfl(fd, false, (int)(intptr_t)arg, ret);
	if (ret >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
		sm_fd_dup(fd, ret);
	return ret;
}

SM_EXPORT int fcntl(int fd, int cmd, ...)
{
	void *arg = SM_VA_WORD(cmd);

	resolve();
	return fcntl_via(sm_real.fcntl, fd, cmd, arg);
}

SM_EXPORT int fcntl64(int fd, int cmd, ...)
{
	void *arg = SM_VA_WORD(cmd);

	resolve();
	return fcntl_via(sm_real.fcntl64 ? sm_real.fcntl64 : sm_real.fcntl,
			 fd, cmd, arg);
}

SM_EXPORT int ioctl(int fd, unsigned long req, ...)
{
	void *arg = SM_VA_WORD(req);
	int ret, n;

	resolve();
	ret = sm_real.ioctl(fd, req, arg);
	/* the kernel read *arg, so it is there */
	if (!ret && req == FIONBIO) {
		memcpy(&n, arg, sizeof(n));
		sm_fd_setfl(fd, true, n, ret);
	}
	/* held bytes are queued, for the application (the kernel wrote
	 * *arg, so it is there) */
	if (!ret && (req == SIOCOUTQ || req == SIOCOUTQNSD) &&
	    sm_hold_any()) {
		memcpy(&n, arg, sizeof(n));
		n += sm_hold_queued(fd);
		memcpy(arg, &n, sizeof(n));
	}
	return ret;
}

/* ---- the process image ends: nothing may stay held ------------------- */

SM_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	resolve();
	sm_hold_flush_all();
	return sm_real.execve(path, argv, envp);
}

SM_EXPORT int execv(const char *path, char *const argv[])
{
	resolve();
	sm_hold_flush_all();
	return sm_real.execv(path, argv);
}

SM_EXPORT int execvp(const char *file, char *const argv[])
{
	resolve();
	sm_hold_flush_all();
	return sm_real.execvp(file, argv);
}

SM_EXPORT int execvpe(const char *file, char *const argv[],
		      char *const envp[])
{
	resolve();
	sm_hold_flush_all();
	return sm_real.execvpe(file, argv, envp);
}

SM_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	resolve();
	sm_hold_flush_all();
	return sm_real.fexecve(fd, argv, envp);
}

/*
 * glibc's execl family builds argv and calls its internal execve, which no
 * wrapper sees: these build it too and go to the real exec functions.
 */
#define SM_ARGV(first, ap, extra)					\
	({								\
		va_list c_;						\
		size_t n_ = 1;						\
		va_copy(c_, ap);					\
		while (va_arg(c_, char *))				\
			n_++;						\
		va_end(c_);						\
		char **v_ = alloca((n_ + 1) * sizeof(char *));		\
		v_[0] = (char *)(first);				\
		for (size_t i_ = 1; i_ <= n_; i_++) /* with the NULL */	\
			v_[i_] = va_arg(ap, char *);			\
		char ***e_ = (extra);					\
		if (e_)							\
			*e_ = va_arg(ap, char **);			\
		v_;							\
	})

SM_EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	char **argv;

	va_start(ap, arg);
	argv = SM_ARGV(arg, ap, NULL);
	va_end(ap);
	resolve();
	sm_hold_flush_all();
	return sm_real.execv(path, argv);
}

SM_EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	char **argv;

	va_start(ap, arg);
	argv = SM_ARGV(arg, ap, NULL);
	va_end(ap);
	resolve();
	sm_hold_flush_all();
	return sm_real.execvp(file, argv);
}

SM_EXPORT int execle(const char *path, const char *arg, ...)
{
	char **argv, **envp = NULL;
	va_list ap;

	va_start(ap, arg);
	argv = SM_ARGV(arg, ap, &envp);
	va_end(ap);
	resolve();
	sm_hold_flush_all();
	return sm_real.execve(path, argv, envp);
}

SM_EXPORT void _exit(int status)
{
	resolve();
	sm_exit_fast();
	sm_real._exit(status);
	__builtin_unreachable();
}

SM_EXPORT void _Exit(int status)
{
	resolve();
	sm_exit_fast();
	sm_real._exit(status);
	__builtin_unreachable();
}

/* ---- raw system calls, seccomp ---------------------------------------- */

SM_EXPORT long syscall(long nr, ...)
{
	int e = errno;
	long a[6], ret;
	va_list ap;
	int i;

	va_start(ap, nr);
	for (i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	resolve();
	ret = sm_syscall_before(nr, a);
	if (ret < 0)
		return sm_ret(ret, e);
	ret = sm_real.syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	sm_syscall_after(nr, a, ret);
	return ret;
}

/* glibc reads the three optional words whatever the flags: so do we. */
SM_EXPORT int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	int e = errno;
	void *opt[3];
	va_list ap;
	int i;

	va_start(ap, arg);
	for (i = 0; i < 3; i++)
		opt[i] = va_arg(ap, void *);
	va_end(ap);
	resolve();
	return sm_ret(sm_clone(fn, stack, flags, arg, opt), e);
}

SM_EXPORT int prctl(int option, ...)
{
	unsigned long a[4];
	va_list ap;
	int i;

	va_start(ap, option);
	for (i = 0; i < 4; i++)
		a[i] = va_arg(ap, unsigned long);
	va_end(ap);
	resolve();
	if (option == PR_SET_SECCOMP)
		sm_sandbox();
	return sm_real.prctl(option, a[0], a[1], a[2], a[3]);
}

SM_EXPORT int chroot(const char *path)
{
	int e = errno;

	resolve();
	return sm_ret(sm_chroot(path), e);
}

/* ---- SIGSEGV and SIGBUS: the application's view (signals.c) ----------- */

SM_EXPORT int sigaction(int sig, const struct sigaction *act,
			struct sigaction *old)
{
	int e = errno, res;

	resolve();
	if (sm_sigaction(sig, act, old, &res))
		return sm_ret(res, e);
	return sm_real.sigaction(sig, act, old);
}

/*
 * glibc's signal() is BSD's (SA_RESTART, the signal blocked in its
 * handler), sysv_signal() System V's (reset to SIG_DFL, not blocked).
 */
#define SM_SIGNAL(real, flags)						\
	({								\
		sighandler_t old_;					\
		resolve();						\
		sm_signal(sig, h, (flags), &old_) ? old_ :		\
						    sm_real.real(sig, h);	\
	})

SM_EXPORT sighandler_t signal(int sig, sighandler_t h)
{
	return SM_SIGNAL(signal, SA_RESTART);
}

SM_EXPORT sighandler_t bsd_signal(int sig, sighandler_t h)
{
	return SM_SIGNAL(bsd_signal, SA_RESTART);
}

SM_EXPORT sighandler_t sysv_signal(int sig, sighandler_t h)
{
	return SM_SIGNAL(sysv_signal, SA_RESETHAND | SA_NODEFER);
}

SM_EXPORT sighandler_t __sysv_signal(int sig, sighandler_t h)
{
	return SM_SIGNAL(__sysv_signal, SA_RESETHAND | SA_NODEFER);
}

/* ---- opens and fstats: the answers the shim would ask for ------------- */

/* open's mode argument is there only with O_CREAT or O_TMPFILE. */
#define SM_OPEN(call, flags, ...)					\
	({								\
		int r_;							\
		resolve();						\
		r_ = sm_real.call(__VA_ARGS__);				\
		if (r_ >= 0)						\
			sm_fd_opened(r_, (flags));			\
		r_;							\
	})
#define SM_MODE(flags)							\
	({								\
		mode_t m_ = 0;						\
		if ((flags) & (O_CREAT | __O_TMPFILE)) {		\
			va_list ap_;					\
			va_start(ap_, flags);				\
			m_ = va_arg(ap_, mode_t);			\
			va_end(ap_);					\
		}							\
		m_;							\
	})

SM_EXPORT int open(const char *path, int flags, ...)
{
	mode_t mode = SM_MODE(flags);

	return SM_OPEN(open, flags, path, flags, mode);
}

SM_EXPORT int open64(const char *path, int flags, ...)
{
	mode_t mode = SM_MODE(flags);

	return SM_OPEN(open64, flags, path, flags, mode);
}

SM_EXPORT int openat(int dir, const char *path, int flags, ...)
{
	mode_t mode = SM_MODE(flags);

	return SM_OPEN(openat, flags, dir, path, flags, mode);
}

SM_EXPORT int openat64(int dir, const char *path, int flags, ...)
{
	mode_t mode = SM_MODE(flags);

	return SM_OPEN(openat64, flags, dir, path, flags, mode);
}

SM_EXPORT int __open_2(const char *path, int flags)
{
	return SM_OPEN(__open_2, flags, path, flags);
}

SM_EXPORT int __open64_2(const char *path, int flags)
{
	return SM_OPEN(__open64_2, flags, path, flags);
}

SM_EXPORT int __openat_2(int dir, const char *path, int flags)
{
	return SM_OPEN(__openat_2, flags, dir, path, flags);
}

SM_EXPORT int __openat64_2(int dir, const char *path, int flags)
{
	return SM_OPEN(__openat64_2, flags, dir, path, flags);
}

SM_EXPORT int creat(const char *path, mode_t mode)
{
	return SM_OPEN(creat, O_CREAT | O_WRONLY | O_TRUNC, path, mode);
}

SM_EXPORT int creat64(const char *path, mode_t mode)
{
	return SM_OPEN(creat64, O_CREAT | O_WRONLY | O_TRUNC, path, mode);
}

/* The kernel filled *st, so it is there to be read. */
#define SM_STAT(call, fd, st, ...)					\
	({								\
		int r_;							\
		resolve();						\
		r_ = sm_real.call(__VA_ARGS__);				\
		if (!r_)						\
			sm_fd_stat_seen((fd), (const struct stat *)(st)); \
		r_;							\
	})

SM_EXPORT int fstat(int fd, struct stat *st)
{
	return SM_STAT(fstat, fd, st, fd, st);
}

SM_EXPORT int fstat64(int fd, struct stat64 *st)
{
	return SM_STAT(fstat64, fd, st, fd, st);
}

SM_EXPORT int __fxstat(int ver, int fd, struct stat *st)
{
	return SM_STAT(__fxstat, fd, st, ver, fd, st);
}

SM_EXPORT int __fxstat64(int ver, int fd, struct stat64 *st)
{
	return SM_STAT(__fxstat64, fd, st, ver, fd, st);
}

/* fstatat(fd, "", st, AT_EMPTY_PATH) is how glibc itself does fstat. */
SM_EXPORT int fstatat(int dir, const char *path, struct stat *st, int flags)
{
	int ret;

	resolve();
	ret = sm_real.fstatat(dir, path, st, flags);
	if (!ret && (flags & AT_EMPTY_PATH))
		sm_fd_stat_path(dir, path, st);
	return ret;
}

SM_EXPORT int fstatat64(int dir, const char *path, struct stat64 *st,
			int flags)
{
	int ret;

	resolve();
	ret = sm_real.fstatat64(dir, path, st, flags);
	if (!ret && (flags & AT_EMPTY_PATH))
		sm_fd_stat_path(dir, path, (const struct stat *)st);
	return ret;
}

/* ---- every other way this process changes a file's size --------------- */

#define SM_CHANGES(fd, call, ...)					\
	({								\
		resolve();						\
		sm_fd_written(fd);					\
		sm_real.call(__VA_ARGS__);				\
	})

SM_EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	return SM_CHANGES(fd, pwrite, fd, buf, n, off);
}

SM_EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	return SM_CHANGES(fd, pwrite64, fd, buf, n, off);
}

SM_EXPORT int ftruncate(int fd, off_t len)
{
	return SM_CHANGES(fd, ftruncate, fd, len);
}

SM_EXPORT int ftruncate64(int fd, off64_t len)
{
	return SM_CHANGES(fd, ftruncate64, fd, len);
}

SM_EXPORT int fallocate(int fd, int mode, off_t off, off_t len)
{
	return SM_CHANGES(fd, fallocate, fd, mode, off, len);
}

SM_EXPORT int fallocate64(int fd, int mode, off64_t off, off64_t len)
{
	return SM_CHANGES(fd, fallocate64, fd, mode, off, len);
}

SM_EXPORT ssize_t copy_file_range(int in, off64_t *in_off, int out,
				  off64_t *out_off, size_t len,
				  unsigned int flags)
{
	return SM_CHANGES(out, copy_file_range, in, in_off, out, out_off, len,
			  flags);
}

SM_EXPORT int truncate(const char *path, off_t len)
{
	resolve();
	sm_fd_files_changed();
	return sm_real.truncate(path, len);
}

SM_EXPORT int truncate64(const char *path, off64_t len)
{
	resolve();
	sm_fd_files_changed();
	return sm_real.truncate64(path, len);
}
