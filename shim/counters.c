// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * The counters' names and their JSON, linked into the library and into
 * splicemsg-stat, so that both write the same object (counters.h).
 */
#include <stdarg.h>
#include <stdio.h>

#include "counters.h"

const char *const sm_path_names[SM_PATH_MAX] = {
#define SM_PATH(key, name, doc) [SM_PATH_##name] = #key,
#include "paths.def"
#undef SM_PATH
};
const char *const sm_path_docs[SM_PATH_MAX] = {
#define SM_PATH(key, name, doc) [SM_PATH_##name] = doc,
#include "paths.def"
#undef SM_PATH
};
const char *const sm_fallback_names[SM_FB_MAX] = {
#define SM_FB(key, doc) [SM_FB_##key] = #key,
#include "stats.def"
#undef SM_FB
};
const char *const sm_fallback_docs[SM_FB_MAX] = {
#define SM_FB(key, doc) [SM_FB_##key] = doc,
#include "stats.def"
#undef SM_FB
};
const char *const sm_sock_names[SM_SOCK_MAX] = { "tcp", "unix", "other" };

static void put(char *buf, size_t len, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void put(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf + (*off < len ? *off : len),
		      *off < len ? len - *off : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off += n;
}

/* Counters are read while the process counts: one relaxed load each. */
static unsigned long long get(const uint64_t *v)
{
	return __atomic_load_n(v, __ATOMIC_RELAXED);
}

static void put_map(char *buf, size_t len, size_t *off, const char *name,
		    const char *const *keys, const uint64_t *vals, int n)
{
	int i;

	put(buf, len, off, ",\"%s\":{", name);
	for (i = 0; i < n; i++)
		put(buf, len, off, "%s\"%s\":%llu", i ? "," : "", keys[i],
		    get(&vals[i]));
	put(buf, len, off, "}");
}

/*
 * A JSON string's contents: a program may be called anything, and comm is
 * cut at 15 bytes, maybe inside a character.  Whole UTF-8 sequences are
 * kept, broken ones replaced.
 */
static void put_escaped(char *buf, size_t len, size_t *off, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	int n, k;

	while (*u) {
		if (*u == '"' || *u == '\\') {
			put(buf, len, off, "\\%c", *u++);
			continue;
		}
		if (*u < 0x20 || *u == 0x7f) {
			put(buf, len, off, "\\u%04x", *u++);
			continue;
		}
		if (*u < 0x80) {
			put(buf, len, off, "%c", *u++);
			continue;
		}
		n = *u >= 0xf0 && *u < 0xf5 ? 4 :
		    *u >= 0xe0 ? 3 : *u >= 0xc2 && *u < 0xe0 ? 2 : 0;
		for (k = 1; k < n && (u[k] & 0xc0) == 0x80; k++)
			;
		if (!n || k < n) {
			put(buf, len, off, "\\ufffd");
			u += n ? k : 1;
			continue;
		}
		put(buf, len, off, "%.*s", n, (const char *)u);
		u += n;
	}
}

int sm_counters_json(char *buf, size_t len, const struct sm_counters *c,
		     long pid, const char *program, const char *engine,
		     const char *extra)
{
	size_t off = 0;

	put(buf, len, &off, "{\"version\":%d,\"pid\":%ld,\"program\":\"",
	    SM_STATS_VERSION, pid);
	put_escaped(buf, len, &off, program);
	put(buf, len, &off, "\"");
	if (engine)
		put(buf, len, &off, ",\"engine\":\"%s\"", engine);
	put_map(buf, len, &off, "calls_by_path", sm_path_names, c->calls,
		SM_PATH_MAX);
	put_map(buf, len, &off, "bytes_by_path", sm_path_names, c->bytes,
		SM_PATH_MAX);
	put_map(buf, len, &off, "fallbacks", sm_fallback_names, c->fallbacks,
		SM_FB_MAX);
	put_map(buf, len, &off, "calls_by_socket", sm_sock_names,
		c->calls_by_socket, SM_SOCK_MAX);
#define SM_COUNTER(key, doc) \
	put(buf, len, &off, ",\"" #key "\":%llu", get(&c->key));
#include "counters.def"
#undef SM_COUNTER
	put(buf, len, &off, "%s}\n", extra ? extra : "");
	return (int)off;
}
