/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libsplicemsg public API.
 *
 * Programs normally get libsplicemsg through LD_PRELOAD and never call this;
 * a program that knows about it may link it (or look the symbols up with
 * dlsym(RTLD_DEFAULT, ...)) to read its counters.
 */
#ifndef SPLICEMSG_H
#define SPLICEMSG_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SPLICEMSG_VERSION_STRING "0.1.0"

/* The library's version, e.g. "0.1.0". */
const char *splicemsg_version(void);

/* 1 if the shim accelerates this process (SPLICEMSG_ENABLE/ONLY/SKIP). */
int splicemsg_active(void);

/*
 * The counters as one JSON object (the format SPLICEMSG_STATS writes).
 * Returns the length the whole object needs, excluding the NUL, like
 * snprintf(3); the output is cut to fit @len.
 */
int splicemsg_stats_json(char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
