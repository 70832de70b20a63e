# SPDX-License-Identifier: LGPL-2.1-or-later
# Which kernel the test VM boots, and where its parts come from: the image,
# the headers, and splicemsg.ko built against them.  A kernel of the host's
# own Debian (bookworm with its security and backports suites: 6.12) is
# installed and built on the host.  Any other comes from Debian 13 (trixie
# and trixie-backports: the 7.x kernels), whose headers need gcc-14 and a
# kbuild linked against glibc >= 2.38, which Debian 12 lacks: those live in a
# trixie build root under $SM_VM_DIR, made once by debootstrap from the
# host's own mirror with apt sources of its own, so the host's apt sources
# are never changed for it.  Sourced by scripts/vm-lib.sh.
#
# A kernel is named by a series ("6.12", "7": the newest point release in
# it), an exact version ("6.12.118+deb12-amd64"), or "newest" (the newest
# series either Debian has).
# shellcheck shell=bash

SM_VM_ROOT=${SM_VM_ROOT:-$SM_VM_DIR/trixie-root}
SM_VM_ROOT_PACKAGES=gcc-14,make,libelf-dev,bc,bison,flex,libssl-dev,pahole
SM_VM_ROOT_PACKAGES+=,kmod,sparse,dkms,openssl
# The oldest kernel splicemsg.ko builds on (kmod/compat.h, kmod/dkms.conf).
SM_KMOD_MIN=6.5

# vm_mirror [FILE...]: the URI of the Debian archive that serves bookworm in
# the host's apt sources (one-line and deb822 files), so that no script
# names a mirror: the trixie root and bookworm-backports use it too.
vm_mirror() {
	local f
	[ $# -gt 0 ] || set -- /etc/apt/sources.list \
		/etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources
	for f in "$@"; do
		[ -f "$f" ] || continue
		case $f in
		*.sources) awk -v RS= '
			{
				types = suites = uris = ""; on = 1
				n = split($0, l, "\n")
				for (i = 1; i <= n; i++) {
					if (l[i] ~ /^#/)
						continue
					k = tolower(l[i]); sub(/:.*/, "", k)
					v = l[i]; sub(/^[^:]*:[ \t]*/, "", v)
					if (k == "types") types = " " v " "
					if (k == "suites") suites = " " v " "
					if (k == "uris") uris = v
					if (k == "enabled" && v ~ /^no/) on = 0
				}
				split(uris, u, " ")
				if (on && types ~ / deb / &&
				    suites ~ /[ \t]bookworm[ \t]/ && u[1] != "")
					print u[1]
			}' "$f" ;;
		*) awk '
			$1 != "deb" { next }
			{
				i = 2
				if ($i ~ /^\[/)
					while (i <= NF && $i !~ /\]$/)
						i++
				if ($i ~ /^\[|\]$/)
					i++
				if ($(i + 1) == "bookworm")
					print $i
			}' "$f" ;;
		esac
	done | head -1
}

vm_backports() {
	local list=/etc/apt/sources.list.d/bookworm-backports.list uri
	grep -qsr '^[^#]*bookworm-backports' /etc/apt/sources.list \
		/etc/apt/sources.list.d/ && return 0
	uri=$(vm_mirror)
	[ -n "$uri" ] || sm_die "no bookworm archive in the host's apt sources"
	sm_say "adding the bookworm-backports apt source ($uri)"
	echo "deb $uri bookworm-backports main" >"$list"
	apt-get update -qq >/dev/null || sm_die "apt-get update failed"
}

# vm_root_run COMMAND...: COMMAND in the trixie root, with a /proc of its own
# (objtool and apt read it) in a private mount namespace: nothing stays
# mounted when it ends, however it ends.
vm_root_run() {
	unshare --mount --propagation private -- sh -ec \
		'mount -t proc proc "$0/proc"; exec chroot "$0" "$@"' \
		"$SM_VM_ROOT" env -i \
		PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		LC_ALL=C DEBIAN_FRONTEND=noninteractive "$@"
}

# vm_run COMMAND...: COMMAND where the kernel of $VM_WHERE (host or root) is
# built.
vm_run() {
	if [ "$VM_WHERE" = root ]; then
		vm_root_run "$@"
	else
		"$@"
	fi
}

