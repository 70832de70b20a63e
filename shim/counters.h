/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The counters' layout, shared with splicemsg-stat, which maps a running
 * process's /dev/shm/splicemsg-PID and links nothing else of the library,
 * and their JSON (counters.c, linked into both).  Names and documentation
 * come from paths.def, stats.def and counters.def alone.
 */
#ifndef SM_COUNTERS_H
#define SM_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

enum sm_path {
#define SM_PATH(key, name, doc) SM_PATH_##name,
#include "paths.def"
#undef SM_PATH
	SM_PATH_MAX
};
enum sm_fallback {
#define SM_FB(key, doc) SM_FB_##key,
#include "stats.def"
#undef SM_FB
	SM_FB_MAX
};
/* What out_fd of a sendfile call was, for calls_by_socket. */
enum sm_sock { SM_SOCK_TCP, SM_SOCK_UNIX, SM_SOCK_OTHER, SM_SOCK_MAX };

extern const char *const sm_path_names[SM_PATH_MAX];
extern const char *const sm_path_docs[SM_PATH_MAX];
extern const char *const sm_fallback_names[SM_FB_MAX];
extern const char *const sm_fallback_docs[SM_FB_MAX];
extern const char *const sm_sock_names[SM_SOCK_MAX];

#define SM_STATS_MAGIC 0x74617473534d5053ULL /* "SPMSstat" */
#define SM_STATS_VERSION 9
/* The program's name as recorded at start, NUL included (longer: cut). */
#define SM_PROGRAM_MAX 64
/* Laid out for a reader in another process (the live stats file). */
struct sm_counters {
	uint64_t magic;
	uint64_t version;
	uint64_t pid;
	/*
	 * CLOCK_BOOTTIME (ns) when the live file was made: a file made before
	 * the process that now has its pid started is not that process's
	 * (splicemsg-stat --gc).  The process cannot read its own start time
	 * from inside a chroot; the clock it can.  0 in the private struct.
	 */
	uint64_t created_ns;
	/* program_invocation_short_name at start, before a process title
	 * rewrites it (nginx's "worker process is shutting down"). */
	char program[SM_PROGRAM_MAX];
	uint64_t calls[SM_PATH_MAX];
	uint64_t bytes[SM_PATH_MAX];
	uint64_t fallbacks[SM_FB_MAX];
#define SM_COUNTER(key, doc) uint64_t key;
#include "counters.def"
#undef SM_COUNTER
	uint64_t calls_by_socket[SM_SOCK_MAX];	/* sendfile calls, by out_fd */
};
/*
 * A reader of another layout version must not misread this one: any
 * change to the struct changes its size or this list, and must come with
 * a new SM_STATS_VERSION (and this line).
 */
_Static_assert(SM_STATS_VERSION == 9 && SM_PATH_MAX == 7 && SM_FB_MAX == 18 &&
	       SM_PROGRAM_MAX == 64 &&
	       sizeof(struct sm_counters) ==
	       8 * (4 + 2 * 7 + 18 + 10 + 3) + SM_PROGRAM_MAX,
	       "the counters' layout changed: bump SM_STATS_VERSION here");

/*
 * The counters as one JSON object (the exit file, splicemsg-stat --json):
 * @engine is left out when NULL (the live file does not know it); @extra,
 * if not NULL, goes in before the closing brace (",\"time\":...").
 * Returns the length it needs, like snprintf.
 */
int sm_counters_json(char *buf, size_t len, const struct sm_counters *c,
		     long pid, const char *program, const char *engine,
		     const char *extra);

#endif
