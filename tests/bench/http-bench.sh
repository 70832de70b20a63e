#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# A web server (nginx, lighttpd or apache2 with mpm_event) serving static
# files over loopback, natively and under libsplicemsg
# (SPLICEMSG_ENGINE=auto, the default), driven by wrk: requests/s and bytes/s
# per file size and connection count.  The two servers run side by side and
# are timed interleaved (native, shim, native, shim, ...) so that drift in
# the machine hits both alike; each cell is the median over the repetitions
# and each ratio is against native from this same run.  The bytes are
# checked with curl before and after the timed runs, and the shim's stats
# show which path carried them.
#
# Usage: http-bench.sh BUILDDIR OUTDIR [--server NAME] [--quick] [--reps N]
#                      [--batch] [--no-pin] [--sizes LIST] [--conns LIST]
#                      [--close] [--addr ADDR]
#   --server NAME  nginx (default), lighttpd or apache2; started and
#                  stopped by tests/apps/NAME-lib.sh, as its app test does
#   --quick        smoke run: 1 rep of 2 s, 4 KiB and 1 MiB, 16 connections
#   --reps N       repetitions per cell (default 3)
#   --batch        a third server, the shim with SPLICEMSG_BATCH=0
#                  (nobatch), in the same interleaving: what batching adds
#   --no-pin       let the servers and wrk share every CPU even when the
#                  servers leave one free (see "Where the servers and wrk
#                  run" below)
#   --sizes LIST   file sizes, comma-separated bytes (default 4096,65536,
#                  1048576; --quick 4096,1048576): more reps of fewer cells
#   --conns LIST   wrk connection counts, comma-separated (default 1,16,64;
#                  --quick 16)
#   --close        every request asks "Connection: close": a connection per
#                  request, which weighs what the server (and the shim) do
#                  once per connection
#   --addr ADDR    the servers listen on ADDR, one of this host's (default
#                  127.0.0.1): another than loopback is where a client's
#                  address does not say it is on this host, as for real
#                  clients
# Writes OUTDIR/NAME-bench.{tsv,md,png}, the ratios plotted
# (NAME-bench-ratios.tsv) and every wrk output (NAME-bench.log); prints
# the markdown report.
# Environment: SM_WRAPPER (default BUILDDIR/tools/splicemsg), NGINX_WORKERS
# (default 2), SM_WRAPPER_ARGS (extra wrapper options, see nginx-lib.sh).
# Needs the server, wrk, curl, python3, gnuplot.
#
# Exit: 0 done (a missed target is reported, not failed), 1 wrong bytes or a
# broken run (no numbers, non-2xx answers, a crashed worker), 2 usage,
# 99 setup error.

set -u -o pipefail

usage() {
	echo "usage: http-bench.sh BUILDDIR OUTDIR [--server NAME] [--quick]" \
	     "[--reps N] [--batch] [--no-pin] [--sizes LIST] [--conns LIST]" \
	     "[--close] [--addr ADDR]" >&2
	exit 2
}

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)

[ $# -ge 2 ] || usage
builddir=$1 outdir=$2
shift 2
quick=0 reps='' server=nginx pin=1 want_sizes='' want_conns='' hdr=()
HTTP_ADDR=127.0.0.1
modes=(native shim)
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 ;;
	--batch) modes=(native shim nobatch) ;;
	--no-pin) pin=0 ;;
	--close) hdr=(-H "Connection: close") ;;
	--addr)
		[[ ${2:-} =~ ^[0-9.]+$ ]] || usage
		HTTP_ADDR=$2
		shift
		;;
	--server)
		[[ ${2:-} =~ ^(nginx|lighttpd|apache2)$ ]] || usage
		server=$2
		shift
		;;
	--reps)
		[[ ${2:-} =~ ^[1-9][0-9]*$ ]] || usage
		reps=$2
		shift
		;;
	--sizes|--conns)
		[[ ${2:-} =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || usage
		if [ "$1" = --sizes ]; then want_sizes=$2; else want_conns=$2; fi
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
[ -n "$want_sizes" ] && IFS=, read -r -a sizes <<<"$want_sizes"
[ -n "$want_conns" ] && IFS=, read -r -a conns <<<"$want_conns"

setup_error() {
	echo "$server-bench: $*" >&2
	exit 99
}

[ -d "$builddir" ] || setup_error "no build directory $builddir"
builddir=$(cd "$builddir" && pwd)
SM_WRAPPER=${SM_WRAPPER:-$builddir/tools/splicemsg}
export NGINX_WORKERS=${NGINX_WORKERS:-2}
[ -x "$SM_WRAPPER" ] || setup_error "no wrapper at $SM_WRAPPER"
for t in "$server" wrk curl python3 gnuplot; do
	command -v "$t" >/dev/null || setup_error "$t is not installed"
done
mkdir -p "$outdir" || setup_error "cannot create $outdir"
outdir=$(cd "$outdir" && pwd)

# shellcheck source=tests/apps/http-lib.sh
. "$top/tests/apps/http-lib.sh"
# shellcheck source=tests/apps/nginx-lib.sh
. "$top/tests/apps/nginx-lib.sh"
# shellcheck source=tests/apps/lighttpd-lib.sh
. "$top/tests/apps/lighttpd-lib.sh"
# shellcheck source=tests/apps/apache2-lib.sh
. "$top/tests/apps/apache2-lib.sh"

# ---- what differs between the servers ---------------------------------------
# Each SERVER-lib.sh has SERVER_start DIR PORT ROOT MODE, SERVER_workers DIR
# (the processes that serve), SERVER_stop DIR and SERVER_stop_all.

# srv_start DIR PORT ROOT MODE.  Access logs are off everywhere: they are the
# same disk write in every mode, and the numbers should measure the send
# path instead of the filesystem (lighttpd and apache2 have none as
# configured by their libs).
srv_start() {
	if [ "$server" = nginx ]; then
		nginx_start "$@" "access_log off;"
	else
		"${server}_start" "$@"
	fi
}

# srv_errors DIR: the lines of the server's logs that say something went
# wrong (a crashed worker is respawned and the runs go on).
srv_errors() {
	case $server in
	nginx) grep -E '\[(alert|crit|emerg)\]' "$1/logs/error.log" ;;
	lighttpd) grep -vE '\) server (started|stopped)' "$1/logs/error.log" ;;
	apache2)
		grep -hE '\[[a-z_0-9]*:(error|crit|alert|emerg)\]' \
			"$1/logs/error.log" "$1/logs/stderr"
		;;
	esac
}

