// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * Atomic replacement of a file, shared by splicemsg (systemd-dropin
 * --write) and splicemsg-stat (-o).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "replace.h"

int sm_replace_file(const char *path, const void *data, size_t len,
		    mode_t mode)
{
	const char *base = strrchr(path, '/');
	char tmp[PATH_MAX];
	ssize_t n;
	int fd, err = 0;

	base = base ? base + 1 : path;
	if (!*base)
		return -EISDIR;
	/* The same directory, so the rename cannot cross filesystems. */
	if (snprintf(tmp, sizeof(tmp), "%.*s.%s.XXXXXX", (int)(base - path),
		     path, base) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkstemp(tmp);
	if (fd < 0)
		return -errno;
	if (fchmod(fd, mode) < 0)
		err = -errno;
	while (!err && len) {
		n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n < 0 ? -errno : -EIO;
			break;
		}
		data = (const char *)data + n;
		len -= n;
	}
	if (!err && fsync(fd) < 0)
		err = -errno;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}
