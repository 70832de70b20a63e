# SPDX-License-Identifier: LGPL-2.1-or-later
# shellcheck shell=bash
# Shared by the shell suites (tests/stream, tests/tools, tests/apps): where
# things are, one result line per check, the exit status convention (0
# pass, 1 fail, 77 nothing ran, 99 harness error), an environment the
# caller's shell cannot bend, and a server's port, start and stop.  Source it after `set -u` from a script one
# directory below tests/.
#
# Sets T_NAME, T_HERE, top_srcdir, top_builddir, SM_LIB (absolute).

T_NAME=$(basename "$0" .sh)
T_HERE=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$T_HERE/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
SM_LIB=${SM_LIB:-$top_builddir/shim/.libs/libsplicemsg.so}
[[ $SM_LIB == /* ]] || SM_LIB=$PWD/$SM_LIB

T_PASS=0
T_FAIL=0
T_SKIP=0
T_ERROR=0

t_pass() { echo "PASS $1"; T_PASS=$((T_PASS + 1)); }
t_fail() { echo "FAIL $1: ${*:2}"; T_FAIL=$((T_FAIL + 1)); }
t_skip() { echo "SKIP $1: $2"; T_SKIP=$((T_SKIP + 1)); }
t_error() { echo "ERROR $1: $2"; T_ERROR=$((T_ERROR + 1)); }

# t_verdict STATUS NAME WHY [FILE]: PASS NAME if STATUS (of the condition
# just tested) is 0, else FAIL NAME: WHY, with FILE's first lines.
t_verdict() {
	if [ "$1" = 0 ]; then
		t_pass "$2"
	else
		t_fail "$2" "$3"
		[ -z "${4:-}" ] || t_show "$4"
	fi
	return 0
}

# Indent the first lines (10, or $2) of a file under a FAIL line.
t_show() {
	sed -n "1,${2:-10}p" "$1" | sed 's/^/    /'
}

# The summary line automake's harness shows, after any harness errors.
t_summary() {
	[ "$T_ERROR" -gt 0 ] && echo "harness errors: $T_ERROR"
	echo "$T_NAME: $T_PASS passed, $T_FAIL failed, $T_SKIP skipped"
}

t_finish() {
	t_summary
	[ "$T_ERROR" -gt 0 ] && exit 99
	[ "$T_FAIL" -gt 0 ] && exit 1
	[ "$T_PASS" -eq 0 ] && exit 77
	exit 0
}

# A TCP port on 127.0.0.1 nobody listens on now (not necessarily when a
# server binds it: a server that dies is started again on another).
t_free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000))
}

# t_wait_listen PID PORT: 0 once something accepts on 127.0.0.1:PORT (a
# connection dropped at once is enough), 1 if PID died or 5 s passed.
t_wait_listen() {
	for _ in $(seq 100); do
		kill -0 "$1" 2>/dev/null || return 1
		(exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# t_stop_child PID: SIGTERM, 5 s to go, then SIGKILL; reaped (a child of
# this shell).
t_stop_child() {
	kill "$1" 2>/dev/null
	for _ in $(seq 100); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# What the user's shell set must not change what is tested.
t_clean_env() {
	local v
	for v in $(compgen -v SPLICEMSG_); do
		unset "$v"
	done
	unset LD_PRELOAD
}

# t_nic_netns: in the VM booted with two NICs (vm-run --net2), eth1 into a
# network namespace of its own at 10.99.0.2 and eth0 here at 10.99.0.1, so
# that traffic between them crosses the emulated device, which takes page
# references (loopback and veth copy every zero-copy buffer).  Sets
# T_NIC_NS, the namespace holder's pid (kill it at exit; its namespace
# file is /proc/$T_NIC_NS/ns/net); returns non-zero if it could not.
t_nic_netns() {
	unshare -n sleep 600 &
	T_NIC_NS=$!
	sleep 0.5
	ip addr add 10.99.0.1/24 dev eth0 && ip link set eth0 up &&
		ip link set eth1 netns "$T_NIC_NS" &&
		nsenter -t "$T_NIC_NS" -n sh -c 'ip link set lo up &&
			ip addr add 10.99.0.2/24 dev eth1 && ip link set eth1 up'
}
