#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The VM's kernel picker (vm_pick and vm_kver in scripts/vm-lib.sh) on canned
# apt output: the archive states that have broken or could break the test
# command on a fresh machine.  One line per check, the usual exit codes.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u

# shellcheck source=tests/t_lib.sh
. "$(cd "$(dirname "$0")/.." && pwd)/t_lib.sh"
# shellcheck source=scripts/vm-lib.sh
. "$top_srcdir/scripts/vm-lib.sh"

# FACTS | expect NAME SERIES WANT: vm_pick's answer is WANT ("" for none).
# lastpipe: expect runs in this shell, so its counts are kept.
shopt -s lastpipe
expect() {
	local got
	got=$(vm_pick "$2")
	if [ "$got" = "$3" ]; then
		t_pass "$1"
	else
		t_fail "$1" "got '$got', want '$3'"
	fi
}

# apt-cache search lines, as the archive printed them.
line() {
	printf '%s - Linux for 64-bit PCs\n' "$@"
}

v117=6.12.117+deb12-amd64
v118=6.12.118+deb12-amd64

# 2026-12-02: the security archive had 6.12.118's headers and unsigned
# image, but not yet the signed one.
{
	line "linux-headers-$v117" "linux-image-$v117" \
		"linux-image-$v117-unsigned"
	line "linux-headers-$v118" "linux-image-$v118-unsigned"
	line "linux-headers-6.12.118+deb12-cloud-amd64" \
		"linux-image-6.12.118+deb12-cloud-amd64"
} | expect signed-missing 6.12 "$v118 linux-image-$v118-unsigned"

line "linux-headers-$v118" "linux-image-$v118-unsigned" |
	expect unsigned-only 6.12 "$v118 linux-image-$v118-unsigned"

line "linux-headers-$v118" "linux-image-$v118" "linux-image-$v118-unsigned" |
	expect signed-first 6.12 "$v118 linux-image-$v118"

# trixie-backports: linux-image-V is an empty meta-package there.
v73=7.3.4+deb13-amd64
line "linux-headers-$v73" "linux-image-$v73" "linux-binary-$v73" \
	"linux-modules-$v73" "linux-headers-7.2.12+deb13-amd64" \
	"linux-binary-7.2.12+deb13-amd64" "linux-modules-7.2.12+deb13-amd64" |
	expect split 7.3 "$v73 linux-binary-$v73,linux-modules-$v73"

line "linux-headers-$v73" "linux-binary-$v73" |
	expect split-half 7.3 ""

# The newest headers have no image at all: the one before.
line "linux-headers-$v117" "linux-image-$v117" "linux-headers-$v118" |
	expect headers-only 6.12 "$v117 linux-image-$v117"

line "linux-image-$v118" | expect image-only 6.12 ""
: | expect nothing 6.12 ""

# Another series, or a longer minor number, is not 6.12.
line "linux-headers-6.120.1+deb12-amd64" "linux-image-6.120.1+deb12-amd64" \
	"linux-headers-7.3.4+deb13-amd64" "linux-image-7.3.4+deb13-amd64" |
	expect other-series 6.12 ""

# What this machine has wins over a newer download.
{
	line "linux-headers-$v117" "linux-image-$v117"
	line "linux-headers-$v118" "linux-image-$v118"
	echo "installed linux-headers-$v117"
} | expect installed 6.12 "$v117 linux-image-$v117"

# A cached image needs no package, even one the archive has dropped.
{
	line "linux-headers-$v118" "linux-image-$v118"
	echo "installed linux-headers-6.12.115+deb12-amd64"
	echo "cached 6.12.115+deb12-amd64"
} | expect cached 6.12 "6.12.115+deb12-amd64 cached"

# Installed headers whose image is gone from the archive: not bootable.
{
	line "linux-headers-$v118" "linux-image-$v118"
	echo "installed linux-headers-6.12.115+deb12-amd64"
} | expect installed-no-image 6.12 "$v118 linux-image-$v118"

# SM_VM_KVER=VERSION: that version or nothing.
line "linux-headers-$v117" "linux-image-$v117" \
	"linux-headers-$v118" "linux-image-$v118-unsigned" |
	expect exact "$v117" "$v117 linux-image-$v117"
line "linux-headers-$v118" "linux-image-$v118" |
	expect exact-missing "$v117" ""
line "linux-headers-6.12.1+deb12-amd64" "linux-image-6.12.1+deb12-amd64" |
	expect exact-no-prefix "6.12.1" ""

# vm_kver when nothing qualifies, even after an update: one clear error.
out=$( (
	vm_facts() { :; }
	apt-get() { :; }
	SM_VM_KVER=6.12 vm_kver
) 2>&1)
rc=$?
if [ $rc -eq 99 ] && [[ $out == *"no kernel 6.12 in apt"* ]]; then
	t_pass kver-error
else
	t_fail kver-error "exit $rc, said: $out"
fi

# vm_kver sets KVER and VM_KSRC from the pick.
(
	vm_facts() { line "linux-headers-$v118" "linux-image-$v118-unsigned"; }
	SM_VM_KVER=6.12
	vm_kver
	[ "$KVER $VM_KSRC" = "$v118 linux-image-$v118-unsigned" ]
) && t_pass kver-sets || t_fail kver-sets "KVER/VM_KSRC not set"

t_finish
