#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The packages on a system that has nothing else: a debootstrap
# --variant=minbase bookworm root (made once, ~1 min, under the build dir;
# SM_DEB_ROOT elsewhere), where apt installs libsplicemsg0, splicemsg-tools
# and splicemsg-dkms from the .deb files tests/pkg/t_deb.sh built (their
# dependencies from Debian's archive), then:
#  - nginx from Debian's archive (sendfile on; tcp_nopush on; one worker)
#    runs under the installed wrapper, `splicemsg --stats`, and serves
#    files of 0 B to 1 MiB + 1 to curl over one keep-alive connection:
#    every byte compared (sha256), the library mapped in the worker, and
#    the worker's stats show its sends went through the shim
#    (tests/pkg/root-nginx.sh, run in the root, starts it as
#    tests/apps/nginx-lib.sh does);
#  - the library loads in a plain program; splicemsg-stat and
#    systemd-dropin --write work there;
#  - man-db's `man -w` finds splicemsg(1), splicemsg-stat(1), splicemsg(4)
#    and libsplicemsg(7);
#  - dkms took the module's source, and `dkms build` makes splicemsg.ko
#    for the VM's kernel (scripts/vm-test's default, chosen by the same
#    vm_pick) with the host's headers of it bound into the root (skipped
#    when the host has none: scripts/vm-test installs them);
#  - apt purges the three again.
# What apt fetched for them and for nginx, procps, curl, man-db and the
# headers' dependencies (gcc-12, pahole) stays installed, a cache for the
# next run (~12 s then).  Run by ./scripts/test after t_deb; alone: bash
# tests/pkg/t_deb_root.sh after scripts/deb.  SM_DEB_OUT: the packages
# (default build/deb).  SM_VM_KVER: the VM's kernel, as for scripts/vm-test.
set -u
# shellcheck source=tests/t_lib.sh
. "$(cd "$(dirname "$0")/.." && pwd)/t_lib.sh"
# vm_mirror (the host's bookworm archive), vm_root_run (a command in a
# root, with its own /proc, nothing left mounted) and vm_pick_at (the VM's
# kernel).
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
# A run that died before its purge left its packages, and maybe the
# kernel's place (the dkms check): not this run's.  The root has no kernel
# of its own.
in_root dpkg --purge "${pkgs[@]}" >/dev/null 2>&1
k_clean() {
	rm -rf "$root"/lib/modules/*
	rmdir "$root"/usr/src/linux-headers-* "$root"/usr/lib/linux-kbuild-* \
		2>/dev/null
	return 0
}
k_clean

# What the checks use, from Debian's archive: installed once, kept (and
# their .debs in apt's cache) like the packages' own dependencies.  No
# service starts in the root: nginx's postinst would bind port 80 in the
# host's network namespace.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
extra=(nginx procps curl man-db)
in_root apt-get install -y -q --no-install-recommends "${extra[@]}" \
	>"$T_TMP/extra.log" 2>&1 ||
	{ echo "ERROR: apt-get install ${extra[*]} in $root:"
	  tail "$T_TMP/extra.log"; exit 99; }

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

# nginx under the wrapper, in one run in the root (root-nginx.sh says
# what it checks there); its stats files are read here.
cp "$top_srcdir/tests/pkg/root-nginx.sh" \
	"$top_srcdir/tests/apps/nginx-lib.sh" "$root/tmp/"
port=$(t_free_port)
in_root bash /tmp/root-nginx.sh /tmp/t_nginx "$port" >"$T_TMP/nginx.out" 2>&1
rc=$?
[ $rc -ne 99 ] ||
	{ echo "ERROR: nginx in the root:"; cat "$T_TMP/nginx.out"; exit 99; }
while read -r word what; do
	case $word in
	ok) t_pass "nginx under splicemsg: $what" ;;
	bad) t_fail "nginx under splicemsg: $what" "see above" ;;
	*) printf '    %s %s\n' "$word" "$what" ;;
	esac
done <"$T_TMP/nginx.out"
[ $rc -eq 0 ] || grep -q '^bad ' "$T_TMP/nginx.out" ||
	t_fail "nginx under splicemsg" "exit $rc" "$T_TMP/nginx.out"
# Every process that sent a file wrote one: the worker's must count the
# three non-empty files' sends and show the shim did more than pass them
# to the real sendfile(2) (a coalesced response or bytes on another path).
why=$(python3 - "$root"/tmp/t_nginx/stats/*.json <<'PY'
import json, sys
calls = coalesced = other = 0
for f in sys.argv[1:]:
    try:
        s = json.load(open(f))
    except (OSError, ValueError) as e:
        print("unreadable", f, e)
        sys.exit(1)
    calls += sum(s["calls_by_path"].values())
    coalesced += s["coalesced"]
    other += sum(v for k, v in s["bytes_by_path"].items() if k != "native")
print(f"{len(sys.argv) - 1} stats files, {calls} calls, {coalesced} coalesced,"
      f" {other} bytes off the native path")
sys.exit(0 if calls >= 3 and (coalesced or other) else 1)
PY
)
t_verdict $? "nginx under splicemsg: its stats ($why)" "no sign of the shim"
rm -rf "$root/tmp/t_nginx" "$root/tmp/root-nginx.sh" "$root/tmp/nginx-lib.sh"

run splicemsg-stat --prometheus
[ $? -eq 0 ] && grep -q '^# TYPE splicemsg_calls_total counter$' "$T_TMP/out"
t_verdict $? "splicemsg-stat --prometheus" "" "$T_TMP/out"

run splicemsg systemd-dropin nginx --only nginx --write
grep -qx "Environment=\"LD_PRELOAD=$lib\"" \
	"$root/etc/systemd/system/nginx.service.d/splicemsg.conf" 2>/dev/null &&
	! grep -q warning "$T_TMP/out"
t_verdict $? "systemd-dropin --write names the installed library" "" "$T_TMP/out"
rm -rf "$root/etc/systemd/system/nginx.service.d"

# man-db finds each page where the package put it.
for m in 1/splicemsg 1/splicemsg-stat 4/splicemsg 7/libsplicemsg; do
	run man -w "${m%/*}" "${m#*/}"
	grep -qx "/usr/share/man/man${m%/*}/${m#*/}.${m%/*}.gz" "$T_TMP/out"
	t_verdict $? "man -w ${m%/*} ${m#*/}" "" "$T_TMP/out"
