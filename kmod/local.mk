# SPDX-License-Identifier: LGPL-2.1-or-later
# The kernel helper, built only with --with-linux=DIR.  Kbuild runs in the
# build tree (a copy of kmod/ beside a link to include/), so out-of-tree
# and distcheck builds work.
SM_KMOD_SRC = kmod/Kbuild kmod/main.c kmod/send.c kmod/stage.c kmod/reg.c \
	kmod/compat.h kmod/splicemsg.h kmod/counters.def
EXTRA_DIST += $(SM_KMOD_SRC) kmod/dkms.conf.in kmod/version.h.in
if BUILD_KMOD
all-local: kmod-build
kmod-build:
	@mkdir -p $(abs_top_builddir)/kmod-build/kmod
	@for f in $(SM_KMOD_SRC); do \
		cp -p $(abs_top_srcdir)/$$f $(abs_top_builddir)/kmod-build/kmod/; \
	done
	@cp -p $(abs_top_builddir)/kmod/version.h \
		$(abs_top_builddir)/kmod-build/kmod/
	@ln -sfn $(abs_top_srcdir)/include $(abs_top_builddir)/kmod-build/include
	$(MAKE) -C $(LINUX_DIR) M=$(abs_top_builddir)/kmod-build/kmod modules
endif

# The module's source as DKMS takes it (/usr/src/splicemsg-VERSION):
# `make dkms-source` lays it out in the build tree, `make install-dkms`
# copies it to $(DESTDIR)/usr/src (README: Installing the module).
SM_DKMS_DIR = splicemsg-$(PACKAGE_VERSION)
dkms-source:
	rm -rf $(SM_DKMS_DIR)
	$(MKDIR_P) $(SM_DKMS_DIR)/include/uapi/linux
	for f in $(SM_KMOD_SRC); do cp -p $(srcdir)/$$f $(SM_DKMS_DIR)/; done
	cp -p kmod/version.h kmod/dkms.conf $(SM_DKMS_DIR)/
	cp -p $(srcdir)/include/uapi/linux/splicemsg.h \
		$(SM_DKMS_DIR)/include/uapi/linux/
install-dkms: dkms-source
	$(MKDIR_P) $(DESTDIR)/usr/src
	rm -rf $(DESTDIR)/usr/src/$(SM_DKMS_DIR)
	cp -r $(SM_DKMS_DIR) $(DESTDIR)/usr/src/
.PHONY: dkms-source install-dkms kmod-build
