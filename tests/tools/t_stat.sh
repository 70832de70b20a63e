#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# splicemsg-stat against live processes, as text, JSON and Prometheus
# metrics (checked by tests/tools/prom_check.py and promtool, and with -o
# read while it is replaced).  A python sender makes a few
# sendfile(2) calls over an AF_UNIX socketpair under libsplicemsg with
# SPLICEMSG_STATS set, then waits on its stdin while the reader looks at
# it: what the reader shows must be what the sender did, and what the
# library writes at exit.  Files the reader must skip (a killed process's,
# one of another version) are planted too, and --gc must remove exactly the
# dead processes' ones.  One line per check; exit 0
# pass, 1 fail, 77 skip, 99 harness error.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u

# shellcheck source=tests/t_lib.sh
. "$(cd "$(dirname "$0")/.." && pwd)/t_lib.sh"
SM_STAT=${SM_STAT:-$top_builddir/tools/splicemsg-stat}
# For a sanitizer build, its runtime comes first (see tests/stream/lib.sh).
SM_PRELOAD=${SM_PRELOAD:-$SM_LIB}
SHM=/dev/shm
CALLS=5
SIZE=12345
t_clean_env


[ -x "$SM_STAT" ] || { echo "ERROR: $SM_STAT not built"; exit 99; }
[ -f "$SM_LIB" ] || { echo "SKIP: $SM_LIB not built"; exit 77; }
command -v python3 >/dev/null ||
	{ echo "SKIP: python3 is needed for the sender"; exit 77; }
if [ ! -d "$SHM" ] || [ ! -w "$SHM" ]; then
	echo "SKIP: no writable $SHM for live counters"
	exit 77
fi

T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/$T_NAME.XXXXXX") || exit 99
# Senders not reaped yet: their pids, and the files named after them,
# are still ours.
T_PIDS=()
# shellcheck disable=SC2317 # run by the trap
cleanup() {
	local pid
	for pid in "${T_PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		rm -f "$SHM/splicemsg-$pid"
	done
	rm -f "$SHM/splicemsg-$$"
	rm -rf "$T_TMP"
}
# reaped PID: the pid may be another process's from now on.
reaped() {
	local i
	for i in "${!T_PIDS[@]}"; do
		[ "${T_PIDS[$i]}" = "$1" ] && unset "T_PIDS[$i]"
	done
}
trap cleanup EXIT
trap 'exit 99' INT TERM
export TMPDIR=$T_TMP

# Sends argv[1] files of argv[2] bytes, prints "PID CALLS BYTES", then
# waits until its stdin closes; with argv[3] it leaves by _exit(2) then.
# The alarm ends it if the test dies.
SENDER='
import os, signal, socket, sys, tempfile, threading
signal.alarm(60)
calls, size = int(sys.argv[1]), int(sys.argv[2])
a, b = socket.socketpair()

def drain():
    while b.recv(1 << 16):
        pass

threading.Thread(target=drain, daemon=True).start()
made = sent = 0
with tempfile.TemporaryFile() as f:
    f.write(os.urandom(size))
    f.flush()
    for i in range(calls):
        sent += os.sendfile(a.fileno(), f.fileno(), 0, size)
        made += 1
print(os.getpid(), made, sent, flush=True)
sys.stdin.read()
if len(sys.argv) > 3:
    os._exit(0)
'

# start_sender NAME [_exit]: sets S_PID, S_CALLS, S_BYTES, S_FD (its stdin), S_DIR.
# S_PYTHON: the interpreter, by another name (the process's comm).
start_sender() {
	local got=
	S_DIR=$T_TMP/$1
	mkdir -p "$S_DIR"
	mkfifo "$S_DIR/in" || exit 99
	# Python leaks by design: a sanitizer's leak report is not ours.
	SPLICEMSG_STATS="$S_DIR/stats.%p.json" LD_PRELOAD="$SM_PRELOAD" \
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		"${S_PYTHON:-python3}" -c "$SENDER" "$CALLS" "$SIZE" ${2:+"$2"} \
		<"$S_DIR/in" >"$S_DIR/out" 2>"$S_DIR/err" &
	S_PID=$!
	T_PIDS+=("$S_PID")
	exec {S_FD}>"$S_DIR/in"
	for _ in $(seq 200); do
		[ -s "$S_DIR/out" ] && break
		kill -0 "$S_PID" 2>/dev/null || break
		sleep 0.1
	done
	read -r got S_CALLS S_BYTES <"$S_DIR/out"
	if [ "$got" != "$S_PID" ]; then
		echo "ERROR: the sender under $SM_PRELOAD did not start"
		sed -n 1,10p "$S_DIR/err" | sed 's/^/    /'
		exit 99
	fi
}

