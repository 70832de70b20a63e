// SPDX-License-Identifier: LGPL-2.1-or-later
/* sm_sender scenarios: every size, offset mode and API; 64 MiB single calls. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/io_uring.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>
#include "sm_sender.h"

/* ---- sizes: every size x offset mode x API, one connection ----------- */

struct mode {
	const char *name;
	bool ptr;
	off_t pos;		/* file position before the call */
	off_t off;		/* *offset before the call */
	size_t count;
};

static unsigned int size_modes(size_t size, struct mode *m)
{
	off_t sz = size;
	struct mode all[] = {
		{ "null-whole", false, 0, 0, size },
		{ "null-preseek", false, sz / 3 + 1, 0, size },
		{ "null-eof", false, sz, 0, 4096 },
		{ "null-past-eof", false, sz + 12345, 0, 10 },
		{ "null-count0", false, 1, 0, 0 },
		{ "ptr-zero", true, 7, 0, size },
		{ "ptr-4097", true, 0, 4097, size },
		{ "ptr-12345", true, 3, 12345, 65536 },
		{ "ptr-eof", true, 0, sz, 1 },
		{ "ptr-past-eof", true, 0, sz + 1, 4096 },
		{ "ptr-count0", true, 0, 0, 0 },
		{ "ptr-short", true, 0, 1, size + 100000 },
		{ "ptr-last", true, 0, sz ? sz - 1 : 0, 1 },
	};

	memcpy(m, all, sizeof(all));
	return sizeof(all) / sizeof(all[0]);
}

static void sizes_one(struct conn *t, size_t size, unsigned int idx)
{
	struct mode modes[16];
	char label[96], fname[32];
	struct t_file f;
	unsigned int n, i, a;
	off_t off;

	snprintf(fname, sizeof(fname), "f%zu", size);
	t_file_create(&f, fname, size, 1000 + idx);
	n = size_modes(size, modes);
	for (i = 0; i < n; i++) {
		for (a = 0; a < 2; a++) {
			snprintf(label, sizeof(label), "%s %s %s", t->name,
				 fname, modes[i].name);
			seek_to(f.fd, modes[i].pos);
			off = modes[i].off;
			send_file(OUT, label, api_of(a), t, &f, fname,
				  modes[i].ptr ? &off : NULL, modes[i].count);
		}
	}
	t_file_close(&f);
}

void sc_sizes(const struct scenario *sc)
{
	static const size_t sizes[] = {
		0, 1, 4095, 4096, 4097, 65535, 65537, T_MIB + 17,
	};
	struct conn t;
	unsigned int i;

	conn_open_tcp(&t, sc->family);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		sizes_one(&t, sizes[i], i);
	conn_finish(&t, sc->name);
}

/* ---- big: 64 MiB in single blocking calls ----------------------------- */

void sc_big(const struct scenario *sc)
{
	struct t_file f;
	struct conn t;
	off_t off = 12345;

	t_file_create(&f, "big", 64 * T_MIB, 64);
	conn_open_tcp(&t, sc->family);
	send_file(OUT, "big whole", T_SENDFILE, &t, &f, "f64M", NULL, f.size);
	send_file(OUT, "big tail", T_SENDFILE64, &t, &f, "f64M", &off, f.size);
	conn_finish(&t, sc->name);
	t_file_close(&f);
}
