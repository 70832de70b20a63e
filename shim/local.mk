# SPDX-License-Identifier: LGPL-2.1-or-later
SM_SHIM_SOURCES = \
	shim/sm.h shim/intercept.def shim/options.def shim/stats.def \
	shim/real.c shim/options.c shim/log.c shim/stats.c shim/fdstate.c \
	shim/policy.c shim/uring.c shim/mapcache.c shim/kmod.c shim/hold.c \
	shim/sendfile.c shim/signals.c shim/syscall.c shim/init.c

# The engine: everything but the exported names, linked into the unit
# tests too.
noinst_LTLIBRARIES += shim/libsmcore.la
shim_libsmcore_la_SOURCES = $(SM_SHIM_SOURCES)
shim_libsmcore_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden $(URING_CFLAGS)
shim_libsmcore_la_LIBADD = $(URING_LIBS) -lpthread

lib_LTLIBRARIES += shim/libsplicemsg.la
shim_libsplicemsg_la_SOURCES = shim/intercept.c shim/api.c
shim_libsplicemsg_la_CFLAGS = $(AM_CFLAGS) -fvisibility=hidden $(URING_CFLAGS)
shim_libsplicemsg_la_LIBADD = shim/libsmcore.la
shim_libsplicemsg_la_LDFLAGS = $(AM_LDFLAGS) -avoid-version -shared \
	-Wl,--version-script=$(srcdir)/shim/libsplicemsg.sym -Wl,-z,nodelete
EXTRA_DIST += shim/libsplicemsg.sym
EXTRA_shim_libsplicemsg_la_DEPENDENCIES = $(srcdir)/shim/libsplicemsg.sym

include_splicemsgdir = $(includedir)/splicemsg
include_splicemsg_HEADERS = include/splicemsg/splicemsg.h