# srv_method: the configuration, for the report.
srv_method() {
	case $server in
	nginx)
		echo "nginx $(nginx -v 2>&1 | sed 's/.*\///'), $NGINX_WORKERS" \
		     "workers, sendfile on, tcp_nopush on, access_log off"
		;;
	lighttpd)
		echo "lighttpd $(lighttpd -v 2>&1 | sed -n '1s/^lighttpd\///p' |
			cut -d' ' -f1), one process, default network backend," \
		     "keep-alive, no access log"
		;;
	apache2)
		echo "apache2 $(apache2 -v 2>&1 | sed -n 's/^Server version: Apache\/\([^ ]*\).*/\1/p')," \
		     "mpm_event, one child of 64 threads, EnableSendfile On," \
		     "keep-alive, no access log"
		;;
	esac
}

# The two modes are defined here only: nothing from the caller leaks in
# (SPLICEMSG_LIB stays: it picks the library, not its behaviour).
unset LD_PRELOAD
while read -r v; do
	[ "$v" = SPLICEMSG_LIB ] || unset "$v"
done < <(compgen -e | grep '^SPLICEMSG_' || true)

tmp=$(mktemp -d "/tmp/sm-$server-bench.XXXXXX") ||
	setup_error "mktemp failed"
# the workers run as nobody (www-data) and must reach the tree
chmod 755 "$tmp"
trap '"${server}_stop_all"; rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

tsv=$outdir/$server-bench.tsv
md=$outdir/$server-bench.md
png=$outdir/$server-bench.png
ratios=$outdir/$server-bench-ratios.tsv
log=$outdir/$server-bench.log
rm -f "$tsv" "$md" "$png" "$ratios" "$log"
problems=()
broken=0

# ---- the tree and the servers -----------------------------------------------
www=$tmp/www
mkdir -p "$www"
declare -A file=()
for s in 4096 $((64 << 10)) $((1 << 20)) "${sizes[@]}"; do
	file[$s]=f$s
	head -c "$s" /dev/urandom >"$www/f$s" || setup_error "cannot write $www"
done
chmod -R a+rX "$www"

# Every port at once, so they differ; the sockets close before the server
# binds, which leaves a small window that srv_start's failure would report.
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

