#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# apache2 under the shim, against the file bytes: Debian's apache2 with
# mpm_event and EnableSendfile On, on loopback with a self-contained
# generated configuration (keep-alive; the master as root, its child as
# www-data), natively and under the splicemsg wrapper (auto, and every call
# forced onto io_uring).  Bodies of 0 B .. 64 MiB over keep-alive, Range
# requests, HEAD, 50 concurrent clients and a rate-limited client must all
# be the file's bytes (sha256 or cmp); the error log must have nothing at
# error or above.  Clients that disconnect mid-body leave no descriptor
# behind.
#
# What apache does per response is read from strace of the native server,
# not assumed: a body under 256 bytes (AP_MIN_SENDFILE_BYTES) is mapped and
# leaves in its headers' writev; a larger one is corked by the core output
# filter (apr_socket_opt_set(APR_TCP_NOPUSH), which is TCP_CORK on Linux):
# TCP_CORK on, writev(headers), sendfile(the whole body, on a non-blocking
# socket: again after EAGAIN), TCP_CORK off.  The shim's counters for the
# same requests must follow docs/cork.md: auto sends a corked body of at
# most 16 KiB with its headers in one sendmsg(2) and the others' headers
# ahead of sendfile(2); uring coalesces every corked response.
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
# shellcheck source=tests/apps/apache2-lib.sh
. "$here/apache2-lib.sh"
t_clean_env
http_suite_init apache2

# As root the master stays root and its child runs as www-data.
check_uid() {
	local name=$1 dir=$2 m w u

	[ "$(id -u)" = 0 ] || return 0
	m=$(cat "$dir/shell.pid")
	w=$(apache2_workers "$dir" | head -1)
	u="$(ps -o user= -p "$m" | tr -d ' ') $(ps -o user= -p "$w" | tr -d ' ')"
	[ "$u" = "root www-data" ]
	t_verdict $? "$name/child-is-www-data" "master and child run as '$u'"
}

# Nothing at error or above: [module:error], crit, alert, emerg.
log_errors() {
	grep -E '\[[a-z_0-9]*:(error|crit|alert|emerg)\]' \
		"$1/logs/error.log" "$1/logs/stderr"
}

http_run apache2 "$HTTP_TMP" native auto uring
t_finish
