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
# sender and the receiver each on a CPU of its own, then both on one CPU
# (why: above the loop below).
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

# run native|ENGINE [cpu|split] MODE HDR BODY N [unix] [rr] ->
# "RESP_S:CPU_US", responses per second and both ends' CPU time per
# response; "cpu": the sender and the receiver on one CPU, "split": the
# sender on CPU 0, the receiver on the last
run() {
	local who=$1 out pin=()
	shift
	case $1 in
	cpu) pin=(taskset -c "$cpu1") ;;
	split) pin=(env SM_RESP_RECV_CPU="$cpu1" taskset -c 0) ;;
	esac
	[ "${#pin[@]}" -eq 0 ] || shift
	if [ "$who" != native ]; then
		out=$("${pin[@]}" env SPLICEMSG_ENGINE="$who" \
		      SPLICEMSG_STATS="$stats/$who.%p.json" \
		      LD_PRELOAD="$lib" "$resp" "$@")
	else
		out=$("${pin[@]}" "$resp" "$@")
	fi
	case $out in
	*ok=1*) sed -n 's/.*resp_per_s=\([0-9]*\).*cpu_us_per_resp=\([0-9.]*\).*/\1:\2/p' \
		<<<"$out" ;;
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
# Two CPUs, pinned: left to the scheduler, the two ends share a CPU in
# some runs and not in others, and request/response moved 3x between runs
# of one binary (11,000-37,000 resp/s, docs/bench.md); each on its own,
# every response's wakeup of the other side is this VM's inter-processor
# interrupt, whose latency the shim takes no part in.  The "one CPU" rows:
# the rate is what a response costs both ends, which is what the shim
# changes.
for w in "TCP stream, 4 KiB body, two CPUs|split cork ${ceil[*]}" \
	 "TCP request/response, 4 KiB body, two CPUs|split cork 250 4096 5000 rr" \
	 "TCP stream, 4 KiB body, one CPU|cpu cork 250 4096 20000" \
	 "TCP request/response, 4 KiB body, one CPU|cpu cork 250 4096 20000 rr" \
	 "AF_UNIX stream, 4 KiB body|more 250 4096 20000 unix" \
	 "AF_UNIX request/response, 4 KiB body|more 250 4096 5000 unix rr" \
	 "TCP bulk, 1 MiB body, two CPUs|split cork 250 1048576 300" \
	 "TCP bulk, 16 MiB body, two CPUs|split cork 250 16777216 20"; do
	name=${w%%|*}
	read -r -a args <<<"${w#*|}"
	rm -f "$stats"/*.json
	declare -A res=([native]="")
	sm=""
	# the args after "cpu" or "split" and the mode
	if [ "${args[0]}" = cpu ] || [ "${args[0]}" = split ]; then
		pre=("${args[0]}") rest=("${args[@]:2}")
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
		if [ "${args[*]}" = "split cork ${ceil[*]}" ]; then
			ceiling+="$(run native split uring "${ceil[@]}") "
		fi
	done
	[ "${args[*]}" = "split cork ${ceil[*]}" ] &&
		ceiling_base=${res[native]}
	cols=("${res[native]}")
	for e in "${engines[@]}"; do
		cols+=("$e" "${res[$e]}")
	done
	python3 - "$name" "$((rest[2] * reps))" "$stats" "$sm" "${cols[@]}" \
		<<'PY'
import glob, json, statistics, sys
name, n, d, sm, nat = sys.argv[1:6]
rest = sys.argv[6:]
def med(s, i=0):		# i: 0 the rate, 1 both ends' CPU per response
    v = [float(x.split(":")[i]) for x in s.split()]
    return statistics.median(v) if v else 0
base, cbase = med(nat), med(nat, 1)
cells = [f"{base:.0f}" if base else "failed"]
cpu = [f"{cbase:.1f}" if cbase else "failed"]
for e, s in zip(rest[::2], rest[1::2]):
    m, c = med(s), med(s, 1)
    co = sum(json.load(open(f)).get("coalesced", 0)
             for f in glob.glob(f"{d}/{e}.*.json"))
    cells.append(f"{m:.0f} ({m / base:.2f}x)" if m and base else "failed")
    cells.append(f"{co / int(n):.2f}")
    cpu.append(f"{c:.1f} ({cbase / c:.2f}x)" if c and cbase else "failed")
m, c = med(sm), med(sm, 1)
cells.append(f"{m:.0f} ({m / base:.2f}x)" if m and base else "-")
cpu.append(f"{c:.1f} ({cbase / c:.2f}x)" if c and cbase else "-")
print(f"| {name} | " + " | ".join(cells) + " |")
with open(f"{d}/cpu.md", "a") as f:
    print(f"| {name} | " + " | ".join(cpu) + " |", file=f)
PY
	unset res
done
# The same runs' CPU time per response, both ends (sm_resp): what the
# shim changes.  Across two CPUs it also holds the wakeups' cost (the
# sender's inter-processor interrupt for a receiver gone to sleep), which
# falls as the sender gets ahead of the receiver: there both columns move
# with the scheduling, as the rates do.
echo
echo "Both ends' CPU time per response, µs (medians of the same runs; ratio native/mode: above 1 costs less):"
echo
echo "| workload | native |$(printf ' shim %s |' "${engines[@]}") no-check sendmsg(2) |"
echo "|---|---|$(printf -- '---|%.0s' "${engines[@]}")---|"
cat "$stats/cpu.md"
python3 - "${ceiling:-}" "${ceiling_base:-}" <<'PY'
import statistics, sys
v = [float(x.split(":")[0]) for x in sys.argv[1].split()]
b = [float(x.split(":")[0]) for x in sys.argv[2].split()]
if v and b:
    m, n = statistics.median(v), statistics.median(b)
    print(f"\nCeiling, TCP stream, two CPUs: one io_uring SENDMSG (sm_resp uring) of "
          f"[header, mapped body] per response with no checks at all, same "
          f"reps: {m:.0f} resp/s, {m / n:.2f}x native")
PY

# Where copying the body stops paying (SM_DIRECT_MAX in shim/sm.h): the
# corked idiom natively, under auto (one sendmsg(2) up to SM_DIRECT_MAX,
# sendfile(2) after the headers above it), and one sendmsg(2) of [header,
# mapped body] with no checks, per body size, interleaved; two CPUs as
# above.
echo
echo "Copy or page references, TCP stream, two CPUs, 250 B header:"
echo
echo "| body | native resp/s | shim auto | no-check sendmsg(2) |"
echo "|---|---|---|---|"
for size in 4096 8192 16384 32768 65536; do
	n=$((400000000 / size))
	c="" a="" m=""
	for ((r = 0; r < reps; r++)); do
		c+="$(run native split cork 250 "$size" "$n") "
		a+="$(run auto split cork 250 "$size" "$n") "
		m+="$(run native split sendmsg 250 "$size" "$n") "
	done
	python3 - "$size" "$c" "$a" "$m" <<'PY'
import statistics, sys
size, c, a, m = sys.argv[1], *(statistics.median(float(x.split(":")[0])
                                                 for x in v.split())
                                for v in sys.argv[2:])
print(f"| {int(size) // 1024} KiB | {c:.0f} | {a:.0f} ({a / c:.2f}x) | "
      f"{m:.0f} ({m / c:.2f}x) |")
PY
done
