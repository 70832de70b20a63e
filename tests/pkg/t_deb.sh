#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The Debian packages, built by scripts/deb (dpkg-buildpackage -us -uc -b,
# then lintian, which must find no error): each package holds what it
# should at the multiarch paths, at AC_INIT's version; splicemsg-dkms
# installs the module's source with its dkms.conf and runs dkms from its
# maintainer scripts; and the wrapper of splicemsg-tools, unpacked,
# preloads the library of libsplicemsg0 and finds it where that package
# puts it.  Run by ./scripts/test (a build of its own, so not in make
# check); alone: bash tests/pkg/t_deb.sh.  SM_DEB_OUT: where the packages
# go (default build/deb).
set -u
# shellcheck source=tests/t_lib.sh
. "$(cd "$(dirname "$0")/.." && pwd)/t_lib.sh"
# shellcheck source=scripts/lib.sh
. "$top_srcdir/scripts/lib.sh"
t_clean_env
out=${SM_DEB_OUT:-$SM_BUILD/deb}
version=$(sm_version)
arch=$(dpkg --print-architecture)
triplet=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
abi=$(sed -n 's/^SM_ABI=//p' "$top_srcdir/configure.ac")

T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/$T_NAME.XXXXXX") || exit 99
trap 'rm -rf "$T_TMP"' EXIT
trap 'exit 99' INT TERM

"$top_srcdir/scripts/deb" --out "$out" >"$T_TMP/deb.log" 2>&1
rc=$?
if [ $rc -ne 0 ] && ! grep -q 'lintian found errors' "$T_TMP/deb.log"; then
	echo "ERROR: scripts/deb failed (exit $rc)"
	tail -30 "$T_TMP/deb.log"
	exit 99
fi
t_verdict $rc "built, and lintian finds no error" "lintian:" "$T_TMP/deb.log"
[ $rc -eq 0 ] || t_finish

lib=usr/lib/$triplet
# package  arch  files it must hold
while read -r pkg parch files; do
	deb=$out/${pkg}_${version}_$parch.deb
	if [ ! -f "$deb" ]; then
		t_fail "$pkg" "no $deb"
		continue
	fi
	dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$T_TMP/$pkg.list"
	miss=
	for f in $files; do
		f=${f//@LIB@/$lib} f=${f//@V@/$version}
		grep -qx "/$f" "$T_TMP/$pkg.list" || miss="$miss $f"
	done
	[ -z "$miss" ]
	t_verdict $? "$pkg $version ($parch) holds $(wc -w <<<"$files" | tr -d ' ') files" \
		"missing:$miss"
done <<EOF_PKGS
libsplicemsg$abi $arch @LIB@/libsplicemsg.so.$abi @LIB@/libsplicemsg.so.$abi.0.0
libsplicemsg-dev $arch @LIB@/libsplicemsg.so @LIB@/pkgconfig/libsplicemsg.pc usr/include/splicemsg/splicemsg.h usr/include/linux/splicemsg.h
splicemsg-tools $arch usr/bin/splicemsg usr/bin/splicemsg-stat usr/share/man/man1/splicemsg.1.gz usr/share/man/man1/splicemsg-stat.1.gz usr/share/man/man4/splicemsg.4.gz usr/share/man/man7/libsplicemsg.7.gz usr/share/doc/splicemsg-tools/semantics.md.gz
splicemsg-dkms all usr/src/splicemsg-@V@/dkms.conf usr/src/splicemsg-@V@/Kbuild usr/src/splicemsg-@V@/main.c usr/src/splicemsg-@V@/version.h usr/src/splicemsg-@V@/include/uapi/linux/splicemsg.h
EOF_PKGS

# Nothing of the library's unversioned name in the runtime package: that
# is the development package's, and two SONAMEs must be co-installable.
! grep -q "libsplicemsg\.so$" "$T_TMP/libsplicemsg$abi.list"
t_verdict $? "libsplicemsg$abi leaves libsplicemsg.so to libsplicemsg-dev" \
	"it holds the link-time symlink"

dkms_deb=$out/splicemsg-dkms_${version}_all.deb
mkdir "$T_TMP/dkms"
dpkg-deb -e "$dkms_deb" "$T_TMP/dkms/DEBIAN"
dpkg-deb -x "$dkms_deb" "$T_TMP/dkms"
conf=$T_TMP/dkms/usr/src/splicemsg-$version/dkms.conf
grep -qx "PACKAGE_VERSION=\"$version\"" "$conf" &&
	grep -q '^BUILD_EXCLUSIVE_KERNEL=' "$conf" &&
	grep -q '^BUILD_EXCLUSIVE_KERNEL_MIN=' "$conf"
t_verdict $? "dkms.conf: version $version and the kernel range" "" "$conf"
grep -q '/usr/lib/dkms/common.postinst' "$T_TMP/dkms/DEBIAN/postinst" &&
	grep -qx "DKMS_VERSION=$version" "$T_TMP/dkms/DEBIAN/postinst" &&
	grep -q 'dkms remove' "$T_TMP/dkms/DEBIAN/prerm" &&
	dpkg-deb -f "$dkms_deb" Depends | grep -q 'dkms'
t_verdict $? "splicemsg-dkms depends on dkms, which builds it at configure and removes it at removal" \
	"maintainer scripts or Depends without dkms"

# The wrapper and library as the packages lay them out, unpacked in a
# scratch root: the wrapper looks where libsplicemsg0 puts the library,
# and preloads the unpacked one when told to.
root=$T_TMP/root
for p in "libsplicemsg$abi" splicemsg-tools; do
	dpkg-deb -x "$out/${p}_${version}_$arch.deb" "$root"
done
"$root/usr/bin/splicemsg" --help | grep -q "/$lib/libsplicemsg.so.$abi\$"
t_verdict $? "splicemsg looks for /$lib/libsplicemsg.so.$abi" \
	"its --help names another path"
maps=$(SPLICEMSG_LIB=$root/$lib/libsplicemsg.so.$abi \
	"$root/usr/bin/splicemsg" -- cat /proc/self/maps 2>&1)
grep -q "$root/$lib/libsplicemsg.so.$abi" <<<"$maps"
t_verdict $? "the packaged wrapper runs a program with the packaged library loaded" \
	"$(head -3 <<<"$maps")"
t_finish
