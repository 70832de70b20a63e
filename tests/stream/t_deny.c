// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * t_deny [--errno EPERM|ENOSYS|none] [--threads] -- cmd args...
 *
 * Run a command in which some system calls fail, as a container's seccomp
 * profile or a limit makes them: io_uring_setup, io_uring_enter and
 * io_uring_register with the given errno (default EPERM; ENOSYS is a
 * kernel built without io_uring; none leaves them be), and with --threads
 * every new thread (clone3 ENOSYS, so that glibc falls back to clone, and
 * clone with CLONE_THREAD EAGAIN, as at a thread or pids limit).  A raw
 * seccomp filter, so the test needs no libseccomp.  Exit 127 if the
 * command cannot be run, 77 if this kernel has no seccomp filters, 99 on
 * other setup errors.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../t_seccomp.h"

#define T_EXIT_SKIP 77
#define T_EXIT_ERROR 99
#define T_EXIT_NOCMD 127

static int usage(void)
{
	fprintf(stderr, "usage: t_deny [--errno EPERM|ENOSYS|none] "
		"[--threads] -- cmd args...\n");
	return T_EXIT_ERROR;
}

int main(int argc, char **argv)
{
	unsigned int uring_err = EPERM;
	bool threads = false;
	int i, err;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		}
		if (!strcmp(argv[i], "--threads")) {
			threads = true;
			continue;
		}
		if (strcmp(argv[i], "--errno") || i + 1 >= argc)
			return usage();
		i++;
		if (!strcmp(argv[i], "EPERM"))
			uring_err = EPERM;
		else if (!strcmp(argv[i], "ENOSYS"))
			uring_err = ENOSYS;
		else if (!strcmp(argv[i], "none"))
			uring_err = 0;
		else
			return usage();
	}
	if (i >= argc)
		return usage();

	err = t_seccomp_deny(uring_err, threads);
	if (err == -EINVAL) {
		printf("skip: seccomp filters unavailable\n");
		return T_EXIT_SKIP;
	}
	if (err) {
		fprintf(stderr, "t_deny: seccomp: %s\n", strerror(-err));
		return T_EXIT_ERROR;
	}
	execvp(argv[i], argv + i);
	fprintf(stderr, "t_deny: %s: %s\n", argv[i], strerror(errno));
	return T_EXIT_NOCMD;
}
