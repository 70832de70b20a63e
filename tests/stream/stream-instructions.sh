#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# What auto's coalescing costs in user space, counted: the corked idiom
# (TCP_CORK, writev(250 B headers), sendfile(4 KiB body), uncork;
# tests/bench/sm_resp) under the shim and callgrind, the instructions of
# every exported function the application called (intercept.c, inclusive:
# the shim, and libc as the shim calls it), per response.  Across two CPUs
# that work is what keeps auto below one bare sendmsg(2) per response
# (docs/bench.md, "Response workload"), so it must not grow back unseen:
# at most SM_INSN_MAX per response (2000; 1,753 measured on Debian 12's
# gcc).  Two runs of N and 3N responses, the difference divided by 2N, so
# that setup (the ring, the mapping, the first classification) is not
# counted.  The stats must show the responses coalesced, or the count
# would be of a path that does nothing.  Skipped without valgrind, and in
# the sanitizer build (instrumented code counts what ASan adds).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
# shellcheck source=tests/stream/lib.sh
. "$(dirname "$0")/lib.sh"

N=1000
MAX=${SM_INSN_MAX:-2000}
SM_RESP=$top_builddir/tests/bench/sm_resp

sm_init
sm_require_lib
command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null ||
	sm_skip_rest "valgrind is not installed"
ldd "$SM_LIB" | grep -q libasan && sm_skip_rest "a sanitizer build"
[ -x "$SM_RESP" ] || { t_error setup "$SM_RESP not built"; t_finish; }

# insns N: sets insns to the sending process's instructions in the shim's
# exported functions over N responses (callgrind traces the forked
# receiver too: it calls none of them, so the larger count is the
# sender's).  Not run in a subshell, so that a failed run ends the test.
insns() {
	local n=$1 out f v

	rm -f "$SM_TMP"/cg.* "$SM_TMP"/st.*.json
	insns=0
	out=$(SPLICEMSG_ENGINE=auto SPLICEMSG_STATS="$SM_TMP/st.%p.json" \
	      LD_PRELOAD="$SM_PRELOAD" valgrind --tool=callgrind \
	      --callgrind-out-file="$SM_TMP/cg.%p" "$SM_RESP" cork 250 4096 \
	      "$n" 2>/dev/null)
	case $out in
	*ok=1*) ;;
	*)	t_error "$n responses" "sm_resp under callgrind: $out"
		t_finish ;;
	esac
	for f in "$SM_TMP"/cg.*; do
		v=$(callgrind_annotate --inclusive=yes --threshold=100 "$f" \
			2>/dev/null | awk '
			$0 !~ /=>/ && /shim\/intercept\.c:[A-Za-z0-9_]+ \[/ {
				v = $1; gsub(",", "", v); s += v
			}
			END { print s + 0 }')
		[ "$v" -gt "$insns" ] && insns=$v
	done
}

insns "$N"
a=$insns
co=$(sm_stat st "s[\"coalesced\"] if n == 1 else -1")
insns $((3 * N))
b=$insns
co3=$(sm_stat st "s[\"coalesced\"] if n == 1 else -1")
if [ "$co" -eq "$N" ] && [ "$co3" -eq $((3 * N)) ]; then
	t_pass "every response coalesced ($co and $co3): the counted path is auto's"
else
	t_fail "coalesced" "$co of $N and $co3 of $((3 * N)) responses"
fi
per=$(((b - a) / (2 * N)))
if [ "$a" -gt 0 ] && [ "$per" -le "$MAX" ]; then
	t_pass "auto: $per instructions per corked response in the shim's calls (at most $MAX)"
else
	t_fail "auto: instructions" "$per per response ($a for $N, $b for $((3 * N))), at most $MAX"
fi
t_finish
