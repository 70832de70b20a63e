/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sm_sender's pieces: the driver (sm_sender.c: the table, main, and the
 * helpers every family uses) and one file per scenario family (sc_*.c).
 */
#ifndef SM_SENDER_H
#define SM_SENDER_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "t_stream.h"

#define OUT stdout

struct scenario {
	const char *name;
	void (*run)(const struct scenario *sc);
	int family;
	/* How the driver may compare the shim's byte counters with ours:
	 * exact: per path; total: only the sum (timing splits paths);
	 * none: bytes the calls do not report (EFAULT after sending). */
	const char *accounting;
	/* Eligible calls that must still go native, and why. */
	const char *native_reason;
	const char *tags;
};


/* A connection with its receiver and the stream it should get. */
struct conn {
	int fd;
	const char *name;
	struct t_rx rx;
	struct t_digest want;
};

enum t_api api_of(unsigned int i);
size_t min_sz(size_t a, size_t b);
void skip_family(int family);
void conn_open(struct conn *t, const struct t_conn_opts *o, bool paused,
	       size_t chunk);
void conn_open_tcp(struct conn *t, int family);
/* Close our end (unless already gone), wait for EOF, compare. */
void conn_finish(struct conn *t, const char *label);
/* Add the bytes a successful call sent from @f at @start to the stream. */
void want_file(struct t_digest *want, const struct t_file *f, off_t start,
	       ssize_t ret);
/* One printed call from file @f to @t; the stream expectation follows. */
ssize_t send_file(FILE *out, const char *label, enum t_api api,
		  struct conn *t, struct t_file *f, const char *fname,
		  off_t *offp, size_t count);
void seek_to(int fd, off_t pos);
/* A write-family call whose result both runs must print alike. */
ssize_t put_hdr(struct conn *t, const char *label, int how, const char *buf,
		size_t len);
void cork(struct conn *t, const char *label, int on);
void wait_writable(int fd);
void wait_event(int fd, short events);
void epipe_print(const char *label);
/* A manual peer: no receiver thread, the test closes it at will. */
void peer_open(struct conn *t, int *peer);

#define SM_SCENARIO(fn) void fn(const struct scenario *sc)
SM_SCENARIO(sc_sizes);
SM_SCENARIO(sc_big);
SM_SCENARIO(sc_nonblock);
SM_SCENARIO(sc_threads);
SM_SCENARIO(sc_fork);
SM_SCENARIO(sc_notify);
SM_SCENARIO(sc_truncate);
SM_SCENARIO(sc_signal);
SM_SCENARIO(sc_sndtimeo);
SM_SCENARIO(sc_ineligible);
SM_SCENARIO(sc_errors);
SM_SCENARIO(sc_badptr);
SM_SCENARIO(sc_fdreuse);
SM_SCENARIO(sc_offptr);
SM_SCENARIO(sc_special);
SM_SCENARIO(sc_epipe);
SM_SCENARIO(sc_cork);
SM_SCENARIO(sc_idioms);
SM_SCENARIO(sc_idioms_edge);
SM_SCENARIO(sc_loop);
SM_SCENARIO(sc_udp);
SM_SCENARIO(sc_report);
SM_SCENARIO(sc_efault);
SM_SCENARIO(sc_dup_order);
SM_SCENARIO(sc_fork_order);
SM_SCENARIO(sc_write_paths);
SM_SCENARIO(sc_cancel);
SM_SCENARIO(sc_shutdown);
SM_SCENARIO(sc_cork_state);
SM_SCENARIO(sc_seccomp);
SM_SCENARIO(sc_file_changes);

#endif
