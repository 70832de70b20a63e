#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Inside the VM booted with two NICs (scripts/bench --vm-nic): responses of
# a 250 B header + body from this namespace to a receiver behind eth1, so
# that zero-copy is real (the device takes page references).  Per body
# size, interleaved: sendfile(2) (the cork idiom, natively), the shim's
# SEND_ZC from a mapping of the file (uring_zc: ENGINE=uring ZC=always,
# writev + sendfile), the module's single send (kmod: ENGINE=kmod ZC=never,
# the cork idiom) and SEND_ZC from the module's registered buffer (kmod_zc:
# ENGINE=kmod ZC=always, the cork idiom; Linux 7.3+).  Medians of the
# throughput (MB/s) and of the sender's CPU time per MiB, ratios to
# sendfile(2) from the same run, and the share of each shim run's bytes on
# the path it names (from its stats), which shows that path carried them.
# Usage: vm-nic.sh BUILDDIR REPS
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
b=$1 reps=${2:-3}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/t_lib.sh
. "$here/../t_lib.sh"
resp=$b/tests/bench/sm_resp
lib=$b/shim/.libs/libsplicemsg.so
stats=$(mktemp -d)
T_NIC_NS=
trap '[ -n "$T_NIC_NS" ] && kill "$T_NIC_NS"; rm -rf "$stats"' EXIT
ip link show eth1 >/dev/null 2>&1 || { echo "vm-nic.sh: no eth1" >&2; exit 77; }
t_nic_netns || { echo "vm-nic.sh: no namespace for eth1" >&2; exit 99; }
export SM_RESP_NETNS=/proc/$T_NIC_NS/ns/net SM_RESP_PEER=10.99.0.2
modes=(native uring_zc kmod kmod_zc)

# run MODE HDR BODY N -> "MB/s cpu_ms_per_mib share_on_path"
run() {
	local m=$1 out env=()
	shift
	rm -f "$stats"/*.json
	case $m in
	native) out=$("$resp" cork "$@") ;;
	uring_zc) env=(SPLICEMSG_ENGINE=uring SPLICEMSG_ZC=always) ;;
	kmod) env=(SPLICEMSG_ENGINE=kmod SPLICEMSG_ZC=never) ;;
	kmod_zc) env=(SPLICEMSG_ENGINE=kmod SPLICEMSG_ZC=always) ;;
	esac
	if [ "$m" != native ]; then
		out=$(env "${env[@]}" SPLICEMSG_ZC_MIN=0 \
		      SPLICEMSG_STATS="$stats/s.%p.json" LD_PRELOAD="$lib" \
		      "$resp" "$([ "$m" = uring_zc ] && echo writev || echo cork)" \
		      "$@")
	fi
	case $out in
	*ok=1*) ;;
	*) echo "vm-nic.sh: $m $*: $out" >&2; return ;;
	esac
	python3 - "$m" "$out" "$stats" <<'PY'
import glob, json, re, sys
m, out, d = sys.argv[1:]
f = dict(re.findall(r"(\w+)=([\d.]+)", out))
share = 1.0
if m != "native":
    b = {}
    for n in glob.glob(d + "/s.*.json"):
        for k, v in json.load(open(n))["bytes_by_path"].items():
            b[k] = b.get(k, 0) + v
    share = b.get(m, 0) / max(1, sum(b.values()))
mbs = float(f["n"]) * (float(f["hdr"]) + float(f["body"])) / float(f["seconds"])
print("%.2f" % (mbs / 1e6), f["cpu_ms_per_mib"], "%.2f" % share)
PY
}

echo "| workload | sendfile(2) MB/s, CPU ms/MiB | uring_zc (mapping) | kmod (single send) | kmod_zc (registered) |"
echo "|---|---|---|---|---|"
for w in "250 4096 3000 250 B + 4 KiB" "250 65536 400 250 B + 64 KiB" \
	 "250 1048576 40 250 B + 1 MiB" "250 16777216 4 250 B + 16 MiB"; do
	read -r h body n name <<<"$w"
	declare -A res=()
	for ((r = 0; r < reps; r++)); do
		for m in "${modes[@]}"; do
			res[$m]+="$(run "$m" "$h" "$body" "$n");"
		done
	done
	python3 - "$name" "${res[native]}" "${res[uring_zc]}" \
		"${res[kmod]}" "${res[kmod_zc]}" <<'PY'
import statistics, sys
name, runs = sys.argv[1], sys.argv[2:]
def parse(s):
    v = [x.split() for x in s.split(";") if x.strip()]
    return v
cells, base = [], None
for i, s in enumerate(runs):
    v = parse(s)
    if not v:
        cells.append("n/a")
        continue
    rps = [float(x[0]) for x in v]
    cpu = [float(x[1]) for x in v]
    share = min(float(x[2]) for x in v)
    mr, mc = statistics.median(rps), statistics.median(cpu)
    spread = "%.1f-%.1f" % (min(rps), max(rps))
    if i == 0:
        base = (mr, mc)
        cells.append("%.1f (%s), %.2f ms" % (mr, spread, mc))
    else:
        cells.append("%.1f (%s, %.2fx), %.2f ms (%.2fx), on path %.0f%%"
                     % (mr, spread, mr / base[0], mc, mc / base[1],
                        100 * share))
print("| %s | %s |" % (name, " | ".join(cells)))
PY
done
