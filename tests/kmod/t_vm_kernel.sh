#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# How the VM's kernel is chosen (scripts/vm-kernel.sh), on canned apt output
# and sources files: the archive states that have broken or could break the
# test command on a fresh machine, and where the mirror comes from.  One
# line per check, the usual exit codes.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u

# shellcheck source=tests/t_lib.sh
. "$(cd "$(dirname "$0")/.." && pwd)/t_lib.sh"
# shellcheck source=scripts/vm-lib.sh
. "$top_srcdir/scripts/vm-lib.sh"

# FACTS | expect NAME "KERNEL [build]" WANT: vm_pick's answer is WANT ("" for
# none).
# lastpipe: expect runs in this shell, so its counts are kept.
shopt -s lastpipe
expect() {
	local got args
	read -ra args <<<"$2"
	got=$(vm_pick "${args[@]}")
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

# "newest": the newest series, then the same rules within it.
{
	line "linux-headers-$v118" "linux-image-$v118"
	line "linux-headers-$v73" "linux-binary-$v73" "linux-modules-$v73"
	line "linux-headers-7.3.5+deb13-amd64" "linux-binary-7.3.5+deb13-amd64"
	line "linux-headers-7.2.12+deb13-amd64" \
		"linux-binary-7.2.12+deb13-amd64" \
		"linux-modules-7.2.12+deb13-amd64"
	echo "installed linux-headers-7.2.12+deb13-amd64"
	echo "installed linux-headers-$v118"
} | expect newest newest "$v73 linux-binary-$v73,linux-modules-$v73"

# Building only needs headers.
line "linux-headers-7.2.12+deb13-amd64" |
	expect build-headers "7.2 build" "7.2.12+deb13-amd64 -"
line "linux-headers-7.2.12+deb13-amd64" | expect boot-headers 7.2 ""

# A major version alone is a series too.
line "linux-headers-7.2.12+deb13-amd64" "linux-image-7.2.12+deb13-amd64" \
	"linux-headers-$v118" "linux-image-$v118" |
	expect series-7 7 "7.2.12+deb13-amd64 linux-image-7.2.12+deb13-amd64"

# vm_kver over the two places a kernel comes from, with canned facts:
# $FACTS_host and $FACTS_root, and apt-get update that changes nothing.
kver() {
	(
		vm_facts() {
			case $VM_WHERE in
			host) printf '%s\n' "$FACTS_host" ;;
			root) printf '%s\n' "$FACTS_root" ;;
			esac
		}
		vm_backports() { :; }
		vm_root() { :; }
		vm_root_run() { :; }
		apt-get() { :; }
		vm_kver "$@" >/dev/null && echo "$VM_WHERE $KVER $VM_KSRC"
	) 2>&1
}

# check_kver NAME WANT KVER-ARGS...: kver's answer (or error) has WANT in it.
check_kver() {
	local got
	got=$(kver "${@:3}")
	if [[ $got == *"$2"* ]]; then
		t_pass "$1"
	else
		t_fail "$1" "got '$got', want '$2'"
	fi
}

FACTS_host=$(line "linux-headers-$v118" "linux-image-$v118-unsigned")
FACTS_root=$(line "linux-headers-$v73" "linux-binary-$v73" \
	"linux-modules-$v73" "linux-headers-6.12.90+deb13-amd64" \
	"linux-image-6.12.90+deb13-amd64")
check_kver kver-host "host $v118 linux-image-$v118-unsigned" 6.12
check_kver kver-root "root $v73 linux-binary" 7.3
check_kver kver-newest "root $v73" newest
check_kver kver-exact-root "root 6.12.90+deb13-amd64" 6.12.90+deb13-amd64
check_kver kver-error "no kernel '7.2' in" 7.2
check_kver kver-error-build "no linux-headers for kernel '7.2'" 7.2 build
FACTS_root=
check_kver kver-newest-host "host $v118" newest

# The mirror: the host's own, from either sources format.
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/$T_NAME.XXXXXX") || exit 99
trap 'rm -rf "$T_TMP"' EXIT
cat >"$T_TMP/debian.sources" <<'EOF'
Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm

Types: deb
URIs: http://off.example/debian
Suites: bookworm
Enabled: no

Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian http://second.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
cat >"$T_TMP/one.list" <<'EOF'
# deb http://commented.example/debian bookworm main
deb http://security.example/debian-security bookworm-security main
deb [arch=amd64 signed-by=/k.gpg] http://list.example/debian bookworm main
EOF
cat >"$T_TMP/other.list" <<'EOF'
deb https://packages.example.com/apt cloud-sdk-bookworm main
EOF

# check NAME GOT WANT
check() {
	if [ "$2" = "$3" ]; then
		t_pass "$1"
	else
		t_fail "$1" "got '$2', want '$3'"
	fi
}

check mirror-deb822 "$(vm_mirror "$T_TMP/debian.sources")" \
	http://mirror.example/debian
check mirror-list "$(vm_mirror "$T_TMP/one.list")" http://list.example/debian
check mirror-none "$(vm_mirror "$T_TMP/other.list" /nonexistent)" ""
check mirror-first "$(vm_mirror "$T_TMP/other.list" "$T_TMP/one.list" \
	"$T_TMP/debian.sources")" http://list.example/debian
[ -n "$(vm_mirror)" ] && t_pass mirror-host ||
	t_fail mirror-host "no bookworm archive in this host's apt sources"

t_finish
