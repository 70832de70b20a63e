# SPDX-License-Identifier: LGPL-2.1-or-later
# The module's own suite runs in the VM (scripts/vm-test); here, what the
# host checks without a kernel: how the VM's kernels are chosen, and the
# kernel range that kmod/compat.h and dkms.conf declare.
TESTS += tests/kmod/t_vm_kernel.sh tests/kmod/t_kmod_compat.sh
EXTRA_DIST += tests/kmod/t_vm_kernel.sh tests/kmod/t_kmod_compat.sh \
	scripts/vm-lib.sh scripts/vm-kernel.sh scripts/lib.sh
