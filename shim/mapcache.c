// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * File mappings for the io_uring path, kept across calls.
 *
 * Mapping and unmapping per call costs more than the send itself (munmap's
 * TLB flush dominated profiles at 64 KiB chunks), so each thread keeps one
 * read-only shared window of the file it last sent and reuses it while the
 * file (device, inode) stays the same.  A window may extend past EOF: the
 * shim never touches it from user space, and the kernel meets pages past
 * EOF as EFAULT, never SIGBUS.  Zero-copy sends hold a reference until the
 * kernel's notification, so a window is unmapped only when nobody uses it.
 * The cached window keeps its file (and a deleted file's blocks) until the
 * thread sends another file or exits; a thread-specific key's destructor
 * drops it at exit, whether or not the thread ever had a ring (a thread
 * that only copies from the mapping has none).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sm.h"

#define SM_WINDOW ((size_t)64 << 20)

struct sm_map {
	void *addr;
	size_t len;
	loff_t base;
	uint64_t dev;
	uint64_t ino;
	int refs;
};

static SM_TLS struct sm_map *tls_map;
static pthread_key_t map_key;
static pthread_once_t map_once = PTHREAD_ONCE_INIT;

void sm_map_put(struct sm_map *m)
{
	if (m && __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		munmap(m->addr, m->len);
		free(m);
	}
}

static void drop_cached(void)
{
	sm_map_put(tls_map);
	tls_map = NULL;
}

static void thread_exit(void *arg)
{
	(void)arg;
	drop_cached();
}

static void make_key(void)
{
	pthread_key_create(&map_key, thread_exit);
}

static bool covers(const struct sm_map *m, const struct sm_file *f,
		   loff_t start, size_t len)
{
	return m->dev == f->dev && m->ino == f->ino &&
	       start >= m->base &&
	       (uint64_t)(start - m->base) + len <= m->len;
}

/*
 * A mapping of @fd covering [start, start + len), with a reference for the
 * caller; *ptr is the address of @start.  Returns NULL with -errno in *err.
 */
struct sm_map *sm_map_get(int fd, const struct sm_file *f, loff_t start,
			  size_t len, const void **ptr, int *err)
{
	static long pagesz;
	struct sm_map *m = tls_map;
	loff_t base;
	size_t mlen;

	if (m && !covers(m, f, start, len))
		drop_cached();
	m = tls_map;
	if (!m) {
		if (!pagesz)
			pagesz = sysconf(_SC_PAGESIZE);
		base = start & ~(loff_t)(SM_WINDOW - 1);
		mlen = SM_WINDOW;
		if ((uint64_t)(start - base) + len > mlen) {
			base = start & ~(loff_t)(pagesz - 1);
			mlen = (start - base) + len;
		}
		m = calloc(1, sizeof(*m));
		if (!m) {
			*err = -ENOMEM;
			return NULL;
		}
		m->addr = mmap(NULL, mlen, PROT_READ, MAP_SHARED, fd, base);
		if (m->addr == MAP_FAILED) {
			*err = -errno;
			free(m);
			return NULL;
		}
		m->len = mlen;
		m->base = base;
		m->dev = f->dev;
		m->ino = f->ino;
		m->refs = 1;		/* the cache's */
		tls_map = m;
		/* Any non-NULL value makes the destructor run at exit. */
		pthread_once(&map_once, make_key);
		pthread_setspecific(map_key, m);
	}
	__atomic_add_fetch(&m->refs, 1, __ATOMIC_ACQ_REL);
	*ptr = (const char *)m->addr + (start - m->base);
	return m;
}

/* In a forked child the window is the child's copy: keep using it. */
