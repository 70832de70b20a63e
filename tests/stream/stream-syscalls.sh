#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# What auto's coalescing is worth, in syscalls: N responses of the corked
# idiom (TCP_CORK, writev(250 B headers), sendfile(4 KiB body), uncork;
# tests/bench/sm_resp), traced by strace natively and under the shim.
# Natively that is four syscalls per response.  Under auto a response whose
# headers were held (poll said the kernel would take them at once) must be
# one poll, one fstat (the body's size) and one sendmsg of headers and body:
# no zero-length sendfile (an offset pointer on the stack needs no check),
# no setsockopt (the cork is lazy and the body pushes), no io_uring, and no
# futex on the sending thread (the cork-ceiling timer is not woken per
# response).  A response that found the socket full keeps the native idiom
# after its poll.  How many did depends on how fast the receiver runs, so
# the bounds follow the stats' count of held responses, which must be most.
# With a 64 KiB body (above SM_DIRECT_MAX) held headers go ahead of
# sendfile(2): one poll, one send, one sendfile, and no setsockopt.
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

# run NAME BODY [VAR=VALUE...]: sm_resp traced by strace -ff, with the shim
# if given, its stats in $SM_TMP/NAME.PID.json.  $SM_TMP/NAME.count then
# holds "SYSCALL CALLS" for the sending process, its main thread and the
# shim's timer thread, not the forked receiver.  The timer's futex waits
# tick with wall time, so they are counted apart, as timer_futex.
run() {
	local name=$1 body=$2 out main recv f
	shift 2
	# (LeakSanitizer cannot run under ptrace: off in the sanitizer build)
	out=$(strace -ff -qq -o "$SM_TMP/$name.tr" env \
	      ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	      SPLICEMSG_STATS="$SM_TMP/$name.%p.json" \
	      "$@" "$SM_RESP" cork 250 "$body" "$N" 2>&1)
	case $out in
	*ok=1*) ;;
	*)	t_error "$name" "sm_resp: $out"
		t_finish ;;
	esac
	main=$(grep -l '^connect(' "$SM_TMP/$name".tr.*)
	recv=$(grep -l '^accept' "$SM_TMP/$name".tr.*)
	if [ "$(wc -w <<<"$main $recv")" -ne 2 ]; then
		t_error "$name" "no one sender and one receiver in the traces"
		t_finish
	fi
	for f in "$SM_TMP/$name".tr.*; do
		[ "$f" = "$recv" ] && continue
		awk -v main="$([ "$f" = "$main" ] && echo 1)" '
			match($0, /^[a-z0-9_]+\(/) {
				n = substr($0, 1, RLENGTH - 1)
				if (n == "futex" && !main)
					n = "timer_futex"
				print n
			}' "$f"
	done | sort | uniq -c | awk '{ print $2, $1 }' >"$SM_TMP/$name.count"
}

# count NAME SYSCALL...: calls of those syscalls by NAME's sender
count() {
	local name=$1
	shift
	awk -v want=" $* " 'index(want, " " $1 " ") { n += $2 }
		END { print n + 0 }' "$SM_TMP/$name.count"
}

# one NAME KEY: a counter of NAME's stats, -1 unless one process wrote them
one() {
	sm_stat "$1" "s[\"$2\"] if n == 1 else -1"
}

check_at_most() {
	local what=$1 got=$2 max=$3
	if [ "$got" -le "$max" ]; then
		t_pass "$what $got (at most $max)"
	else
		t_fail "$what" "$got calls for $N responses, at most $max"
	fi
}

# held NAME: sets h to how many responses held their headers, which must be
# at least half, or the run measured the native idiom and proves nothing
held() {
	h=$(one "$1" hold_writes)
	if [ "$h" -ge $((N / 2)) ] && [ "$h" -le "$N" ]; then
		t_pass "$1: $h of $N responses held their headers"
	else
		t_fail "$1: held" "$h of $N responses held their headers"
	fi
}

