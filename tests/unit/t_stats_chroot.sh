#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The statistics files of a process that chroots before its first sendfile
# and then forks, as vsftpd's session processes do: the live file of each
# appears while they run and goes at exit, and each writes its JSON (the
# parent at a normal exit, the child through _exit) into SPLICEMSG_STATS's
# directory, outside the chroot.  The program's name is the one it started
# with, though program_invocation_short_name changed since (nginx's process
# title).  A process that never sends leaves nothing.  Root, or a user
# namespace (unshare -r), is needed for chroot.  One line per check; exit 0
# pass, 1 fail, 77 skip, 99 harness error.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u

# shellcheck source=tests/t_lib.sh
. "$(cd "$(dirname "$0")/.." && pwd)/t_lib.sh"
SM_STAT=${SM_STAT:-$top_builddir/tools/splicemsg-stat}
SHM=/dev/shm
t_clean_env

[ -f "$SM_LIB" ] || { echo "ERROR: $SM_LIB not built"; exit 99; }
[ -x "$SM_STAT" ] || { echo "ERROR: $SM_STAT not built"; exit 99; }
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
[ -d "$SHM" ] && [ -w "$SHM" ] || { echo "SKIP: no writable $SHM"; exit 77; }
ROOTLY=()
if [ "$(id -u)" != 0 ]; then
	unshare -r true 2>/dev/null ||
		{ echo "SKIP: chroot needs root or unshare -r"; exit 77; }
	ROOTLY=(unshare -r)
fi

T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/$T_NAME.XXXXXX") || exit 99
PIDS=()
# shellcheck disable=SC2317 # run by the trap
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null
		rm -f "$SHM/splicemsg-$pid"
	done
	rm -rf "$T_TMP"
}
trap cleanup EXIT
trap 'exit 99' INT TERM
mkdir "$T_TMP/root" "$T_TMP/stats"
head -c 3000 /dev/urandom >"$T_TMP/file"

# Renames itself, opens the file, chroots into argv[2], forks; each side
# sends the file once into a socketpair and prints "parent|child PID";
# then the child waits for the parent, which waits for its stdin to close.
# The child leaves by _exit, as vsftpd's do.
SENDER='
import ctypes, os, signal, socket, sys
signal.alarm(60)
libc = ctypes.CDLL(None)
title = ctypes.create_string_buffer(b"retitled")
ctypes.c_void_p.in_dll(libc, "program_invocation_short_name").value = \
    ctypes.addressof(title)
f = open(sys.argv[1], "rb")
os.chroot(sys.argv[2])
os.chdir("/")
r, w = os.pipe()
child = os.fork()
a, b = socket.socketpair()
n = os.sendfile(a.fileno(), f.fileno(), 0, 3000)
print("child" if child == 0 else "parent", os.getpid(), n, flush=True)
if child == 0:
    os.close(w)
    os.read(r, 1)
    os._exit(0)
os.close(r)
sys.stdin.read()
os.close(w)
os.waitpid(child, 0)
'
mkfifo "$T_TMP/in" || exit 99
SPLICEMSG_ONLY=python3 SPLICEMSG_STATS="$T_TMP/stats/s.%p.json" \
	LD_PRELOAD="$SM_LIB" "${ROOTLY[@]}" python3 -c "$SENDER" \
	"$T_TMP/file" "$T_TMP/root" <"$T_TMP/in" >"$T_TMP/out" \
	2>"$T_TMP/err" &
runner=$!
exec {in_fd}>"$T_TMP/in"
for _ in $(seq 100); do
	[ "$(wc -l <"$T_TMP/out")" -ge 2 ] && break
	kill -0 "$runner" 2>/dev/null || break
	sleep 0.1
done
parent=$(awk '$1 == "parent" { print $2 }' "$T_TMP/out")
child=$(awk '$1 == "child" { print $2 }' "$T_TMP/out")
if [ -z "$parent" ] || [ -z "$child" ]; then
	echo "ERROR: the chrooted sender did not start"
	t_show "$T_TMP/err"
	exit 99
fi
PIDS+=("$parent" "$child")
# Under unshare -r the pids printed are the process's own: the same
# namespace of pids, only the users differ.
[ -f "$SHM/splicemsg-$parent" ] && [ -f "$SHM/splicemsg-$child" ]
t_verdict $? "live files made from inside the chroot, parent and child" \
	"parent's: $([ -f "$SHM/splicemsg-$parent" ] && echo yes || echo no), child's: $([ -f "$SHM/splicemsg-$child" ] && echo yes || echo no)"
for who in parent child; do
	pid=${!who}
	got=$("$SM_STAT" -p "$pid" --json 2>&1 | python3 -c '
import json, sys
try:
    print(json.loads(sys.stdin.readline())["program"])
except Exception as e:
    print("%s: %r" % (type(e).__name__, e))')
	[ "$got" = python3 ]
	t_verdict $? "$who: live program name as at start" "$got"
done

exec {in_fd}>&-
wait "$runner"
t_verdict $? "sender: exit 0" "exit $?" "$T_TMP/err"
for who in parent child; do
	pid=${!who}
	[ ! -e "$SHM/splicemsg-$pid" ]
	t_verdict $? "$who: live file removed at exit" "it remains"
	got=$(python3 -c '
import json, sys
try:
    j = json.load(open(sys.argv[1]))
    print(j["program"], sum(j["bytes_by_path"].values()))
except Exception as e:
    print("%s: %r" % (type(e).__name__, e))' "$T_TMP/stats/s.$pid.json")
	[ "$got" = "python3 3000" ]
	t_verdict $? "$who: exit JSON written from inside the chroot, named as at start" \
		"$got"
done
[ -z "$(ls -A "$T_TMP/root")" ] && [ "$(ls "$T_TMP/stats")" = \
	"$(printf 's.%s.json\n' "$parent" "$child" | sort)" ]
t_verdict $? "nothing else written, inside or outside" \
	"root: $(ls -A "$T_TMP/root" | tr '\n' ' '), stats: $(ls "$T_TMP/stats" | tr '\n' ' ')"

# A process that never sends, forked child included: no file anywhere.
rm -f "$T_TMP/stats"/*
SPLICEMSG_STATS="$T_TMP/stats/s.%p.json" LD_PRELOAD="$SM_LIB" python3 -c '
import os
child = os.fork()
print(os.getpid(), flush=True)
if child == 0:
    os._exit(0)
os.waitpid(child, 0)' >"$T_TMP/idle"
t_verdict $? "idle process: exit 0" "it failed"
left=
while read -r pid; do
	[ -e "$SHM/splicemsg-$pid" ] && left="$left $SHM/splicemsg-$pid"
done <"$T_TMP/idle"
[ -z "$left" ] && [ -z "$(ls -A "$T_TMP/stats")" ]
t_verdict $? "idle process and child: no live file, no JSON" \
	"$left $(ls -A "$T_TMP/stats" | tr '\n' ' ')"

t_finish
