// SPDX-License-Identifier: LGPL-2.1-or-later
/* Options: parsing, defaults from the table, program selection, %p, and
 * the README's option table kept in step with options.def. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sm.h"
#include "t_check.h"

static struct sm_options o;

static void setup(void)
{
	memset(&o, 0, sizeof(o));
	sm_options_defaults(&o);
}

static void teardown(void)
{
	sm_options_free(&o);
}

START_TEST(defaults_come_from_the_table)
{
	ck_assert_int_eq(o.ENABLE, 1);
	ck_assert_int_eq(o.ENGINE, SM_ENGINE_AUTO);
	ck_assert_int_eq(o.ZC, SM_ZC_AUTO);
	ck_assert_uint_eq(o.ZC_MIN, 65536);
	ck_assert_int_eq(o.LOG, SM_LOG_WARN);
	ck_assert_str_eq(o.STATS, "");
}
END_TEST

START_TEST(sizes_accept_suffixes_and_reject_garbage)
{
	ck_assert_int_eq(sm_options_parse(&o, "ZC_MIN", "4k"), 0);
	ck_assert_uint_eq(o.ZC_MIN, 4096);
	ck_assert_int_eq(sm_options_parse(&o, "ZC_MIN", "2M"), 0);
	ck_assert_uint_eq(o.ZC_MIN, 2 << 20);
	ck_assert_int_eq(sm_options_parse(&o, "ZC_MIN", "0"), 0);
	ck_assert_uint_eq(o.ZC_MIN, 0);
	ck_assert_int_eq(sm_options_parse(&o, "ZC_MIN", "12q"), -EINVAL);
	ck_assert_int_eq(sm_options_parse(&o, "ZC_MIN", "-1"), -EINVAL);
	ck_assert_int_eq(sm_options_parse(&o, "ZC_MIN", ""), -EINVAL);
	ck_assert_int_eq(sm_options_parse(&o, "ZC_MIN",
					  "99999999999999999999"), -EINVAL);
	ck_assert_int_eq(sm_options_parse(&o, "ZC_MIN",
					  "18446744073709551615k"), -EINVAL);
	/* a rejected value leaves the previous one */
	ck_assert_uint_eq(o.ZC_MIN, 0);
}
END_TEST

START_TEST(words)
{
	ck_assert_int_eq(sm_options_parse(&o, "ENGINE", "uring"), 0);
	ck_assert_int_eq(o.ENGINE, SM_ENGINE_URING);
	ck_assert_int_eq(sm_options_parse(&o, "ENGINE", "OFF"), 0);
	ck_assert_int_eq(o.ENGINE, SM_ENGINE_NATIVE);
	ck_assert_int_eq(sm_options_parse(&o, "ENGINE", "turbo"), -EINVAL);
	ck_assert_int_eq(o.ENGINE, SM_ENGINE_NATIVE);
	ck_assert_int_eq(sm_options_parse(&o, "ZC", "report"), 0);
	ck_assert_int_eq(o.ZC, SM_ZC_REPORT);
	ck_assert_int_eq(sm_options_parse(&o, "LOG", "3"), 0);
	ck_assert_int_eq(o.LOG, SM_LOG_DEBUG);
	ck_assert_int_eq(sm_options_parse(&o, "ENABLE", "no"), 0);
	ck_assert_int_eq(o.ENABLE, 0);
	ck_assert_int_eq(sm_options_parse(&o, "ENABLE", "maybe"), -EINVAL);
	ck_assert_int_eq(sm_options_parse(&o, "NOSUCH", "1"), -ENOENT);
}
END_TEST

START_TEST(environment_is_read_and_bad_values_fall_back)
{
	setenv("SPLICEMSG_ENGINE", "uring", 1);
	setenv("SPLICEMSG_ZC_MIN", "lots", 1);
	setenv("SPLICEMSG_LOG", "error", 1);	/* keep the warning quiet */
	sm_options_free(&o);
	sm_options_load(&o);
	ck_assert_int_eq(o.ENGINE, SM_ENGINE_URING);
	ck_assert_uint_eq(o.ZC_MIN, 65536);
	unsetenv("SPLICEMSG_ENGINE");
	unsetenv("SPLICEMSG_ZC_MIN");
	unsetenv("SPLICEMSG_LOG");
}
END_TEST

START_TEST(only_and_skip_select_programs)
{
	ck_assert(sm_options_selects(&o, "nginx"));
	sm_options_parse(&o, "ONLY", "nginx,lighttpd");
	ck_assert(sm_options_selects(&o, "nginx"));
	ck_assert(sm_options_selects(&o, "lighttpd"));
	ck_assert(!sm_options_selects(&o, "ngin"));
	ck_assert(!sm_options_selects(&o, "bash"));
	sm_options_parse(&o, "ONLY", "");
	sm_options_parse(&o, "SKIP", "bash,python3");
	ck_assert(!sm_options_selects(&o, "python3"));
	ck_assert(sm_options_selects(&o, "python"));
	sm_options_parse(&o, "ENABLE", "0");
	ck_assert(!sm_options_selects(&o, "nginx"));
}
END_TEST

START_TEST(pid_expansion)
{
	char buf[32];

	ck_assert_int_eq(sm_expand_path(buf, sizeof(buf), "/t/s.%p.json",
					42), 0);
	ck_assert_str_eq(buf, "/t/s.42.json");
	ck_assert_int_eq(sm_expand_path(buf, sizeof(buf), "100%%", 1), 0);
	ck_assert_str_eq(buf, "100%");
	ck_assert_int_eq(sm_expand_path(buf, 8, "/a/b/c/d/e", 1),
			 -ENAMETOOLONG);
	ck_assert_int_eq(sm_expand_path(buf, 4, "%p", 12345), -ENAMETOOLONG);
}
END_TEST

/* Every option appears in the README's table with its default. */
START_TEST(readme_table_matches_options_def)
{
	static const struct { const char *name, *def, *doc; } opts[] = {
#define SM_OPT(n, type, def, doc) { "SPLICEMSG_" #n, def, doc },
#include "options.def"
#undef SM_OPT
	};
	const char *top = getenv("top_srcdir");
	char path[4096], line[2048];
	size_t i, found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/README.md", top ? top : ".");
	f = fopen(path, "r");
	ck_assert_msg(f, "cannot open %s", path);
	while (fgets(line, sizeof(line), f)) {
		for (i = 0; i < SM_ARRAY_SIZE(opts); i++) {
			char want[1024];

			snprintf(want, sizeof(want), "| `%s` | `%s` | %s |\n",
				 opts[i].name, opts[i].def, opts[i].doc);
			if (!strcmp(line, want))
				found |= 1UL << i;
		}
	}
	fclose(f);
	for (i = 0; i < SM_ARRAY_SIZE(opts); i++)
		ck_assert_msg(found & (1UL << i),
			      "README.md lacks the row \"| `%s` | `%s` | %s |\"",
			      opts[i].name, opts[i].def, opts[i].doc);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("options");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, defaults_come_from_the_table);
	tcase_add_test(tc, sizes_accept_suffixes_and_reject_garbage);
	tcase_add_test(tc, words);
	tcase_add_test(tc, environment_is_read_and_bad_values_fall_back);
	tcase_add_test(tc, only_and_skip_select_programs);
	tcase_add_test(tc, pid_expansion);
	tcase_add_test(tc, readme_table_matches_options_def);
	suite_add_tcase(s, tc);
	return t_run(s, false);
}