for m in "${modes[@]}"; do
	engine=auto batch=1
	[ "$m" = native ] && engine=native
	[ "$m" = nobatch ] && batch=0
	if ! SPLICEMSG_BATCH=$batch srv_start "${dir[$m]}" "${port[$m]}" \
	     "$www" "$engine"; then
		tail -n 5 "${dir[$m]}"/logs/* >&2 2>/dev/null
		setup_error "$server ($m) did not start on port ${port[$m]}"
	fi
done

# A shim that failed to load would make this a native-vs-native run.
for m in "${modes[@]}"; do
	[ "$m" = native ] && continue
	for w in $("${server}_workers" "${dir[$m]}"); do
		grep -q libsplicemsg "/proc/$w/maps" 2>/dev/null ||
			setup_error "libsplicemsg is not loaded in $m worker $w"
	done
done
for w in $("${server}_workers" "${dir[native]}"); do
	! grep -q libsplicemsg "/proc/$w/maps" 2>/dev/null ||
		setup_error "libsplicemsg is loaded in native worker $w"
done

# ---- where the servers and wrk run -------------------------------------------
# A server measured while wrk's threads share its cores measures how the
# scheduler splits them as much as the server: on 2 CPUs one nginx worker
# and wrk -t2 are three busy threads on two cores, so a server that needs
# less CPU per request gives wrk more of its core and the two ends' costs
# mix in the requests/s.  Two machines, the usual way to load a server,
# do not mix them.  So when the server's processes leave a CPU free (one
# nginx worker, lighttpd, apache2's one child), they are pinned to the
# first CPUs and wrk to the rest, one wrk thread per CPU it has; when they
# need every CPU (one nginx worker per core) nothing is pinned and wrk runs
# two threads, as before.  Each server's CPU time per request (utime +
# stime of its processes over the wrk run) is reported either way.
ncpu=$(nproc)
case $server in
nginx) srv_cpus=$NGINX_WORKERS ;;
*) srv_cpus=1 ;;
esac
# nginx's "auto" is one worker per CPU
[[ $srv_cpus =~ ^[1-9][0-9]*$ ]] || srv_cpus=$ncpu
wrk_cpus='' wrk_threads=2
if ((pin && srv_cpus < ncpu)); then
	wrk_cpus=$srv_cpus-$((ncpu - 1)) wrk_threads=$((ncpu - srv_cpus))
	for m in "${modes[@]}"; do
		for w in $("${server}_workers" "${dir[$m]}"); do
			taskset -a -p -c 0-$((srv_cpus - 1)) "$w" >/dev/null ||
				setup_error "cannot pin $m worker $w"
		done
	done
fi
# wrk's command line, for run and the report
wrk_cmd() {
	if [ -n "$wrk_cpus" ]; then
		echo "taskset -c $wrk_cpus wrk"
	else
		echo wrk
	fi
}
hz=$(getconf CLK_TCK)

# srv_ticks MODE: the CPU ticks (user + system, every thread) the server's
# processes have used so far.
srv_ticks() {
	local w t=0 f
	for w in $("${server}_workers" "${dir[$1]}"); do
		f=$(cut -d' ' -f14,15 "/proc/$w/stat" 2>/dev/null) || continue
		t=$((t + ${f% *} + ${f#* }))
	done
	echo "$t"
}

# verify WHEN: every file from every server, byte for byte.
verify() {
	local m s
	for m in "${modes[@]}"; do
		for s in "${!file[@]}"; do
			if ! curl -sS --max-time 30 -o "$tmp/got" \
			     "http://$HTTP_ADDR:${port[$m]}/${file[$s]}" ||
			   ! cmp -s "$tmp/got" "$www/${file[$s]}"; then
				echo "$server-bench: $1: $m served wrong bytes" \
				     "for ${file[$s]}" >&2
				exit 1
			fi
		done
	done
	echo "$server-bench: $1: every file byte-exact from every server" >&2
}
verify "before the runs"

# before any load of ours: what else is running
start_load=$(cut -d' ' -f1-3 /proc/loadavg)
when=$(date -u '+%Y-%m-%d %H:%M UTC')

# An untimed run per server, so the first timed run does not pay for
# connection setup paths and caches the later ones find warm.
for m in "${modes[@]}"; do
	$(wrk_cmd) -t"$wrk_threads" -c16 -d1s \
		"http://$HTTP_ADDR:${port[$m]}/${file[4096]}" >/dev/null 2>&1
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
	local m=$1 s=$2 c=$3 rep=$4 t out rc=0 rps bps bad p99 t0 t1 n cpu=''
	local wcpu TIMEFORMAT='wrk-cpu %U %S %R'
	# wrk wants at least one connection per thread
	t=$((c < wrk_threads ? c : wrk_threads))
	t0=$(srv_ticks "$m")
	# bash's time: wrk's own CPU (user, system, elapsed), for whether
	# the client was the bottleneck
	# shellcheck disable=SC2046 # the command and its options
	out=$( { time timeout $((duration + 60)) $(wrk_cmd) -t"$t" -c"$c" \
	      -d"${duration}s" --timeout 10s --latency "${hdr[@]}" \
	      "http://$HTTP_ADDR:${port[$m]}/${file[$s]}" 2>&1; } 2>&1) ||
		rc=$?
	t1=$(srv_ticks "$m")
	n=$(awk '$2 == "requests" && $3 == "in" { print $1 }' <<<"$out")
	[ -n "$n" ] && ((n > 0)) &&
		cpu=$(awk -v d=$((t1 - t0)) -v n="$n" -v hz="$hz" \
			'BEGIN { printf "%.2f", d * 1e6 / hz / n }')
	# wrk's CPUs busy: 1.00 is one CPU all the run
	wcpu=$(awk '$1 == "wrk-cpu" && $4 > 0 {
		printf "%.2f", ($2 + $3) / $4 }' <<<"$out")
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
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$c" "$rep" "$m" \
		"$rps" "$bps" "$p99" "$cpu" "$wcpu" >>"$tsv"
	echo "$server-bench: rep $rep/$reps, $s B, $c conns: $m" \
	     "${rps:-failed} req/s" >&2
}

nreps="$reps reps"
((reps > 1)) || nreps="1 rep"
printf 'size\tconns\trep\tmode\treq_per_s\tbytes_per_s\tp99_us\tcpu_us\twrk_cpus\n' \
	>"$tsv"
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
# included) and resident memory, split into anonymous memory and file
# pages: a file page mapped by several of a worker's mappings (the shim's
# per-thread window) counts once per mapping in RssFile, not in memory.
footprint=()
for m in "${modes[@]}"; do
	for w in $("${server}_workers" "${dir[$m]}"); do
		fds=$(find "/proc/$w/fd" -mindepth 1 2>/dev/null | wc -l)
		rings=$(find "/proc/$w/fd" -mindepth 1 -lname \
			'anon_inode:\[io_uring\]' 2>/dev/null | wc -l)
		rss=$(awk '/^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 }
			/^RssFile:/ { f = $2 }
			END { printf "%.1f MB (anon %.1f, file %.1f)", r / 1024,
				a / 1024, f / 1024 }' "/proc/$w/status" 2>/dev/null)
		footprint+=("$m worker $w: $fds descriptors ($rings io_uring), RSS ${rss:-?}")
	done
done

# ---- stop, then what the shim did -------------------------------------------
for m in "${modes[@]}"; do
	"${server}_stop" "${dir[$m]}" ||
		{ problems+=("$server ($m) did not stop cleanly"); broken=1; }
	if srv_errors "${dir[$m]}" >"$tmp/errs"; then
		problems+=("$server ($m) error log: $(head -n 1 "$tmp/errs")")
		broken=1
	fi
done
stats=("${dir[shim]}"/stats/*.json)

pin_method() {
	if [ -n "$wrk_cpus" ]; then
		echo "the server pinned to CPU 0-$((srv_cpus - 1)), wrk to CPU $wrk_cpus"
	else
		echo "nothing pinned (the server and wrk share every CPU)"
	fi
}

{
	echo "## $server static files, native vs libsplicemsg (engine auto)"
	echo
	echo "date: $when; kernel: $(uname -r); CPUs: $(nproc);" \
	     "method: $(srv_method), over $HTTP_ADDR${hdr[*]:+, a connection per request (Connection: close)}; $(pin_method);" \
	     "wrk -t$wrk_threads (-t1 at 1 connection) -d${duration}s" \
	     "--latency per cell; $nreps, interleaved (${modes[*]}, ...)," \
	     "medians; ratio = mode/native; MB = 10^6 B of wrk's" \
	     "Transfer/sec (headers included); p99 = wrk's 99th" \
	     "percentile latency; CPU = the server's user + system time" \
	     "per request over the run, from /proc; wrk CPUs = wrk's" \
	     "user + system time over the elapsed time (1.00: one CPU" \
	     "busy all the run) (nobatch: the shim with" \
	     "SPLICEMSG_BATCH=0); load average" \
	     "$start_load at start, $end_load at end."
	echo
	if awk -v l="${start_load%% *}" 'BEGIN { exit !(l >= 1) }'; then
		echo "Note: other work was running (load average" \
		     "${start_load%% *} before the runs): the ratios carry" \
		     "its noise."
		echo
	fi
	python3 "$here/http-report.py" table "$tsv" "$ratios"
	echo
	# nobatch's too: whether batching was used at all shows in the
	# difference
	for m in "${modes[@]}"; do
		[ "$m" = native ] && continue
		mstats=("${dir[$m]}"/stats/*.json)
		if [ -e "${mstats[0]}" ]; then
			echo "Which path carried the bytes ($m: the shim's" \
			     "stats from ${#mstats[@]} processes, whole run" \
			     "including the checks):"
			echo
			python3 "$here/http-report.py" paths "${mstats[@]}"
		else
			echo "Which path carried the bytes ($m): unknown, the" \
			     "shim wrote no stats file"
		fi
		echo
	done
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
	-e "plottitle='$server, $(uname -r), $(nproc) CPUs: libsplicemsg (auto) / native, medians of $nreps'" \
	"$here/http-plot.gp" || setup_error "gnuplot failed"
echo >&2
echo "$server-bench: wrote $tsv, $md, $png" >&2
exit "$broken"