# run NAME ARGS...: the reader's NAME.out, NAME.err and NAME.rc in T_TMP.
run() {
	local name=$1
	shift
	timeout -k 5 30 "$SM_STAT" "$@" >"$T_TMP/$name.out" \
		2>"$T_TMP/$name.err"
	echo $? >"$T_TMP/$name.rc"
}
rc() { cat "$T_TMP/$1.rc"; }
lines() { wc -l <"$T_TMP/$1.out"; }
out() { echo "$T_TMP/$1.out"; }
err() { echo "$T_TMP/$1.err"; }

# json NAME EXPR: EXPR over L, the JSON lines NAME printed, or the error.
json() {
	python3 -c '
import json, sys
try:
    L = [json.loads(line) for line in open(sys.argv[1])]
    print(eval(sys.argv[2]))
except Exception as e:
    print("%s: %r" % (type(e).__name__, e))' "$T_TMP/$1.out" "$2"
}

# ---- a live sender -------------------------------------------------------

start_sender main
pid=$S_PID
main_fd=$S_FD
main_dir=$S_DIR
calls=$S_CALLS
bytes=$S_BYTES
[ -f "$SHM/splicemsg-$pid" ]
t_verdict $? "live counters file" "$SHM/splicemsg-$pid missing" "$main_dir/err"
[ "$T_FAIL" = 0 ] || t_finish

run pjson -p "$pid" --json
[ "$(rc pjson)" = 0 ] && [ "$(lines pjson)" = 1 ]
t_verdict $? "-p --json: one line" "exit $(rc pjson), $(lines pjson) lines" \
	"$(err pjson)"
got=$(json pjson 'L[0]["pid"]')
[ "$got" = "$pid" ]
t_verdict $? "-p --json: pid" "$got"
got=$(json pjson 'L[0]["program"]')
[ "$got" = python3 ]
t_verdict $? "-p --json: program" "$got"
# AF_UNIX sends without held headers go native, whatever the engine.
got=$(json pjson 'L[0]["calls_by_path"]["native"]')
[ "$got" -ge "$calls" ] 2>/dev/null
t_verdict $? "-p --json: native calls" "$got, the sender made $calls"
got=$(json pjson 'sum(L[0]["bytes_by_path"].values())')
[ "$got" = "$bytes" ]
t_verdict $? "-p --json: bytes" "$got, the sender sent $bytes"
want=$(sed -n 's/^SM_FB(\([a-z0-9_]*\),.*/\1/p' \
	"$top_srcdir/shim/stats.def" | paste -sd,)
got=$(json pjson '",".join(L[0]["fallbacks"])')
[ "$got" = "$want" ]
t_verdict $? "-p --json: every fallback" "$got, stats.def has $want"
got=$(json pjson 'abs(L[0]["time"] - __import__("time").time()) < 60')
[ "$got" = True ]
t_verdict $? "-p --json: time" "$got"

run ptext -p "$pid"
[ "$(rc ptext)" = 0 ] && [ "$(lines ptext)" = 1 ] &&
	grep -q "^$pid python3 native=$calls/" "$(out ptext)"
t_verdict $? "-p text: one line" "exit $(rc ptext)" "$(out ptext)"

run all
grep -q "^$pid python3 " "$(out all)"
t_verdict $? "no -p: lists the sender" "exit $(rc all)" "$(out all)"
run name -n python3 --json
grep -q "\"pid\":$pid," "$(out name)"
t_verdict $? "-n python3: finds the sender" "exit $(rc name)" "$(err name)"
run noname -n no-such-program
[ "$(rc noname)" = 1 ] && [ "$(lines noname)" = 0 ]
t_verdict $? "-n of no process: exit 1" "exit $(rc noname)" "$(out noname)"

t0=$(date +%s.%N)
run rate -p "$pid" -i 0.5 -c 2
t1=$(date +%s.%N)
[ "$(rc rate)" = 0 ] && [ "$(lines rate)" = 2 ]
t_verdict $? "-i 0.5 -c 2: two lines" "exit $(rc rate), $(lines rate) lines" \
	"$(out rate)"
! sed -n 1p "$(out rate)" | grep -q /s &&
	sed -n 2p "$(out rate)" | grep -q " native=$calls/[^ ]*(0/s,0/s) "
