#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Inside the VM (scripts/bench --vm): responses through native writev +
# sendfile, the cork variant, the shim forced onto io_uring, and the kernel
# helper's single send, headers staged in the helper's mmap'd area
# (SEND_ZC from a registered buffer + URING_CMD body), and header and body
# registered by the helper as one buffer and sent by one SEND_ZC (7.3+; its
# file on tmpfs, where REG_FILE runs inline), interleaved, medians and
# ratios to writev+sendfile.
# Usage: vm-resp.sh BUILDDIR REPS
set -u
b=$1 reps=${2:-5}
resp=$b/tests/bench/sm_resp
lib=$b/shim/.libs/libsplicemsg.so
run() {	# MODE HDR BODY N -> responses per second
	local m=$1
	shift
	case $m in
	shim) LD_PRELOAD=$lib SPLICEMSG_ENGINE=uring "$resp" writev "$@" ;;
	reg) SM_RESP_DIR=/dev/shm "$resp" reg "$@" ;;
	*) "$resp" "$m" "$@" ;;
	esac | sed -n 's/.*resp_per_s=\([0-9]*\).*ok=1.*/\1/p'
}
echo "| workload | writev+sendfile resp/s | cork | shim uring | kmod single send | staged header + uring_cmd | registered header + body, SEND_ZC |"
echo "|---|---|---|---|---|---|---|"
for w in "250 4096 3000 small: 250 B header + 4 KiB body" \
	 "250 1048576 60 bulk: 250 B + 1 MiB" \
	 "250 16777216 6 bulk: 250 B + 16 MiB"; do
	set -- $w
	h=$1 body=$2 n=$3
	shift 3
	declare -A res=()
	for ((r = 0; r < reps; r++)); do
		for m in writev cork shim kmod stage reg; do
			res[$m]+="$(run $m "$h" "$body" "$n") "
		done
	done
	python3 - "$*" "${res[writev]}" "${res[cork]}" "${res[shim]}" \
		"${res[kmod]}" "${res[stage]}" "${res[reg]}" <<'PY'
import statistics, sys
name = sys.argv[1]
med = []
for s in sys.argv[2:]:
    v = [int(x) for x in s.split()]
    med.append(statistics.median(v) if v else 0)
base = med[0] or 1
# a mode the kernel lacks (reg before 7.3) printed nothing: n/a
cells = [f"{med[0]:.0f}"] + [f"{m:.0f} ({m / base:.2f}x)" if m else "n/a"
                             for m in med[1:]]
print(f"| {name} | " + " | ".join(cells) + " |")
PY
done
