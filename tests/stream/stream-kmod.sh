#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# SPLICEMSG_ENGINE=kmod: every eligible sendfile goes through splicemsg.ko,
# by its single send, and with ZC=always on a module with registered
# buffers by SEND_ZC from them (kmod_zc).
# Needs /dev/splicemsg, so it runs for real inside the VM (scripts/vm-test);
# on a host without the module it skips and says so.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
# shellcheck source=tests/stream/lib.sh
. "$(dirname "$0")/lib.sh"

sm_init
sm_require_lib
if [ ! -c /dev/splicemsg ]; then
	echo "SKIP: no /dev/splicemsg here; scripts/vm-test runs this in a VM"
	exit 77
fi
sm_native_all
sm_check_all kmod kmod "" SPLICEMSG_ENGINE=kmod
# kmod_zc_syscalls N: N corked responses (tests/bench/sm_resp) each cost one
# io_uring_enter, the module's REG_FILE, the SEND_ZC and the UNREG in one
# submission (strace), and went on kmod_zc with their headers (stats).
kmod_zc_syscalls() {
	local n=$1 out enter calls bytes co
	if ! command -v strace >/dev/null; then
		t_skip kmod-zc/syscalls "strace is not installed"
		return
	fi
	out=$(strace -f -c -o "$SM_TMP/kzc.strace" env \
	      ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	      LD_PRELOAD="$SM_PRELOAD" SPLICEMSG_ENGINE=kmod \
	      SPLICEMSG_ZC=always SPLICEMSG_ZC_MIN=0 \
	      SPLICEMSG_STATS="$SM_TMP/kzc.%p.json" \
	      "$top_builddir/tests/bench/sm_resp" cork 250 4096 "$n" 2>&1)
	enter=$(awk '$NF == "io_uring_enter" { print $4 }' "$SM_TMP/kzc.strace")
	calls=$(sm_stat kzc 's.get("calls_by_path.kmod_zc", 0)')
	bytes=$(sm_stat kzc 's.get("bytes_by_path.kmod_zc", 0)')
	co=$(sm_stat kzc 's.get("coalesced", 0)')
	if [[ $out != *ok=1* ]]; then
		t_fail kmod-zc/syscalls "sm_resp: $out"
	elif [ "$calls" != "$n" ] || [ "$bytes" != $((n * 4096)) ] ||
		[ "$co" != "$n" ]; then
		t_fail kmod-zc/syscalls "kmod_zc calls $calls, bytes $bytes," \
			"coalesced $co; expected $n, $((n * 4096)), $n"
	elif [ -z "$enter" ] || [ "$enter" -lt "$n" ] ||
		[ "$enter" -gt $((n + 10)) ]; then
		t_fail kmod-zc/syscalls "$enter io_uring_enter for $n responses"
	else
		t_pass "kmod-zc/syscalls ($enter io_uring_enter for $n responses, all on kmod_zc with their headers)"
	fi
}

# Zero-copy from the module's registered buffers (Linux 7.3): on loopback
# only ZC=always takes it, and the kernel copies at delivery, so this is
# the path's correctness test; stream-nic.sh shows it not copied.
# The truncate scenario is left out: the module takes the file's pages for
# up to 16 MiB when the send starts, so a truncation while it runs does not
# shorten it (docs/kmod.md); file-changes covers a file changed between
# calls.
if sm_kmod_reg; then
	sm_check_all kmod-zc kmod truncate SPLICEMSG_ENGINE=kmod \
		SPLICEMSG_ZC=always SPLICEMSG_ZC_MIN=0
	kmod_zc_syscalls 500
else
	echo "# kmod-zc: this module has no registered buffers (before 7.3)"
fi
sm_finish