t_verdict $? "-i 0.5 -c 2: rates after the first" "not as due" "$(out rate)"
python3 -c "import sys; sys.exit(not 0.45 < $t1 - $t0 < 5)"
t_verdict $? "-i 0.5 -c 2: waits" "took $t0..$t1"
run jrate -p "$pid" -i 0.2 -c 3 --json
got=$(json jrate 'len(L) == 3 and L[0]["time"] < L[1]["time"] < L[2]["time"]')
[ "$got" = True ]
t_verdict $? "--json -i 0.2 -c 3: three samples" "$got" "$(out jrate)"

# ---- the Prometheus text format ------------------------------------------

# prom FILE ARGS...: prom_check.py's verdict on FILE, in $got.
PROM_FAMILIES=$( { printf 'calls\nbytes\nfallbacks\ncalls_by_socket\n'
	sed -n 's/^SM_COUNTER(\([a-z_]*\),.*/\1/p' "$top_srcdir/shim/counters.def"; } |
	sed 's/.*/splicemsg_&_total/' | paste -sd,)
prom() {
	got=$(python3 "$T_HERE/prom_check.py" "$1" \
		--families "$PROM_FAMILIES" "${@:2}" 2>&1)
}
run prom -p "$pid" --prometheus
run promj -p "$pid" --json
prom "$(out prom)" --json "$(out promj)"
[ "$(rc prom)" = 0 ] && [ "${got#ok}" != "$got" ]
t_verdict $? "--prometheus: strict format, one family per counter, --json's values" \
	"exit $(rc prom): $got" "$(out prom)"
if command -v promtool >/dev/null; then
	promtool check metrics <"$(out prom)" >"$T_TMP/promtool" 2>&1
	t_verdict $? "promtool check metrics" "" "$T_TMP/promtool"
else
	t_skip "promtool check metrics" "no promtool (Debian: prometheus)"
fi

# A second sender whose name needs escaping, and every process at once:
# each family's samples together, both senders' values right.
ln -s "$(python3 -c 'import os, sys; print(os.path.realpath(sys.executable))')" \
	"$T_TMP/py\"b\\s"
S_PYTHON=$T_TMP/py\"b\\s start_sender odd
odd_pid=$S_PID
odd_fd=$S_FD
run promall --prometheus
run jall --json
prom "$(out promall)" --json "$(out jall)" --pids "$pid,$odd_pid"
[ "$(rc promall)" = 0 ] && [ "${got#ok}" != "$got" ] &&
	grep -qF "program=\"py\\\"b\\\\s\"" "$(out promall)"
t_verdict $? "--prometheus of two processes: grouped, program=\"py\\\"b\\\\s\"" \
	"exit $(rc promall): $got" "$(out promall)"
exec {odd_fd}>&-
wait "$odd_pid"
reaped "$odd_pid"

# -o: node_exporter's textfile collector reads the file while it is
# replaced; every read must find a whole exposition.
tdir=$T_TMP/textfile
mkdir "$tdir"
run promo -p "$pid" --prometheus -o "$tdir/splicemsg.prom"
[ "$(rc promo)" = 0 ] && [ "$(lines promo)" = 0 ] &&
	cmp -s "$tdir/splicemsg.prom" "$(out prom)" &&
	[ "$(stat -c %a "$tdir/splicemsg.prom")" = 644 ] &&
	[ "$(ls -A "$tdir")" = splicemsg.prom ]
t_verdict $? "-o FILE: the exposition, mode 0644, nothing else left" \
	"exit $(rc promo), $tdir: $(ls -A "$tdir" | tr '\n' ' ')" "$(err promo)"
timeout -k 5 30 "$SM_STAT" -p "$pid" --prometheus -o "$tdir/splicemsg.prom" \
	-i 0.02 -c 100 &
