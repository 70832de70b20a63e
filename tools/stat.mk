# SPDX-License-Identifier: LGPL-2.1-or-later
#
# splicemsg-stat, the live counters reader.  It takes the layout of the
# counters file from shim/sm.h and links nothing of the library.

bin_PROGRAMS += tools/splicemsg-stat
tools_splicemsg_stat_SOURCES = tools/splicemsg-stat.c shim/sm.h shim/stats.def
tools_splicemsg_stat_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/shim

TESTS += tests/tools/t_stat.sh
EXTRA_DIST += tests/tools/t_stat.sh
