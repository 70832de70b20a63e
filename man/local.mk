# SPDX-License-Identifier: LGPL-2.1-or-later
# The manual pages, made from man/*.in by man/sm-man, which prints the
# lists of variables, paths, fallback reasons and counters from the same
# X-macro files the code is built from, and the module's structs from its
# ABI header: none of them is written twice.  tests/tools/t_man.sh renders
# each page with groff and mandoc and checks the lists against the files.
noinst_PROGRAMS += man/sm-man
man_sm_man_SOURCES = man/sm-man.c
man_sm_man_CPPFLAGS = $(AM_CPPFLAGS) -I$(srcdir) -I$(srcdir)/shim \
	-DSM_LIBDIR='"$(libdir)"'

SM_MANS = man/splicemsg.1 man/splicemsg-stat.1 man/splicemsg.4 \
	man/libsplicemsg.7
man_MANS = $(SM_MANS)
CLEANFILES += $(SM_MANS)
EXTRA_DIST += man/splicemsg.1.in man/splicemsg-stat.1.in \
	man/splicemsg.4.in man/libsplicemsg.7.in
SM_MAN_DEPS = man/sm-man$(EXEEXT) $(srcdir)/include/uapi/linux/splicemsg.h
# The date: the Debian changelog's under dpkg-buildpackage, else today's.
SM_MAN_GEN = $(AM_V_GEN)$(MKDIR_P) man && \
	man/sm-man$(EXEEXT) $< $(srcdir)/include/uapi/linux/splicemsg.h \
	"$$(date -u -d "@$${SOURCE_DATE_EPOCH:-$$(date +%s)}" +%Y-%m-%d)" \
	>$@.tmp && mv $@.tmp $@

man/splicemsg.1: $(srcdir)/man/splicemsg.1.in $(SM_MAN_DEPS)
	$(SM_MAN_GEN)
man/splicemsg-stat.1: $(srcdir)/man/splicemsg-stat.1.in $(SM_MAN_DEPS)
	$(SM_MAN_GEN)
man/splicemsg.4: $(srcdir)/man/splicemsg.4.in $(SM_MAN_DEPS)
	$(SM_MAN_GEN)
man/libsplicemsg.7: $(srcdir)/man/libsplicemsg.7.in $(SM_MAN_DEPS)
	$(SM_MAN_GEN)
