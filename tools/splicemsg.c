// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * splicemsg [options] [--] COMMAND [ARGS...]
 *
 * Runs COMMAND with libsplicemsg preloaded, in the manner of libeatmydata's
 * eatmydata and OpenOnload's onload.  The library is prepended to
 * LD_PRELOAD, never substituted for it, so whatever the user already
 * preloads keeps working.  An option sets its SPLICEMSG_* variable because
 * the user asked for it on this command line; without the option a value
 * already in the environment is left alone.
 *
 * The variables, their defaults and their documentation come from
 * shim/options.def, the same table the library parses, so `splicemsg doc`
 * and `splicemsg -v` cannot drift from what the library does.  Only libc is
 * used: the wrapper must work wherever the library can be preloaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/splicemsg.h>

#include "replace.h"

#ifndef PACKAGE_VERSION
#error "compile with -include config.h (PACKAGE_VERSION)"
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define SM_LIB_NAME "libsplicemsg.so"
/*
 * Where libtool leaves the library, from the build tree's top.  Installed,
 * the file is the SONAME's (config.h): the unversioned name is the
 * development package's link-time symlink, absent where only the library
 * is installed.
 */
#define SM_BUILD_LIB "/shim/.libs/" SM_LIB_NAME

/* Exit codes: the shell's for exec failures, 2 for usage errors. */
enum {
	SM_EXIT_ERROR = 1,
	SM_EXIT_USAGE = 2,
	SM_EXIT_NOEXEC = 126,
	SM_EXIT_NOTFOUND = 127,
};

/* Accepted words of the enumerated types: options.def's, as parsed. */
static const struct {
	const char *type;
	const char *word;
} sm_words[] = {
#define SM_OPT(n, type, def, doc)
#define SM_WORD(type, word, value) { #type, word },
#include "options.def"
#undef SM_WORD
#undef SM_OPT
};
#define SM_WORDS (sizeof(sm_words) / sizeof(sm_words[0]))

/* A type with words is checked here; the others are the library's. */
static bool has_words(const char *type)
{
	size_t i;

	for (i = 0; i < SM_WORDS; i++)
		if (!strcmp(sm_words[i].type, type))
			return true;
	return false;
}

enum sm_var_id {
#define SM_OPT(n, type, def, doc) SM_VAR_##n,
#include "options.def"
#undef SM_OPT
	SM_VAR_COUNT
};

struct sm_var {
	const char *name;		/* without "SPLICEMSG_" */
	const char *def;
	const char *doc;
	const char *type;		/* its words: sm_words[] */
};