# vm_path PATH: PATH as the kernel's build place sees it, seen from the host.
vm_path() {
	if [ "$VM_WHERE" = root ]; then
		printf '%s%s\n' "$SM_VM_ROOT" "$1"
	else
		printf '%s\n' "$1"
	fi
}

# The trixie build root, made once (~40 s, then ~12 s per kernel's headers).
vm_root() {
	local uri log=$SM_VM_DIR/trixie-root.log
	[ -f "$SM_VM_ROOT/.done" ] && return 0
	uri=$(vm_mirror)
	[ -n "$uri" ] || sm_die "no bookworm archive in the host's apt sources"
	sm_install debootstrap
	vm_lock
	if [ ! -f "$SM_VM_ROOT/.done" ]; then
		sm_say "making the trixie build root $SM_VM_ROOT ($uri)"
		grep -qF " $SM_VM_ROOT/" /proc/mounts &&
			sm_die "something is mounted under $SM_VM_ROOT"
		rm -rf "$SM_VM_ROOT"
		# Its own mount namespace: debootstrap mounts /proc and /sys
		# in the root, which rm -rf must never meet after a kill.
		if ! unshare --mount --propagation private -- \
				debootstrap --variant=minbase \
				--include="$SM_VM_ROOT_PACKAGES" trixie \
				"$SM_VM_ROOT" "$uri" >"$log" 2>&1; then
			tail -20 "$log" >&2
			sm_die "debootstrap failed (log: $log)"
		fi
		printf 'deb %s trixie main\ndeb %s trixie-backports main\n' \
			"$uri" "$uri" >"$SM_VM_ROOT/etc/apt/sources.list"
		vm_root_run apt-get update -qq >>"$log" 2>&1 ||
			sm_die "apt-get update in the trixie root failed ($log)"
		vm_root_sparse "$uri" >>"$log" 2>&1 ||
			sm_die "no sparse for the trixie root ($log)"
		touch "$SM_VM_ROOT/.done"
	fi
	vm_unlock
}

# vm_root_sparse URI: a sparse that checks 7.x's headers.  Since 6.14, Kbuild
# runs sparse (C=2) only when scripts/checker-valid.sh says it parses
# __typeof_unqual__; Debian 13's sparse (0.6.4) does not, and Debian's
# headers packages lack that script, so `make C=2` silently checks nothing.
# The root gets sid's sparse binary (0.6.5~rc1 parses it; fetched by apt,
# signatures checked, from sid's lists kept apart from the root's own) in
# /usr/local/bin, and a checker-valid.sh of ours in each kernel's headers
# (vm_install_headers).
vm_root_sparse() {
	local sid="-o Dir::Etc::sourcelist=/etc/apt/sid.list"
	sid+=" -o Dir::Etc::sourceparts=- -o Dir::State::Lists=/var/lib/apt/sid"
	# A mirror that lags behind sid (this one, by weeks) serves a
	# Release file past its Valid-Until; its signature still counts.
	sid+=" -o Acquire::Check-Valid-Until=false"
	echo "deb $1 sid main" >"$SM_VM_ROOT/etc/apt/sid.list"
	mkdir -p "$SM_VM_ROOT/var/lib/apt/sid/partial" \
		"$SM_VM_ROOT/var/tmp/sparse"
	# shellcheck disable=SC2086 # $sid: apt's options, one word each
	vm_root_run apt-get $sid update -qq &&
	vm_root_run sh -ec "cd /var/tmp/sparse; apt-get $sid download sparse
		dpkg -x sparse_*.deb x; cp x/usr/bin/sparse /usr/local/bin/"
}

