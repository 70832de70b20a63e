# SPDX-License-Identifier: LGPL-2.1-or-later
# The module's own suite runs in the VM (scripts/vm-test); here, only what the
# host can check of the harness: the VM's kernel picker.
TESTS += tests/kmod/t_vm_pick.sh
EXTRA_DIST += tests/kmod/t_vm_pick.sh scripts/vm-lib.sh scripts/lib.sh
