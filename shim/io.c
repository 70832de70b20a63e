// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The interposed calls around the sendpage-era idiom (hold.c): the write
 * family, which may hold headers while a socket is corked; setsockopt and
 * getsockopt for TCP_CORK; and every point where held bytes must reach the
 * kernel first -- shutdown, blocking waits, exec, _exit.  (close and dup2
 * are in intercept.c, fork and exit in init.c.)
 *
 * Each wrapper costs one table lookup on descriptors that never corked.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sm.h"

#define SM_EXPORT __attribute__((visibility("default")))

static inline void resolve(void)
{
	if (sm_unlikely(!sm_real.sendmsg))
		sm_real_resolve();
}

/*
 * The hold of a connected TCP socket, made when it first corks or says
 * MSG_MORE, or (@af_unix) of an AF_UNIX stream socket, which has no cork.
 */
static struct sm_hold *hold_for(int fd, bool af_unix)
{
	struct sm_fdinfo *fi;
	int kind;

	if (!sm_active() || sm_opt.ENGINE == SM_ENGINE_NATIVE)
		return NULL;
	fi = sm_fd_get(fd);
	if (!fi)
		return NULL;
	kind = sm_fd_classify(fd, fi);
	if (kind != SM_FD_TCP && !(af_unix && kind == SM_FD_UNIX))
		return NULL;
	/*
	 * Measured (tests/bench/resp.sh, docs/bench.md): the corked native
	 * idiom already sends one segment per response, so one send only
	 * saves syscalls.  Auto holds TCP headers for one sendmsg(2) with a
	 * small body (policy.c): poll, fstat and sendmsg for the idiom's
	 * four.  The AF_UNIX idiom, send(MSG_MORE) and sendfile, is two.
	 */
	if (sm_opt.ENGINE == SM_ENGINE_AUTO && kind != SM_FD_TCP)
		return NULL;
	return sm_hold_get(fd, fi);
}

static ssize_t finish(ssize_t res)
{
	if (res < 0) {
		errno = -res;
		return -1;
	}
	return res;
}

SM_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	struct iovec v = { (void *)buf, n };
	ssize_t res;

	resolve();
	if (sm_hold_write(fd, &v, 1, 0, &res))
		return finish(res);
	return sm_real.write(fd, buf, n);
}

SM_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	ssize_t res;

	resolve();
	if (sm_hold_write(fd, iov, cnt, 0, &res))
		return finish(res);
	return sm_real.writev(fd, iov, cnt);
}

/* The send family: MSG_MORE may start a hold, as TCP_CORK does. */
static bool send_held(int fd, const struct iovec *iov, int cnt, int flags,
		      ssize_t *res)
{
	if (flags & MSG_MORE)
		hold_for(fd, true);
	return sm_hold_write(fd, iov, cnt, flags, res);
}

SM_EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	struct iovec v = { (void *)buf, n };
	ssize_t res;

	resolve();
	if (send_held(fd, &v, 1, flags, &res))
		return finish(res);
	return sm_real.send(fd, buf, n, flags);
}

SM_EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags,
			 const struct sockaddr *to, socklen_t tolen)
{
	struct iovec v = { (void *)buf, n };
	ssize_t res;

	resolve();
	if (!to && send_held(fd, &v, 1, flags, &res))
		return finish(res);
	return sm_real.sendto(fd, buf, n, flags, to, tolen);
}

SM_EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
	ssize_t res;

	resolve();
	/* an address or ancillary data: the kernel's business alone */
	if (m && !m->msg_name && !m->msg_controllen &&
	    m->msg_iovlen <= IOV_MAX &&
	    send_held(fd, m->msg_iov, (int)m->msg_iovlen, flags, &res))
		return finish(res);
	return sm_real.sendmsg(fd, m, flags);
}

/*
 * splice() into a socket passes through: nothing here beats the kernel's
 * splice_to_socket for pipe data (the module and io_uring take files, not
 * pipes), but held headers must reach the socket before the spliced bytes.
 */
SM_EXPORT ssize_t splice(int in, loff_t *in_off, int out, loff_t *out_off,
			 size_t len, unsigned int flags)
{
	int ret;

	resolve();
	ret = sm_hold_before_native(out, 0);
	if (ret < 0)
		return finish(ret);
	return sm_real.splice(in, in_off, out, out_off, len, flags);
}

