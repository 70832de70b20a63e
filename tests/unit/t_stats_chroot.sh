#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The statistics files of a process that chroots, as vsftpd's session
# processes do.  The library's descriptors of directories outside (/dev/shm,
# SPLICEMSG_STATS's directory) would lead out of the chroot: the process
# holds none after chroot(2), checked from inside it.  Its live file, made
# at the chroot, lives while it runs and is left at its exit (no path to
# unlink it by; splicemsg-stat --gc's); its exit JSON, opened at the chroot,
# has the bytes it sent and the program's name as it started, though
# program_invocation_short_name changed since (nginx's process title).  A
# child forked after the chroot writes nothing, and its exit, after its
# parent's, leaves the parent's JSON whole.  A process that chroots and
# never sends leaves a JSON of zero counters; one that never chroots nor
# sends leaves nothing.  Root, or a user namespace (unshare -r), is needed
# for chroot.  One line per check; exit 0 pass, 1 fail, 77 skip, 99
# harness error.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u

# shellcheck source=tests/t_lib.sh
. "$(cd "$(dirname "$0")/.." && pwd)/t_lib.sh"
SM_STAT=${SM_STAT:-$top_builddir/tools/splicemsg-stat}
SHM=/dev/shm
t_clean_env

[ -f "$SM_LIB" ] || { echo "ERROR: $SM_LIB not built"; exit 99; }
# A sanitizer build's runtime must come first (Makefile.am's SM_PRELOAD),
# and python3's own allocations are not ours to leak-check.
PRELOAD=${SM_PRELOAD:-$SM_LIB}
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
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

# Counts the directories among its descriptors (fstat: /proc is not in
# the chroot), renames itself, opens the file, chroots into argv[2] (or
# argv[3] "nosend": then only exits), counts again, forks; each side prints
# "parent|child PID DIRS-BEFORE DIRS-AFTER SENT", the parent having sent the
# file once into a socketpair, the child too.  The parent then waits for its
# stdin to close and exits first; the child waits for the parent's end of a
# pipe to close and leaves by _exit, as vsftpd's do.
SENDER='
import ctypes, os, resource, signal, socket, stat, sys
signal.alarm(60)
# The library keeps its own descriptors high, under the limit.
top = min(resource.getrlimit(resource.RLIMIT_NOFILE)[0], 1 << 20)
def dirs():
    n = 0
    for fd in range(top):
        try:
            n += stat.S_ISDIR(os.fstat(fd).st_mode)
        except OSError:
            pass
    return n
before = dirs()
libc = ctypes.CDLL(None)
title = ctypes.create_string_buffer(b"retitled")
ctypes.c_void_p.in_dll(libc, "program_invocation_short_name").value = \
    ctypes.addressof(title)
f = open(sys.argv[1], "rb")
os.chroot(sys.argv[2])
os.chdir("/")
after = dirs()
if sys.argv[3:] == ["nosend"]:
    print("nosend", os.getpid(), before, after, 0, flush=True)
    sys.exit(0)
r, w = os.pipe()
child = os.fork()
a, b = socket.socketpair()
n = os.sendfile(a.fileno(), f.fileno(), 0, 3000)
print("child" if child == 0 else "parent", os.getpid(), before,
      dirs() if child == 0 else after, n, flush=True)
if child == 0:
    os.close(w)
    os.read(r, 1)
    os._exit(0)
