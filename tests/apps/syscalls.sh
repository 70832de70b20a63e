#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# System calls per request, counted: nginx (sendfile on; tcp_nopush on;
# one worker, keep-alive, no access log) serving a 4 KiB file to wrk, its
# worker traced with strace -c, natively and under the shim (auto).  The
# corked idiom is four calls natively (setsockopt x2, writev, sendfile);
# auto sends it as one sendmsg(2) and must not buy that back with checks of
# its own: at most 0.65x native's calls per request (issue "nginx must pay
# for itself").  The stats must show the responses coalesced.
#
# Environment: top_builddir, SM_WRAPPER, SM_SYSCALL_MAX (0.65).
set -u

builddir=${top_builddir:-.}
SM_WRAPPER=${SM_WRAPPER:-$builddir/tools/splicemsg}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/t_lib.sh
. "$here/../t_lib.sh"
# shellcheck source=tests/apps/nginx-lib.sh
. "$here/nginx-lib.sh"
t_clean_env
max=${SM_SYSCALL_MAX:-0.65}

for c in nginx wrk strace python3; do
	command -v $c >/dev/null || { echo "SKIP: no $c"; exit 77; }
done
[ -x "$SM_WRAPPER" ] || { echo "ERROR: no wrapper at $SM_WRAPPER"; exit 99; }

tmp=$(mktemp -d /tmp/sm-syscalls.XXXXXX)
chmod 755 "$tmp"
trap 'nginx_stop_all; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/www"
head -c 4096 /dev/urandom >"$tmp/www/f"
chmod -R a+rX "$tmp/www"
export NGINX_ACCESS_LOG=off

# count MODE: "CALLS_PER_REQUEST REQUESTS TOP..." for one traced wrk run.
count() {
	local mode=$1 dir=$tmp/$1 port worker out req
	port=$(python3 -c 'import socket; s = socket.socket()
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	nginx_start "$dir" "$port" "$tmp/www" "$mode" || return 1
	worker=$(nginx_workers "$dir")
	# warm: connections open, the file in the page cache
	wrk -t1 -c16 -d1s "http://127.0.0.1:$port/f" >/dev/null 2>&1
	strace -f -c -o "$dir/strace" -p "$worker" 2>/dev/null &
	local sp=$!
	sleep 0.5
	out=$(wrk -t1 -c16 -d3s "http://127.0.0.1:$port/f" 2>&1)
	kill -INT $sp
	wait $sp 2>/dev/null
	nginx_stop "$dir"
	req=$(awk '/requests in/ { print $1 }' <<<"$out")
	python3 - "$dir/strace" "${req:-0}" <<'PY'
import re, sys
calls = {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) >= 5 and re.match(r"^[0-9.]+$", f[0]) and f[-1] != "total":
        calls[f[-1]] = int(f[3])
req = int(sys.argv[2])
if req < 1000:
    print("0 %d too few requests" % req)
    sys.exit()
top = sorted(calls.items(), key=lambda kv: -kv[1])[:8]
print("%.3f %d %s" % (sum(calls.values()) / req, req,
                      " ".join("%s=%.2f" % (k, v / req) for k, v in top)))
PY
}

read -r nat nreq ntop <<<"$(count native)"
read -r sm sreq stop <<<"$(count auto)"
echo "# native: $nat calls/request over $nreq requests ($ntop)"
echo "# auto:   $sm calls/request over $sreq requests ($stop)"
if [ -z "$nat" ] || [ "$nat" = 0 ] || [ -z "$sm" ] || [ "$sm" = 0 ]; then
	t_error calls "a run did not complete (native '$nat', auto '$sm')"
else
	ratio=$(python3 -c "print('%.3f' % ($sm / $nat))")
	if python3 -c "import sys; sys.exit(not ($ratio <= $max))"; then
		t_pass "calls per request: auto/native = $ratio (at most $max)"
	else
		t_fail calls "auto/native = $ratio, more than $max"
	fi
fi
co=$(cat "$tmp"/auto/stats/*.json 2>/dev/null | python3 -c '
import json, sys
print(sum(json.loads(l).get("coalesced", 0) for l in sys.stdin if l.strip()))')
if [ "${co:-0}" -gt 0 ]; then
	t_pass "coalesced responses: $co"
else
	t_fail coalesced "the stats show no coalesced response"
fi
t_finish
