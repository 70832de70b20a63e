# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Real programs under the shim: nginx (tests/apps/nginx.sh) and rsync
# (tests/apps/rsync.mk).  Not in the sanitizer build: the servers fork
# workers and daemons, and the ASan runtime that must come first in
# LD_PRELOAD there is not fork-safe in this toolchain (see
# tests/stream/lib.sh); the byte-stream suites cover the sanitized shim.
if !SANITIZERS
TESTS += tests/apps/nginx.sh tests/apps/syscalls.sh
endif
EXTRA_DIST += tests/apps/nginx.sh tests/apps/nginx-lib.sh \
	tests/apps/syscalls.sh
include $(srcdir)/tests/apps/rsync.mk
