# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Byte-stream regression: sm_sender runs one scenario (a family per sc_*.c
# file) and prints a transcript; the stream-*.sh drivers compare native and
# shim runs.

check_PROGRAMS += tests/stream/sm_sender tests/stream/t_deny
tests_stream_sm_sender_SOURCES = tests/stream/sm_sender.c \
	tests/stream/sm_sender.h tests/stream/sc_sizes.c \
	tests/stream/sc_nonblock.c tests/stream/sc_concurrency.c \
	tests/stream/sc_interrupt.c tests/stream/sc_args.c \
	tests/stream/sc_epipe.c tests/stream/sc_idioms.c tests/stream/sc_zc.c \
	tests/stream/sc_robust.c tests/t_seccomp.h \
	tests/stream/t_stream.c tests/stream/t_stream.h
tests_stream_sm_sender_LDADD = -lpthread
tests_stream_t_deny_SOURCES = tests/stream/t_deny.c tests/t_seccomp.h
# Plain programs even in the sanitizer build: it is the preloaded shim that
# is checked there, and an instrumented sender that forks while its
# receiver thread runs can deadlock inside the ASan runtime.
tests_stream_sm_sender_CFLAGS = $(SM_WARN_CFLAGS)
tests_stream_sm_sender_LDFLAGS =
tests_stream_t_deny_CFLAGS = $(SM_WARN_CFLAGS)
tests_stream_t_deny_LDFLAGS =

TESTS += tests/stream/stream-uring.sh tests/stream/stream-auto.sh \
	tests/stream/stream-noring.sh \
	tests/stream/stream-kmod.sh tests/stream/stream-syscalls.sh \
	tests/stream/stream-instructions.sh
EXTRA_DIST += tests/stream/lib.sh tests/stream/sm_stats.py \
	tests/stream/lsan.supp \
	tests/stream/stream-uring.sh tests/stream/stream-auto.sh \
	tests/stream/stream-noring.sh \
	tests/stream/stream-kmod.sh tests/stream/stream-syscalls.sh \
	tests/stream/stream-instructions.sh tests/stream/stream-nic.sh
