#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# The default policy (SPLICEMSG_ENGINE=auto) on loopback: zero-copy would
# be copied and an io_uring copy is no faster than sendfile, so every byte
# must stay native, with the reason counted -- except the idioms scenarios'
# corked TCP headers, which leave with a small body in one sendmsg(2), and
# must be counted as coalesced on that path.  The senders use cubic; with
# bbr (auto-paced) the corked bodies of 128 KiB and more are copies in
# sendmsg(2), and the uncorked ones stay sendfile(2).
# Then SPLICEMSG_ZC=report:
# a socket's first large sends probe zero-copy, the kernel reports them
# copied, and the rest of that socket's sends go native.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$(dirname "$0")/lib.sh"

sm_init
sm_native_all
sm_require_lib

sm_check_all auto auto ""
# The sender's socket under bbr, which paces: auto copies the large corked
# bodies to this local peer (policy.c), and nothing else may differ.
if grep -qw bbr /proc/sys/net/ipv4/tcp_available_congestion_control \
	2>/dev/null || modprobe -q tcp_bbr 2>/dev/null; then
	sm_check_all auto-paced auto "big" SM_TEST_CC=bbr
else
	t_skip auto-paced "no bbr congestion control in this kernel"
fi
probe=$(sm_uring_probe)
if [[ $probe == *"send_zc: yes"* ]]; then
	for scen in report sizes4 threads4 fork4; do
		sm_check report auto "$scen" SPLICEMSG_ENGINE=auto \
			SPLICEMSG_ZC=report
	done
	sm_stats_flush
else
	t_skip report "no io_uring zero-copy here: $probe"
fi
sm_finish
