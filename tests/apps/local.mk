# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Real programs under the shim: nginx (nginx.sh; its system calls counted,
# syscalls.sh) and rsync (rsync.sh).
#
# Not in the sanitizer build: the ASan runtime must be preloaded ahead of
# the instrumented library, but the splicemsg wrapper these run the servers
# through puts the library first, and they fork workers and daemons at
# every turn, where the runtime is not fork-safe in this toolchain (see
# tests/stream/lib.sh).  A failure there would be about the sanitizer, not
# the shim; the byte-stream suites cover the sanitized library.
if !SANITIZERS
TESTS += tests/apps/nginx.sh tests/apps/syscalls.sh tests/apps/rsync.sh
endif
EXTRA_DIST += tests/apps/nginx.sh tests/apps/nginx-lib.sh \
	tests/apps/syscalls.sh tests/apps/rsync.sh
