// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Silent-by-default logging: one line per event, "splicemsg[pid]: ...",
 * written with the real write(2) so it neither allocates nor touches stdio
 * buffers that belong to the host program, nor meets a hold of its own.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sm.h"

static int log_fd = 2;

void sm_log_open(void)
{
	char path[4096];
	int fd;

	if (!sm_opt.LOG_FILE || !*sm_opt.LOG_FILE)
		return;
	if (sm_expand_path(path, sizeof(path), sm_opt.LOG_FILE, getpid()))
		return;
	fd = sm_real.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			  0644);
	if (fd < 0)
		return;
	/* Keep it out of the application's fd numbers and close loops. */
	sm_fd_adopt(fd, &log_fd, NULL);
}

void sm_log(int level, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	if (level > sm_opt.LOG || sm_sandboxed())
		return;
	n = snprintf(buf, sizeof(buf), "splicemsg[%ld]: ", (long)getpid());
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	if (sm_sys_write(__atomic_load_n(&log_fd, __ATOMIC_RELAXED), buf,
			 n) < 0)
		return;
}
