#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# vsftpd under libsplicemsg: a standalone vsftpd (listen=YES) on a free
# loopback port, anonymous, its session processes chrooted into the served
# tree, run through the wrapper with statistics, for ENGINE auto and uring.
# curl fetches files of several sizes over FTP in passive mode, in one
# session, and each copy is compared byte for byte.  vsftpd is the program
# whose session process chroots before its first sendfile and leaves by
# _exit: the live counters file, made at the chroot, must exist while a
# session runs (a second session, held open after its transfer, is watched
# with splicemsg-stat, python's ftplib as its client) and is left at its
# exit for splicemsg-stat --gc, and each session process that sent must
# leave its exit JSON, opened at the chroot and written from inside it,
# with the bytes it sent and the program "vsftpd".  Other processes that
# chrooted leave zero counters; those that neither chroot nor send (the
# listener) leave no file.
#
# vsftpd's seccomp sandbox is off in the private config: under a seccomp
# filter the shim steps aside and writes no statistics (docs/semantics.md).
#
# Root is needed (vsftpd chroots and changes user).  One line per check, a
# summary line; exit 0 pass, 1 fail, 77 skip, 99 harness error.
#
# Environment: top_builddir, top_srcdir, SM_LIB (the library), SM_WRAPPER
# (default $top_builddir/tools/splicemsg), SM_STAT.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u

