#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Auto must not be slower than native where it changes the path: nginx
# (sendfile on; tcp_nopush on; one worker, no access log) serving a
# 1 MiB + 1 file to wrk -t2 -c16 over keep-alive,
# natively and under auto side by side, timed interleaved (native, auto,
# native, ...) in SM_PERF_REPS (5) runs of 2 s.  The ratio is the median of
# the per-rep auto/native ratios (a slow second hits the pair it falls in,
# not one mode), printed with its spread.  Fails when it is below
# SM_PERF_MIN (0.95) twice in a row: this machine's A/A runs alone swing
# 0.78x-1.08x (docs/bench.md), so a single low median is measured once
# more before it counts.  The issue "nginx must pay for itself" found auto
# at 0.57x-0.70x at 1 MiB with one worker; it is what this keeps away.
#
# Environment: top_builddir, SM_WRAPPER, SM_STAT, SM_PERF_REPS, SM_PERF_MIN.
set -u

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/t_lib.sh
. "$here/../t_lib.sh"
# shellcheck source=tests/apps/http-lib.sh
. "$here/http-lib.sh"
# shellcheck source=tests/apps/nginx-lib.sh
. "$here/nginx-lib.sh"
t_clean_env
command -v wrk >/dev/null || { echo "SKIP: no wrk"; exit 77; }
http_suite_init nginx
tmp=$HTTP_TMP
reps=${SM_PERF_REPS:-5} min=${SM_PERF_MIN:-0.95}
export NGINX_ACCESS_LOG=off NGINX_WORKERS=1

declare -A port
for m in native auto; do
	port[$m]=$(http_free_port)
	nginx_start "$tmp/$m" "${port[$m]}" "$HTTP_WWW" "$m" || {
		t_error "$m/start" "nginx did not start"
		t_finish
	}
done

# rps MODE FILE: requests/s of one 2 s run.
rps() {
	wrk -t2 -c16 -d2s "http://127.0.0.1:${port[$1]}/$2" 2>/dev/null |
		awk '/^Requests\/sec:/ { print $2 }'
}

# measure FILE: "MEDIAN MIN MAX NATIVE AUTO" of the per-rep ratios, and the
# runs (min-max req/s of each mode).
measure() {
	local f=$1 i n a ratios=() ns=() as=()

	rps native "$f" >/dev/null	# warm: connections, page cache
	rps auto "$f" >/dev/null
	for ((i = 0; i < reps; i++)); do
		n=$(rps native "$f") a=$(rps auto "$f")
		[ -n "$n" ] && [ -n "$a" ] || continue
		ns+=("$n") as+=("$a")
		ratios+=("$(python3 -c "print($a / $n)")")
	done
	python3 - "${#ratios[@]}" "${ratios[@]}" "${ns[@]}" "${as[@]}" <<'PY'
import statistics, sys
k = int(sys.argv[1])
v = [float(x) for x in sys.argv[2:]]
if k == 0:
    print("0 0 0 - -")
    sys.exit()
r, n, a = v[:k], v[k:2 * k], v[2 * k:]
print("%.3f %.3f %.3f %.0f-%.0f %.0f-%.0f" % (statistics.median(r), min(r),
      max(r), min(n), max(n), min(a), max(a)))
PY
}

name="nginx, one worker, 1 MiB + 1"
for try in 1 2; do
	read -r med lo hi nr ar <<<"$(measure m1p1)"
	echo "# $name, try $try: auto/native $med (per rep $lo-$hi; native $nr req/s, auto $ar)"
	python3 -c "import sys; sys.exit(not ($med >= $min))" && break
done
python3 -c "import sys; sys.exit(not ($med >= $min))"
t_verdict $? "$name: auto/native = $med ($lo-$hi), at least $min" \
	"auto/native = $med ($lo-$hi) in two measurements"

# 4 KiB, for the record only: a response costs nginx so little here that
# the spread of one rep swallows what the shim saves (docs/bench.md has the
# benchmark, scripts/bench --nginx)
read -r med lo hi nr ar <<<"$(measure k4)"
echo "# nginx, one worker, 4 KiB: auto/native $med (per rep $lo-$hi; native $nr req/s, auto $ar)"

# the servers did what they were asked: no error in their logs
for m in native auto; do
	nginx_stop "$tmp/$m"
	bad=$(grep -E '\[(error|crit|alert|emerg)\]' "$tmp/$m/logs/error.log")
	[ -z "$bad" ]
	t_verdict $? "$m/error-log-clean" "$(head -3 <<<"$bad")"
done
t_finish
