# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# apache2 under test: a self-contained configuration in a private
# directory (nothing of /etc/apache2), started natively or under the
# splicemsg wrapper, stopped cleanly.  Sourced by tests/apps/apache2.sh,
# tests/apps/syscalls.sh and tests/bench/http-bench.sh (scripts/bench
# --server apache2), after http-lib.sh; the same calls as nginx-lib.sh.
#
#   apache2_start DIR PORT ROOT MODE
#	MODE native, or a SPLICEMSG_ENGINE (auto, uring, kmod) run under
#	$SM_WRAPPER with stats in DIR/stats/%p.json.  mpm_event with
#	EnableSendfile On and keep-alive; the master runs in the foreground
#	(-DFOREGROUND) as a child of this shell, as root, and its child
#	process (one, of 64 threads) switches to www-data, as in
#	production.
#   apache2_stop DIR	stop (SIGTERM: the children exit through exit(3))
#   apache2_stop_all	apache2_stop for every DIR apache2_start was given
#   apache2_workers DIR	the pids of the child processes
#
# Environment: SM_WRAPPER (the splicemsg command), SM_WRAPPER_ARGS (extra
# wrapper options), APACHE2_MODULES (default /usr/lib/apache2/modules).

APACHE2_STARTED=()

apache2_start() {
	local dir=$1 port=$2 root=$3 mode=$4 m user='' pid
	m=${APACHE2_MODULES:-/usr/lib/apache2/modules}

	[ "$(id -u)" = 0 ] && user="User www-data
Group www-data"
	mkdir -p "$dir/logs" "$dir/stats" "$dir/run"
	chmod 777 "$dir/stats"
	cat >"$dir/apache2.conf" <<CONF
ServerRoot "$dir"
ServerName localhost
PidFile "$dir/run/apache2.pid"
DefaultRuntimeDir "$dir/run"
ErrorLog "$dir/logs/error.log"
LogLevel info
Listen ${HTTP_ADDR:-127.0.0.1}:$port
LoadModule mpm_event_module $m/mod_mpm_event.so
LoadModule authz_core_module $m/mod_authz_core.so
LoadModule mime_module $m/mod_mime.so
$user
TypesConfig /dev/null
EnableSendfile On
KeepAlive On
MaxKeepAliveRequests 0
StartServers 1
ServerLimit 1
ThreadsPerChild 64
MinSpareThreads 1
MaxSpareThreads 64
MaxRequestWorkers 64
DocumentRoot "$root"
<Directory />
	AllowOverride None
	Require all denied
</Directory>
<Directory "$root">
	Require all granted
	ForceType application/octet-stream
</Directory>
CONF
	APACHE2_STARTED+=("$dir")
	if [ "$mode" = native ]; then
		apache2 -f "$dir/apache2.conf" -DFOREGROUND </dev/null \
			>"$dir/logs/stderr" 2>&1 &
	else
		# shellcheck disable=SC2086 # options, split on purpose
		"$SM_WRAPPER" --engine "$mode" --stats "$dir/stats/%p.json" \
			${SM_WRAPPER_ARGS:-} -- \
			apache2 -f "$dir/apache2.conf" -DFOREGROUND </dev/null \
			>"$dir/logs/stderr" 2>&1 &
	fi
	pid=$!
	echo "$pid" >"$dir/shell.pid"
	# the child must be up before the first request is timed or counted
	for _ in $(seq 200); do
		http_running "$pid" || return 1
		[ -n "$(apache2_workers "$dir")" ] && return 0
		sleep 0.05
	done
	return 1
}

apache2_workers() {
	local master

	master=$(cat "$1/shell.pid" 2>/dev/null) || return 0
	pgrep -P "$master" 2>/dev/null || true
}

apache2_stop() {
	local master

	master=$(cat "$1/shell.pid" 2>/dev/null) || return 0
	rm -f "$1/shell.pid"
	# shellcheck disable=SC2046 # pids
	http_stop TERM "$master" $(pgrep -P "$master")
}

apache2_stop_all() {
	http_stop_each apache2_stop "${APACHE2_STARTED[@]}"
}
