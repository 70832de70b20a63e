# SPDX-License-Identifier: LGPL-2.1-or-later
# The tools and the install: the wrapper (t_wrapper), the live counters
# reader (t_stat), the manual pages (t_man), and make install into a
# scratch root (t_install).
TESTS += tests/tools/t_wrapper.sh tests/tools/t_stat.sh tests/tools/t_man.sh \
	tests/tools/t_install.sh
EXTRA_DIST += tests/tools/t_wrapper.sh tests/tools/t_stat.sh tests/tools/t_man.sh \
	tests/tools/t_install.sh