# per_response NAME HELD SYSCALL...: those, summed, at most three for each
# held response and six (poll, fstat, the native four) for each other one,
# beside startup's hundred at most (the loader's and ASan's fstat calls)
per_response() {
	local name=$1 h=$2 per max
	shift 2
	per=$(count "$name" "$@")
	max=$((3 * h + 6 * (N - h) + 100))
	if [ "$per" -le "$max" ]; then
		t_pass "$name: $per syscalls of the idiom's kinds (at most $max), $((per * 100 / N))/100 per response"
	else
		t_fail "$name: syscalls" "$per for $N responses, at most $max"
	fi
}

run native 4096
run auto 4096 LD_PRELOAD="$SM_PRELOAD" SPLICEMSG_ENGINE=auto
run bulk 65536 LD_PRELOAD="$SM_PRELOAD" SPLICEMSG_ENGINE=auto

# The idiom itself, so that the comparison means something.
n_sf=$(count native sendfile sendfile64)
n_wv=$(count native writev)
n_so=$(count native setsockopt)
if [ "$n_sf" -ge "$N" ] && [ "$n_wv" -ge "$N" ] && [ "$n_so" -ge $((2 * N)) ]
then
	t_pass "native: $n_wv writev, $n_sf sendfile, $n_so setsockopt for $N responses"
else
	t_fail "native" "$n_wv writev, $n_sf sendfile, $n_so setsockopt for $N responses"
fi

# Setup makes a few setsockopt calls (TCP_CONGESTION, TCP_NODELAY); each
# response that was not held makes the native idiom's calls.
held auto
u=$((N - h))
check_at_most "auto: sendfile" "$(count auto sendfile sendfile64)" "$u"
check_at_most "auto: writev" "$(count auto writev)" "$u"
check_at_most "auto: setsockopt" "$(count auto setsockopt)" $((2 * u + 5))
check_at_most "auto: io_uring_enter" "$(count auto io_uring_enter)" 0
# sm_resp never fstats its file: the shim asks once and keeps the answer
# (startup's own, the loader's and ASan's, are below a hundred)
check_at_most "auto: fstat" "$(count auto newfstatat fstat fstat64 statx)" 100
check_at_most "auto: futex on the sending thread" "$(count auto futex)" 10
echo "# auto: the timer thread's futex calls (its ticks, not bounded): $(count auto timer_futex)"
sm=$(count auto sendmsg)
co=$(one auto coalesced)
# (a response stalled past the cork bound between its writev and its
# sendfile has its headers flushed by the timer, and is not coalesced)
if [ "$co" -ge $((h - N / 20)) ] && [ "$sm" -eq "$co" ]; then
	t_pass "auto: $sm sendmsg for $co coalesced responses"
else
	t_fail "auto: sendmsg" "$sm calls for $co coalesced of $h held"
fi
per_response auto "$h" sendmsg sendfile sendfile64 writev setsockopt \
	poll newfstatat fstat statx io_uring_enter futex lseek
b=$(one auto bytes_by_path.sendmsg)
if [ "$b" -ge $((co * 4096)) ]; then
	t_pass "auto stats: $b body bytes on path sendmsg"
else
	t_fail "auto stats" "$b body bytes on path sendmsg for $co responses"
fi

# 64 KiB to this local peer: held headers ahead of the body, which pushes
# its own last segment, with the body's first page in their sendmsg(2) (a
# full first segment, docs/cork.md); alone (send) only where that page
# could not go whole with them
held bulk
u=$((N - h))
check_at_most "bulk: setsockopt" "$(count bulk setsockopt)" $((2 * u + 5))
check_at_most "bulk: writev" "$(count bulk writev)" "$u"
sf=$(count bulk sendfile sendfile64)
sm=$(count bulk sendmsg)
hd=$(count bulk sendto send)
lc=$(one bulk lead_copied)
if [ "$sf" -eq "$N" ] && [ $((sm + hd)) -eq "$h" ] &&
   [ "$sm" -ge $((h - N / 20)) ] && [ "$lc" -eq $((sm * 4096)) ]; then
	t_pass "bulk: $sm sendmsg with a page of the body ($lc B), $hd header sends, $sf sendfile for $N responses"
else
	t_fail "bulk" "$sm sendmsg ($lc B of bodies) and $hd header sends for $h held, $sf sendfile for $N responses"
fi
per_response bulk "$h" sendmsg sendto sendfile sendfile64 writev \
	setsockopt poll newfstatat fstat statx io_uring_enter futex lseek
sm_finish