SM_EXPORT int setsockopt(int fd, int level, int name, const void *val,
			 socklen_t len)
{
	struct sm_fdinfo *fi;
	struct sm_hold *h;
	int ret;

	resolve();
	fi = sm_fd_peek(fd);
	if (fi && level == SOL_SOCKET &&
	    (name == SO_SNDTIMEO_OLD || name == SO_SNDTIMEO_NEW))
		__atomic_store_n(&fi->sndtimeo, SM_TRI_UNKNOWN,
				 __ATOMIC_RELAXED);
	if (level == IPPROTO_TCP && name == TCP_CORK && val &&
	    len >= sizeof(int) && hold_for(fd, false)) {
		h = sm_hold_lock(sm_fd_peek(fd));
		ret = sm_hold_cork(h, fd, *(const int *)val != 0);
		sm_hold_unlock(h);
		return finish(ret);
	}
	if (fi && __atomic_load_n(&fi->hold, __ATOMIC_ACQUIRE)) {
		/* TCP_NODELAY and the like act on queued bytes: queue ours */
		h = sm_hold_lock(fi);
		sm_hold_flush(h, fd);
		ret = sm_real.setsockopt(fd, level, name, val, len);
		sm_hold_unlock(h);
		return ret;
	}
	return sm_real.setsockopt(fd, level, name, val, len);
}

SM_EXPORT int getsockopt(int fd, int level, int name, void *val,
			 socklen_t *len)
{
	struct sm_fdinfo *fi;
	struct sm_hold *h;
	int ret;

	resolve();
	ret = sm_real.getsockopt(fd, level, name, val, len);
	fi = sm_fd_peek(fd);
	if (ret || level != IPPROTO_TCP || name != TCP_CORK || !fi ||
	    !__atomic_load_n(&fi->hold, __ATOMIC_ACQUIRE) ||
	    *len < sizeof(int))
		return ret;
	/* the cork the application set, applied lazily or not */
	h = sm_hold_lock(fi);
	*(int *)val = h->app_cork || h->kern_cork;
	sm_hold_unlock(h);
	return ret;
}

SM_EXPORT int shutdown(int fd, int how)
{
	resolve();
	if (how == SHUT_WR || how == SHUT_RDWR)
		sm_hold_close(fd, false);
	return sm_real.shutdown(fd, how);
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
	if (cmd == F_SETFL)
		sm_fd_flags_changed();
	return real(fd, cmd, arg);
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

	resolve();
	if (req == FIONBIO)
		sm_fd_flags_changed();
	return sm_real.ioctl(fd, req, arg);
}

/* ---- blocking waits: what is held goes to the kernel first ------------ */

static inline void before_wait(bool blocking)
{
	if (blocking && sm_unlikely(sm_hold_any()))
		sm_hold_flush_all();
}

SM_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	resolve();
	before_wait(timeout != 0);
	return sm_real.poll(fds, n, timeout);
}

SM_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *t,
		    const sigset_t *mask)
{
	resolve();
	before_wait(!t || t->tv_sec || t->tv_nsec);
	return sm_real.ppoll(fds, n, t, mask);
}

SM_EXPORT int select(int n, fd_set *r, fd_set *w, fd_set *e,
		     struct timeval *t)
{
	resolve();
	before_wait(!t || t->tv_sec || t->tv_usec);
	return sm_real.select(n, r, w, e, t);
}

SM_EXPORT int pselect(int n, fd_set *r, fd_set *w, fd_set *e,
		      const struct timespec *t, const sigset_t *mask)
{
	resolve();
	before_wait(!t || t->tv_sec || t->tv_nsec);
	return sm_real.pselect(n, r, w, e, t, mask);
}

SM_EXPORT int epoll_wait(int ep, struct epoll_event *ev, int max,
			 int timeout)
{
	resolve();
	before_wait(timeout != 0);
	return sm_real.epoll_wait(ep, ev, max, timeout);
}

SM_EXPORT int epoll_pwait(int ep, struct epoll_event *ev, int max,
			  int timeout, const sigset_t *mask)
{
	resolve();
	before_wait(timeout != 0);
	return sm_real.epoll_pwait(ep, ev, max, timeout, mask);
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

/* glibc's execl family builds argv and calls its internal execve. */
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
	return execv(path, argv);
}

SM_EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	char **argv;

	va_start(ap, arg);
	argv = SM_ARGV(arg, ap, NULL);
	va_end(ap);
	return execvp(file, argv);
}

SM_EXPORT int execle(const char *path, const char *arg, ...)
{
	char **argv, **envp = NULL;
	va_list ap;

	va_start(ap, arg);
	argv = SM_ARGV(arg, ap, &envp);
	va_end(ap);
	return execve(path, argv, envp);
}

SM_EXPORT void _exit(int status)
{
	resolve();
	sm_hold_flush_all();
	sm_real._exit(status);
	__builtin_unreachable();
}

SM_EXPORT void _Exit(int status)
{
	_exit(status);
}
