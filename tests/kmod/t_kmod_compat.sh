#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The module's kernel range, checked on the host without kernel headers:
# kmod/compat.h preprocessed against stub <linux/version.h> and
# <linux/io_uring/cmd.h> for kernels on both sides of each change it
# handles, and dkms.conf's BUILD_EXCLUSIVE_KERNEL against the same range.
# The real builds (6.12, 7.2, 7.3) run in scripts/vm-test.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u

# shellcheck source=tests/t_lib.sh
. "$(cd "$(dirname "$0")/.." && pwd)/t_lib.sh"
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/$T_NAME.XXXXXX") || exit 99
trap 'rm -rf "$T_TMP"' EXIT
mkdir -p "$T_TMP/linux/io_uring"

# cpp_compat NAME VERSION SQE128 EXPECT: preprocess compat.h as kernel
# VERSION (a.b) sees it, with or without io_uring_sqe128_cmd; EXPECT is a
# fixed string its output (or, for "#error", its errors) must contain.
cpp_compat() {
	local name=$1 v=$2 sqe128=$3 want=$4 out
	{
		echo "#define KERNEL_VERSION(a, b, c) (((a) << 16) + ((b) << 8) + (c))"
		echo "#define LINUX_VERSION_CODE KERNEL_VERSION(${v%.*}, ${v#*.}, 0)"
	} >"$T_TMP/linux/version.h"
	if [ "$sqe128" = 1 ]; then
		echo '#define io_uring_sqe128_cmd(sqe, type) x' \
			>"$T_TMP/linux/io_uring/cmd.h"
	else
		: >"$T_TMP/linux/io_uring/cmd.h"
	fi
	: >"$T_TMP/linux/skbuff.h"
	out=$(printf '#include "compat.h"\nSQE: sm_sqe_cmd(s, u64)\n' |
		gcc -E -P -I"$top_srcdir/kmod" -I"$T_TMP" - 2>&1)
	if [[ $out == *"$want"* ]]; then
		t_pass "$name"
	else
		t_fail "$name" "want '$want', got: $out"
	fi
}

cpp_compat before-6.5 6.4 0 \
	'#error "splicemsg.ko needs Linux 6.5 or later (MSG_SPLICE_PAGES)"'
cpp_compat sqe-cmd-6.12 6.12 0 'SQE: ((const u64 *)io_uring_sqe_cmd(s))'
cpp_compat sqe-cmd-typed 7.3 1 'SQE: io_uring_sqe_cmd(s, u64)'

# dkms.conf's range, as Debian 12's dkms tests it ([[ =~ ]]); dkms sources
# the file with its own variables (unset here) in scope.
# shellcheck disable=SC1091
excl=$(set +u && . "$top_builddir/kmod/dkms.conf" && echo "$BUILD_EXCLUSIVE_KERNEL")
[ -n "$excl" ] || t_error dkms.conf "no BUILD_EXCLUSIVE_KERNEL"
for k in 6.5.0 6.12.118+deb12-amd64 6.19.1 7.3.4+deb13-amd64 8.0.0 10.1.2; do
	if [[ $k =~ $excl ]]; then
		t_pass "dkms-builds-$k"
	else
		t_fail "dkms-builds-$k" "'$excl' excludes it"
	fi
done
for k in 5.19.0 6.1.0-28-amd64 6.4.16 4.19.0; do
	if [[ $k =~ $excl ]]; then
		t_fail "dkms-excludes-$k" "'$excl' takes it"
	else
		t_pass "dkms-excludes-$k"
	fi
done

t_finish
