// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * sm-man TEMPLATE UAPI-HEADER DATE: a manual page from its template.
 *
 * The tables a page lists (the SPLICEMSG_* variables, the paths, the
 * fallback reasons, the counters, the module's sysfs counters) and the
 * module's ABI structs are the ones the code is built from: the X-macro
 * files and include/uapi/linux/splicemsg.h.  A template line that is
 * exactly "@SM_GEN name@" becomes that table, "@SM_STRUCT name@" the
 * struct's definition; @VERSION@, @DATE@ and @LIBDIR@ are replaced
 * anywhere.  Run at build time only, never installed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "counters.h"

#ifndef SM_LIBDIR
#error "compile with -DSM_LIBDIR"
#endif

struct row {
	const char *key, *doc;
};

static const struct row paths[] = {
#define SM_PATH(key, name, doc) { #key, doc },
#include "paths.def"
#undef SM_PATH
};
static const struct row fallbacks[] = {
#define SM_FB(key, doc) { #key, doc },
#include "stats.def"
#undef SM_FB
};
static const struct row counters[] = {
#define SM_COUNTER(key, doc) { #key, doc },
#include "counters.def"
#undef SM_COUNTER
};
static const char *const kcounters[] = {
#define SM_KCOUNTER(name) #name,
#include "kmod/counters.def"
#undef SM_KCOUNTER
};

static const struct {
	const char *name, *type, *def, *doc;
} options[] = {
#define SM_OPT(n, type, def, doc) { #n, #type, def, doc },
#include "options.def"
#undef SM_OPT
};
static const struct {
	const char *type, *word;
} words[] = {
#define SM_OPT(n, type, def, doc)
#define SM_WORD(type, word, value) { #type, word },
#include "options.def"
#undef SM_WORD
#undef SM_OPT
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Filled text, as man pages are written: lines of at most 80 bytes, each
 * sentence on a line of its own, no escape of ours, and no line that
 * troff would take for a request.  Words go in as they are (@raw) or
 * with their backslashes escaped.
 */
#define SM_MAN_WIDTH 80
static int col;

static void put_word(const char *w, size_t len, int raw)
{
	static int sentence_end;
	size_t i;

	if (col && (sentence_end || col + 1 + len > SM_MAN_WIDTH)) {
		putchar('\n');
		col = 0;
	} else if (col) {
		putchar(' ');
		col++;
	}
	if (!col && (*w == '.' || *w == '\''))
		col += printf("\\&");
	for (i = 0; i < len; i++) {
		if (!raw && w[i] == '\\')
			col += printf("\\e");
		else
			col += putchar(w[i]) != EOF;
	}
	sentence_end = len > 1 && w[len - 1] == '.';
}

static void put_words(const char *s, int raw)
{
	size_t len;

	for (;;) {
		s += strspn(s, " ");
		len = strcspn(s, " ");
		if (!len)
			break;
		put_word(s, len, raw);
		s += len;
	}
}

static void put_end(void)
{
	if (col)
		putchar('\n');
	col = 0;
}

static void put_text(const char *s)
{
	put_words(s, 0);
	put_end();
}

static void put_rows(const struct row *rows, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		printf(".TP\n.B %s\n", rows[i].key);
		put_text(rows[i].doc);
	}
}

static void put_options(void)
{
	char buf[1024];
	size_t i, j, off;

	for (i = 0; i < ARRAY_SIZE(options); i++) {
		const char *sep = "; one of ";

		printf(".TP\n.B SPLICEMSG_%s\n", options[i].name);
		if (*options[i].def)
			off = snprintf(buf, sizeof(buf), "Default \\fB%s\\fR",
				       options[i].def);
		else
			off = snprintf(buf, sizeof(buf), "Default empty");
		for (j = 0; j < ARRAY_SIZE(words) && off < sizeof(buf); j++) {
			if (strcmp(words[j].type, options[i].type))
				continue;
			off += snprintf(buf + off, sizeof(buf) - off,
					"%s\\fB%s\\fR", sep, words[j].word);
			sep = ", ";
		}
		if (off < sizeof(buf))
			snprintf(buf + off, sizeof(buf) - off, ".");
		put_words(buf, 1);
		put_text(options[i].doc);
	}
}

static void put_kcounters(void)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(kcounters); i++)
		printf(".BR %s %s\n", kcounters[i],
		       i + 1 < ARRAY_SIZE(kcounters) ? "," : ".");
}

static int put_gen(const char *name)
{
	if (!strcmp(name, "options"))
		put_options();
	else if (!strcmp(name, "paths"))
		put_rows(paths, ARRAY_SIZE(paths));
	else if (!strcmp(name, "fallbacks"))
		put_rows(fallbacks, ARRAY_SIZE(fallbacks));
	else if (!strcmp(name, "counters"))
		put_rows(counters, ARRAY_SIZE(counters));
	else if (!strcmp(name, "kcounters"))
		put_kcounters();
	else
		return -1;
	return 0;
}

/* The definition of struct @name in @header, tabs expanded, as an example. */
static int put_struct(const char *header, const char *name)
{
	char start[128], line[512];
	int found = 0, pos;
	FILE *f;

	snprintf(start, sizeof(start), "struct %s {", name);
	f = fopen(header, "r");
	if (!f) {
		perror(header);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		const char *c;

		if (!found && strncmp(line, start, strlen(start)))
			continue;
		if (!found)
			printf(".IP\n.EX\n");
		found = 1;
		for (c = line, pos = 0; *c && *c != '\n'; c++) {
			if (*c == '\t') {
				do
					putchar(' ');
				while (++pos % 8);
				continue;
			}
			if (*c == '\\')
				fputs("\\e", stdout);
			else
				putchar(*c);
			pos++;
		}
		putchar('\n');
		if (!strncmp(line, "};", 2))
			break;
	}
	fclose(f);
	if (!found)
		return -1;
	printf(".EE\n");
	return 0;
}

/* @line with @VERSION@, @DATE@ and @LIBDIR@ replaced. */
static void put_line(const char *line, const char *date)
{
	static const char *const keys[] = { "@VERSION@", "@DATE@", "@LIBDIR@" };
	const char *vals[] = { PACKAGE_VERSION, date, SM_LIBDIR };
	size_t i;

	while (*line) {
		for (i = 0; i < ARRAY_SIZE(keys); i++)
			if (!strncmp(line, keys[i], strlen(keys[i])))
				break;
		if (i < ARRAY_SIZE(keys)) {
			fputs(vals[i], stdout);
			line += strlen(keys[i]);
		} else {
			putchar(*line++);
		}
	}
}

int main(int argc, char **argv)
{
	char line[1024], name[64];
	FILE *in;
	int err = 0;

	if (argc != 4) {
		fprintf(stderr, "usage: sm-man TEMPLATE UAPI-HEADER DATE\n");
		return 2;
	}
	in = fopen(argv[1], "r");
	if (!in) {
		perror(argv[1]);
		return 1;
	}
	while (!err && fgets(line, sizeof(line), in)) {
		if (sscanf(line, "@SM_GEN %63[a-z]@", name) == 1)
			err = put_gen(name);
		else if (sscanf(line, "@SM_STRUCT %63[a-z_]@", name) == 1)
			err = put_struct(argv[2], name);
		else
			put_line(line, argv[3]);
		if (err)
			fprintf(stderr, "sm-man: %s: cannot expand %s", argv[1],
				line);
	}
	fclose(in);
	if (fflush(stdout) || ferror(stdout))
		err = -1;
	return err ? 1 : 0;
}
