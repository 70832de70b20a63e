# SPDX-License-Identifier: LGPL-2.1-or-later
# The Debian packaging: debian/ agrees with configure.ac (t_debian, cheap,
# here).  Building and inspecting the packages (t_deb) takes a build of its
# own, and installing them (t_deb_root) a debootstrap root, so
# ./scripts/test runs those once, outside make check.
TESTS += tests/pkg/t_debian.sh
EXTRA_DIST += tests/pkg/t_debian.sh tests/pkg/t_deb.sh tests/pkg/t_deb_root.sh \
	tests/pkg/root-nginx.sh
