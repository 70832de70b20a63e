#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The packages on a system that has nothing else: a debootstrap
# --variant=minbase bookworm root (made once, ~1 min, under the build dir;
# SM_DEB_ROOT elsewhere), where apt installs libsplicemsg0, splicemsg-tools
# and splicemsg-dkms from the .deb files tests/pkg/t_deb.sh built (their
# dependencies from Debian's archive), then: the wrapper runs a program
# that sends a file, under the library, whose stats say it did; the
# library loads in a plain program; splicemsg-stat, the manual pages and
# systemd-dropin --write work there; dkms took the module's source; and
# apt purges the three again (the dependencies apt fetched stay, a cache
# for the next run).  Run by ./scripts/test after t_deb; alone: bash tests/pkg/t_deb_root.sh
# after scripts/deb.  SM_DEB_OUT: the packages (default build/deb).
set -u
# shellcheck source=tests/t_lib.sh
. "$(cd "$(dirname "$0")/.." && pwd)/t_lib.sh"
# vm_mirror (the host's bookworm archive) and vm_root_run (a command in a
# root, with its own /proc, nothing left mounted).
# shellcheck source=scripts/vm-lib.sh
. "$top_srcdir/scripts/vm-lib.sh"
t_clean_env
out=${SM_DEB_OUT:-$SM_BUILD/deb}
root=${SM_DEB_ROOT:-$SM_BUILD/deb-root/bookworm}
version=$(sm_version)
arch=$(dpkg --print-architecture)
abi=$(sed -n 's/^SM_ABI=//p' "$top_srcdir/configure.ac")
pkgs=("libsplicemsg$abi" splicemsg-tools splicemsg-dkms)
debs=()
for p in "${pkgs[@]}"; do
	f=$(ls "$out/${p}_${version}_"{"$arch",all}.deb 2>/dev/null | head -1)
	[ -n "$f" ] || { echo "ERROR: no $p $version in $out (scripts/deb)"; exit 99; }
	debs+=("$f")
done
command -v debootstrap >/dev/null || sm_install debootstrap >/dev/null
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/$T_NAME.XXXXXX") || exit 99
trap 'rm -rf "$T_TMP"' EXIT
trap 'exit 99' INT TERM
in_root() { SM_VM_ROOT=$root vm_root_run "$@"; }

# The root, once; a lock keeps two runs from making or using it at once.
mkdir -p "$(dirname "$root")"
exec {lock}>"$root.lock"
flock "$lock"
if [ ! -f "$root/.done" ]; then
	uri=$(vm_mirror)
	[ -n "$uri" ] || { echo "ERROR: no bookworm archive in the host's apt sources"; exit 99; }
	grep -qF " $root/" /proc/mounts &&
		{ echo "ERROR: something is mounted under $root"; exit 99; }
	rm -rf "$root"
	# Its own mount namespace: debootstrap mounts /proc and /sys in the
	# root, which rm -rf must never meet after a kill.
	if ! unshare --mount --propagation private -- debootstrap \
		--variant=minbase bookworm "$root" "$uri" >"$T_TMP/debootstrap.log" 2>&1; then
		echo "ERROR: debootstrap failed:"
		tail -20 "$T_TMP/debootstrap.log"
		exit 99
	fi
	in_root apt-get update -qq >"$T_TMP/update.log" 2>&1 ||
		{ echo "ERROR: apt-get update in $root:"; tail "$T_TMP/update.log"; exit 99; }
	touch "$root/.done"
fi
# A run that died before its purge left its packages: not this run's.
in_root dpkg --purge "${pkgs[@]}" >/dev/null 2>&1