# vm_pick KERNEL [build] < FACTS: the version to use for KERNEL, from FACTS:
# `apt-cache search` lines (a package name first), plus "installed PACKAGE"
# for headers this machine has and "cached VERSION" for images already
# unpacked.  A version qualifies when its headers and (unless "build") an
# image exist: Debian's split packages (linux-binary-V + linux-modules-V;
# linux-image-V is then an empty meta-package), the signed image, or the
# unsigned one, which is all the archive has while the signed image of a new
# point release is still being made.  Of those (for "newest", of those in
# the newest series), the newest one already installed or cached wins, else
# the newest.  Prints "VERSION SOURCE", SOURCE being "cached", the image
# package(s) to download joined by commas, or "-" (no image, "build" only);
# prints nothing when no version qualifies.  Only the amd64 flavour counts.
vm_pick() {
	local re lines series
	re=$(printf '%s' "$1" | sed 's/[.+]/\\&/g')
	case $1 in
	newest) re='^[0-9]+(\.[0-9]+)+\+deb[0-9]+-amd64$' ;;
	*+*) re="^$re\$" ;;
	*) re="^$re(\\.[0-9]+)+\\+deb[0-9]+-amd64\$" ;;
	esac
	# ENVIRON, not -v: awk would take the backslashes as escapes.
	lines=$(RE=$re BUILD=${2:-} awk '
	BEGIN { re = ENVIRON["RE"]; build = ENVIRON["BUILD"] == "build" }
	function ver(name, prefix, suffix) {
		if (index(name, prefix) != 1)
			return ""
		v = substr(name, length(prefix) + 1)
		if (suffix != "") {
			if (substr(v, length(v) - length(suffix) + 1) != suffix)
				return ""
			v = substr(v, 1, length(v) - length(suffix))
		}
		return v ~ re ? v : ""
	}
	$1 == "cached" { if ($2 ~ re) { cached[$2] = 1; pref[$2] = 1 } next }
	{
		name = $1
		local = 0
		if (name == "installed") { name = $2; local = 1 }
		if ((v = ver(name, "linux-headers-", "")) != "") {
			hdr[v] = 1
			if (local)
				pref[v] = 1
		} else if ((v = ver(name, "linux-image-", "-unsigned")) != "")
			unsigned[v] = 1
		else if ((v = ver(name, "linux-image-", "")) != "")
			signed[v] = 1
		else if ((v = ver(name, "linux-binary-", "")) != "")
			binary[v] = 1
		else if ((v = ver(name, "linux-modules-", "")) != "")
			modules[v] = 1
	}
	END {
		for (v in hdr) {
			if (v in cached)
				src = "cached"
			else if ((v in binary) && (v in modules))
				src = "linux-binary-" v ",linux-modules-" v
			else if (v in signed)
				src = "linux-image-" v
			else if (v in unsigned)
				src = "linux-image-" v "-unsigned"
			else if (build)
				src = "-"
			else
				continue
			print ((v in pref) ? 1 : 0), v, src
		}
	}')
	[ -n "$lines" ] || return 0
	if [ "$1" = newest ]; then
		series=$(cut -d' ' -f2 <<<"$lines" | sort -V | tail -1 |
			cut -d. -f1-2)
		lines=$(awk -v s="$series." 'index($2, s) == 1' <<<"$lines")
	fi
	sort -k1,1n -k2,2V <<<"$lines" | tail -1 | cut -d' ' -f2-
}

# What vm_pick reads about $VM_WHERE's apt and this machine's image cache.
vm_facts() {
	local d
	vm_run apt-cache search --names-only \
		'^linux-(headers|image|binary|modules)-[0-9.]+\+deb[0-9]+-amd64'
	vm_run dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' \
		'linux-headers-*' 2>/dev/null |
		awk '$1 == "ii" { print "installed", $2 }'
	for d in "$SM_VM_DIR"/image-*/.done; do
		[ -f "$d" ] || continue
		d=${d%/.done}
		echo "cached ${d##*/image-}"
	done
	return 0
}

# vm_pick_at WHERE KERNEL [build]: vm_pick on WHERE's facts.
vm_pick_at() {
	VM_WHERE=$1 vm_facts | vm_pick "${@:2}"
}

