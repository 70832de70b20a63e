#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# SPLICEMSG_ENGINE=uring: every eligible sendfile is carried by io_uring.
# Each scenario's transcript must equal the native one, and the stats must
# show the eligible bytes on zero-copy sends (ZC=always ZC_MIN=0) or on
# copy sends (ZC=never), with ineligible calls left to libc.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$(dirname "$0")/lib.sh"

sm_init
if command -v nm >/dev/null; then
	syms=$(nm -u "$SM_SENDER" | grep -cE ' sendfile(64)?(@|$)')
	if [ "$syms" = 2 ]; then
		t_pass "sm_sender imports sendfile and sendfile64"
	else
		t_error "sm_sender imports" \
			"$(nm -u "$SM_SENDER" | grep sendfile)"
	fi
fi
sm_native_all
sm_require_lib

probe=$(sm_uring_probe)
case $probe in
*"io_uring_setup: ok"*) ;;
*)
	sm_skip_rest "io_uring unavailable here: $probe"
	;;
esac

if [[ $probe == *"send_zc: yes"* ]]; then
	sm_check_all uring-zc uring "" SPLICEMSG_ENGINE=uring \
		SPLICEMSG_ZC=always SPLICEMSG_ZC_MIN=0
else
	t_skip uring-zc "this kernel has no IORING_OP_SEND_ZC"
fi
sm_check_all uring-copy uring "" SPLICEMSG_ENGINE=uring SPLICEMSG_ZC=never
sm_finish
