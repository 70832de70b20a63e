# SPDX-License-Identifier: LGPL-2.1-or-later
# Check suites, one per module of the shim, linked against the shim's core
# (everything but the interposed entry points).
if HAVE_CHECK
UNIT_TESTS = tests/unit/t_options tests/unit/t_policy tests/unit/t_fdstate \
	tests/unit/t_hold tests/unit/t_signals
check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)
UNIT_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(URING_CFLAGS)
EXTRA_DIST += tests/unit/t_check.h
UNIT_LDADD = shim/libsmcore.la $(CHECK_LIBS)
tests_unit_t_options_SOURCES = tests/unit/t_options.c
tests_unit_t_options_CFLAGS = $(UNIT_CFLAGS)
tests_unit_t_options_LDADD = $(UNIT_LDADD)
tests_unit_t_policy_SOURCES = tests/unit/t_policy.c
tests_unit_t_policy_CFLAGS = $(UNIT_CFLAGS)
tests_unit_t_policy_LDADD = $(UNIT_LDADD)
tests_unit_t_fdstate_SOURCES = tests/unit/t_fdstate.c
tests_unit_t_fdstate_CFLAGS = $(UNIT_CFLAGS)
tests_unit_t_fdstate_LDADD = $(UNIT_LDADD)
tests_unit_t_hold_SOURCES = tests/unit/t_hold.c tests/t_seccomp.h
tests_unit_t_hold_CFLAGS = $(UNIT_CFLAGS)
tests_unit_t_hold_LDADD = $(UNIT_LDADD)
tests_unit_t_signals_SOURCES = tests/unit/t_signals.c
tests_unit_t_signals_CFLAGS = $(UNIT_CFLAGS)
tests_unit_t_signals_LDADD = $(UNIT_LDADD)
endif

# Not Check suites: the built library's exports and PLT calls; its
# statistics files from inside a chroot, forked, renamed.
TESTS += tests/unit/t_noplt.sh tests/unit/t_stats_chroot.sh
EXTRA_DIST += tests/unit/t_noplt.sh tests/unit/t_stats_chroot.sh
