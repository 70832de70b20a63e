#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The zero-copy rule where zero-copy really happens.  On loopback (and veth)
# the kernel copies every zero-copy buffer at delivery, so the other suites
# only ever see the "copied" verdict.  Inside the test VM booted with two
# virtio-net NICs on a qemu hub (scripts/vm-test with SM_VM_NET2=1), eth1 is
# moved into its own network namespace, and a sender in the first namespace
# reaches a receiver behind eth1 through the device, which takes page
# references.  There, under the default policy:
#   - auto (ZC=auto): the peer is not local, so large sendfile() calls probe
#     zero-copy, the kernel reports most sends as not copied, and the socket
#     keeps zero-copy: most bytes on uring_zc, no zc_copied fallbacks --
#     or on kmod_zc, where the loaded module registers buffers (7.3);
#   - the same sender to 127.0.0.1 in the same boot stays on sendfile(2)
#     (local_peer), as everywhere else.
# Every received byte is compared (sha256).  Skips (77) without the NICs.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
# shellcheck source=tests/stream/lib.sh
. "$(dirname "$0")/lib.sh"

SIZE=$((16 << 20))
CHUNK=$((256 << 10))

sm_init
sm_require_lib
ip link show eth1 >/dev/null 2>&1 ||
	sm_skip_rest "no second NIC (scripts/vm-test boots with SM_VM_NET2=1)"
for t in ip unshare nsenter; do
	command -v $t >/dev/null || sm_skip_rest "$t is not installed"
done

T_NIC_NS=
nic_cleanup() {
	[ -n "$T_NIC_NS" ] && kill "$T_NIC_NS" 2>/dev/null
	sm_cleanup
}
trap nic_cleanup EXIT

# eth0 here, eth1 in a namespace of its own: traffic must cross the hub.
if ! t_nic_netns; then
	t_error setup "could not put eth1 in a namespace"
	t_finish
fi

file=$SM_TMP/body
head -c "$SIZE" /dev/urandom >"$file"
want=$(sha256sum <"$file" | cut -d' ' -f1)

# receive NS ADDR PORT OUT: accept one connection, write "bytes sha256"
receive() {
	local ns=$1 addr=$2 port=$3 out=$4
	local prog='
import hashlib, socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2])))
l.listen(1)
open(sys.argv[3] + ".ready", "w").close()
c, _ = l.accept()
h, n = hashlib.sha256(), 0
while True:
    b = c.recv(1 << 20)
    if not b:
        break
    h.update(b)
    n += len(b)
open(sys.argv[3], "w").write("%d %s\n" % (n, h.hexdigest()))
'
	if [ "$ns" = - ]; then
		python3 -c "$prog" "$addr" "$port" "$out" &
	else
		nsenter -t "$ns" -n python3 -c "$prog" "$addr" "$port" "$out" &
	fi
	for _ in $(seq 100); do
		[ -e "$out.ready" ] && return 0
		sleep 0.1
	done
	return 1
}

# send NAME ADDR PORT: the file in CHUNK-sized sendfile() calls, under auto
send() {
	local name=$1 addr=$2 port=$3
	local prog='
import os, socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
fd = os.open(sys.argv[3], os.O_RDONLY)
size, chunk, off = os.fstat(fd).st_size, int(sys.argv[4]), 0
while off < size:
    n = os.sendfile(s.fileno(), fd, off, min(chunk, size - off))
    off += n
s.close()
'
	env LD_PRELOAD="$SM_PRELOAD" SPLICEMSG_ENGINE=auto \
		SPLICEMSG_STATS="$SM_TMP/$name.%p.json" \
		python3 -c "$prog" "$addr" "$port" "$file" "$CHUNK"
}

# run NAME NS ADDR PORT: one transfer, its bytes checked
run() {
	local name=$1 ns=$2 addr=$3 port=$4 got
	if ! receive "$ns" "$addr" "$port" "$SM_TMP/$name.rx"; then
		t_error "$name" "the receiver did not start"
		return 1
	fi
	if ! send "$name" "$addr" "$port"; then
		t_fail "$name/send" "the sender failed"
		wait
		return 1
	fi
	wait "$!" 2>/dev/null
	for _ in $(seq 100); do
		[ -s "$SM_TMP/$name.rx" ] && break
		sleep 0.1
	done
	got=$(cat "$SM_TMP/$name.rx" 2>/dev/null)
	if [ "$got" = "$SIZE $want" ]; then
		t_pass "$name/bytes ($SIZE B, sha256 equal)"
	else
		t_fail "$name/bytes" "received '$got', sent $SIZE $want"
	fi
}

# check NAME WHAT EXPR: PASS if the expression over the stats is true
check() {
	local v
	v=$(sm_stat "$1" "$3")
	if [ "$v" = True ]; then
		t_pass "$1/$2"
	else
		t_fail "$1/$2" "$3 is $v; stats: $(sm_stat "$1" \
			'" ".join("%s=%d" % kv for kv in sorted(s.items()) if kv[1])')"
	fi
}

summary() {
	sm_stat "$1" '" ".join("%s=%d" % kv for kv in sorted(s.items())
		if kv[1] and kv[0] not in ("pid", "version"))'
}

# The emulated device copies what TCP retransmits.  On a loaded host the
# first notifications of a connection can be retransmissions, and a
# socket's verdict is for its life: a connection ruled copied gets another,
# up to four in all (a host busy with other work ruled two in a row
# copied), and the checks judge the last.
nic=nic
run nic "$T_NIC_NS" 10.99.0.2 9000
for try in 2 3 4; do
	[ "$(sm_stat $nic 's.get("fallbacks.zc_copied", 0) > 0')" = True ] ||
		break
	echo "# $nic: ruled copied ($(summary $nic)); one more connection"
	nic=nic$try
	run $nic "$T_NIC_NS" 10.99.0.2 $((9000 + try))
done
check $nic "probed zero-copy" 's.get("zc_notifications", 0) >= 4'
check $nic "the kernel confirmed most sends not copied" \
	'2 * s.get("zc_copied", 0) <= s.get("zc_notifications", 0)'
zc=uring_zc
sm_kmod_reg && zc=kmod_zc
check $nic "kept zero-copy: most bytes on $zc" \
	'2 * s.get("bytes_by_path.'$zc'", 0) > '"$SIZE"
check $nic "no copied verdict, no local-peer shortcut" \
	's.get("fallbacks.zc_copied", 0) == 0 and s.get("fallbacks.local_peer", 0) == 0'
echo "    $nic: $(summary $nic)"

run loopback - 127.0.0.1 9001
check loopback "a local peer stays on sendfile(2)" \
	's.get("bytes_by_path.native", 0) == '"$SIZE"' and s.get("fallbacks.local_peer", 0) > 0'
sm_finish
