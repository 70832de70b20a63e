#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The response workload (scripts/bench --resp, and inside the VM by
# scripts/bench --vm): N responses of a 250 B header + body, sent the
# sendpage-era way (TCP: TCP_CORK, writev, sendfile, uncork; AF_UNIX, which
# has no cork: send(MSG_MORE), sendfile), natively and under the shim
# (SPLICEMSG_ENGINE=auto, or $SM_RESP_ENGINE), interleaved; medians of the
# responses per second, the ratio from the same run, and the shim's
# coalesced count from its stats (responses whose header and body reached
# the kernel in one submission), which shows which path carried them.
# Usage: resp.sh BUILDDIR REPS
set -u
b=$1 reps=${2:-5}
resp=$b/tests/bench/sm_resp
lib=$b/shim/.libs/libsplicemsg.so
engine=${SM_RESP_ENGINE:-auto}
stats=$(mktemp -d)
trap 'rm -rf "$stats"' EXIT

# run native|shim MODE HDR BODY N [unix] [rr] -> responses per second
run() {
	local who=$1 out
	shift
	if [ "$who" = shim ]; then
		out=$(SPLICEMSG_ENGINE=$engine SPLICEMSG_STATS=$stats/s.%p.json \
		      LD_PRELOAD=$lib "$resp" "$@")
	else
		out=$("$resp" "$@")
	fi
	case $out in
	*ok=1*) sed -n 's/.*resp_per_s=\([0-9]*\).*/\1/p' <<<"$out" ;;
	*) echo "resp.sh: $who $*: $out" >&2 ;;
	esac
}

echo "| workload | native resp/s | shim ($engine) resp/s | ratio | coalesced per response |"
echo "|---|---|---|---|---|"
for w in "TCP stream, 4 KiB body|cork 250 4096 20000" \
	 "TCP request/response, 4 KiB body|cork 250 4096 5000 rr" \
	 "AF_UNIX stream, 4 KiB body|more 250 4096 20000 unix" \
	 "AF_UNIX request/response, 4 KiB body|more 250 4096 5000 unix rr" \
	 "TCP bulk, 1 MiB body|cork 250 1048576 300" \
	 "TCP bulk, 16 MiB body|cork 250 16777216 20"; do
	name=${w%%|*}
	read -r -a args <<<"${w#*|}"
	rm -f "$stats"/*.json
	nat="" shim=""
	for ((r = 0; r < reps; r++)); do
		nat+="$(run native "${args[@]}") "
		shim+="$(run shim "${args[@]}") "
	done
	python3 - "$name" "${args[3]}" "$reps" "$nat" "$shim" "$stats" <<'PY'
import glob, json, statistics, sys
name, n, reps, nat, shim, d = sys.argv[1:]
nat = [int(x) for x in nat.split()]
shim = [int(x) for x in shim.split()]
co = sum(json.load(open(f)).get("coalesced", 0)
         for f in glob.glob(d + "/s.*.json"))
if not nat or not shim:
    print(f"| {name} | failed | failed | - | - |")
    sys.exit(0)
a, b = statistics.median(nat), statistics.median(shim)
per = co / (int(n) * int(reps))
print(f"| {name} | {a:.0f} | {b:.0f} | {b / a:.2f}x | {per:.2f} |")
PY
done
