# SPDX-License-Identifier: LGPL-2.1-or-later
# The tools and the install: the wrapper (t_wrapper), its systemd-dropin
# (t_dropin), the live counters reader (t_stat), the manual pages (t_man),
# and make install into a scratch root (t_install).
SM_TOOLS_TESTS = tests/tools/t_wrapper.sh tests/tools/t_dropin.sh \
	tests/tools/t_stat.sh tests/tools/t_man.sh tests/tools/t_install.sh
TESTS += $(SM_TOOLS_TESTS)
EXTRA_DIST += $(SM_TOOLS_TESTS) tests/tools/prom_check.py