done

run dkms status splicemsg
grep -q "^splicemsg/$version" "$T_TMP/out"
t_verdict $? "dkms has splicemsg/$version" "" "$T_TMP/out"

# dkms builds the module for the VM's kernel (the version scripts/vm-test
# boots by default, picked as it picks it) with that kernel's headers
# from the host, bound read-only into the root where Debian's packages
# put them, and what those packages depend on (gcc-12, pahole, ...)
# installed there from the archive; nothing is installed or loaded.
kser=${SM_VM_KVER:-6.12} kser=${kser%% *}
kver=$(vm_pick_at host "$kser" build 2>/dev/null) kver=${kver%% *}
kbuild=/usr/lib/linux-kbuild-${kver%-*}
khdr=(/usr/src/linux-headers-"$kver" /usr/src/linux-headers-"${kver%-*}"-common
	"$kbuild")
have=1 why="no $kser kernel with headers in the host's apt"
[ -n "$kver" ] || have=
for d in "${khdr[@]}"; do
	[ -z "$have" ] || [ -d "$d" ] ||
		have='' why="the host lacks $d (scripts/vm-test installs it)"
done
if [ -z "$have" ]; then
	t_skip "dkms build splicemsg/$version for the VM's kernel" "$why"
elif mapfile -t kdeps < <(dpkg-query -W -f='${Depends}, ' \
		"linux-headers-$kver" "linux-kbuild-${kver%-*}" 2>/dev/null |
		tr , '\n' | sed -E 's/^ *//; s/[ |].*//' | grep -v '^linux-' |
		sort -u) &&
	! in_root apt-get install -y -q --no-install-recommends "${kdeps[@]}" \
		>"$T_TMP/kdeps.log" 2>&1; then
	t_error "dkms build splicemsg/$version -k $kver" \
		"apt-get install of the headers' dependencies failed: $(tail -3 "$T_TMP/kdeps.log")"
else
	for d in "${khdr[@]}"; do
		mkdir -p "$root$d"
	done
	mkdir -p "$root/lib/modules/$kver"
	ln -sfn "${khdr[0]}" "$root/lib/modules/$kver/build"
	SM_V=$version SM_K=$kver \
		unshare --mount --propagation private -- sh -ec '
		r=$1; shift
		for d in "$@"; do mount --bind -o ro "$d" "$r$d"; done
		mount -t proc proc "$r/proc"
		exec chroot "$r" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			LC_ALL=C dkms build "splicemsg/$SM_V" -k "$SM_K"' \
		_ "$root" "${khdr[@]}" >"$T_TMP/dkms.log" 2>&1
	rc=$?
	ko=$(find "$root/var/lib/dkms/splicemsg/$version/$kver" \
		-name 'splicemsg.ko*' 2>/dev/null | head -1)
	[ $rc -eq 0 ] && [ -n "$ko" ]
	t_verdict $? "dkms build splicemsg/$version -k $kver (headers of the VM's kernel)" \
		"exit $rc, module: ${ko:-none}" "$T_TMP/dkms.log"
fi

in_root apt-get purge -y -q "${pkgs[@]}" >"$T_TMP/purge.log" 2>&1 &&
	[ ! -e "$root$lib" ] && [ ! -e "$root/usr/src/splicemsg-$version" ] &&
	[ ! -e "$root/usr/bin/splicemsg" ] &&
	! in_root dkms status splicemsg 2>/dev/null | grep -q splicemsg
t_verdict $? "apt purges them, and dkms forgets the module" "" "$T_TMP/purge.log"
k_clean
t_finish
