#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# debian/ says what the build says, so the two cannot drift apart:
# debian/changelog's version is AC_INIT's (configure's PACKAGE_VERSION), the
# library's package is named after its SONAME (SM_ABI), and the DKMS
# package's description states the kernel range kmod/dkms.conf.in gives
# DKMS, whose regex for Debian 12's dkms accepts exactly the kernels from
# BUILD_EXCLUSIVE_KERNEL_MIN on.  Cheap and needs no Debian tools: run by
# make check; tests/pkg/t_deb.sh builds and inspects the packages.
set -u
# shellcheck source=tests/t_lib.sh
. "$(cd "$(dirname "$0")/.." && pwd)/t_lib.sh"
deb=$top_srcdir/debian
dkms_in=$top_srcdir/kmod/dkms.conf.in

# configure's values, expanded by make itself
mkvar() {
	# shellcheck disable=SC2016 # make expands it, not the shell
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$top_builddir" \
		--no-print-directory --eval='sm-print-%: ; @echo $($*)' \
		"sm-print-$1"
}
version=$(mkvar PACKAGE_VERSION) abi=$(mkvar SM_ABI)
[ -n "$version" ] && [ -n "$abi" ] ||
	{ echo "ERROR: no PACKAGE_VERSION/SM_ABI from $top_builddir"; exit 99; }

# The first entry's version: "libsplicemsg (VERSION) unstable; ...".
got=$(sed -n '1s/^libsplicemsg (\([^)]*\)) .*/\1/p' "$deb/changelog")
[ "$got" = "$version" ]
t_verdict $? "debian/changelog is version $version" \
	"it says '$got'; add an entry: dch -v $version"

grep -qx "Package: libsplicemsg$abi" "$deb/control" &&
	[ -e "$deb/libsplicemsg$abi.install" ]
t_verdict $? "the library's package is libsplicemsg$abi (SONAME libsplicemsg.so.$abi)" \
	"debian/control or debian/libsplicemsg$abi.install is missing"
grep -q "^Depends: libsplicemsg$abi (= \${binary:Version})" "$deb/control"
t_verdict $? "libsplicemsg-dev and splicemsg-tools depend on libsplicemsg$abi" \
	"debian/control names another library package"

min=$(sed -n 's/^BUILD_EXCLUSIVE_KERNEL_MIN="\(.*\)"/\1/p' "$dkms_in")
re=$(sed -n 's/^BUILD_EXCLUSIVE_KERNEL="\(.*\)"/\1/p' "$dkms_in")
grep -q "^Description: .*Linux $min and later" "$deb/control"
t_verdict $? "splicemsg-dkms says: Linux $min and later" \
	"its Description does not state the range of $dkms_in"

# Kernels below the minimum, at it and above, as uname -r spells them.
major=${min%%.*} minor=${min#*.}
below="$major.$((minor - 1)).0-1-amd64 $((major - 1)).19.0 4.19.0-27-amd64"
above="$min.0-1-amd64 $major.$((minor + 1)).3 $major.12.118+deb12-amd64
	$major.$((minor + 10)).1 $((major + 1)).0.0 $((major + 1)).3.4+deb13-amd64
	$((major + 4)).1.0"
bad=
for k in $below; do
	grep -Eq "$re" <<<"$k" && bad="$bad accepts:$k"
done
for k in $above; do
	grep -Eq "$re" <<<"$k" || bad="$bad refuses:$k"
done
[ -z "$bad" ]
t_verdict $? "BUILD_EXCLUSIVE_KERNEL is Linux $min and later" "$bad"
t_finish
