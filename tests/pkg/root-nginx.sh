#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Run inside t_deb_root.sh's minbase root, with its own /proc and the
# host's network (hence PORT, chosen free on the host side), nginx-lib.sh
# beside it:
#
#   bash root-nginx.sh DIR PORT
#
# nginx started by tests/apps/nginx-lib.sh's nginx_start (sendfile on;
# tcp_nopush on; one worker, which switches to nobody) under the installed
# wrapper, `splicemsg --stats DIR/stats/%p.json`, serving DIR/www: files of
# 0 B, 4 KiB, 16 KiB and 1 MiB + 1 of random bytes, fetched by one curl
# over one keep-alive connection and compared by sha256.  Prints one
# "ok WHAT" or "bad WHAT" line per check and exits 1 if any was bad, 99
# when nginx does not start.  The stats files stay in DIR/stats for the
# caller, which reads them with the host's tools (the root has no JSON
# reader); DIR is made anew.
set -u
dir=$1 port=$2
bad=0
ok() { echo "ok $*"; }
no() { echo "bad $*"; bad=1; }
# shellcheck source=tests/apps/nginx-lib.sh
. "$(dirname "$0")/nginx-lib.sh"

rm -rf "$dir"
mkdir -p "$dir/www" "$dir/got"
: >"$dir/www/0"
head -c 4096 /dev/urandom >"$dir/www/4k"
head -c 16384 /dev/urandom >"$dir/www/16k"
head -c $((1048576 + 1)) /dev/urandom >"$dir/www/1m1"
files=(0 4k 16k 1m1)

SM_WRAPPER=splicemsg NGINX_ACCESS_LOG=off
# The master listens before it forks the worker nginx_start waits for.
if ! nginx_start "$dir" "$port" "$dir/www" auto >"$dir/out" 2>&1; then
	echo "nginx did not start:"
	cat "$dir/out" "$dir/logs/error.log" 2>/dev/null
	nginx_stop_all
	exit 99
fi
worker=$(nginx_workers "$dir")

if grep -q libsplicemsg "/proc/$worker/maps"; then
	ok "the worker ($worker) has libsplicemsg mapped"
else
	no "the worker ($worker) has no libsplicemsg mapped"
fi

# One curl, one connection: num_connects is 1 for the first transfer and 0
# for each one that reused it.
args=()
for f in "${files[@]}"; do
	args+=(-o "$dir/got/$f" "http://127.0.0.1:$port/$f")
done
if conns=$(curl -sS --fail -w '%{num_connects}\n' "${args[@]}" 2>&1); then
	if [ "$(tr '\n' ' ' <<<"$conns")" = "1 0 0 0 " ]; then
		ok "curl fetched ${files[*]} over one keep-alive connection"
	else
		no "curl's connections per transfer: $(tr '\n' ' ' <<<"$conns")"
	fi
else
	no "curl failed: $conns"
fi
for f in "${files[@]}"; do
	a=$(sha256sum <"$dir/www/$f") b=$(sha256sum <"$dir/got/$f" 2>/dev/null)
	if [ "$a" = "$b" ]; then
		ok "$f: $(stat -c %s "$dir/got/$f") bytes, sha256 equal"
	else
		no "$f: sha256 differs"
	fi
done

if nginx_stop "$dir"; then
	ok "nginx stopped on QUIT"
else
	no "nginx did not stop on QUIT:"
	cat "$dir/logs/error.log"
fi
# The worker was gone before nginx_stop returned: its stats file is written.
exit $bad
