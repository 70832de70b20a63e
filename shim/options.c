// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * SPLICEMSG_* options: parsed once, in the constructor, from the table in
 * options.def.  Strings are copied: nginx rewrites its environment block for
 * its process title, so pointers into it turn to garbage later.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sm.h"

struct sm_options sm_opt;

/* Every accepted word of every enumerated type (options.def). */
static const struct sm_word {
	const char *type;
	const char *word;
	int value;
} words[] = {
#define SM_OPT(n, type, def, doc)
#define SM_WORD(type, word, value) { #type, word, value },
#include "options.def"
#undef SM_WORD
#undef SM_OPT
};

static int parse_word(const char *type, const char *s, int *out)
{
	size_t i;

	for (i = 0; i < SM_ARRAY_SIZE(words); i++) {
		if (!strcmp(words[i].type, type) &&
		    !strcasecmp(words[i].word, s)) {
			*out = words[i].value;
			return 0;
		}
	}
	return -EINVAL;
}

const char *sm_options_word(const char *type, int value)
{
	size_t i;

	for (i = 0; i < SM_ARRAY_SIZE(words); i++)
		if (!strcmp(words[i].type, type) && words[i].value == value)
			return words[i].word;
	return "?";
}

static int parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;
	int shift = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	}
	if (*end || (shift && v > (ULLONG_MAX >> shift)))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

#define SM_PARSE_BOOL(p, s) parse_word("BOOL", s, p)
#define SM_PARSE_ENGINE(p, s) parse_word("ENGINE", s, p)
#define SM_PARSE_ZC(p, s) parse_word("ZC", s, p)
#define SM_PARSE_LEVEL(p, s) parse_word("LEVEL", s, p)
#define SM_PARSE_SIZE(p, s) parse_size(s, p)
static int parse_str(char **p, const char *s)
{
	char *copy = strdup(s);

	if (!copy)
		return -ENOMEM;
	free(*p);
	*p = copy;
	return 0;
}
#define SM_PARSE_STR(p, s) parse_str(p, s)

int sm_options_parse(struct sm_options *o, const char *name,
		     const char *value)
{
#define SM_OPT(n, type, def, doc)					\
	if (!strcmp(name, #n))						\
		return SM_PARSE_##type(&o->n, value);
#include "options.def"
#undef SM_OPT
	return -ENOENT;
}

void sm_options_defaults(struct sm_options *o)
{
	/* Defaults come from the same table, so they cannot disagree. */
#define SM_OPT(n, type, def, doc) sm_options_parse(o, #n, def);
#include "options.def"
#undef SM_OPT
}

void sm_options_free(struct sm_options *o)
{
	free(o->ONLY);
	free(o->SKIP);
	free(o->LOG_FILE);
	free(o->STATS);
	memset(o, 0, sizeof(*o));
}

void sm_options_load(struct sm_options *o)
{
	static const char *const names[] = {
#define SM_OPT(n, type, def, doc) #n,
#include "options.def"
#undef SM_OPT
	};
	const char *bad[SM_ARRAY_SIZE(names)];
	const char *badval[SM_ARRAY_SIZE(names)];
	size_t i, nbad = 0;
	char var[64];

	sm_options_defaults(o);
	for (i = 0; i < SM_ARRAY_SIZE(names); i++) {
		const char *v;

		snprintf(var, sizeof(var), "SPLICEMSG_%s", names[i]);
		v = getenv(var);
		if (!v || !*v)
			continue;
		if (sm_options_parse(o, names[i], v) < 0) {
			bad[nbad] = names[i];
			badval[nbad++] = v;
		}
	}
	/* Warn only now that LOG and LOG_FILE are known. */
	sm_log_open();
	for (i = 0; i < nbad; i++)
		sm_warn("SPLICEMSG_%s=%s is not valid; using the default",
			bad[i], badval[i]);
}

static bool list_has(const char *list, const char *prog)
{
	size_t n = strlen(prog);
	const char *p = list;

	while (p && *p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len == n && !strncmp(p, prog, n))
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

bool sm_options_selects(const struct sm_options *o, const char *prog)
{
	if (!o->ENABLE)
		return false;
	if (o->ONLY && *o->ONLY && !list_has(o->ONLY, prog))
		return false;
	if (o->SKIP && *o->SKIP && list_has(o->SKIP, prog))
		return false;
	return true;
}

int sm_expand_path(char *out, size_t len, const char *pattern, pid_t pid)
{
	size_t o = 0;
	const char *p;

	for (p = pattern; *p; p++) {
		char num[24];
		const char *add = num;
		size_t alen;

		if (p[0] == '%' && p[1] == 'p') {
			snprintf(num, sizeof(num), "%ld", (long)pid);
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			num[0] = '%';
			num[1] = 0;
			p++;
		} else {
			num[0] = *p;
			num[1] = 0;
		}
		alen = strlen(add);
		if (o + alen >= len)
			return -ENAMETOOLONG;
		memcpy(out + o, add, alen);
		o += alen;
	}
	if (o >= len)
		return -ENAMETOOLONG;
	out[o] = 0;
	return 0;
}
