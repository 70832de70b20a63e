/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the Check suites: run one suite, exit 0 or 1. */
#ifndef T_CHECK_H
#define T_CHECK_H

#include <check.h>
#include <stdbool.h>

static inline int t_run(Suite *s, bool nofork)
{
	SRunner *sr = srunner_create(s);
	int failed;

	if (nofork)
		srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

#endif
