# SPDX-License-Identifier: LGPL-2.1-or-later
# sendfile() throughput benchmark; run through scripts/bench, not `make check`:
# its numbers need an idle machine and its runtime is minutes.
noinst_PROGRAMS += tests/bench/sm_bench
tests_bench_sm_bench_SOURCES = tests/bench/sm_bench.c
EXTRA_DIST += scripts/bench docs/bench.md
