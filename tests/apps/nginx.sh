#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# nginx under the shim, against the file bytes: Debian's nginx on loopback
# with a generated configuration (sendfile on; tcp_nopush on; and the
# variants aio threads and a small sendfile_max_chunk), natively and under
# the splicemsg wrapper (auto, and every call forced onto io_uring).
# Bodies of 0 B .. 64 MiB over keep-alive, Range requests (sendfile from an
# offset), HEAD, 50 concurrent clients and a rate-limited client must all be
# the file's bytes (sha256); the error log must stay clean; the master runs
# as root and its worker as nobody; the stats must show which path carried
# the bodies (forced: io_uring, with the cork idiom coalesced; auto on
# loopback: sendfile(2), for the reasons it gives, except small bodies,
# which leave with their corked headers in one sendmsg(2)).  Then a worker killed
# mid-transfer and clients that disconnect mid-transfer: no hang, no crash,
# no descriptor left behind.
#
# Environment: top_builddir, SM_WRAPPER (default the build tree's
# tools/splicemsg).  Prints PASS/FAIL/SKIP lines; exits 0, 1, 77 or 99.
set -u

builddir=${top_builddir:-.}
SM_WRAPPER=${SM_WRAPPER:-$builddir/tools/splicemsg}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/apps/nginx-lib.sh
. "$here/nginx-lib.sh"

# shellcheck source=tests/t_lib.sh
. "$(cd "$(dirname "$0")/.." && pwd)/t_lib.sh"

command -v nginx >/dev/null || { echo "SKIP nginx: not installed"; exit 77; }
command -v curl >/dev/null || { echo "SKIP nginx: no curl"; exit 77; }
[ -x "$SM_WRAPPER" ] || { echo "ERROR no wrapper at $SM_WRAPPER"; exit 99; }

tmp=$(mktemp -d /tmp/sm-nginx.XXXXXX)
chmod 755 "$tmp"
trap 'nginx_stop_all; rm -rf "$tmp"' EXIT

