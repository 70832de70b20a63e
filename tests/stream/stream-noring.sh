#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# SPLICEMSG_ENGINE=uring where io_uring cannot be set up (seccomp makes
# io_uring_setup fail EPERM, as container runtimes do, or ENOSYS, as a
# kernel without io_uring does): the application must not notice, and the
# stats must show every byte native with the reason counted.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "$(dirname "$0")/lib.sh"

sm_init
if [ ! -x "$SM_DENY" ]; then
	echo "ERROR: $SM_DENY not built"
	exit 99
fi
sm_native_all big
sm_require_lib

for e in EPERM ENOSYS; do
	probe=$(sm_uring_probe --deny $e)
	case $probe in
	"io_uring_setup: $e") ;;
	skip:*)
		sm_skip_rest "$probe"
		;;
	*)
		t_error "t_deny --errno $e" "io_uring_setup gave: $probe"
		sm_finish
		;;
	esac
done

sm_check_all noring-eperm uring big --deny EPERM SPLICEMSG_ENGINE=uring
for scen in sizes4 threads4 fork4 errors ineligible; do
	sm_check noring-enosys uring "$scen" --deny ENOSYS \
		SPLICEMSG_ENGINE=uring
done
sm_stats_flush
sm_finish
