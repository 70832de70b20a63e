# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared by the scripts: where things are, package installation, builds.
# shellcheck shell=bash

SM_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SM_BUILD=${SM_BUILD:-$SM_TOP/build}

sm_say() { printf '==> %s\n' "$*"; }
sm_die() { printf 'error: %s\n' "$*" >&2; exit 99; }

# Debian packages every script may need, installed only when missing:
# those that build and check the Debian packages (scripts/deb; the build
# dependencies are debian/control's), then the test suites' own.
# shellcheck disable=SC2034 # used by the scripts that source this file
SM_DEB_PACKAGES=(build-essential autoconf automake libtool pkg-config
	liburing-dev check libsubunit-dev dpkg-dev debhelper dh-dkms fakeroot
	lintian cpio debootstrap)
# shellcheck disable=SC2034
SM_PACKAGES=("${SM_DEB_PACKAGES[@]}" python3 curl strace nginx lighttpd
	apache2 rsync vsftpd wrk mandoc groff man-db prometheus systemd valgrind)

sm_missing_packages() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'ok installed' || printf '%s\n' "$p"
	done
}

sm_install() {
	local missing sudo=
	mapfile -t missing < <(sm_missing_packages "$@")
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	sm_say "installing: ${missing[*]}"
	# Packages like nginx start their service on install: not here.
	local guard=/usr/sbin/policy-rc.d own_guard=
	if [ ! -e $guard ]; then
		printf '#!/bin/sh\nexit 101\n' | $sudo tee $guard >/dev/null
		$sudo chmod +x $guard
		own_guard=1
	fi
	local rc=0
	{ $sudo apt-get update -qq &&
	  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
		--no-install-recommends "${missing[@]}"; } >/tmp/splicemsg-apt.log 2>&1 ||
		rc=$?
	[ -n "$own_guard" ] && $sudo rm -f $guard
	if [ $rc -ne 0 ]; then
		tail -20 /tmp/splicemsg-apt.log >&2
		sm_die "apt-get failed (log: /tmp/splicemsg-apt.log)"
	fi
}

# sm_build DIR [configure args...]: out-of-tree build in DIR.
sm_build() {
	local dir=$1
	shift
	if [ -f "$SM_TOP/config.status" ]; then
		sm_say "the source tree is configured in place: make distclean there"
		make -C "$SM_TOP" distclean >/dev/null
	fi
	[ -x "$SM_TOP/configure" ] || (cd "$SM_TOP" && ./autogen.sh >/dev/null 2>&1) ||
		sm_die "autogen.sh failed"
	mkdir -p "$dir"
	if [ ! -f "$dir/Makefile" ] || [ "$SM_TOP/configure" -nt "$dir/Makefile" ]; then
		(cd "$dir" && "$SM_TOP/configure" -q "$@") || sm_die "configure failed"
	fi
	make -C "$dir" -s -j"$(nproc)" >/dev/null || make -C "$dir" ||
		sm_die "build failed"
}

# The version: configure.ac's AC_INIT, the only place that says it.
sm_version() {
	sed -n 's/^AC_INIT(\[libsplicemsg\], \[\([^]]*\)\].*/\1/p' \
		"$SM_TOP/configure.ac"
}

sm_lib() { printf '%s/shim/.libs/libsplicemsg.so\n' "$SM_BUILD"; }

# A TCP port nobody listens on.
sm_free_port() {
	python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
PY
}