# shellcheck source=tests/t_lib.sh
. "$(cd "$(dirname "$0")/.." && pwd)/t_lib.sh"
SM_WRAPPER=${SM_WRAPPER:-$top_builddir/tools/splicemsg}
[[ $SM_WRAPPER == /* ]] || SM_WRAPPER=$PWD/$SM_WRAPPER
SM_STAT=${SM_STAT:-$top_builddir/tools/splicemsg-stat}
T_TIMEOUT=${T_TIMEOUT:-60}
t_clean_env
export SPLICEMSG_LIB=$SM_LIB

VSFTPD=$(PATH=$PATH:/usr/sbin:/sbin command -v vsftpd) || {
	echo "SKIP $T_NAME: vsftpd is not installed (scripts/setup installs it)"
	exit 77
}
command -v curl >/dev/null ||
	{ echo "SKIP $T_NAME: curl is not installed"; exit 77; }
[ "$(id -u)" = 0 ] ||
	{ echo "SKIP $T_NAME: vsftpd needs root (chroot, its users)"; exit 77; }
# The session runs as ftp_username; nopriv_user's processes too.
FTP_USER=ftp
id "$FTP_USER" >/dev/null 2>&1 || FTP_USER=nobody
id nobody >/dev/null 2>&1 ||
	{ echo "SKIP $T_NAME: no user nobody for vsftpd"; exit 77; }
for f in "$SM_WRAPPER" "$SM_LIB" "$SM_STAT"; do
	[ -e "$f" ] || { echo "ERROR: $f not found (make check builds it)"; exit 99; }
done
[ -d /dev/shm ] || { echo "SKIP $T_NAME: no /dev/shm"; exit 77; }

T_TMP=
VS_PID=
# shellcheck disable=SC2317 # called by the EXIT trap
t_cleanup() {
	vs_stop
	[ -n "$T_TMP" ] && rm -rf "$T_TMP"
}
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/$T_NAME.XXXXXX") || exit 99
trap t_cleanup EXIT
trap 'exit 99' INT TERM

# The served tree: vsftpd refuses an anonymous root its user can write.
ROOT=$T_TMP/ftp
mkdir -m 0755 "$ROOT" "$T_TMP/empty" || exit 99
SIZES="0 1 4095 65536 1048577 8388608"
for n in $SIZES; do
	head -c "$n" /dev/urandom >"$ROOT/f$n" || exit 99
done
SLOW=2097152
head -c "$SLOW" /dev/urandom >"$ROOT/slow" || exit 99
chmod 0644 "$ROOT"/*

# vs_start ENGINE: sets VS_PID, PORT, STATS.  The port is free when chosen,
# not necessarily when bound: a vsftpd that dies is retried.
vs_start() {
	local engine=$1 conf=$T_TMP/vsftpd-$1.conf

	STATS=$T_TMP/stats-$engine
	# The session process runs as $FTP_USER: it writes its JSON here.
	mkdir -m 1777 "$STATS" && chmod 1777 "$STATS" || return
	for _ in 1 2 3; do
		PORT=$(t_free_port)
		cat >"$conf" <<CONF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$PORT
background=NO
anonymous_enable=YES
no_anon_password=YES
anon_root=$ROOT
ftp_username=$FTP_USER
nopriv_user=nobody
local_enable=NO
write_enable=NO
secure_chroot_dir=$T_TMP/empty
pasv_enable=YES
connect_from_port_20=NO
dirmessage_enable=NO
xferlog_enable=NO
vsftpd_log_file=$T_TMP/vsftpd-$engine.log
seccomp_sandbox=NO
use_sendfile=YES
CONF
		"$SM_WRAPPER" --engine "$engine" --only vsftpd \
			--stats "$STATS/vsftpd.%p.json" -- \
			"$VSFTPD" "$conf" >"$T_TMP/vsftpd-$engine.out" 2>&1 &
		VS_PID=$!
		t_wait_listen "$VS_PID" "$PORT" && return 0
		vs_stop
	done
	return 1
}

vs_stop() {
	[ -n "$VS_PID" ] || return 0
	t_stop_child "$VS_PID"
	VS_PID=
}

# Fetches argv[2] ("slow") in one session, says so, and quits only when its
# stdin closes.
HOLDER='
import ftplib, sys
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", int(sys.argv[1]), timeout=30)
ftp.login()
ftp.set_pasv(True)
with open(sys.argv[2], "wb") as f:
    ftp.retrbinary("RETR slow", f.write)
print("fetched", flush=True)
sys.stdin.read()
ftp.quit()
'

# The session processes' JSON files, one line each: "PID PROGRAM BYTES".
stats_lines() {
	python3 -c '
import glob, json, os, sys
for p in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    try:
        j = json.load(open(p))
        print(j["pid"], j["program"], sum(j["bytes_by_path"].values()))
    except Exception as e:
        print("bad", p, "%s: %r" % (type(e).__name__, e))' "$1"
}

run_engine() {
	local engine=$1 tag=vsftpd-$1 args=() n bad='' total=0 seen='' live
	local holder hold_fd st got want

	if ! vs_start "$engine"; then
		t_error "$tag start" "vsftpd did not listen"
		t_show "$T_TMP/vsftpd-$engine.out"
		return
	fi

	# One session, every size, passive mode.
	for n in $SIZES; do
		args+=(-o "$T_TMP/got-$engine-f$n" "ftp://127.0.0.1:$PORT/f$n")
		total=$((total + n))
	done
	timeout -k 5 "$T_TIMEOUT" curl -sS --ftp-pasv "${args[@]}" \
		>"$T_TMP/curl.out" 2>&1
	st=$?
	t_verdict "$st" "$tag: curl fetched every file (one session)" \
		"exit $st" "$T_TMP/curl.out"
	for n in $SIZES; do
		cmp -s "$ROOT/f$n" "$T_TMP/got-$engine-f$n" || bad="$bad f$n"
	done
	[ -z "$bad" ]
	t_verdict $? "$tag: every byte of every file" "differ:$bad"

	# A second session, held open after its transfer while it is
	# watched: the live counters of the process that sent, named vsftpd.
	mkfifo "$T_TMP/hold-$engine" || return
	timeout -k 5 "$T_TIMEOUT" python3 -c "$HOLDER" "$PORT" \
		"$T_TMP/got-$engine-slow" <"$T_TMP/hold-$engine" \
		>"$T_TMP/holder.out" 2>&1 &
	holder=$!
	exec {hold_fd}>"$T_TMP/hold-$engine"
	for _ in $(seq 100); do
		[ -s "$T_TMP/holder.out" ] && break
		sleep 0.1
	done
	seen=$("$SM_STAT" -n vsftpd --json 2>"$T_TMP/stat.err" | python3 -c '
import json, sys
for line in sys.stdin:
    j = json.loads(line)
    if sum(j["bytes_by_path"].values()) == int(sys.argv[1]):
        print(j["pid"], j["program"])' "$SLOW")
	live=/dev/shm/splicemsg-${seen%% *}
	[ -n "$seen" ] && [ "${seen#* }" = vsftpd ] && [ -f "$live" ]
	t_verdict $? "$tag: live counters of the open session that sent, program vsftpd" \
		"seen: '$seen'" "$T_TMP/stat.err"
	exec {hold_fd}>&-
	wait "$holder"
	st=$?
	[ "$st" = 0 ] && cmp -s "$ROOT/slow" "$T_TMP/got-$engine-slow"
	t_verdict $? "$tag: the watched session's file, every byte" \
		"client exit $st" "$T_TMP/holder.out"
	# The session process ends at QUIT.  Chrooted, it has no path to
	# unlink its live file by: splicemsg-stat --gc removes it.
	for _ in $(seq 50); do
		[ -n "${seen%% *}" ] && kill -0 "${seen%% *}" 2>/dev/null ||
			break
		sleep 0.1
	done
	"$SM_STAT" --gc >"$T_TMP/gc.out" 2>&1
	st=$?
	[ -n "$seen" ] && [ "$st" = 0 ] && [ ! -e "$live" ] &&
		grep -q "^removed $live: " "$T_TMP/gc.out"
	t_verdict $? "$tag: the session's live file left at its exit, removed by --gc" \
		"${seen:+gc exit $st}${seen:-no session seen}" "$T_TMP/gc.out"
	vs_stop

	# The two sessions that sent wrote JSON, from inside their chroot,
	# named vsftpd, each with the bytes of its session; every other
	# process that chrooted, zero counters.
	stats_lines "$STATS" >"$T_TMP/stats.lines"
	got=$(awk '$3 != 0 { print $2, $3 }' "$T_TMP/stats.lines" | sort |
		paste -sd,)
	want=$(printf 'vsftpd %s\n' "$total" "$SLOW" | sort | paste -sd,)
	[ "$got" = "$want" ]
	t_verdict $? "$tag: exit JSON of each sending session, bytes and program" \
		"got '$got', want '$want'" "$T_TMP/stats.lines"
	got=$(awk '$3 == 0 && $2 != "vsftpd"' "$T_TMP/stats.lines")
	[ -z "$got" ]
	t_verdict $? "$tag: the other JSON files, zero counters of vsftpd" \
		"$got" "$T_TMP/stats.lines"
	[ -n "$seen" ] && grep -q "^${seen%% *} vsftpd $SLOW$" "$T_TMP/stats.lines"
	t_verdict $? "$tag: the watched process wrote the watched session's JSON" \
		"pid ${seen%% *}" "$T_TMP/stats.lines"
	bad=
	for f in /dev/shm/splicemsg-*; do
		[ -e "$f" ] || continue
		[ "$(cat "/proc/${f##*-}/comm" 2>/dev/null)" = vsftpd ] &&
			bad="$bad $f"
	done
	[ -z "$bad" ]
	t_verdict $? "$tag: no live file of a vsftpd left" "$bad"
}

for engine in auto uring; do
	run_engine "$engine"
done

t_finish
