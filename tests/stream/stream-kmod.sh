#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# SPLICEMSG_ENGINE=kmod: every eligible sendfile goes through splicemsg.ko.
# Needs /dev/splicemsg, so it runs for real inside the VM (scripts/vm-test);
# on a host without the module it skips and says so.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$(dirname "$0")/lib.sh"

sm_init
sm_require_lib
if [ ! -c /dev/splicemsg ]; then
	echo "SKIP: no /dev/splicemsg here; scripts/vm-test runs this in a VM"
	exit 77
fi
sm_native_all
sm_check_all kmod kmod "" SPLICEMSG_ENGINE=kmod
sm_finish
