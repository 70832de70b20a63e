# SPDX-License-Identifier: LGPL-2.1-or-later
# The module's own suite runs in the VM (scripts/vm-test); here, what the
# host checks without a kernel: how the VM's kernels are chosen, and the
# kernel range that kmod/compat.h and dkms.conf declare.
TESTS += tests/kmod/t_vm_kernel.sh tests/kmod/t_kmod_compat.sh
EXTRA_DIST += tests/kmod/t_vm_kernel.sh tests/kmod/t_kmod_compat.sh \
	tests/kmod/kmod-fuzz.sh \
	scripts/vm-lib.sh scripts/vm-kernel.sh scripts/lib.sh

# The module's own test, t_kmod, runs inside the VM (scripts/vm-test):
# linked statically, so it runs under the guest's kernel whatever the root
# has, and plain even in the sanitizer build.
check_PROGRAMS += tests/kmod/t_kmod
tests_kmod_t_kmod_SOURCES = tests/kmod/t_kmod.c
tests_kmod_t_kmod_CFLAGS = $(SM_WARN_CFLAGS) -O2 $(URING_CFLAGS)
tests_kmod_t_kmod_LDFLAGS = -all-static
tests_kmod_t_kmod_LDADD = $(URING_LIBS) -lpthread

# The module's fuzzer (tests/kmod/kmod-fuzz.sh runs it in the VM), built
# the same way.
check_PROGRAMS += tests/kmod/t_kmod_fuzz
tests_kmod_t_kmod_fuzz_SOURCES = tests/kmod/t_kmod_fuzz.c
tests_kmod_t_kmod_fuzz_CFLAGS = $(SM_WARN_CFLAGS) -O2 $(URING_CFLAGS)
tests_kmod_t_kmod_fuzz_LDFLAGS = -all-static
tests_kmod_t_kmod_fuzz_LDADD = $(URING_LIBS) -lpthread
