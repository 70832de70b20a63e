#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# lighttpd under the shim, against the file bytes: Debian's lighttpd on
# loopback with a generated configuration (the default network backend,
# sendfile; keep-alive), natively and under the splicemsg wrapper (auto,
# and every call forced onto io_uring).  Bodies of 0 B .. 64 MiB over
# keep-alive, Range requests, HEAD, 50 concurrent clients and a
# rate-limited client must all be the file's bytes (sha256 or cmp); the
# error log must say nothing but that the server started and stopped; as
# root the server runs as nobody.  Clients that disconnect mid-body leave
# no descriptor behind.
#
# What lighttpd does per response is read from strace of the native
# server, not assumed: a body under 16 KiB is read into memory and leaves
# in its headers' writev (nothing for the shim); a larger one is corked:
# TCP_CORK on, writev(headers), sendfile(at most 256 KiB less the headers),
# TCP_CORK off, then sendfile(256 KiB) until the end.  The shim's counters
# for the same requests must follow docs/cork.md: auto sends a corked
# body of at most 16 KiB with its headers in one sendmsg(2) and the others'
# headers ahead of sendfile(2); uring coalesces every corked response.
#
# Environment: top_builddir, SM_WRAPPER and SM_STAT (default the build tree's
# tools/splicemsg and splicemsg-stat).  Prints PASS/FAIL/SKIP lines; exits
# 0, 1, 77 or 99.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/t_lib.sh
. "$here/../t_lib.sh"
# shellcheck source=tests/apps/http-lib.sh
. "$here/http-lib.sh"
# shellcheck source=tests/apps/lighttpd-lib.sh
. "$here/lighttpd-lib.sh"
t_clean_env
http_suite_init lighttpd

# As root lighttpd binds, then runs as nobody.
check_uid() {
	local name=$1 dir=$2 p u

	[ "$(id -u)" = 0 ] || return 0
	p=$(lighttpd_workers "$dir")
	u=$(ps -o user= -p "$p" 2>/dev/null | tr -d ' ')
	[ "$u" = nobody ]
	t_verdict $? "$name/runs-as-nobody" "lighttpd $p runs as '$u'"
}

# lighttpd logs nothing but its start and stop unless something failed.
log_errors() {
	grep -vE '\) server (started|stopped)' "$1/logs/error.log"
}

# one process, one thread: its bodies leave from the thread that waits in
# epoll_wait (batching)
HTTP_LOOP=yes http_run lighttpd "$HTTP_TMP" native auto uring
t_finish