static const struct sm_var sm_vars[SM_VAR_COUNT] = {
#define SM_OPT(n, type, def, doc) \
	[SM_VAR_##n] = { #n, def, doc, #type },
#include "options.def"
#undef SM_OPT
};

/*
 * Command-line options.  Those that set a variable have val SM_OPT_VAR +
 * its id, so the compiler checks the names against options.def and the
 * one table drives both parsing and --help.
 */
enum {
	SM_OPT_HELP = 256,
	SM_OPT_VERBOSE,
	SM_OPT_VERSION,
	SM_OPT_WRITE,
	SM_OPT_ROOT,
	SM_OPT_VAR = 512,
};

/* The options that set a variable: the wrapper's and systemd-dropin's. */
#define SM_VAR_LONGOPTS \
	{ "engine", required_argument, NULL, SM_OPT_VAR + SM_VAR_ENGINE }, \
	{ "zc", required_argument, NULL, SM_OPT_VAR + SM_VAR_ZC }, \
	{ "stats", required_argument, NULL, SM_OPT_VAR + SM_VAR_STATS }, \
	{ "only", required_argument, NULL, SM_OPT_VAR + SM_VAR_ONLY }, \
	{ "log", required_argument, NULL, SM_OPT_VAR + SM_VAR_LOG }, \
	{ "log-file", required_argument, NULL, SM_OPT_VAR + SM_VAR_LOG_FILE }

static const struct option sm_longopts[] = {
	SM_VAR_LONGOPTS,
	{ "verbose", no_argument, NULL, SM_OPT_VERBOSE },
	{ "help", no_argument, NULL, SM_OPT_HELP },
	{ "version", no_argument, NULL, SM_OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

/* "+": stop at the command, whose own options are not ours. */
static const char sm_shortopts[] = "+:hv";

/* The options that set a variable, one line each, with their words. */
static void print_var_options(FILE *f)
{
	const struct option *o;

	for (o = sm_longopts; o->name; o++) {
		const struct sm_var *v;
		char flag[32];
		size_t i, n = 0;

		if (o->val < SM_OPT_VAR)
			continue;
		v = &sm_vars[o->val - SM_OPT_VAR];
		snprintf(flag, sizeof(flag), "--%s=%s", o->name,
			 has_words(v->type) ? "WORD" : "VALUE");
		fprintf(f, "  %-18s SPLICEMSG_%s", flag, v->name);
		for (i = 0; i < SM_WORDS; i++)
			if (!strcmp(sm_words[i].type, v->type))
				fprintf(f, "%s%s", n++ ? "|" : ": ",
					sm_words[i].word);
		fputc('\n', f);
	}
}

static void print_usage(FILE *f)
{
	fprintf(f,
		"usage: splicemsg [options] [--] COMMAND [ARGS...]\n"
		"       splicemsg doc [stats]\n"
		"       splicemsg systemd-dropin SERVICE [options] [--write]\n"
		"\n"
		"Run COMMAND with libsplicemsg prepended to LD_PRELOAD.  An\n"
		"option sets its variable; without it, a value already in the\n"
		"environment is kept.\n"
		"\n");
	print_var_options(f);
	fprintf(f,
		"  -v, --verbose      print the library and every variable's\n"
		"                     effective value to stderr, then run\n"
		"  -h, --help         this text\n"
		"  --version          the version, and the kernel module's\n"
		"\n"
		"`splicemsg doc` describes every SPLICEMSG_* variable, and\n"
		"`splicemsg doc stats` every key of the statistics; a\n"
		"program called doc runs as `splicemsg -- doc`.\n"
		"`splicemsg systemd-dropin --help`: the same for a service.\n"
		"\n"
		"The library preloaded is the first found of:\n"
		"  $SPLICEMSG_LIB\n"
		"  ../shim/.libs/" SM_LIB_NAME " from this program's\n"
		"  directory (the build tree's)\n"
#ifdef SM_LIBDIR
		"  " SM_LIBDIR "/" SM_LIB_SONAME "\n"
#endif
		"\n"
		"Exit status: COMMAND's, 127 if it is not found, 126 if it\n"
		"cannot run, 2 for a usage error, 1 for any other error.\n");
}

static void print_wrapped(const char *text, int indent, int width)
{
	const char *p = text;
	int col = 0;

	while (*p) {
		int len;

		while (*p == ' ')
			p++;
		len = strcspn(p, " ");
		if (!len)
			break;
		/* A word wider than the line still gets a line to itself. */
		if (col && col + 1 + len > width) {
			putchar('\n');
			col = 0;
		}
		if (!col)
			col = printf("%*s", indent, "");
		else
			col += printf(" ");
		col += printf("%.*s", len, p);
		p += len;
	}
	if (col)
		putchar('\n');
}

static int cmd_doc(void)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(sm_vars); i++) {
		const struct sm_var *v = &sm_vars[i];

		/* Quotes keep an empty default visible. */
		if (*v->def)
			printf("SPLICEMSG_%s (default: %s)\n", v->name, v->def);
		else
			printf("SPLICEMSG_%s (default: \"\")\n", v->name);
		print_wrapped(v->doc, 4, 76);
	}
	return fflush(stdout) ? SM_EXIT_ERROR : 0;
}

/*
 * `splicemsg doc stats`: the keys of the statistics (SPLICEMSG_STATS, the
 * live files, splicemsg-stat), from the library's own tables.
 */
static int cmd_doc_stats(void)
{
	static const struct {
		const char *group, *key, *doc;
	} keys[] = {
#define SM_PATH(key, name, doc) { "calls_by_path, bytes_by_path", #key, doc },
#include "paths.def"
#undef SM_PATH
#define SM_FB(key, doc) { "fallbacks", #key, doc },
#include "stats.def"
#undef SM_FB
#define SM_COUNTER(key, doc) { "counters", #key, doc },
#include "counters.def"
#undef SM_COUNTER
	};
	const char *group = "";
	size_t i;

	for (i = 0; i < ARRAY_SIZE(keys); i++) {
		if (strcmp(keys[i].group, group))
			printf("%s:\n", group = keys[i].group);
		printf("  %s\n", keys[i].key);
		print_wrapped(keys[i].doc, 6, 76);
	}
	return fflush(stdout) ? SM_EXIT_ERROR : 0;
}

static int kmod_version(struct splicemsg_version *ver)
{
	int fd, ret = 0;

	fd = open(SPLICEMSG_DEVICE, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(ver, 0, sizeof(*ver));
	ver->size = sizeof(*ver);
	if (ioctl(fd, SPLICEMSG_IOC_VERSION, ver) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static int cmd_version(void)
{
	struct splicemsg_version ver;
	int ret;

	printf("splicemsg %s\n", PACKAGE_VERSION);
	ret = kmod_version(&ver);
	if (!ret) {
		/* each name beside the ABI's bit, so neither can move alone */
		static const struct {
			unsigned long long bit;
			const char *name;
		} feats[] = {
			{ SPLICEMSG_FEAT_TCP, "tcp" },
			{ SPLICEMSG_FEAT_UDP, "udp" },
			{ SPLICEMSG_FEAT_UNIX, "unix" },
			{ SPLICEMSG_FEAT_URING_CMD, "uring_cmd" },
			{ SPLICEMSG_FEAT_HDTR, "hdtr" },
			{ SPLICEMSG_FEAT_STAGE, "stage" },
			{ SPLICEMSG_FEAT_OFFPTR, "offptr" },
			{ SPLICEMSG_FEAT_REG, "reg" },
		};
		unsigned long long rest = ver.features;
		unsigned int i;

		printf("module api %u, features 0x%llx (",
		       ver.api_version, (unsigned long long)ver.features);
		for (i = 0; i < sizeof(feats) / sizeof(feats[0]); i++)
			if (ver.features & feats[i].bit) {
				printf(" %s", feats[i].name);
				rest &= ~feats[i].bit;
			}
		/* a newer module's bits this tool has no name for */
		if (rest)
			printf(" 0x%llx", rest);
		printf(" ), max_count %llu\n",
		       (unsigned long long)ver.max_count);
	} else
		printf("module: not loaded (%s: %s)\n", SPLICEMSG_DEVICE,
		       strerror(-ret));
	return fflush(stdout) ? SM_EXIT_ERROR : 0;
}

/* Copies @path into @buf (PATH_MAX), made absolute, if it names a file. */
static int lib_try(char *buf, const char *path)
{
	struct stat st;
	int n;

	if (path[0] == '/') {
		n = snprintf(buf, PATH_MAX, "%s", path);
	} else {
		char cwd[PATH_MAX];

		if (!getcwd(cwd, sizeof(cwd)))
			return -errno;
		n = snprintf(buf, PATH_MAX, "%s/%s", cwd, path);
	}
	if (n >= PATH_MAX)
		return -ENAMETOOLONG;
	if (stat(buf, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? -EISDIR : 0;
}

/* The build tree's top is the directory above the one holding this binary. */
static int lib_build_tree(char *buf)
{
	char exe[PATH_MAX];
	char *slash;
	ssize_t n;
	int i;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return -errno;
	if (n >= (ssize_t)sizeof(exe) - 1)
		return -ENAMETOOLONG;
	exe[n] = 0;
	for (i = 0; i < 2; i++) {
		slash = strrchr(exe, '/');
		if (!slash)
			return -ENOENT;
		*slash = 0;
	}
	if (strlen(exe) + sizeof(SM_BUILD_LIB) > PATH_MAX)
		return -ENAMETOOLONG;
	strcat(exe, SM_BUILD_LIB);
	return lib_try(buf, exe);
}

/* ld.so splits LD_PRELOAD at both. */
#define SM_PRELOAD_SEPS ": "

static int lib_check(const char *lib)
{
	if (!lib[strcspn(lib, SM_PRELOAD_SEPS)])
		return 0;
	fprintf(stderr, "splicemsg: %s: LD_PRELOAD cannot hold ':' or ' '\n",
		lib);
	return -EINVAL;
}

/*
 * Finds the library: $SPLICEMSG_LIB, the build tree, the install
 * directory.  The build tree first: an installed wrapper never has
 * ../shim/.libs beside it, and a wrapper run from the build tree must
 * preload the library built with it, not an older installed one.  An
 * explicit $SPLICEMSG_LIB that names nothing is an error rather than a
 * reason to preload some other copy.  Sets *@from for -v.
 */
static int lib_find(char *buf, const char **from)
{
	const char *env = getenv("SPLICEMSG_LIB");
	int ret;

	if (env && *env) {
		*from = "$SPLICEMSG_LIB";
		ret = lib_try(buf, env);
		if (ret) {
			fprintf(stderr, "splicemsg: SPLICEMSG_LIB=%s: %s\n",
				env, strerror(-ret));
			return ret;
		}
		return lib_check(buf);
	}
	*from = "build tree";
	if (!lib_build_tree(buf))
		return lib_check(buf);
#ifdef SM_LIBDIR
	*from = "install directory";
	if (!lib_try(buf, SM_LIBDIR "/" SM_LIB_SONAME))
		return lib_check(buf);
#endif
	fprintf(stderr, "splicemsg: cannot find %s; set SPLICEMSG_LIB\n",
		SM_LIB_NAME);
	return -ENOENT;
}

/*
 * Is @lib already in @list?  The same spelling, or another path to the
 * same file: preloading one library twice would interpose twice.
 */
static bool preload_has(const char *list, const char *lib)
{
	struct stat lst, st;
	bool have_st = !stat(lib, &lst);
	char entry[PATH_MAX];
	const char *p = list;

	while (*p) {
		size_t len = strcspn(p, SM_PRELOAD_SEPS);

		if (len && len < sizeof(entry)) {
			memcpy(entry, p, len);
			entry[len] = 0;
			if (!strcmp(entry, lib))
				return true;
			/* Without a '/' ld.so searches; that is not a path. */
			if (have_st && strchr(entry, '/') &&
			    !stat(entry, &st) && st.st_dev == lst.st_dev &&
			    st.st_ino == lst.st_ino)
				return true;
		}
		p += len;
		if (*p)
			p++;
	}
	return false;
}

static int preload_add(const char *lib)
{
	const char *old = getenv("LD_PRELOAD");
	char *val;
	int ret = 0;

	if (!old || !*old)
		return setenv("LD_PRELOAD", lib, 1) ? -errno : 0;
	if (preload_has(old, lib))
		return 0;
	if (asprintf(&val, "%s:%s", lib, old) < 0)
		return -ENOMEM;
	if (setenv("LD_PRELOAD", val, 1))
		ret = -errno;
	free(val);
	return ret;
}

static bool word_ok(const char *type, const char *s)
{
	size_t i;

	for (i = 0; i < SM_WORDS; i++)
		if (!strcmp(sm_words[i].type, type) &&
		    !strcasecmp(sm_words[i].word, s))
			return true;
	return false;
}

/* Enumerated values are checked here, before anything runs. */
static int opt_set(const char **values, enum sm_var_id id, const char *arg)
{
	const struct sm_var *v = &sm_vars[id];

	if (has_words(v->type) && !word_ok(v->type, arg)) {
		fprintf(stderr, "splicemsg: %s is not a valid SPLICEMSG_%s\n",
			arg, v->name);
		return -EINVAL;
	}
	values[id] = arg;
	return 0;
}

/* The environment COMMAND gets: the library, then what options set. */
static int env_setup(const char *lib, const char *const *values)
{
	char name[64];
	size_t i;
	int ret;

	ret = preload_add(lib);
	for (i = 0; !ret && i < SM_VAR_COUNT; i++) {
		if (!values[i])
			continue;
		snprintf(name, sizeof(name), "SPLICEMSG_%s", sm_vars[i].name);
		if (setenv(name, values[i], 1))
			ret = -errno;
	}
	return ret;
}

/* After the options are applied, so it shows what COMMAND will see. */
static void print_config(const char *lib, const char *from,
			 const char *const *values, char *const *cmd)
{
	const char *preload = getenv("LD_PRELOAD");
	char *const *a;
	size_t i;

	fprintf(stderr, "splicemsg: library %s (from %s)\n", lib, from);
	fprintf(stderr, "splicemsg: LD_PRELOAD=%s\n", preload ? preload : "");
	for (i = 0; i < ARRAY_SIZE(sm_vars); i++) {
		const struct sm_var *v = &sm_vars[i];
		char name[64];
		const char *val;

		snprintf(name, sizeof(name), "SPLICEMSG_%s", v->name);
		val = getenv(name);
		/* The library, too, takes an empty value as unset. */
		if (!val || !*val)
			fprintf(stderr, "splicemsg: %s=%s (default)\n", name,
				v->def);
		else
			fprintf(stderr, "splicemsg: %s=%s (%s)\n", name, val,
				values[i] ? "option" : "environment");
	}
	fprintf(stderr, "splicemsg: exec");
	for (a = cmd; *a; a++)
		fprintf(stderr, " %s", *a);
	fputc('\n', stderr);
}

static int try_help(void)
{
	fprintf(stderr, "Try 'splicemsg --help'.\n");
	return SM_EXIT_USAGE;
}

/*
 * getopt_long() has moved past a bad long option, so it is the previous
 * word; a bad short one may sit inside a cluster, so only optopt names it.
 */
static int bad_option(int c, char **argv)
{
	if (c == ':')
		fprintf(stderr, "splicemsg: %s needs a value\n",
			argv[optind - 1]);
	else if (optopt && optopt < SM_OPT_HELP)
		fprintf(stderr, "splicemsg: unknown option -%c\n", optopt);
	else if (optopt && optopt < SM_OPT_VAR)
		fprintf(stderr, "splicemsg: %s: that option takes no value\n",
			argv[optind - 1]);
	else
		fprintf(stderr, "splicemsg: unknown or ambiguous option %s\n",
			argv[optind - 1]);
	return try_help();
}

/*
 * What both parsers (the wrapper's, systemd-dropin's) do with any option
 * but their own: an option that sets a variable, or a bad one.  Returns 0
 * or the exit status.
 */
static int opt_other(int opt, char **argv, const char **values)
{
	if (opt < SM_OPT_VAR)
		return bad_option(opt, argv);
	return opt_set(values, opt - SM_OPT_VAR, optarg) ? try_help() : 0;
}

/* ---- splicemsg systemd-dropin ----------------------------------------- */

/*
 * A systemd drop-in that does for a service what the wrapper does for a
 * command: LD_PRELOAD and the variables the options set, parsed by the
 * same table.  The library is the installed one (a unit must not name a
 * build tree), or $SPLICEMSG_LIB.  systemd cannot prepend to a variable,
 * so the drop-in's LD_PRELOAD replaces one the unit sets itself (the
 * manual page says so).
 */
#define SM_DROPIN_DIR "/etc/systemd/system"
#define SM_DROPIN_NAME "splicemsg.conf"
#define SM_UNIT_SUFFIX ".service"
/* systemd's UNIT_NAME_MAX, less nothing: the name includes the suffix. */
#define SM_UNIT_NAME_MAX 255

static const struct option sm_dropin_longopts[] = {
	SM_VAR_LONGOPTS,
	{ "write", no_argument, NULL, SM_OPT_WRITE },
	{ "root", required_argument, NULL, SM_OPT_ROOT },
	{ "help", no_argument, NULL, SM_OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static void print_dropin_usage(FILE *f)
{
	fprintf(f,
		"usage: splicemsg systemd-dropin SERVICE [options]\n"
		"\n"
		"Print a systemd drop-in that runs SERVICE under\n"
		"libsplicemsg: LD_PRELOAD and what these options set.\n"
		"\n");
	print_var_options(f);
	fprintf(f,
		"  --write            install it as " SM_DROPIN_DIR "/\n"
		"                     SERVICE.service.d/" SM_DROPIN_NAME "\n"
		"  --root=DIR         with --write, under DIR instead of /\n"
		"  -h, --help         this text\n"
		"\n"
		"LD_PRELOAD names $SPLICEMSG_LIB if set, else\n"
#ifdef SM_LIBDIR
		SM_LIBDIR "/" SM_LIB_SONAME ".\n"
#else
		"nothing: set SPLICEMSG_LIB.\n"
#endif
		"Then: systemctl daemon-reload && systemctl restart SERVICE\n");
}

/* @arg as a service's unit name, "NAME.service", in @buf. */
static int unit_name(char *buf, size_t len, const char *arg)
{
	size_t n = strlen(arg), sfx = strlen(SM_UNIT_SUFFIX), i;

	if (n > sfx && !strcmp(arg + n - sfx, SM_UNIT_SUFFIX))
		n -= sfx;
	if (!n || n + sfx > SM_UNIT_NAME_MAX || n + sfx >= len)
		return -EINVAL;
	/* systemd's unit name characters; never a '/'. */
	for (i = 0; i < n; i++) {
		char c = arg[i];

		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
		    !(c >= '0' && c <= '9') && !strchr(":-_.\\@", c))
			return -EINVAL;
	}
	memcpy(buf, arg, n);
	strcpy(buf + n, SM_UNIT_SUFFIX);
	return 0;
}

/*
 * One Environment= line.  Inside double quotes systemd takes C escapes,
 * so '\' and '"' are escaped, and expands %-specifiers, so a literal '%'
 * (SPLICEMSG_STATS's %p, for the library to expand) is "%%".
 */
static void put_env(FILE *f, const char *name, const char *val)
{
	const char *c;

	fprintf(f, "Environment=\"%s=", name);
	for (c = val; *c; c++) {
		if (*c == '\\' || *c == '"')
			fputc('\\', f);
		else if (*c == '%')
			fputc('%', f);
		fputc(*c, f);
	}
	fputs("\"\n", f);
}

/* A value a unit file can hold: one line, no control characters. */
static bool env_value_ok(const char *val)
{
	const unsigned char *c;

	for (c = (const unsigned char *)val; *c; c++)
		if (*c < 0x20 || *c == 0x7f)
			return false;
	return true;
}

/* The drop-in, in a malloc'd string at *@out. */
static int dropin_text(char **out, const char *unit, const char *lib,
		       const char *const *values)
{
	size_t len, i;
	char name[64];
	FILE *f;

	f = open_memstream(out, &len);
	if (!f)
		return -errno;
	fprintf(f,
		"# libsplicemsg for %s, by splicemsg systemd-dropin (%s).\n"
		"# Then: systemctl daemon-reload && systemctl restart %s\n"
		"[Service]\n", unit, PACKAGE_VERSION, unit);
	put_env(f, "LD_PRELOAD", lib);
	for (i = 0; i < SM_VAR_COUNT; i++) {
		if (!values[i])
			continue;
		snprintf(name, sizeof(name), "SPLICEMSG_%s", sm_vars[i].name);
		put_env(f, name, values[i]);
	}
	if (fclose(f))
		return -errno;
	return 0;
}

/* mkdir -p @path (modified in place, restored). */
static int mkdir_p(char *path)
{
	char *slash;

	for (slash = strchr(path + 1, '/'); ; slash = strchr(slash + 1, '/')) {
		if (slash)
			*slash = 0;
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			int err = -errno;

			if (slash)
				*slash = '/';
			return err;
		}
		if (!slash)
			return 0;
		*slash = '/';
	}
}

static int cmd_dropin(int argc, char **argv)
{
	const char *values[SM_VAR_COUNT] = { NULL };
	const char *root = NULL, *lib = getenv("SPLICEMSG_LIB");
	char unit[SM_UNIT_NAME_MAX + 1], dir[PATH_MAX], path[PATH_MAX], *text;
	bool write_it = false;
	struct stat st;
	int opt, err;
	size_t i;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", sm_dropin_longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 'h':
		case SM_OPT_HELP:
			print_dropin_usage(stdout);
			return 0;
		case SM_OPT_WRITE:
			write_it = true;
			break;
		case SM_OPT_ROOT:
			root = optarg;
			break;
		default:
			err = opt_other(opt, argv, values);
			if (err)
				return err;
			break;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr,
			"splicemsg: systemd-dropin takes one SERVICE\n");
		return try_help();
	}
	if (unit_name(unit, sizeof(unit), argv[optind])) {
		fprintf(stderr, "splicemsg: %s: not a service's name\n",
			argv[optind]);
		return try_help();
	}
	if (root && !write_it) {
		fprintf(stderr, "splicemsg: --root goes with --write\n");
		return try_help();
	}
	for (i = 0; i < SM_VAR_COUNT; i++) {
		if (values[i] && !env_value_ok(values[i])) {
			fprintf(stderr,
				"splicemsg: SPLICEMSG_%s: a unit file cannot hold control characters\n",
				sm_vars[i].name);
			return try_help();
		}
	}
	if (!lib || !*lib) {
#ifdef SM_LIBDIR
		lib = SM_LIBDIR "/" SM_LIB_SONAME;
#else
		fprintf(stderr,
			"splicemsg: no installed library; set SPLICEMSG_LIB\n");
		return SM_EXIT_ERROR;
#endif
	}
	if (lib[0] != '/' || !env_value_ok(lib) || lib_check(lib)) {
		fprintf(stderr,
			"splicemsg: %s: LD_PRELOAD in a unit needs an absolute path\n",
			lib);
		return SM_EXIT_ERROR;
	}
	if (snprintf(dir, sizeof(dir), "%s%s/%s.d", root ? root : "",
		     SM_DROPIN_DIR, unit) >= (int)sizeof(dir)) {
		fprintf(stderr, "splicemsg: --root: %s\n",
			strerror(ENAMETOOLONG));
		return SM_EXIT_ERROR;
	}
	/* Written before the library, maybe: a warning, not an error. */
	snprintf(path, sizeof(path), "%s%s", root ? root : "", lib);
	if (stat(path, &st) < 0)
		fprintf(stderr, "splicemsg: warning: %s: %s\n", path,
			strerror(errno));

	err = dropin_text(&text, unit, lib, values);
	if (err) {
		fprintf(stderr, "splicemsg: %s\n", strerror(-err));
		return SM_EXIT_ERROR;
	}
	if (!write_it) {
		fputs(text, stdout);
		free(text);
		return fflush(stdout) ? SM_EXIT_ERROR : 0;
	}
	err = mkdir_p(dir);
	if (!err && snprintf(path, sizeof(path), "%s/%s", dir,
			     SM_DROPIN_NAME) >= (int)sizeof(path))
		err = -ENAMETOOLONG;
	if (!err)
		err = sm_replace_file(path, text, strlen(text), 0644);
	free(text);
	if (err) {
		fprintf(stderr, "splicemsg: %s/%s: %s\n", dir, SM_DROPIN_NAME,
			strerror(-err));
		return SM_EXIT_ERROR;
	}
	printf("wrote %s/%s\n"
	       "now: systemctl daemon-reload && systemctl restart %s\n",
	       dir, SM_DROPIN_NAME, unit);
	return fflush(stdout) ? SM_EXIT_ERROR : 0;
}

int main(int argc, char **argv)
{
	const char *values[SM_VAR_COUNT] = { NULL };
	char lib[PATH_MAX];
	const char *from;
	bool verbose = false;
	int opt, ret;

	if (argc > 1 && !strcmp(argv[1], "doc")) {
		if (argc == 2)
			return cmd_doc();
		if (argc == 3 && !strcmp(argv[2], "stats"))
			return cmd_doc_stats();
		fprintf(stderr, "splicemsg: doc takes no argument but stats\n");
		return try_help();
	}
	if (argc > 1 && !strcmp(argv[1], "systemd-dropin"))
		return cmd_dropin(argc - 1, argv + 1);

	opterr = 0;
	while ((opt = getopt_long(argc, argv, sm_shortopts, sm_longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 'h':
		case SM_OPT_HELP:
			print_usage(stdout);
			return 0;
		case 'v':
		case SM_OPT_VERBOSE:
			verbose = true;
			break;
		case SM_OPT_VERSION:
			return cmd_version();
		default:
			ret = opt_other(opt, argv, values);
			if (ret)
				return ret;
			break;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "splicemsg: no command given\n");
		return try_help();
	}

	if (lib_find(lib, &from))
		return SM_EXIT_ERROR;	/* it said why */
	ret = env_setup(lib, values);
	if (ret) {
		fprintf(stderr, "splicemsg: cannot set the environment: %s\n",
			strerror(-ret));
		return SM_EXIT_ERROR;
	}
	if (verbose)
		print_config(lib, from, values, argv + optind);

	execvp(argv[optind], argv + optind);
	ret = errno;
	if (ret == ENOENT) {
		fprintf(stderr, "splicemsg: %s: command not found\n",
			argv[optind]);
		return SM_EXIT_NOTFOUND;
	}
	fprintf(stderr, "splicemsg: %s: %s\n", argv[optind], strerror(ret));
	return SM_EXIT_NOEXEC;
}
