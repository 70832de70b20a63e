# SPDX-License-Identifier: LGPL-2.1-or-later
#
# rsync under the shim: remote-shell and daemon transfers checked against
# the source tree, and the shim's logs and stats checked for honesty.
#
# Not run in the sanitizer build: the ASan runtime must be preloaded ahead
# of the instrumented library, but the splicemsg wrapper this test runs
# rsync through puts the library first, and rsync forks and execs at every
# turn (remote-shell server, daemon children), where the runtime is not
# fork-safe in this toolchain (see tests/stream/lib.sh).  A failure there
# would be about the sanitizer, not the shim; the stream suites cover the
# sanitized library.
if !SANITIZERS
TESTS += tests/apps/rsync.sh
endif
# Distributed whatever the configuration of the tree that runs `make dist`.
EXTRA_DIST += tests/apps/rsync.sh
