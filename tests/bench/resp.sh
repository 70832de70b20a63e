#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The response workload (scripts/bench --resp, and inside the VM by
# scripts/bench --vm): N responses of a 250 B header + body, sent the
# sendpage-era way (TCP: TCP_CORK, writev, sendfile, uncork; AF_UNIX, which
# has no cork: send(MSG_MORE), sendfile), natively and under the shim with
# each engine of ENGINES (auto, and uring or kmod, which coalesce),
# interleaved; medians of the responses per second, ratios to native from
# the same run, and each engine's coalesced count per response from its
# stats (responses whose header and body reached the kernel in one
# submission), which shows which path carried them.  Beside each TCP row,
# the ceiling of coalescing: one sendmsg(2) of [header, mapped body] per
# response with no checks (sm_resp sendmsg).  The TCP rows run twice: the
# sender and the receiver free to use both CPUs, then on one CPU (why:
# above the loop below).
# Usage: resp.sh BUILDDIR REPS [ENGINE...]   (default: auto uring)
set -u
b=$1 reps=${2:-5}
shift 2
engines=("${@:-auto}")
[ $# -gt 0 ] || engines=(auto uring)
resp=$b/tests/bench/sm_resp
lib=$b/shim/.libs/libsplicemsg.so
stats=$(mktemp -d)
ceiling="" ceiling_base=""
# the workload the io_uring ceiling is measured beside: HDR BODY N
ceil=(250 4096 20000)
trap 'rm -rf "$stats"' EXIT

# the CPU of the "one CPU" rows: sender and receiver share it
cpu1=$(($(nproc) - 1))

# run native|ENGINE [cpu] MODE HDR BODY N [unix] [rr] -> responses per
# second; "cpu": the sender and the receiver on one CPU
run() {
	local who=$1 out pin=()
	shift
	if [ "$1" = cpu ]; then
		pin=(taskset -c "$cpu1")
		shift
	fi
	if [ "$who" != native ]; then
		out=$("${pin[@]}" env SPLICEMSG_ENGINE="$who" \
		      SPLICEMSG_STATS="$stats/$who.%p.json" \
		      LD_PRELOAD="$lib" "$resp" "$@")
	else
		out=$("${pin[@]}" "$resp" "$@")
	fi
	case $out in
	*ok=1*) sed -n 's/.*resp_per_s=\([0-9]*\).*/\1/p' <<<"$out" ;;
	*) echo "resp.sh: $who $*: $out" >&2 ;;
	esac
}

head="| workload | native resp/s |"
rule="|---|---|"
for e in "${engines[@]}"; do
	head+=" shim $e | coalesced/resp |"
	rule+="---|---|"
