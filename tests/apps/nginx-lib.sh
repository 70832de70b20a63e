# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# nginx under test: a generated configuration in a private directory,
# started natively or under the splicemsg wrapper, stopped cleanly.
# Sourced by tests/apps/nginx.sh, scripts/demo and tests/bench/http-bench.sh.
#
#   nginx_start DIR PORT ROOT MODE [HTTP_DIRECTIVES]
#	MODE native, or a SPLICEMSG_ENGINE (auto, uring, kmod) run under
#	$SM_WRAPPER with stats in DIR/stats/%p.json.  The master runs as
#	root and its worker switches to `nobody`, as in production.  Sets
#	NGINX_PID.  HTTP_DIRECTIVES (default $NGINX_HTTP) go into the http
#	block (sendfile on and tcp_nopush on are always there).
#   nginx_stop DIR	graceful stop (QUIT), waiting for every process
#   nginx_stop_all	nginx_stop for every DIR nginx_start was given
#   nginx_workers DIR	the worker pids
#
# Environment: SM_WRAPPER (the splicemsg command), SM_WRAPPER_ARGS (extra
# wrapper options), NGINX_WORKERS (default 1), NGINX_ACCESS_LOG (default
# DIR/logs/access.log; "off" for none).

NGINX_STARTED=()

nginx_start() {
	local dir=$1 port=$2 root=$3 mode=$4 extra=${5-${NGINX_HTTP:-}}
	local user

	# nobody's group is nogroup on Debian
	user="nobody $(id -gn nobody 2>/dev/null || echo nogroup)"
	[ "$(id -u)" = 0 ] || user=$(id -un)
	mkdir -p "$dir/logs" "$dir/stats" "$dir/tmp"
	chmod 777 "$dir/stats"
	cat >"$dir/nginx.conf" <<CONF
daemon on;
master_process on;
user $user;
worker_processes ${NGINX_WORKERS:-1};
pid $dir/nginx.pid;
error_log $dir/logs/error.log info;
events { worker_connections 1024; }
http {
	access_log ${NGINX_ACCESS_LOG:-$dir/logs/access.log};
	sendfile on;
	tcp_nopush on;
	keepalive_requests 100000;
	client_body_temp_path $dir/tmp/body;
	proxy_temp_path $dir/tmp/proxy;
	fastcgi_temp_path $dir/tmp/fastcgi;
	uwsgi_temp_path $dir/tmp/uwsgi;
	scgi_temp_path $dir/tmp/scgi;
	types { }
	default_type application/octet-stream;
	$extra
	server { listen ${HTTP_ADDR:-127.0.0.1}:$port; root $root; }
}
CONF
	rm -f "$dir/nginx.pid"
	NGINX_STARTED+=("$dir")
	if [ "$mode" = native ]; then
		nginx -c "$dir/nginx.conf" -p "$dir/" || return
	else
		# shellcheck disable=SC2086 # options, split on purpose
		"$SM_WRAPPER" --engine "$mode" --stats "$dir/stats/%p.json" \
			${SM_WRAPPER_ARGS:-} -- \
			nginx -c "$dir/nginx.conf" -p "$dir/" || return
	fi
	for _ in $(seq 100); do
		[ -s "$dir/nginx.pid" ] && break
		sleep 0.05
	done
	# shellcheck disable=SC2034 # for the caller
	NGINX_PID=$(cat "$dir/nginx.pid" 2>/dev/null) || return
	# the worker must be up before the first request is timed or counted
	for _ in $(seq 100); do
		[ -n "$(nginx_workers "$dir")" ] && return 0
		sleep 0.05
	done
	return 1
}

nginx_workers() {
	local master
	master=$(cat "$1/nginx.pid" 2>/dev/null) || return 0
	pgrep -P "$master" 2>/dev/null || true
}

nginx_stop() {
	local dir=$1 master pids
	master=$(cat "$dir/nginx.pid" 2>/dev/null) || return 0
	pids="$master $(nginx_workers "$dir")"
	kill -QUIT "$master" 2>/dev/null || return 0
	for _ in $(seq 100); do
		nginx_alive $pids || return 0
		sleep 0.05
	done
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null
	return 1
}

# nginx_alive PID...: is any of them still running?
nginx_alive() {
	local p
	for p in "$@"; do
		kill -0 "$p" 2>/dev/null && return 0
	done
	return 1
}

nginx_stop_all() {
	local d
	for d in "${NGINX_STARTED[@]}"; do
		nginx_stop "$d" >/dev/null 2>&1
	done
}
