# SPDX-License-Identifier: LGPL-2.1-or-later
# sendfile() throughput benchmark; run through scripts/bench, not `make check`:
# its numbers need an idle machine and its runtime is minutes.
noinst_PROGRAMS += tests/bench/sm_bench
tests_bench_sm_bench_SOURCES = tests/bench/sm_bench.c
EXTRA_DIST += scripts/bench docs/bench.md
# Responses (header + body) against the kernel helper, run in the VM.
noinst_PROGRAMS += tests/bench/sm_resp
tests_bench_sm_resp_SOURCES = tests/bench/sm_resp.c
tests_bench_sm_resp_CFLAGS = $(AM_CFLAGS) $(URING_CFLAGS)
tests_bench_sm_resp_LDADD = $(URING_LIBS)
EXTRA_DIST += tests/bench/vm-resp.sh tests/bench/vm-nic.sh tests/bench/resp.sh \
	tests/bench/http-bench.sh tests/bench/http-plot.gp \
	tests/bench/http-report.py