done
echo "$head no-check sendmsg(2) |"
echo "$rule---|"
# The "one CPU" rows: across two CPUs each response's wakeup of the other
# side is this VM's inter-processor interrupt, whose latency the shim
# takes no part in and which moves native 3x between runs
# (request/response); on one CPU the rate is what a response costs both
# ends, which is what the shim changes.
for w in "TCP stream, 4 KiB body|cork ${ceil[*]}" \
	 "TCP request/response, 4 KiB body|cork 250 4096 5000 rr" \
	 "TCP stream, 4 KiB body, one CPU|cpu cork 250 4096 20000" \
	 "TCP request/response, 4 KiB body, one CPU|cpu cork 250 4096 20000 rr" \
	 "AF_UNIX stream, 4 KiB body|more 250 4096 20000 unix" \
	 "AF_UNIX request/response, 4 KiB body|more 250 4096 5000 unix rr" \
	 "TCP bulk, 1 MiB body|cork 250 1048576 300" \
	 "TCP bulk, 16 MiB body|cork 250 16777216 20"; do
	name=${w%%|*}
	read -r -a args <<<"${w#*|}"
	rm -f "$stats"/*.json
	declare -A res=([native]="")
	sm=""
	# the args after "cpu" and the mode
	if [ "${args[0]}" = cpu ]; then
		pre=(cpu) rest=("${args[@]:2}")
	else
		pre=() rest=("${args[@]:1}")
	fi
	for ((r = 0; r < reps; r++)); do
		for who in native "${engines[@]}"; do
			res[$who]+="$(run "$who" "${args[@]}") "
		done
		# one sendmsg(2) of [header, mapped body] per response, no
		# checks: what coalescing can reach (TCP's corked idiom)
		[[ " ${args[*]} " = *" cork "* ]] &&
			sm+="$(run native "${pre[@]}" sendmsg "${rest[@]}") "
		# and one io_uring SENDMSG of them, no checks either
		if [ "${args[*]}" = "cork ${ceil[*]}" ]; then
			ceiling+="$(run native uring "${ceil[@]}") "
		fi
	done
	[ "${args[*]}" = "cork ${ceil[*]}" ] && ceiling_base=${res[native]}
	cols=("${res[native]}")
	for e in "${engines[@]}"; do
		cols+=("$e" "${res[$e]}")
	done
	python3 - "$name" "$((rest[2] * reps))" "$stats" "$sm" "${cols[@]}" \
		<<'PY'
import glob, json, statistics, sys
name, n, d, sm, nat = sys.argv[1:6]
rest = sys.argv[6:]
def med(s):
    v = [int(x) for x in s.split()]
    return statistics.median(v) if v else 0
base = med(nat)
cells = [f"{base:.0f}" if base else "failed"]
for e, s in zip(rest[::2], rest[1::2]):
    m = med(s)
    co = sum(json.load(open(f)).get("coalesced", 0)
             for f in glob.glob(f"{d}/{e}.*.json"))
    cells.append(f"{m:.0f} ({m / base:.2f}x)" if m and base else "failed")
    cells.append(f"{co / int(n):.2f}")
m = med(sm)
cells.append(f"{m:.0f} ({m / base:.2f}x)" if m and base else "-")
print(f"| {name} | " + " | ".join(cells) + " |")
PY
	unset res
done
python3 - "${ceiling:-}" "${ceiling_base:-}" <<'PY'
import statistics, sys
v = [int(x) for x in sys.argv[1].split()]
b = [int(x) for x in sys.argv[2].split()]
if v and b:
    m, n = statistics.median(v), statistics.median(b)
    print(f"\nCeiling, TCP stream: one io_uring SENDMSG (sm_resp uring) of "
          f"[header, mapped body] per response with no checks at all, same "
          f"reps: {m:.0f} resp/s, {m / n:.2f}x native")
PY

# Where copying the body stops paying (SM_DIRECT_MAX in shim/sm.h): the
# corked idiom natively, under auto (one sendmsg(2) up to SM_DIRECT_MAX,
# sendfile(2) after the headers above it), and one sendmsg(2) of [header,
# mapped body] with no checks, per body size, interleaved.
echo
echo "Copy or page references, TCP stream, 250 B header:"
echo
echo "| body | native resp/s | shim auto | no-check sendmsg(2) |"
echo "|---|---|---|---|"
for size in 4096 8192 16384 32768 65536; do
	n=$((400000000 / size))
	c="" a="" m=""
	for ((r = 0; r < reps; r++)); do
		c+="$(run native cork 250 "$size" "$n") "
		a+="$(run auto cork 250 "$size" "$n") "
		m+="$(run native sendmsg 250 "$size" "$n") "
	done
	python3 - "$size" "$c" "$a" "$m" <<'PY'
import statistics, sys
size, c, a, m = sys.argv[1], *(statistics.median(int(x) for x in v.split())
                                for v in sys.argv[2:])
print(f"| {int(size) // 1024} KiB | {c:.0f} | {a:.0f} ({a / c:.2f}x) | "
      f"{m:.0f} ({m / c:.2f}x) |")
PY
done
