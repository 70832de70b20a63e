/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef SM_REPLACE_H
#define SM_REPLACE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Replace the file @path by @len bytes of @data with @mode, atomically: a
 * reader (systemd's daemon-reload, node_exporter's textfile collector)
 * sees the old file or the new one, never a part of either.  The new file
 * is written beside it as ".NAME.XXXXXX", synced, and renamed over it.
 * Returns 0 or -errno; on error @path is untouched and nothing is left.
 */
int sm_replace_file(const char *path, const void *data, size_t len,
		    mode_t mode);

#endif
