# SPDX-License-Identifier: LGPL-2.1-or-later
#
# splicemsg: the wrapper command that prepends libsplicemsg to LD_PRELOAD
# and runs a program.  It reads shim/options.def, so its doc and -v follow
# the library's own table.  SM_LIBDIR is where `make install` puts the
# library; in the build tree it finds ../shim/.libs instead.

bin_PROGRAMS += tools/splicemsg
tools_splicemsg_SOURCES = tools/splicemsg.c
tools_splicemsg_CPPFLAGS = $(AM_CPPFLAGS) -DSM_LIBDIR='"$(libdir)"'

TESTS += tests/tools/t_wrapper.sh
EXTRA_DIST += tests/tools/t_wrapper.sh
