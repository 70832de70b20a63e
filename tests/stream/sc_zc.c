// SPDX-License-Identifier: LGPL-2.1-or-later
/* sm_sender scenarios: many 256 KiB sends on one socket: the zero-copy verdict. */
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

/* ---- report: many 256 KiB sends on one socket (zero-copy verdict) ---- */

void sc_report(const struct scenario *sc)
{
	char label[32];
	struct t_file f;
	struct conn t;
	unsigned int i;
	off_t off = 0;

	t_file_create(&f, "report", 10 * T_MIB + 3, 1300);
	conn_open_tcp(&t, sc->family);
	for (i = 0; i < 40; i++) {
		snprintf(label, sizeof(label), "send %u", i);
		send_file(OUT, label, api_of(i), &t, &f, "f", &off,
			  256 * T_KIB);
		/*
		 * Once the receiver has read it all, the kernel has freed
		 * the buffers and posted any zero-copy notification: the
		 * shim has what it needs to rule on the socket before the
		 * next call, however slowly the receiver hashes.
		 */
		t_rx_wait_for(&t.rx, t.want.bytes);
	}
	conn_finish(&t, "report stream");
	t_file_close(&f);
}
