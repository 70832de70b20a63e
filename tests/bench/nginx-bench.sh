#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# nginx serving static files over loopback, natively and under libsplicemsg
# (SPLICEMSG_ENGINE=auto, the default), driven by wrk: requests/s and bytes/s
# per file size and connection count.  The two servers run side by side and
# are timed interleaved (native, shim, native, shim, ...) so that drift in
# the machine hits both alike; each cell is the median over the repetitions
# and each ratio is against native from this same run.  The bytes are
# checked with curl before and after the timed runs, and the shim's stats
# show which path carried them.
#
# Usage: nginx-bench.sh BUILDDIR OUTDIR [--quick] [--reps N] [--batch]
#   --quick   smoke run: 1 rep of 2 s, 4 KiB and 1 MiB, 16 connections
#   --reps N  repetitions per cell (default 3)
#   --batch   a third server, the shim with SPLICEMSG_BATCH=0 (nobatch),
#             in the same interleaving: what batching adds
# Writes OUTDIR/nginx-bench.{tsv,md,png}, the ratios plotted
# (nginx-bench-ratios.tsv) and every wrk output (nginx-bench.log); prints
# the markdown report.
# Environment: SM_WRAPPER (default BUILDDIR/tools/splicemsg), NGINX_WORKERS
# (default 2), SM_WRAPPER_ARGS (extra wrapper options, see nginx-lib.sh).
# Needs nginx, wrk, curl, python3, gnuplot.
#
# Exit: 0 done (a missed target is reported, not failed), 1 wrong bytes or a
# broken run (no numbers, non-2xx answers, a crashed worker), 2 usage,
# 99 setup error.

set -u -o pipefail

usage() {
	echo "usage: nginx-bench.sh BUILDDIR OUTDIR [--quick] [--reps N] [--batch]" >&2
	exit 2
}

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

[ $# -ge 2 ] || usage
builddir=$1 outdir=$2
shift 2
quick=0 reps=
modes=(native shim)
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--batch) modes=(native shim nobatch) ;;
	--reps)
		[[ ${2:-} =~ ^[1-9][0-9]*$ ]] || usage
		reps=$2
		shift
		;;
	*) usage ;;
	esac
	shift
done

if ((quick)); then
	reps=${reps:-1} duration=2
	sizes=(4096 $((1 << 20)))
	conns=(16)
else
	reps=${reps:-3} duration=5
	sizes=(4096 $((64 << 10)) $((1 << 20)))
	conns=(1 16 64)
fi

setup_error() {
	echo "nginx-bench: $*" >&2
	exit 99
}

[ -d "$builddir" ] || setup_error "no build directory $builddir"
builddir=$(cd "$builddir" && pwd)
SM_WRAPPER=${SM_WRAPPER:-$builddir/tools/splicemsg}
export NGINX_WORKERS=${NGINX_WORKERS:-2}
[ -x "$SM_WRAPPER" ] || setup_error "no wrapper at $SM_WRAPPER"
for t in nginx wrk curl python3 gnuplot; do
	command -v "$t" >/dev/null || setup_error "$t is not installed"
done
mkdir -p "$outdir" || setup_error "cannot create $outdir"
outdir=$(cd "$outdir" && pwd)

# shellcheck source=tests/apps/nginx-lib.sh
. "$top/tests/apps/nginx-lib.sh"

# The two modes are defined here only: nothing from the caller leaks in
# (SPLICEMSG_LIB stays: it picks the library, not its behaviour).
unset LD_PRELOAD
while read -r v; do
	[ "$v" = SPLICEMSG_LIB ] || unset "$v"
done < <(compgen -e | grep '^SPLICEMSG_' || true)

tmp=$(mktemp -d /tmp/sm-nginx-bench.XXXXXX) || setup_error "mktemp failed"
# the workers run as nobody and must reach the tree
chmod 755 "$tmp"
trap 'nginx_stop_all; rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

tsv=$outdir/nginx-bench.tsv
md=$outdir/nginx-bench.md
png=$outdir/nginx-bench.png
ratios=$outdir/nginx-bench-ratios.tsv
log=$outdir/nginx-bench.log
rm -f "$tsv" "$md" "$png" "$ratios" "$log"
problems=()
broken=0

# ---- the tree and the servers -----------------------------------------------
www=$tmp/www
mkdir -p "$www"
declare -A file=()
for s in 4096 $((64 << 10)) $((1 << 20)); do
	file[$s]=f$s
	head -c "$s" /dev/urandom >"$www/f$s" || setup_error "cannot write $www"
done
chmod -R a+rX "$www"

# Every port at once, so they differ; the sockets close before nginx binds,
# which leaves a small window that nginx_start's failure would report.
read -r -a ports < <(python3 -c 'import socket, sys
s = [socket.socket() for _ in range(int(sys.argv[1]))]
for x in s:
	x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))' ${#modes[@]}) ||
	setup_error "no free ports"
