# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The seeded differential fuzzer: sm_fuzz generates and runs a random
# sequence of calls and prints a transcript; fuzz.sh compares native and
# shim runs and minimises what differs.

check_PROGRAMS += tests/fuzz/sm_fuzz
tests_fuzz_sm_fuzz_SOURCES = tests/fuzz/sm_fuzz.c
tests_fuzz_sm_fuzz_LDADD = -lpthread
# A plain program even in the sanitizer build, like sm_sender: it is the
# preloaded shim that is checked, and it forks while its receivers run.
tests_fuzz_sm_fuzz_CFLAGS = $(SM_WARN_CFLAGS)
tests_fuzz_sm_fuzz_LDFLAGS =

TESTS += tests/fuzz/fuzz.sh
EXTRA_DIST += tests/fuzz/fuzz.sh
