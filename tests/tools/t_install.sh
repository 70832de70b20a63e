#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# make install into a scratch DESTDIR: the library (its SONAME's file and
# the link-time symlink), the two tools and the manual pages, the
# public header, the module's ABI header and the pkg-config file land where
# the prefix says, and a program built with `pkg-config --cflags --libs
# libsplicemsg` against them links and runs.  Prints PASS/FAIL lines;
# exits 0, 1 or 99.
set -u
builddir=${top_builddir:?top_builddir}
# shellcheck source=tests/t_lib.sh
. "$(cd "$(dirname "$0")/.." && pwd)/t_lib.sh"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/root
# run from make check: the parent's flags (jobserver, -w) are not ours
unset MAKEFLAGS MFLAGS MAKELEVEL
if ! make -s -C "$builddir" install DESTDIR="$dest" >"$tmp/log" 2>&1; then
	echo "ERROR make install failed:"
	tail -20 "$tmp/log"
	exit 99
fi
# the directories as configured, expanded by make itself
dir() {
	# shellcheck disable=SC2016 # make expands it, not the shell
	make -s -C "$builddir" --no-print-directory \
		--eval='sm-print-%: ; @echo $($*)' "sm-print-$1"
}
libdir=$(dir libdir) bindir=$(dir bindir) includedir=$(dir includedir)
mandir=$(dir mandir)
# The SONAME's file is what an installed wrapper preloads.
for f in "$libdir/libsplicemsg.so.$(dir SM_ABI)" "$libdir/libsplicemsg.so" "$bindir/splicemsg" \
	 "$bindir/splicemsg-stat" "$includedir/splicemsg/splicemsg.h" \
	 "$includedir/linux/splicemsg.h" "$libdir/pkgconfig/libsplicemsg.pc" \
	 "$mandir/man1/splicemsg.1" "$mandir/man1/splicemsg-stat.1" \
	 "$mandir/man4/splicemsg.4" "$mandir/man7/libsplicemsg.7"; do
	if [ -e "$dest$f" ]; then
		t_pass "installed $f"
	else
		t_fail "installed $f" missing
	fi
done

export PKG_CONFIG_SYSROOT_DIR=$dest PKG_CONFIG_PATH=$dest$libdir/pkgconfig
flags=$(pkg-config --cflags --libs libsplicemsg 2>&1)
case $flags in
*-lsplicemsg*) t_pass "pkg-config: $flags" ;;
*) t_fail "pkg-config" "$flags" ;;
esac
cat >"$tmp/use.c" <<'C'
#include <stdio.h>
#include <splicemsg/splicemsg.h>
#include <linux/splicemsg.h>

int main(void)
{
	printf("%s api %d\n", splicemsg_version(), SPLICEMSG_API_VERSION);
	return 0;
}
C
# A sanitized library (SM_PRELOAD puts the ASan runtime ahead of it)
# needs a program whose runtime comes first: build it sanitized too.
san=
[ "${SM_PRELOAD:-${SM_LIB:-}}" = "${SM_LIB:-}" ] ||
	san="-fsanitize=address,undefined"
# shellcheck disable=SC2086 # pkg-config's words
if cc $san -o "$tmp/use" "$tmp/use.c" $flags 2>"$tmp/cc" &&
   out=$(LD_LIBRARY_PATH=$dest$libdir "$tmp/use"); then
	t_pass "a program built with pkg-config runs: $out"
else
	t_fail "build with pkg-config" "$(head -3 "$tmp/cc")"
fi
out=$(SPLICEMSG_LIB=$dest$libdir/libsplicemsg.so "$dest$bindir/splicemsg" \
	--version 2>&1)
case $out in
splicemsg\ *) t_pass "installed splicemsg --version" ;;
*) t_fail "installed splicemsg --version" "$out" ;;
esac
t_finish
