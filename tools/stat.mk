# SPDX-License-Identifier: LGPL-2.1-or-later
#
# splicemsg-stat, the live counters reader.  It takes the layout of the
# counters file and their JSON from the library's sources (counters.h,
# counters.c) and links nothing else of it.

bin_PROGRAMS += tools/splicemsg-stat
tools_splicemsg_stat_SOURCES = tools/splicemsg-stat.c shim/counters.c \
	shim/counters.h shim/paths.def shim/stats.def shim/counters.def
tools_splicemsg_stat_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/shim

TESTS += tests/tools/t_stat.sh
EXTRA_DIST += tests/tools/t_stat.sh