# vm_kver KERNEL [build]: sets KVER, VM_KSRC (vm_pick's SOURCE) and VM_WHERE
# (host or root) for KERNEL.  The host's Debian first; the trixie root for
# what the host does not have, and for "newest".
vm_kver() {
	local want=$1 mode=${2:-} host root='' pick try
	vm_backports
	for try in 1 2; do
		host=$(vm_pick_at host "$want" "$mode")
		if [ -z "$host" ] || [ "$want" = newest ]; then
			vm_root
			root=$(vm_pick_at root "$want" "$mode")
		fi
		[ -z "$host$root" ] && [ $try = 1 ] || break
		# Lists older than the archive: once more, updated.
		apt-get update -qq >/dev/null 2>&1
		[ ! -f "$SM_VM_ROOT/.done" ] ||
			vm_root_run apt-get update -qq >/dev/null 2>&1
	done
	VM_WHERE=host pick=$host
	if [ -n "$root" ] && { [ -z "$host" ] ||
		[ "$(printf '%s\n' "$host" "$root" | sort -V | tail -1)" = "$root" ]
	}; then
		VM_WHERE=root pick=$root
	fi
	[ -n "$pick" ] || [ -n "$mode" ] || sm_die "no kernel '$want' in" \
		"Debian 12's or 13's apt with both linux-headers-VERSION and" \
		"an image (linux-image-VERSION, linux-image-VERSION-unsigned," \
		"or linux-binary-VERSION with linux-modules-VERSION)"
	[ -n "$pick" ] || sm_die "no linux-headers for kernel '$want' in" \
		"Debian 12's or 13's apt"
	KVER=${pick% *}
	VM_KSRC=${pick#* }
}

# vm_install_headers: linux-headers-$KVER where it is built; sets KHDR (the
# path there) and checks it.
vm_install_headers() {
	if [ "$VM_WHERE" = host ]; then
		# INITRD=No: the headers pull in an image; no initramfs for
		# the host.
		INITRD=No sm_install "linux-headers-$KVER"
	elif ! vm_root_run dpkg-query -W -f='${Status}' \
			"linux-headers-$KVER" 2>/dev/null | grep -q 'ok installed'
	then
		sm_say "installing linux-headers-$KVER in the trixie root"
		vm_lock
		vm_root_run apt-get install -y -qq --no-install-recommends \
			"linux-headers-$KVER" >"$SM_VM_DIR/headers-$KVER.log" 2>&1 ||
			{ tail -20 "$SM_VM_DIR/headers-$KVER.log" >&2
			  sm_die "linux-headers-$KVER did not install"; }
		vm_unlock
	fi
	KHDR=/usr/src/linux-headers-$KVER
	[ -d "$(vm_path "$KHDR")" ] || sm_die "$(vm_path "$KHDR") missing"
	[ "$VM_WHERE" = host ] || vm_checker_valid
}

# The scripts/checker-valid.sh that Debian's headers lack (vm_root_sparse):
# prints 1 when the checker "$@" parses __typeof_unqual__ without an error.
vm_checker_valid() {
	local common f
	common=$(sed -nE 's|^include (/usr/src/linux-headers-[^/]*)/Makefile$|\1|p' \
		"$(vm_path "$KHDR")/Makefile")
	f=$(vm_path "${common:-$KHDR}")/scripts/checker-valid.sh
	[ -e "$f" ] && return 0
	cat >"$f" <<'EOF'
#!/bin/sh
# splicemsg's scripts/vm-kernel.sh: Debian's headers lack this script.
command -v "$1" >/dev/null 2>&1 || { echo 0; exit 0; }
t=$(mktemp --suffix=.c) || exit 1
printf 'int u(const int *q) { __typeof_unqual__(*q) v = *q; return v; }\n' >"$t"
if "$@" "$t" 2>&1 | grep -q error; then echo 0; else echo 1; fi
rm -f "$t"
EOF
	chmod 755 "$f"
}

# vm_setup KERNEL [build]: host packages, the kernel's version and headers;
# sets KVER, VM_KSRC, VM_WHERE and KHDR.
vm_setup() {
	[ "$(id -u)" -eq 0 ] ||
		sm_die "the VM needs root (packages, build root, device node)"
	sm_install "${SM_VM_PACKAGES[@]}"
	vm_kver "$@"
	vm_install_headers
}

# Kernel image and the guest modules, unpacked once into
# $SM_VM_DIR/image-$KVER from the package(s) vm_kver picked.
vm_kernel() {
	VM_KDIR=$SM_VM_DIR/image-$KVER
	[ -f "$VM_KDIR/.done" ] && return 0
	vm_lock
	if [ ! -f "$VM_KDIR/.done" ]; then
		[ "$VM_KSRC" != cached ] ||
			sm_die "$VM_KDIR: the cached kernel is incomplete"
		[ "$VM_KSRC" != - ] || sm_die "no image of $KVER in apt"
		local tmp m f deb pkgs
		IFS=, read -ra pkgs <<<"$VM_KSRC"
		sm_say "fetching ${pkgs[*]}"
		tmp=$(mktemp -d "$(vm_path /var/tmp)/sm-image.XXXXXX")
		vm_download "$tmp" "${pkgs[@]}"
		for deb in "$tmp"/*.deb; do
			dpkg -x "$deb" "$tmp/x" || sm_die "dpkg -x $deb failed"
		done
		rm -rf "$VM_KDIR"
		mkdir -p "$VM_KDIR/modules"
		# In /boot in the older packages, beside the modules in the
		# split ones.
		f=$(find "$tmp/x" -path "*/boot/vmlinuz-$KVER" -o \
			-path "*/modules/$KVER/vmlinuz" | head -1)
		[ -n "$f" ] || sm_die "no vmlinuz in ${pkgs[*]}"
		cp "$f" "$VM_KDIR/vmlinuz"
		for m in "${SM_VM_MODS[@]}" "${SM_VM_NET_MODS[@]}"; do
			f=$(find "$tmp/x" -path '*/lib/modules/*' \
				-name "$m.ko*" | head -1)
			[ -n "$f" ] || sm_die "$m.ko not in ${pkgs[*]}"
			case $f in
			*.xz) xz -dc "$f" >"$VM_KDIR/modules/$m.ko" ;;
			*) cp "$f" "$VM_KDIR/modules/$m.ko" ;;
			esac
		done
		rm -rf "$tmp"
		touch "$VM_KDIR/.done"
	fi
	vm_unlock
}