declare -A port=() dir=()
for i in "${!modes[@]}"; do
	port[${modes[$i]}]=${ports[$i]}
	dir[${modes[$i]}]=$tmp/${modes[$i]}
done

# The access log is the same disk write in every mode; off, the numbers
# measure the send path instead of the filesystem.
for m in "${modes[@]}"; do
	engine=auto batch=1
	[ "$m" = native ] && engine=native
	[ "$m" = nobatch ] && batch=0
	if ! SPLICEMSG_BATCH=$batch nginx_start "${dir[$m]}" "${port[$m]}" \
	     "$www" "$engine" "access_log off;"; then
		tail -n 5 "${dir[$m]}/logs/error.log" >&2 2>/dev/null
		setup_error "nginx ($m) did not start on port ${port[$m]}"
	fi
done

# A shim that failed to load would make this a native-vs-native run.
for m in "${modes[@]}"; do
	[ "$m" = native ] && continue
	for w in $(nginx_workers "${dir[$m]}"); do
		grep -q libsplicemsg "/proc/$w/maps" 2>/dev/null ||
			setup_error "libsplicemsg is not loaded in $m worker $w"
	done
done
for w in $(nginx_workers "${dir[native]}"); do
	! grep -q libsplicemsg "/proc/$w/maps" 2>/dev/null ||
		setup_error "libsplicemsg is loaded in native worker $w"
done

# verify WHEN: every file from every server, byte for byte.
verify() {
	local m s
	for m in "${modes[@]}"; do
		for s in "${!file[@]}"; do
			if ! curl -sS --max-time 30 -o "$tmp/got" \
			     "http://127.0.0.1:${port[$m]}/${file[$s]}" ||
			   ! cmp -s "$tmp/got" "$www/${file[$s]}"; then
				echo "nginx-bench: $1: $m served wrong bytes" \
				     "for ${file[$s]}" >&2
				exit 1
			fi
		done
	done
	echo "nginx-bench: $1: every file byte-exact from every server" >&2
}
verify "before the runs"

# before any load of ours: what else is running
start_load=$(cut -d' ' -f1-3 /proc/loadavg)
when=$(date -u '+%Y-%m-%d %H:%M UTC')

# An untimed run per server, so the first timed run does not pay for
# connection setup paths and caches the later ones find warm.
for m in "${modes[@]}"; do
	wrk -t2 -c16 -d1s "http://127.0.0.1:${port[$m]}/${file[4096]}" \
		>/dev/null 2>&1
done

# ---- the timed runs ---------------------------------------------------------

# wrk prints binary units (KB = 1024 B): bytes/s as an integer.
to_bytes() {
	awk '{
		v = $1
		n = v + 0
		sub(/^[0-9.]+/, "", v)
		f = 1
		if (v ~ /^K/) f = 1024
		else if (v ~ /^M/) f = 1024 ^ 2
		else if (v ~ /^G/) f = 1024 ^ 3
		else if (v ~ /^T/) f = 1024 ^ 4
		printf "%.0f\n", n * f
	}'
}

# wrk's latency (12.34us, 1.20ms, 2.00s) in microseconds.
to_us() {
	awk '{
		v = $1
		n = v + 0
		f = 1
		if (v ~ /ms$/) f = 1000
		else if (v ~ /[0-9]s$/) f = 1000000
		else if (v ~ /m$/) f = 60000000
		printf "%.0f\n", n * f
	}'
}

# run MODE SIZE CONNS REP: one wrk run, a line of $tsv.
run() {
	local m=$1 s=$2 c=$3 rep=$4 t out rc=0 rps bps bad p99
	# wrk wants at least one connection per thread
	t=$((c < 2 ? c : 2))
	out=$(timeout $((duration + 60)) wrk -t"$t" -c"$c" -d"${duration}s" \
	      --timeout 10s --latency \
	      "http://127.0.0.1:${port[$m]}/${file[$s]}" 2>&1) || rc=$?
	printf '### %s size=%s conns=%s rep=%s exit=%s\n%s\n\n' \
		"$m" "$s" "$c" "$rep" "$rc" "$out" >>"$log"
	rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
	bps=$(awk '/^Transfer\/sec:/ { print $2 }' <<<"$out" | to_bytes)
	p99=$(awk '$1 == "99%" { print $2 }' <<<"$out" | to_us)
	if ((rc)) || [ -z "$rps" ] || [ -z "$bps" ]; then
		problems+=("$m, $s B, $c conns, rep $rep: wrk exit $rc, no numbers: $(tail -n 1 <<<"$out")")
		broken=1
		rps='' bps=''
	fi
	# a page of errors would be timed as fast as a file
	bad=$(sed -n 's/^ *Non-2xx or 3xx responses: *//p' <<<"$out")
	if [ -n "$bad" ]; then
		problems+=("$m, $s B, $c conns, rep $rep: $bad non-2xx answers")
		broken=1
	fi
	bad=$(grep -o 'Socket errors:.*' <<<"$out")
	[ -z "$bad" ] || problems+=("$m, $s B, $c conns, rep $rep: $bad")
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$c" "$rep" "$m" "$rps" \
		"$bps" "$p99" >>"$tsv"
	echo "nginx-bench: rep $rep/$reps, $s B, $c conns: $m" \
	     "${rps:-failed} req/s" >&2
}