free_port() {
	python3 -c 'import socket; s = socket.socket()
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---- the tree ----------------------------------------------------------------
www=$tmp/www
mkdir -p "$www"
declare -A size=([empty]=0 [one]=1 [b200]=200 [k4]=4096 [k16]=16384
		 [m1p1]=$((1048576 + 1)) [m64]=$((64 << 20)))
for f in "${!size[@]}"; do
	head -c "${size[$f]}" /dev/urandom >"$www/$f"
done
chmod -R a+rX "$www"
(cd "$www" && sha256sum -- * | sort -k2) >"$tmp/want.sha"
files=("${!size[@]}")

# Range requests and the bytes they must return: "FILE FIRST LAST".
ranges=("m1p1 0 0" "m1p1 1 1048576" "m1p1 4095 4096" "m1p1 1000 2000000"
	"m64 65536 131071" "m64 67108860 67108863" "k16 16383 16383"
	"b200 100 199")

# check_mode NAME DIR PORT: every check that must hold for one server.
check_server() {
	local name=$1 dir=$2 port=$3 out=$2/out f r first last n urls=()

	mkdir -p "$out"
	# keep-alive: one curl, one connection, every file
	for f in "${files[@]}"; do
		urls+=(-o "$out/$f" "http://127.0.0.1:$port/$f")
	done
	if curl -sf --no-progress-meter "${urls[@]}" &&
	   (cd "$out" && sha256sum -- "${files[@]}" | sort -k2) |
	   cmp -s - "$tmp/want.sha"; then
		t_pass "$name/bodies"
	else
		t_fail "$name/bodies" "a body differs from its file"
	fi
	n=0
	for r in "${ranges[@]}"; do
		read -r f first last <<<"$r"
		curl -sf -r "$first-$last" -o "$out/range" \
			"http://127.0.0.1:$port/$f" &&
			tail -c +$((first + 1)) "$www/$f" |
			head -c $((last - first + 1)) | cmp -s - "$out/range" ||
			n=$((n + 1))
	done
	[ $n = 0 ] && t_pass "$name/ranges" ||
		t_fail "$name/ranges" "$n of ${#ranges[@]} differ"
	# HEAD: the length and no body
	n=0
	for f in m1p1 k4 empty; do
		curl -sfI "http://127.0.0.1:$port/$f" >"$out/head" &&
			grep -qi "^content-length: ${size[$f]}"$'\r'"\$" \
				"$out/head" || n=$((n + 1))
	done
	[ $n = 0 ] && t_pass "$name/head" || t_fail "$name/head" "$n wrong"
	# 50 concurrent clients, 200 requests
	urls=()
	for n in $(seq 200); do
		f=${files[n % ${#files[@]}]}
		[ "$f" = m64 ] && f=k16
		urls+=(-o "$out/c$n" "http://127.0.0.1:$port/$f")
	done
	n=0
	if curl -sf --no-progress-meter --parallel --parallel-max 50 \
		"${urls[@]}"; then
		for r in $(seq 200); do
			f=${files[r % ${#files[@]}]}
			[ "$f" = m64 ] && f=k16
			cmp -s "$www/$f" "$out/c$r" || n=$((n + 1))
		done
	else
		n=-1
	fi
	[ $n = 0 ] && t_pass "$name/50-clients" ||
		t_fail "$name/50-clients" "$n bodies differ (-1: curl failed)"
	rm -f "$out"/c*
}

# The worker runs as nobody when we are root: the uid switch.
check_uid() {
	local name=$1 dir=$2 w u
	[ "$(id -u)" = 0 ] || return 0
	# a worker just forked may not have switched yet
	for _ in $(seq 40); do
		w=$(nginx_workers "$dir" | head -1)
		u=$(ps -o user= -p "$w" 2>/dev/null | tr -d ' ')
		[ "$u" = nobody ] && break
		sleep 0.05
	done
	[ "$u" = nobody ] && t_pass "$name/worker-is-nobody" ||
		t_fail "$name/worker-is-nobody" "worker $w runs as '$u'"
}

# No [error] or worse in the error log (client aborts are [info]).
check_log() {
	local name=$1 dir=$2 bad
	bad=$(grep -E '\[(error|crit|alert|emerg)\]' "$dir/logs/error.log")
	[ -z "$bad" ] && t_pass "$name/error-log-clean" ||
		t_fail "$name/error-log-clean" "$(head -3 <<<"$bad")"
}

# What the stats say carried the bodies, summed over every process.
stats() {
	python3 - "$1" <<'PY'
import glob, json, sys
t = {}
for f in glob.glob(sys.argv[1] + "/stats/*.json"):
    d = json.load(open(f))
    for k in ("bytes_by_path", "calls_by_path", "fallbacks",
              "calls_by_socket"):
        for p, v in d.get(k, {}).items():
            t[k + "." + p] = t.get(k + "." + p, 0) + v
    for k in ("coalesced", "hold_writes"):
        t[k] = t.get(k, 0) + d.get(k, 0)
print(" ".join("%s=%d" % kv for kv in sorted(t.items()) if kv[1]))
PY
}

check_stats() {
	local name=$1 dir=$2 mode=$3 variant=$4 s
	s=$(stats "$dir")
	get() { sed -n "s/.*\\b$1=\\([0-9]*\\).*/\\1/p" <<<"$s"; }
	local ur=$(($(get bytes_by_path.uring_copy) + $(get bytes_by_path.uring_zc) + 0))
	local na=$(($(get bytes_by_path.native) + 0))
	case $mode in
	uring)
		# forced: io_uring carries the bodies; the cork idiom of
		# tcp_nopush is held and coalesced
		if [ $ur -gt $((64 << 20)) ] && [ $na -lt $((ur / 10)) ] &&
		   [ "$(get coalesced)" -gt 0 ] 2>/dev/null; then
			t_pass "$name/stats-io_uring"
		else
			t_fail "$name/stats-io_uring" "$s"
		fi
		;;
	auto)
		# loopback: sendfile(2), and the stats say why; small bodies
		# leave with their corked headers in one sendmsg(2)
		if [ $ur = 0 ] && [ $na -gt $((64 << 20)) ] &&
		   [ $(($(get fallbacks.local_peer) + $(get fallbacks.small) + 0)) -gt 0 ] &&
		   [ "$(get coalesced)" -gt 0 ] 2>/dev/null &&
		   [ "$(get bytes_by_path.sendmsg)" -gt 0 ] 2>/dev/null; then
			t_pass "$name/stats-native-and-sendmsg"
		else
			t_fail "$name/stats-native-and-sendmsg" "$s"
		fi
		;;
	esac
	echo "    $name: $s"
}

# ---- the matrix ----------------------------------------------------------------
declare -A variants=(
	[base]=""
	[aio-threads]="aio threads;"
	[small-chunk]="sendfile_max_chunk 8k;"
)
for variant in base aio-threads small-chunk; do
	for mode in native auto uring; do
		name=$variant/$mode
		dir=$tmp/$variant-$mode
		port=$(free_port)
		if ! nginx_start "$dir" "$port" "$www" "$mode" \
			"${variants[$variant]}"; then
			t_fail "$name/start" "$(tail -3 "$dir/logs/error.log")"
			continue
		fi
		check_uid "$name" "$dir"
		check_server "$name" "$dir" "$port"
		if [ "$variant" = base ]; then
			# a slow client: 1 MiB at 512 KiB/s, the kernel's
			# buffer fills and the sends are partial
			curl -sf --limit-rate 512k -o "$dir/out/slow" \
				"http://127.0.0.1:$port/m1p1" &&
				cmp -s "$www/m1p1" "$dir/out/slow" &&
				t_pass "$name/slow-client" ||
				t_fail "$name/slow-client" "body differs"
		fi
		nginx_stop "$dir" || t_fail "$name/stop" "needed SIGKILL"
		check_log "$name" "$dir"
		check_stats "$name" "$dir" "$mode" "$variant"
	done
done

# ---- interrupted transfers -------------------------------------------------------
for mode in native uring; do
	name=interrupted/$mode
	dir=$tmp/interrupted-$mode
	port=$(free_port)
	nginx_start "$dir" "$port" "$www" "$mode" || {
		t_fail "$name/start" "nginx did not start"
		continue
	}
	w=$(nginx_workers "$dir" | head -1)
	# one request first: the shim's ring is the worker's own for good
	curl -sf -o /dev/null "http://127.0.0.1:$port/m1p1"
	fds=$(ls "/proc/$w/fd" | wc -l)
	# clients that go away mid-body: curl gives up after 1 s
	for _ in 1 2 3 4; do
		curl -s --limit-rate 1m --max-time 1 -o /dev/null \
			"http://127.0.0.1:$port/m64" &
	done
	wait
	sleep 0.5
	now=$(ls "/proc/$w/fd" | wc -l)
	[ "$now" -le "$fds" ] && t_pass "$name/disconnects-leave-no-fd" ||
		t_fail "$name/disconnects-leave-no-fd" "worker fds $fds -> $now"
	curl -sf -o "$dir/after" "http://127.0.0.1:$port/k16" &&
		cmp -s "$www/k16" "$dir/after" &&
		t_pass "$name/serves-after-disconnects" ||
		t_fail "$name/serves-after-disconnects" "no or wrong body"
	# the worker killed mid-transfer: the client must not hang
	curl -s --limit-rate 2m --max-time 20 -o /dev/null \
		"http://127.0.0.1:$port/m64" &
	cpid=$!
	sleep 0.5
	kill -KILL "$w"
	start=$SECONDS
	wait "$cpid"
	rc=$?
	[ $((SECONDS - start)) -lt 10 ] && [ "$rc" != 0 ] &&
		t_pass "$name/worker-killed-client-returns" ||
		t_fail "$name/worker-killed-client-returns" \
			"curl rc $rc after $((SECONDS - start)) s"
	# the master starts another worker, which serves
	sleep 0.5
	curl -sf -o "$dir/after" "http://127.0.0.1:$port/m1p1" &&
		cmp -s "$www/m1p1" "$dir/after" &&
		t_pass "$name/new-worker-serves" ||
		t_fail "$name/new-worker-serves" "no or wrong body"
	nginx_stop "$dir" || t_fail "$name/stop" "needed SIGKILL"
	# a crash would be [alert] "exited on signal 11": only our kill
	bad=$(grep -E '\[(crit|alert|emerg)\]' "$dir/logs/error.log" |
		grep -v "exited on signal 9")
	[ -z "$bad" ] && t_pass "$name/no-crash" || t_fail "$name/no-crash" "$bad"
done

t_finish
