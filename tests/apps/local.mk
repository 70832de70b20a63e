# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Real programs under the shim: the web servers nginx, lighttpd and apache2
# (nginx.sh, lighttpd.sh, apache2.sh, their common checks in http-lib.sh;
# their system calls counted, syscalls.sh; auto against native in time,
# perf.sh), rsync (rsync.sh) and vsftpd, whose sessions chroot before they
# send (vsftpd.sh).
#
# Not in the sanitizer build: the ASan runtime must be preloaded ahead of
# the instrumented library, but the splicemsg wrapper these run the servers
# through puts the library first, and they fork workers and daemons at
# every turn, where the runtime is not fork-safe in this toolchain (see
# tests/stream/lib.sh).  A failure there would be about the sanitizer, not
# the shim; the byte-stream suites cover the sanitized library.
if !SANITIZERS
TESTS += tests/apps/nginx.sh tests/apps/lighttpd.sh tests/apps/apache2.sh \
	tests/apps/syscalls.sh tests/apps/perf.sh tests/apps/rsync.sh \
	tests/apps/vsftpd.sh
endif
EXTRA_DIST += tests/apps/nginx.sh tests/apps/nginx-lib.sh \
	tests/apps/lighttpd.sh tests/apps/lighttpd-lib.sh \
	tests/apps/apache2.sh tests/apps/apache2-lib.sh tests/apps/http-lib.sh \
	tests/apps/syscalls.sh tests/apps/perf.sh tests/apps/rsync.sh \
	tests/apps/vsftpd.sh
