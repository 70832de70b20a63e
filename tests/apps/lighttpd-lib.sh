# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# lighttpd under test: a generated configuration in a private directory,
# started natively or under the splicemsg wrapper, stopped cleanly.
# Sourced by tests/apps/lighttpd.sh, tests/apps/syscalls.sh and
# tests/bench/http-bench.sh (scripts/bench --server lighttpd), after
# http-lib.sh; the same calls as nginx-lib.sh.
#
#   lighttpd_start DIR PORT ROOT MODE
#	MODE native, or a SPLICEMSG_ENGINE (auto, uring, kmod) run under
#	$SM_WRAPPER with stats in DIR/stats/%p.json.  One process, in the
#	foreground (-D) as a child of this shell; as root it binds and then
#	switches to `nobody`, as in production.  The network backend is
#	lighttpd's default (sendfile on Linux), keep-alive is on.
#   lighttpd_stop DIR	stop (SIGTERM: lighttpd exits through main)
#   lighttpd_stop_all	lighttpd_stop for every DIR lighttpd_start was given
#   lighttpd_workers DIR	the pid of the process that serves
#
# Environment: SM_WRAPPER (the splicemsg command), SM_WRAPPER_ARGS (extra
# wrapper options).

LIGHTTPD_STARTED=()

lighttpd_start() {
	local dir=$1 port=$2 root=$3 mode=$4 user='' pid

	if [ "$(id -u)" = 0 ]; then
		# nobody's group is nogroup on Debian
		user="server.username = \"nobody\"
server.groupname = \"$(id -gn nobody 2>/dev/null || echo nogroup)\""
	fi
	mkdir -p "$dir/logs" "$dir/stats"
	# lighttpd opens its error log as that user
	chmod 777 "$dir/logs" "$dir/stats"
	cat >"$dir/lighttpd.conf" <<CONF
server.document-root = "$root"
server.bind = "${HTTP_ADDR:-127.0.0.1}"
server.port = $port
server.errorlog = "$dir/logs/error.log"
server.pid-file = "$dir/lighttpd.pid"
server.max-keep-alive-requests = 100000
server.modules = ()
mimetype.assign = ("" => "application/octet-stream")
$user
CONF
	rm -f "$dir/lighttpd.pid"
	LIGHTTPD_STARTED+=("$dir")
	if [ "$mode" = native ]; then
		lighttpd -D -f "$dir/lighttpd.conf" </dev/null &
	else
		# shellcheck disable=SC2086 # options, split on purpose
		"$SM_WRAPPER" --engine "$mode" --stats "$dir/stats/%p.json" \
			${SM_WRAPPER_ARGS:-} -- \
			lighttpd -D -f "$dir/lighttpd.conf" </dev/null &
	fi
	pid=$!
	echo "$pid" >"$dir/shell.pid"
	# up when it wrote its pid file, after binding
	for _ in $(seq 100); do
		[ -s "$dir/lighttpd.pid" ] && return 0
		http_running "$pid" || return 1
		sleep 0.05
	done
	return 1
}

lighttpd_workers() {
	local p

	p=$(cat "$1/shell.pid" 2>/dev/null) || return 0
	http_running "$p" && echo "$p"
	return 0
}

lighttpd_stop() {
	local pid

	pid=$(cat "$1/shell.pid" 2>/dev/null) || return 0
	rm -f "$1/shell.pid"
	http_stop TERM "$pid"
}

lighttpd_stop_all() {
	http_stop_each lighttpd_stop "${LIGHTTPD_STARTED[@]}"
}