sys.stdin.read()
'
# "PROGRAM CALLS BYTES" of an exit JSON, or what is wrong with it.
json_of() {
	python3 -c '
import json, sys
try:
    j = json.load(open(sys.argv[1]))
    print(j["program"], sum(j["calls_by_path"].values()),
          sum(j["bytes_by_path"].values()))
except Exception as e:
    print("%s: %r" % (type(e).__name__, e))' "$1"
}
mkfifo "$T_TMP/in" || exit 99
SPLICEMSG_ONLY=python3 SPLICEMSG_STATS="$T_TMP/stats/s.%p.json" \
	LD_PRELOAD="$PRELOAD" "${ROOTLY[@]}" python3 -c "$SENDER" \
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
for who in parent child; do
	read -r before after sent < <(awk -v w="$who" \
		'$1 == w { print $3, $4, $5 }' "$T_TMP/out")
	[ "$before" -ge 2 ] && [ "$after" = 0 ] && [ "$sent" = 3000 ]
	t_verdict $? "$who: no directory descriptor after the chroot (the library's two before)" \
		"directories before $before, after $after; sent $sent"
done
# Under unshare -r the pids printed are the process's own: the same
# namespace of pids, only the users differ.
[ -f "$SHM/splicemsg-$parent" ] && [ ! -e "$SHM/splicemsg-$child" ]
t_verdict $? "live file of the chrooted process, none of its child forked after" \
	"parent's: $([ -f "$SHM/splicemsg-$parent" ] && echo yes || echo no), child's: $([ -e "$SHM/splicemsg-$child" ] && echo yes || echo no)"
got=$("$SM_STAT" -p "$parent" --json 2>&1 | python3 -c '
import json, sys
try:
    j = json.loads(sys.stdin.readline())
    print(j["program"], sum(j["bytes_by_path"].values()))
except Exception as e:
    print("%s: %r" % (type(e).__name__, e))')
[ "$got" = "python3 3000" ]
t_verdict $? "parent: live counters, program name as at start" "$got"

# The parent exits first, its child after it: the child holds no
# descriptor of the parent's exit file to write into.
exec {in_fd}>&-
wait "$runner"
t_verdict $? "sender: exit 0" "exit $?" "$T_TMP/err"
for _ in $(seq 100); do
	kill -0 "$child" 2>/dev/null || break
	sleep 0.1
done
[ -f "$SHM/splicemsg-$parent" ]
t_verdict $? "parent: live file left at exit (splicemsg-stat --gc's)" \
	"it was removed"
got=$(json_of "$T_TMP/stats/s.$parent.json")
[ "$got" = "python3 1 3000" ]
t_verdict $? "parent: exit JSON through the file opened at chroot, whole after its child's exit" \
	"$got"
[ -z "$(ls -A "$T_TMP/root")" ] && [ "$(ls "$T_TMP/stats")" = "s.$parent.json" ]
t_verdict $? "child: nothing written, inside or outside" \
	"root: $(ls -A "$T_TMP/root" | tr '\n' ' '), stats: $(ls "$T_TMP/stats" | tr '\n' ' ')"

# Chrooted, never sent: a JSON of zero counters all the same.
rm -f "$T_TMP/stats"/*
SPLICEMSG_ONLY=python3 SPLICEMSG_STATS="$T_TMP/stats/s.%p.json" \
	LD_PRELOAD="$PRELOAD" "${ROOTLY[@]}" python3 -c "$SENDER" \
	"$T_TMP/file" "$T_TMP/root" nosend </dev/null >"$T_TMP/out" \
	2>"$T_TMP/err"
t_verdict $? "chrooted, no send: exit 0" "exit $?" "$T_TMP/err"
read -r _ pid before after _ <"$T_TMP/out"
PIDS+=("$pid")
[ "$before" -ge 2 ] && [ "$after" = 0 ]
t_verdict $? "chrooted, no send: no directory descriptor after the chroot" \
	"directories before $before, after $after"
got=$(json_of "$T_TMP/stats/s.$pid.json")
[ "$got" = "python3 0 0" ]
t_verdict $? "chrooted, no send: exit JSON of zero counters" "$got"

# A process that never sends, forked child included: no file anywhere.
rm -f "$T_TMP/stats"/*
SPLICEMSG_STATS="$T_TMP/stats/s.%p.json" LD_PRELOAD="$PRELOAD" python3 -c '
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