writer=$!
got=$(python3 -c '
import sys, time
path, want = sys.argv[1], open(sys.argv[2], "rb").read()
reads = torn = 0
end = time.monotonic() + 2.5
while time.monotonic() < end:
    with open(path, "rb") as f:
        reads += 1
        torn += f.read() != want
print(torn, reads)' "$tdir/splicemsg.prom" "$(out prom)")
wait "$writer"
wrc=$?
[ $wrc = 0 ] && [ "${got%% *}" = 0 ] && [ "${got#* }" -gt 100 ] &&
	[ "$(ls -A "$tdir")" = splicemsg.prom ]
t_verdict $? "-o FILE -i 0.02 -c 100: every read while it is replaced is whole" \
	"exit $wrc, torn/reads: $got, $tdir: $(ls -A "$tdir" | tr '\n' ' ')"
run promnodir -p "$pid" --prometheus -o "$T_TMP/no/such/dir/x.prom"
[ "$(rc promnodir)" = 1 ] && grep -q "no/such/dir/x.prom" "$(err promnodir)"
t_verdict $? "-o into no directory: exit 1, said where" "exit $(rc promnodir)" \
	"$(err promnodir)"

# pid_max itself is never a process's pid.
nopid=$(cat /proc/sys/kernel/pid_max 2>/dev/null || echo 4194304)
run nopid -p "$nopid"
[ "$(rc nopid)" = 1 ] && [ -s "$(err nopid)" ] && [ "$(lines nopid)" = 0 ]
t_verdict $? "-p of no process: exit 1" "exit $(rc nopid)" "$(err nopid)"
run promnopid -p "$nopid" --prometheus -o "$tdir/gone.prom"
prom "$tdir/gone.prom"
[ "$(rc promnopid)" = 1 ] &&
	[ "$got" = "ok: $(tr , '\n' <<<"$PROM_FAMILIES" | wc -l) families, 0 samples" ]
t_verdict $? "--prometheus -o of no process: exit 1, written without samples" \
	"exit $(rc promnopid): $got"

bad=
for args in "-i 0" "-i -1" "-i x" "-i nan" "-c 2" "-c 0 -i 1" "-p 0" \
	"-p x" "-p 1 -n x" "--bogus" "extra" "-o x" "--json --prometheus" \
	"--prometheus -o" "--gc -p 1" "--gc --json" "--gc -i 1"; do
	# shellcheck disable=SC2086
	run usage $args
	[ "$(rc usage)" = 2 ] || bad="$bad [$args]: exit $(rc usage)"
done
[ -z "$bad" ]
t_verdict $? "usage errors: exit 2" "$bad"

# A file of another layout, named after a live process (this shell):
# skipped, with one warning however many intervals.
python3 -c '
import struct, sys
sys.stdout.buffer.write(struct.pack("<QQQ", 0x74617473534d5053, 99,
                                    int(sys.argv[1])) + bytes(512))' $$ \
	>"$SHM/splicemsg-$$"
run planted -i 0.2 -c 3 --json
[ "$(grep -c "splicemsg-$$" "$(err planted)")" = 1 ]
t_verdict $? "another version: one warning" "not once" "$(err planted)"
! grep -q "\"pid\":$$," "$(out planted)" &&
	[ "$(grep -c "\"pid\":$pid," "$(out planted)")" = 3 ]
t_verdict $? "another version: skipped, the others shown" "no" \
	"$(out planted)"
run plantedp -p $$
[ "$(rc plantedp)" = 1 ]
t_verdict $? "another version: -p exits 1" "exit $(rc plantedp)" \
	"$(out plantedp)"
rm -f "$SHM/splicemsg-$$"

# ---- a killed sender leaves its file behind ------------------------------

start_sender killed
kpid=$S_PID
# bash reports the death on its own stderr, not the wait's.
exec 3>&2 2>/dev/null
kill -KILL "$kpid"
wait "$kpid"
exec 2>&3 3>&- {S_FD}>&-
reaped "$kpid"
if [ -f "$SHM/splicemsg-$kpid" ]; then
	run stale --json
	! grep -q "\"pid\":$kpid," "$(out stale)"
	t_verdict $? "stale file: skipped" "listed" "$(out stale)"
	run stalep -p "$kpid"
	[ "$(rc stalep)" = 1 ]
	t_verdict $? "stale file: -p exits 1" "exit $(rc stalep)" \
		"$(out stalep)"
else
	echo "SKIP stale file: SIGKILL left no $SHM/splicemsg-$kpid"
fi

# ---- --gc removes what dead processes left -------------------------------

# plant PID CREATED_NS: a complete current-version header for PID, made at
# CLOCK_BOOTTIME CREATED_NS (the shell's own pid: alive, never a sender).
version=$(sed -n 's/^#define SM_STATS_VERSION \([0-9]*\)$/\1/p' \
	"$top_srcdir/shim/counters.h")
plant() {
	python3 -c '
import struct, sys
sys.stdout.buffer.write(struct.pack("<QQQQ", 0x74617473534d5053,
                                    int(sys.argv[1]), int(sys.argv[2]),
                                    int(sys.argv[3])) +
                        b"bash".ljust(64, b"\0") + bytes(4096))' \
		"$version" "$1" "$2" >"$SHM/splicemsg-$1"
}
# The shell's own pid, planted as if a process before it had it and died.
plant $$ 1
# A killed process's empty file (it died making it) is garbage too; a
# live one's empty file is still being made.
[ -e "$SHM/splicemsg-$kpid" ] || : >"$SHM/splicemsg-$kpid"
run gc --gc
[ "$(rc gc)" = 0 ] && [ ! -e "$SHM/splicemsg-$kpid" ] &&
	grep -qx "removed $SHM/splicemsg-$kpid: process gone" "$(out gc)"
t_verdict $? "--gc: a killed process's file removed" "exit $(rc gc)" \
	"$(out gc)"
[ ! -e "$SHM/splicemsg-$$" ] &&
	grep -qx "removed $SHM/splicemsg-$$: its pid is another process's now" \
		"$(out gc)"
t_verdict $? "--gc: a file older than its pid's process removed" \
	"$(ls -l "$SHM/splicemsg-$$" 2>&1)" "$(out gc)"
[ -f "$SHM/splicemsg-$pid" ] && ! grep -q "splicemsg-$pid:" "$(out gc)"
t_verdict $? "--gc: a live sender's file kept" "removed" "$(out gc)"
# Made now, after the shell started: not provably stale by time, and the
# shell does not map it: removed by the maps check.
plant $$ "$(python3 -c 'import time; print(time.clock_gettime_ns(time.CLOCK_BOOTTIME))')"
run gc2 --gc
[ "$(rc gc2)" = 0 ] && [ ! -e "$SHM/splicemsg-$$" ] &&
	grep -qx "removed $SHM/splicemsg-$$: not mapped by its process (pid reused, or exec)" \
		"$(out gc2)"
t_verdict $? "--gc: a file its live process does not map removed" \
	"exit $(rc gc2)" "$(out gc2)"
: >"$SHM/splicemsg-$$"
run gc3 --gc
[ "$(rc gc3)" = 0 ] && [ -e "$SHM/splicemsg-$$" ] && [ "$(lines gc3)" = 0 ]
t_verdict $? "--gc: a live process's empty file (being made) kept" \
	"exit $(rc gc3)" "$(out gc3)"
rm -f "$SHM/splicemsg-$$" "$SHM/splicemsg-$kpid"

# ---- after a normal exit -------------------------------------------------

exec {main_fd}>&-
wait "$pid"
t_verdict $? "sender: exit 0" "it failed" "$main_dir/err"
reaped "$pid"
[ ! -e "$SHM/splicemsg-$pid" ]
t_verdict $? "live file removed at exit" "$SHM/splicemsg-$pid remains"
run gone --json
! grep -q "\"pid\":$pid," "$(out gone)"
t_verdict $? "exited process: not listed" "listed" "$(out gone)"
run gonep -p "$pid"
[ "$(rc gonep)" = 1 ]
t_verdict $? "exited process: -p exits 1" "exit $(rc gonep)" "$(out gonep)"

# An idle process's live counters are its final ones, key for key.
got=$(python3 -c '
import json, sys
try:
    live = json.loads(open(sys.argv[1]).readline())
    end = json.load(open(sys.argv[2]))
except Exception as e:
    sys.exit("%s: %r" % (type(e).__name__, e))
for k in ("time", "version", "engine"):
    live.pop(k, None)
    end.pop(k, None)
print("same" if live == end else "live %s, exit %s" % (live, end))' \
	"$(out pjson)" "$main_dir/stats.$pid.json" 2>&1)
[ "$got" = same ]
t_verdict $? "live counters = exit stats" "$got"

# ---- after _exit(2), which runs no destructor ----------------------------

start_sender fast _exit
exec {S_FD}>&-
wait "$S_PID"
t_verdict $? "_exit sender: exit 0" "it failed" "$S_DIR/err"
reaped "$S_PID"
[ ! -e "$SHM/splicemsg-$S_PID" ]
t_verdict $? "_exit: live file removed" "$SHM/splicemsg-$S_PID remains"
got=$(python3 -c '
import json, sys
try:
    print(sum(json.load(open(sys.argv[1]))["bytes_by_path"].values()))
except Exception as e:
    print("%s: %r" % (type(e).__name__, e))' "$S_DIR/stats.$S_PID.json")
[ "$got" = "$S_BYTES" ]
t_verdict $? "_exit: stats written" "$got, the sender sent $S_BYTES"

t_finish