nreps="$reps reps"
((reps > 1)) || nreps="1 rep"
printf 'size\tconns\trep\tmode\treq_per_s\tbytes_per_s\tp99_us\n' >"$tsv"
# Repetitions outermost: a slow minute lowers one rep of every cell, not
# every rep of one cell.
for ((rep = 1; rep <= reps; rep++)); do
	for s in "${sizes[@]}"; do
		for c in "${conns[@]}"; do
			for m in "${modes[@]}"; do
				run "$m" "$s" "$c" "$rep"
			done
		done
	done
done
end_load=$(cut -d' ' -f1-3 /proc/loadavg)

verify "after the runs"

# What each worker holds after the load: descriptors (the shim's rings
# included) and resident memory.
footprint=()
for m in "${modes[@]}"; do
	for w in $(nginx_workers "${dir[$m]}"); do
		fds=$(find "/proc/$w/fd" -mindepth 1 2>/dev/null | wc -l)
		rings=$(find "/proc/$w/fd" -mindepth 1 -lname \
			'anon_inode:\[io_uring\]' 2>/dev/null | wc -l)
		rss=$(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' \
			"/proc/$w/status" 2>/dev/null)
		footprint+=("$m worker $w: $fds descriptors ($rings io_uring), RSS ${rss:-?} MB")
	done
done

# ---- stop, then what the shim did -------------------------------------------
for m in "${modes[@]}"; do
	nginx_stop "${dir[$m]}" ||
		{ problems+=("nginx ($m) did not stop on QUIT"); broken=1; }
	# a worker that crashed was respawned and the runs went on: look
	if grep -E '\[(alert|crit|emerg)\]' "${dir[$m]}/logs/error.log" \
	   >"$tmp/errs"; then
		problems+=("nginx ($m) error log: $(head -n 1 "$tmp/errs")")
		broken=1
	fi
done
stats=("${dir[shim]}"/stats/*.json)

{
	echo "## nginx static files, native vs libsplicemsg (engine auto)"
	echo
	echo "date: $when; kernel: $(uname -r); CPUs: $(nproc);" \
	     "method: nginx $(nginx -v 2>&1 | sed 's/.*\///'), $NGINX_WORKERS" \
	     "workers, sendfile on, tcp_nopush on, access_log off, over" \
	     "127.0.0.1; wrk -t2 (-t1 at 1 connection) -d${duration}s" \
	     "--latency per cell; $nreps, interleaved (${modes[*]}, ...)," \
	     "medians; ratio = mode/native; MB = 10^6 B of wrk's" \
	     "Transfer/sec (headers included); p99 = wrk's 99th" \
	     "percentile latency (nobatch: the shim with" \
	     "SPLICEMSG_BATCH=0); load average" \
	     "$start_load at start, $end_load at end."
	echo
	if awk -v l="${start_load%% *}" 'BEGIN { exit !(l >= 1) }'; then
		echo "Note: other work was running (load average" \
		     "${start_load%% *} before the runs): the ratios carry" \
		     "its noise."
		echo
	fi
	python3 "$here/nginx-report.py" table "$tsv" "$ratios"
	echo
	if [ -e "${stats[0]}" ]; then
		echo "Which path carried the bytes (the shim's stats from" \
		     "${#stats[@]} processes, whole run including the checks):"
		echo
		python3 "$here/nginx-report.py" paths "${stats[@]}"
	else
		echo "Which path carried the bytes: unknown, the shim wrote" \
		     "no stats file"
	fi
	echo
	echo "Footprint after the runs:"
	echo
	printf -- '- %s\n' "${footprint[@]}"
	if [ ${#problems[@]} -gt 0 ]; then
		echo
		echo "Problems:"
		echo
		printf -- '- %s\n' "${problems[@]}"
	fi
} >"$md"
[ -e "${stats[0]}" ] || broken=1
cat "$md"

gnuplot -e "datafile='$ratios'; outfile='$png'" \
	-e "plottitle='nginx, $(uname -r), $(nproc) CPUs: libsplicemsg (auto) / native, medians of $nreps'" \
	"$here/nginx-plot.gp" || setup_error "gnuplot failed"
echo >&2
echo "nginx-bench: wrote $tsv, $md, $png" >&2
exit "$broken"
