#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# nginx under the shim, against the file bytes: Debian's nginx on loopback
# with a generated configuration (sendfile on; tcp_nopush on; and the
# variants aio threads and a small sendfile_max_chunk), natively and under
# the splicemsg wrapper (auto, and every call forced onto io_uring).
# Bodies of 0 B .. 64 MiB over keep-alive, Range requests (sendfile from an
# offset), HEAD, 50 concurrent clients and a rate-limited client must all be
# the file's bytes (sha256); the error log must stay clean; the master runs
# as root and its worker as nobody; the stats must show which path carried
# the bodies (forced: io_uring, with the cork idiom coalesced; auto on
# loopback: sendfile(2), for the reasons it gives, except small bodies,
# which leave with their corked headers in one sendmsg(2)).  What nginx does
# per response is read from strace of the native server (tcp_nopush: TCP_CORK
# on, writev(headers), sendfile, TCP_CORK off), and the shim's counters for
# the same requests must follow it exactly (http-lib.sh, as for lighttpd and
# apache2).  Then a worker killed mid-transfer and clients that disconnect
# mid-transfer: no hang, no crash, no descriptor left behind.
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
# shellcheck source=tests/apps/nginx-lib.sh
. "$here/nginx-lib.sh"
t_clean_env
http_suite_init nginx
tmp=$HTTP_TMP
www=$HTTP_WWW

# The worker runs as nobody when we are root: the uid switch.
check_uid() {
	local name=$1 dir=$2 w u
	[ "$(id -u)" = 0 ] || return 0
	# a worker just forked may not have switched yet
	for _ in $(seq 40); do
		w=$(nginx_workers "$dir" | head -1)
		u=$(ps -o user= -p "$w" 2>/dev/null | tr -d ' ')
		[ "$u" = nobody ] && break
		sleep 0.05
	done
	[ "$u" = nobody ]
	t_verdict $? "$name/worker-is-nobody" "worker $w runs as '$u'"
}

# No [error] or worse in the error log (client aborts are [info]).
log_errors() {
	grep -E '\[(error|crit|alert|emerg)\]' "$1/logs/error.log"
}

# ---- the matrix ----------------------------------------------------------------
# a slow client in the base variant: 1 MiB at 512 KiB/s, the kernel's
# buffer fills and the sends are partial
declare -A variants=(
	[base]=""
	[aio-threads]="aio threads;"
	[small-chunk]="sendfile_max_chunk 8k;"
)
# aio threads: the main thread corks and writes the headers, a thread of
# the pool sends the body, and the main thread's next epoll_wait flushes
# the held headers if it comes first (HTTP_RACY); the others send bodies
# from the thread that waits in epoll_wait (HTTP_LOOP: batching)
for variant in base aio-threads small-chunk; do
	checks='' racy='' loop=yes
	[ "$variant" = base ] && checks='slow trial'
	[ "$variant" = aio-threads ] && racy=yes loop=''
	NGINX_HTTP=${variants[$variant]} HTTP_PREFIX=$variant/ \
		HTTP_CHECKS=$checks HTTP_RACY=$racy HTTP_LOOP=$loop \
		http_run nginx "$tmp/$variant" native auto uring
done

# ---- interrupted transfers -------------------------------------------------------
for mode in native uring; do
	name=interrupted/$mode
	dir=$tmp/interrupted-$mode
	port=$(http_free_port)
	nginx_start "$dir" "$port" "$www" "$mode" || {
		t_fail "$name/start" "nginx did not start"
		continue
	}
	w=$(nginx_workers "$dir" | head -1)
	http_check_disconnects "$name" "$port" "$w" "$dir/out"
	# the worker killed mid-transfer: the client must not hang
	curl -s --limit-rate 2m --max-time 20 -o /dev/null \
		"http://127.0.0.1:$port/m64" &
	cpid=$!
	sleep 0.5
	kill -KILL "$w"
	start=$SECONDS
	wait "$cpid"
	rc=$?
	# a process killed by a signal keeps its live counters file
	rm -f "/dev/shm/splicemsg-$w"
	[ $((SECONDS - start)) -lt 10 ] && [ "$rc" != 0 ] &&
		t_pass "$name/worker-killed-client-returns" ||
		t_fail "$name/worker-killed-client-returns" \
			"curl rc $rc after $((SECONDS - start)) s"
	# the master starts another worker, which serves
	sleep 0.5
	curl -sf -o "$dir/after" "http://127.0.0.1:$port/m1p1" &&
		cmp -s "$www/m1p1" "$dir/after" &&
		t_pass "$name/new-worker-serves" ||
		t_fail "$name/new-worker-serves" "no or wrong body"
	nginx_stop "$dir" || t_fail "$name/stop" "needed SIGKILL"
	# a crash would be [alert] "exited on signal 11": only our kill
	bad=$(grep -E '\[(crit|alert|emerg)\]' "$dir/logs/error.log" |
		grep -v "exited on signal 9")
	[ -z "$bad" ] && t_pass "$name/no-crash" || t_fail "$name/no-crash" "$bad"
done

t_finish
