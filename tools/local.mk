# SPDX-License-Identifier: LGPL-2.1-or-later
#
# splicemsg: the wrapper command that prepends libsplicemsg to LD_PRELOAD
# and runs a program.  It reads shim/options.def, so its doc and -v follow
# the library's own table.  SM_LIBDIR is where `make install` puts the
# library; in the build tree it finds ../shim/.libs instead.
bin_PROGRAMS += tools/splicemsg
tools_splicemsg_SOURCES = tools/splicemsg.c tools/replace.c tools/replace.h
tools_splicemsg_CPPFLAGS = $(AM_CPPFLAGS) -DSM_LIBDIR='"$(libdir)"'

# splicemsg-stat, the live counters reader.  It takes the layout of the
# counters file and their JSON from the library's sources (counters.h,
# counters.c) and links nothing else of it.
bin_PROGRAMS += tools/splicemsg-stat
tools_splicemsg_stat_SOURCES = tools/splicemsg-stat.c shim/counters.c \
	tools/replace.c tools/replace.h \
	shim/counters.h shim/paths.def shim/stats.def shim/counters.def
tools_splicemsg_stat_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir)/shim
