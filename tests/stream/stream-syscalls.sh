#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# What auto's coalescing is worth, in syscalls: N responses of the corked
# idiom (TCP_CORK, writev(250 B headers), sendfile(4 KiB body), uncork;
# tests/bench/sm_resp), counted by strace natively and under the shim.
# Natively that is four syscalls per response.  Under auto each response
# must be one poll (the header is held only if the kernel would take it),
# one fstat (the body's size) and one sendmsg of headers and body: no
# zero-length sendfile (an offset pointer on the stack needs no check), no
# setsockopt (the cork is lazy and the body pushes), no io_uring, and no
# futex (the cork-ceiling timer is not woken per response).  The stats
# must agree: the responses coalesced, their bodies on path sendmsg.
# With a 64 KiB body (above SM_DIRECT_MAX) the headers go ahead of
# sendfile(2): one poll, one send, one sendfile, and still no setsockopt.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
# shellcheck source=tests/stream/lib.sh
. "$(dirname "$0")/lib.sh"

N=2000
SM_RESP=$top_builddir/tests/bench/sm_resp

sm_init
sm_require_lib
command -v strace >/dev/null || sm_skip_rest "strace is not installed"
[ -x "$SM_RESP" ] || { t_error setup "$SM_RESP not built"; t_finish; }

# count FILE SYSCALL...: calls of those syscalls in an strace -c table
count() {
	local f=$1
	shift
	awk -v want=" $* " '
		index(want, " " $NF " ") && $4 ~ /^[0-9]+$/ { n += $4 }
		END { print n + 0 }' "$f"
}

# run NAME BODY [VAR=VALUE...]: strace -f -c sm_resp, with the shim if given
run() {
	local name=$1 body=$2 out
	shift 2
	# (LeakSanitizer cannot run under ptrace: off in the sanitizer build)
	out=$(strace -f -qq -c -o "$SM_TMP/$name.sc" env \
	      ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	      "$@" "$SM_RESP" cork 250 "$body" "$N" 2>&1)
	case $out in
	*ok=1*) return 0 ;;
	esac
	t_error "$name" "sm_resp: $out"
	t_finish
}

run native 4096
run auto 4096 LD_PRELOAD="$SM_PRELOAD" SPLICEMSG_ENGINE=auto \
	SPLICEMSG_STATS="$SM_TMP/auto.%p.json"
run bulk 65536 LD_PRELOAD="$SM_PRELOAD" SPLICEMSG_ENGINE=auto

# The idiom itself, so that the comparison means something.
n_sf=$(count "$SM_TMP/native.sc" sendfile sendfile64)
n_wv=$(count "$SM_TMP/native.sc" writev)
n_so=$(count "$SM_TMP/native.sc" setsockopt)
if [ "$n_sf" -ge "$N" ] && [ "$n_wv" -ge "$N" ] && [ "$n_so" -ge $((2 * N)) ]
then
	t_pass "native: $n_wv writev, $n_sf sendfile, $n_so setsockopt for $N responses"
else
	t_fail "native" "$n_wv writev, $n_sf sendfile, $n_so setsockopt for $N responses"
fi

a=$SM_TMP/auto.sc
few=$((N / 20))		# the first responses may find the socket full
check_at_most() {
	local what=$1 got=$2 max=$3
	if [ "$got" -le "$max" ]; then
		t_pass "$what $got (at most $max)"
	else
		t_fail "$what" "$got calls for $N responses, at most $max"
	fi
}
# three_per_response NAME FILE SYSCALL...: those, summed, at most 3 a response
three_per_response() {
	local name=$1 f=$2 per
	shift 2
	per=$(count "$f" "$@")
	if [ "$per" -le $((3 * N + few)) ]; then
		t_pass "$name: $per syscalls of the idiom's kinds, $((per * 100 / N))/100 per response"
	else
		t_fail "$name: syscalls" "$per for $N responses, more than 3 per response"
	fi
}
check_at_most "auto: sendfile" "$(count "$a" sendfile sendfile64)" "$few"
check_at_most "auto: setsockopt" "$(count "$a" setsockopt)" "$few"
check_at_most "auto: writev" "$(count "$a" writev)" "$few"
check_at_most "auto: io_uring_enter" "$(count "$a" io_uring_enter)" 0
check_at_most "auto: futex" "$(count "$a" futex)" "$few"
sm=$(count "$a" sendmsg)
if [ "$sm" -ge $((N - few)) ] && [ "$sm" -le $((N + few)) ]; then
	t_pass "auto: sendmsg $sm for $N responses"
else
	t_fail "auto: sendmsg" "$sm calls for $N responses"
fi
three_per_response auto "$a" sendmsg sendfile sendfile64 writev setsockopt \
	poll newfstatat fstat statx io_uring_enter futex lseek

# 64 KiB: the headers ahead of the body, which pushes its own last segment
a=$SM_TMP/bulk.sc
check_at_most "bulk: setsockopt" "$(count "$a" setsockopt)" "$few"
check_at_most "bulk: sendmsg" "$(count "$a" sendmsg)" "$few"
sf=$(count "$a" sendfile sendfile64)
hd=$(count "$a" sendto send)
if [ "$sf" -eq "$N" ] && [ "$hd" -ge $((N - few)) ] && [ "$hd" -le "$N" ]; then
	t_pass "bulk: $hd header sends, $sf sendfile for $N responses"
else
	t_fail "bulk" "$hd header sends, $sf sendfile for $N responses"
fi
three_per_response bulk "$a" sendmsg sendto sendfile sendfile64 writev \
	setsockopt poll newfstatat fstat statx io_uring_enter lseek

stats=$(python3 - "$SM_TMP" "$N" <<'EOF'
import glob, json, sys
d, n = sys.argv[1], int(sys.argv[2])
s = [json.load(open(f)) for f in glob.glob(d + "/auto.*.json")]
co = sum(x["coalesced"] for x in s)
sm = sum(x["bytes_by_path"]["sendmsg"] for x in s)
print(co, sm, "ok" if len(s) == 1 and co >= n * 95 // 100 and
      sm >= co * 4096 else "bad")
EOF
)
case $stats in
*ok) t_pass "auto stats: coalesced, sendmsg bytes: $stats" ;;
*) t_fail "auto stats" "coalesced, sendmsg bytes: $stats" ;;
esac
sm_finish