# A program that sends a file: sendfile(2) to a socket, read back.
cat >"$T_TMP/send.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void)
{
	char data[4096], got[4096], path[] = "/tmp/t_deb_root.XXXXXX";
	int sv[2], fd = mkstemp(path), i;

	memset(data, 'x', sizeof(data));
	if (fd < 0 || write(fd, data, sizeof(data)) != sizeof(data) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return 2;
	unlink(path);
	for (i = 0; i < 3; i++) {
		off_t off = 0;

		if (sendfile(sv[0], fd, &off, sizeof(data)) != sizeof(data) ||
		    recv(sv[1], got, sizeof(got), MSG_WAITALL) != sizeof(got) ||
		    memcmp(got, data, sizeof(got)))
			return 1;
	}
	return 0;
}
C
cc -O2 -o "$root/tmp/t_send" "$T_TMP/send.c" ||
	{ echo "ERROR: cannot build the sender"; exit 99; }

mkdir -p "$root/tmp/debs"
cp "${debs[@]}" "$root/tmp/debs/"
in_root apt-get install -y -q --no-install-recommends \
	"${debs[@]/#*\//\/tmp\/debs\/}" >"$T_TMP/install.log" 2>&1
t_verdict $? "apt installs ${pkgs[*]} $version into a minbase bookworm root" \
	"apt-get failed:" "$T_TMP/install.log"
rm -rf "$root/tmp/debs"

run() { in_root "$@" >"$T_TMP/out" 2>&1; }
lib=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/libsplicemsg.so.$abi

run splicemsg --version
grep -qx "splicemsg $version" "$T_TMP/out"
t_verdict $? "splicemsg --version: $version" "" "$T_TMP/out"

run splicemsg -- cat /proc/self/maps
grep -q " $lib" "$T_TMP/out"
t_verdict $? "splicemsg runs a program with $lib loaded" "" "$T_TMP/out"

run splicemsg --stats /tmp/stats.%p.json -- /tmp/t_send
rc=$?
json=$(cat "$root"/tmp/stats.*.json 2>/dev/null)
rm -f "$root"/tmp/stats.*.json
[ $rc -eq 0 ] && grep -q '"calls_by_path":{"native":3,' <<<"$json" &&
	grep -q '"unix":3' <<<"$json"
t_verdict $? "a file sent under the wrapper: bytes right, 3 calls in its stats" \
	"exit $rc, stats: ${json:-none}" "$T_TMP/out"

run splicemsg-stat --prometheus
[ $? -eq 0 ] && grep -q '^# TYPE splicemsg_calls_total counter$' "$T_TMP/out"
t_verdict $? "splicemsg-stat --prometheus" "" "$T_TMP/out"

run splicemsg systemd-dropin nginx --only nginx --write
grep -qx "Environment=\"LD_PRELOAD=$lib\"" \
	"$root/etc/systemd/system/nginx.service.d/splicemsg.conf" 2>/dev/null &&
	! grep -q warning "$T_TMP/out"
t_verdict $? "systemd-dropin --write names the installed library" "" "$T_TMP/out"
rm -rf "$root/etc/systemd/system/nginx.service.d"

miss=
for m in man1/splicemsg.1 man1/splicemsg-stat.1 man4/splicemsg.4 man7/libsplicemsg.7; do
	[ -s "$root/usr/share/man/$m.gz" ] || miss="$miss $m"
done
[ -z "$miss" ]
t_verdict $? "the manual pages" "missing:$miss"

run dkms status splicemsg
grep -q "^splicemsg/$version" "$T_TMP/out"
t_verdict $? "dkms has splicemsg/$version (built for no kernel: none has headers here)" \
	"" "$T_TMP/out"

in_root apt-get purge -y -q "${pkgs[@]}" >"$T_TMP/purge.log" 2>&1 &&
	[ ! -e "$root$lib" ] && [ ! -e "$root/usr/src/splicemsg-$version" ] &&
	[ ! -e "$root/usr/bin/splicemsg" ] &&
	! in_root dkms status splicemsg 2>/dev/null | grep -q splicemsg
t_verdict $? "apt purges them, and dkms forgets the module" "" "$T_TMP/purge.log"
rm -f "$root/tmp/t_send"
t_finish