# vm_download DIR PACKAGE...: apt-get download into DIR (a host path in
# $VM_WHERE) with $VM_WHERE's apt, once more after an update if its lists
# are stale.
vm_download() {
	local log=$1/log dir=$1
	shift
	[ "$VM_WHERE" != root ] || dir=${dir#"$SM_VM_ROOT"}
	vm_run sh -c 'cd "$0" && apt-get download -q "$@"' "$dir" "$@" \
		>"$log" 2>&1 && return 0
	vm_run apt-get update -qq >/dev/null 2>&1
	vm_run sh -c 'cd "$0" && apt-get download -q "$@"' "$dir" "$@" \
		>"$log" 2>&1 && return 0
	cat "$log" >&2
	sm_die "apt-get download $* failed"
}

# Build splicemsg.ko for $KVER unless its sources are unchanged; sets VM_KO
# (host path) and VM_KBUILD (the M= dir where it is built).  The sources
# are copied, with include/ beside them, so that Kbuild's M= dir is not
# kmod/ and its "-I$(src)/../include" finds the ABI header in the build
# root too.  Returns non-zero (build log on stderr) when it does not build.
vm_module() {
	local dir stage sum rc=0
	VM_KBASE=/var/tmp/splicemsg-kbuild-$KVER
	[ "$VM_WHERE" = root ] || VM_KBASE=$SM_VM_DIR/kbuild-$KVER
	VM_KBUILD=$VM_KBASE/kmod
	dir=$(vm_path "$VM_KBASE")
	VM_KO=$dir/kmod/splicemsg.ko
	[ -f "$SM_BUILD/kmod/version.h" ] ||
		sm_die "$SM_BUILD/kmod/version.h missing: configure the build" \
			"first (./scripts/test does)"
	vm_lock
	stage=$(mktemp -d "$SM_VM_DIR/kmod.XXXXXX")
	find "$SM_TOP/kmod" -maxdepth 1 -type f \( -name Kbuild \
		-o -name Makefile -o -name '*.[ch]' -o -name '*.def' \) \
		-exec cp -t "$stage" {} +
	cp "$SM_BUILD/kmod/version.h" "$stage/"
	sum=$({ echo "$KVER"; cd "$stage" && sha256sum -- *; cd "$SM_TOP" &&
		find include -type f -print0 | LC_ALL=C sort -z |
		xargs -0 sha256sum; } | sha256sum)
	if [ -f "$VM_KO" ] && [ "$(cat "$dir/stamp" 2>/dev/null)" = "$sum" ]
	then
		rm -rf "$stage"
		vm_unlock
		return 0
	fi
	sm_say "building splicemsg.ko for $KVER ($VM_WHERE)"
	rm -rf "$dir"
	mkdir -p "$dir"
	mv "$stage" "$dir/kmod"
	cp -r "$SM_TOP/include" "$dir/include"
	vm_kmake modules >"$dir/build.log" 2>&1 || rc=$?
	if [ $rc -eq 0 ] && [ -f "$VM_KO" ]; then
		echo "$sum" >"$dir/stamp"
		grep -E 'warning:' "$dir/build.log" | vm_our_paths >&2 || true
	else
		vm_our_paths <"$dir/build.log" >&2
		rc=1
	fi
	vm_unlock
	return $rc
}

# vm_dkms [KERNEL-VERSION]: the operator's install path (docs/kmod.md) for
# $KVER, or for another version: `make install-dkms` into a scratch tree
# where the kernel is built, then `dkms add` and `dkms build` there.
# Output on stdout; succeeds when dkms built splicemsg.ko.
vm_dkms() {
	local k=${1:-$KVER} base=/var/tmp/splicemsg-dkms dir v
	v=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$SM_BUILD/kmod/dkms.conf")
	dir=$(vm_path "$base")
	rm -rf "$dir"
	mkdir -p "$dir/tree"
	make -s -C "$SM_BUILD" install-dkms DESTDIR="$dir/root" || return
	mv "$dir/root/usr/src" "$dir/src"
	vm_run dkms add --sourcetree "$base/src" --dkmstree "$base/tree" \
		"splicemsg/$v" &&
	vm_run dkms build --sourcetree "$base/src" --dkmstree "$base/tree" \
		-k "$k" "splicemsg/$v" &&
	find "$dir/tree" -name 'splicemsg.ko*' | grep -q .
}

# vm_kmake ARG...: Kbuild on the module's build dir.
vm_kmake() {
	vm_run make -C "$KHDR" M="$VM_KBUILD" "$@"
}

# Show build-dir paths as the source paths they were copied from: absolute
# (6.12's Kbuild) or relative to the M= dir (7.x's).
vm_our_paths() {
	sed -E -e "s|$VM_KBASE/kmod/\.\./||g" -e "s|$VM_KBASE/||g" \
		-e 's|^\.\./include/|include/|' \
		-e 's|^([A-Za-z0-9_]+\.[ch]:)|kmod/\1|'
}

# vm_matrix: what ./scripts/test covers, one "boot VERSION" or "build
# VERSION" line each.  Booted: 6.12 (Debian 12's kernel) and the newest
# kernel Debian has, or the versions SM_VM_KVER names (each replaces the
# one of its series, or is added).  Built only: the newest point release of
# every other series >= $SM_KMOD_MIN with headers in either Debian.
vm_matrix() {
	local -A boot=()
	local k v s
	for k in 6.12 newest ${SM_VM_KVER:-}; do
		vm_kver "$k" >&2
		boot[$(cut -d. -f1-2 <<<"$KVER")]=$KVER
	done
	for s in "${!boot[@]}"; do
		echo "boot ${boot[$s]}"
	done | sort -V
	for v in $( { vm_facts_headers host; vm_facts_headers root; } |
			cut -d. -f1-2 | sort -uV); do
		[ -z "${boot[$v]:-}" ] || continue
		[ "$(printf '%s\n' "$SM_KMOD_MIN" "$v" | sort -V | head -1)" = \
			"$SM_KMOD_MIN" ] || continue
		vm_kver "$v" build >&2
		echo "build $KVER"
	done
}

# vm_facts_headers WHERE: the versions WHERE has headers for.
vm_facts_headers() {
	VM_WHERE=$1 vm_facts |
		sed -nE 's/^(installed )?linux-headers-([0-9.]+\+deb[0-9]+-amd64)( .*)?$/\2/p'
}
