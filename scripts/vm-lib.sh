# SPDX-License-Identifier: LGPL-2.1-or-later
# The test VM: a Debian 6.12 kernel under qemu (no KVM needed) that can load
# splicemsg.ko, with the host's root shared read-only and made writable in the
# guest by an overlay, so host programs run unchanged there.  Sourced by
# scripts/vm-run and scripts/vm-test; the guest side is tests/kmod/vm-init.sh.
#
# Environment: SM_VM_KVER (kernel: a series such as 6.12, the default, or a
# version; see vm_pick), SM_VM_TIMEOUT (seconds per boot, default 600),
# SM_VM_DIR (cache, default build/vm).
# shellcheck shell=bash

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SM_VM_DIR=${SM_VM_DIR:-$SM_BUILD/vm}
SM_VM_TIMEOUT=${SM_VM_TIMEOUT:-600}
# Guest modules, inserted in this order (the image has no modules.dep).
SM_VM_MODS=(netfs 9pnet 9pnet_virtio 9p overlay)
SM_VM_NET_MODS=(failover net_failover virtio_net)
SM_VM_PACKAGES=(qemu-system-x86 busybox-static cpio xz-utils sparse
	build-essential)
# Kernel messages that mean the module (or the kernel) went wrong.
SM_VM_KMSG_BAD='BUG:|WARNING:|Oops:|refcount|leak|general protection'
SM_VM_KMSG_BAD+='|soft lockup|blocked for more than'

# Serialise cache updates between concurrent runs.
vm_lock() {
	mkdir -p "$SM_VM_DIR"
	exec {VM_LOCK_FD}>"$SM_VM_DIR/.lock"
	flock "$VM_LOCK_FD"
}

vm_unlock() {
	exec {VM_LOCK_FD}>&-
}

vm_backports() {
	local list=/etc/apt/sources.list.d/bookworm-backports.list
	grep -qsr '^[^#]*bookworm-backports' /etc/apt/sources.list \
		/etc/apt/sources.list.d/ && return 0
	sm_say "adding the bookworm-backports apt source"
	echo 'deb http://deb.debian.org/debian bookworm-backports main' >"$list"
	apt-get update -qq >/dev/null || sm_die "apt-get update failed"
}

# vm_pick SERIES < FACTS: the kernel to boot for SERIES ("6.12", or one exact
# version such as "6.12.118+deb12-amd64"; the amd64 flavour), from FACTS:
# `apt-cache search` lines (a package name first), plus "installed PACKAGE"
# for headers this machine has and "cached VERSION" for images already
# unpacked.  A version qualifies when its headers and an image exist:
# Debian's split packages (linux-binary-V + linux-modules-V; linux-image-V
# is then an empty meta-package), the signed image, or the unsigned one,
# which is all the archive has while the signed image of a new point
# release is still being made.  Of those, the newest one already installed
# or cached wins, else the newest.  Prints "VERSION SOURCE", SOURCE being
# "cached" or the image package(s) to download joined by commas; prints
# nothing when no version qualifies.
vm_pick() {
	local re
	re=$(printf '%s' "$1" | sed 's/[.+]/\\&/g')
	if [[ $1 == *+* ]]; then
		re="^$re\$"
	else
		re="^$re\.[0-9]+\+deb[0-9]+-amd64\$"
	fi
	# ENVIRON, not -v: awk would take the backslashes as escapes.
	RE=$re awk '
	BEGIN { re = ENVIRON["RE"] }
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
			else
				continue
			print ((v in pref) ? 1 : 0), v, src
		}
	}' | sort -k1,1n -k2,2V | tail -1 | cut -d' ' -f2-
}

# What vm_pick reads about this machine's apt and caches.
vm_facts() {
	local d
	apt-cache search --names-only \
		'^linux-(headers|image|binary|modules)-[0-9.]+\+deb[0-9]+-amd64'
	dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' \
		'linux-headers-*' 2>/dev/null | awk '$1 == "ii" { print "installed", $2 }'
	for d in "$SM_VM_DIR"/*/.done; do
		[ -f "$d" ] && d=${d%/.done} && echo "cached ${d##*/}"
	done
	return 0
}

# The kernel to boot: SM_VM_KVER (a version, or a series such as 6.12), by
# default the 6.12 series; sets KVER and VM_KSRC (vm_pick's SOURCE).
vm_kver() {
	local want=${SM_VM_KVER:-6.12} pick
	pick=$(vm_facts | vm_pick "$want")
	if [ -z "$pick" ]; then
		apt-get update -qq >/dev/null || sm_die "apt-get update failed"
		pick=$(vm_facts | vm_pick "$want")
	fi
	[ -n "$pick" ] || sm_die "no kernel $want in apt with both" \
		"linux-headers-VERSION and an image (linux-image-VERSION," \
		"linux-image-VERSION-unsigned, or linux-binary-VERSION with" \
		"linux-modules-VERSION)"
	KVER=${pick% *}
	VM_KSRC=${pick#* }
}

# Packages, kernel version; sets KVER and KHDR.
vm_setup() {
	[ "$(id -u)" -eq 0 ] ||
		sm_die "the VM needs root (packages, initramfs device node)"
	vm_backports
	vm_kver
	# INITRD=No: the headers pull in the image; no initramfs for the host.
	INITRD=No sm_install "${SM_VM_PACKAGES[@]}" "linux-headers-$KVER"
	KHDR=/usr/src/linux-headers-$KVER
	[ -d "$KHDR" ] || sm_die "$KHDR missing"
}

# Kernel image and the guest modules, unpacked once into $SM_VM_DIR/$KVER
# from the package(s) vm_kver picked.
vm_kernel() {
	VM_KDIR=$SM_VM_DIR/$KVER
	[ -f "$VM_KDIR/.done" ] && return 0
	vm_lock
	if [ ! -f "$VM_KDIR/.done" ]; then
		[ "$VM_KSRC" != cached ] ||
			sm_die "$VM_KDIR: the cached kernel is incomplete"
		local tmp m f deb pkgs
		IFS=, read -ra pkgs <<<"$VM_KSRC"
		sm_say "fetching ${pkgs[*]}"
		tmp=$(mktemp -d "$SM_VM_DIR/image.XXXXXX")
		if ! (cd "$tmp" && apt-get download -q "${pkgs[@]}") \
				>"$tmp/log" 2>&1; then
			cat "$tmp/log" >&2
			sm_die "apt-get download ${pkgs[*]} failed"
		fi
		for deb in "$tmp"/*.deb; do
			dpkg -x "$deb" "$tmp/x" || sm_die "dpkg -x $deb failed"
		done
		rm -rf "$VM_KDIR"
		mkdir -p "$VM_KDIR/modules"
		# /boot in the older packages, beside the modules in the
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

# Build splicemsg.ko for $KVER unless its sources are unchanged; sets VM_KO.
# The sources are copied so that Kbuild's M= dir is not kmod/, and its
# "-I$(src)/../include" finds include/ through a symlink.  Returns non-zero
# (build log on stderr) when it does not build.
vm_module() {
	local dir=$SM_VM_DIR/kbuild-$KVER stage sum rc=0
	VM_KBUILD=$dir/kmod
	VM_KO=$VM_KBUILD/splicemsg.ko
	vm_lock
	stage=$(mktemp -d "$SM_VM_DIR/kmod.XXXXXX")
	find "$SM_TOP/kmod" -maxdepth 1 -type f \( -name Kbuild \
		-o -name Makefile -o -name '*.[ch]' \) -exec cp -t "$stage" {} +
	sum=$({ echo "$KVER"; cd "$stage" && sha256sum -- *; cd "$SM_TOP" &&
		find include -type f -print0 | LC_ALL=C sort -z |
		xargs -0 sha256sum; } | sha256sum)
	if [ -f "$VM_KO" ] && [ "$(cat "$dir/stamp" 2>/dev/null)" = "$sum" ]
	then
		rm -rf "$stage"
		vm_unlock
		return 0
	fi
	sm_say "building splicemsg.ko for $KVER"
	rm -rf "$dir"
	mkdir -p "$dir"
	mv "$stage" "$VM_KBUILD"
	ln -s "$SM_TOP/include" "$dir/include"
	make -C "$KHDR" M="$VM_KBUILD" modules >"$dir/build.log" 2>&1 || rc=$?
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

# Show build-dir paths as the source paths they were copied from.
vm_our_paths() {
	sed -e "s|$SM_VM_DIR/kbuild-$KVER/kmod/\.\./||g" \
		-e "s|$SM_VM_DIR/kbuild-$KVER/||g"
}

# Quote a word for sh.
vm_quote() {
	printf "'%s'" "${1//\'/\'\\\'\'}"
}

# The initramfs for one boot, in $VM_RUN (cpio, uncompressed: it is small).
# Fixed parts plus /splicemsg-vm/{config,cmd}: the command and where to run it.
vm_initramfs() {
	local ko=$1 net2=$2 cwd=$3
	shift 3
	local root=$VM_RUN/root m v
	mkdir -p "$root"/{bin,dev,proc,sys,tmp,host,newroot} \
		"$root"/{lib/modules,splicemsg-vm}
	cp /bin/busybox "$root/bin/busybox"
	cp "$SM_TOP/tests/kmod/vm-init.sh" "$root/init"
	chmod 755 "$root/init"
	mknod "$root/dev/console" c 5 1
	for m in "${SM_VM_MODS[@]}" "${SM_VM_NET_MODS[@]}"; do
		cp "$VM_KDIR/modules/$m.ko" "$root/lib/modules/"
	done
	[ -n "$ko" ] && cp "$ko" "$root/splicemsg-vm/splicemsg.ko"
	{
		echo "SM_VM_MODS='${SM_VM_MODS[*]}'"
		echo "SM_VM_NET_MODS='${SM_VM_NET_MODS[*]}'"
		echo "SM_VM_NET2=$net2"
		echo "SM_VM_KMSG_BAD=$(vm_quote "$SM_VM_KMSG_BAD")"
	} >"$root/splicemsg-vm/config"
	# Run by the host's /bin/sh in the guest, stdin from /dev/null.
	{
		echo "cd $(vm_quote "$cwd") || exit 99"
		for v in $(compgen -e SPLICEMSG_); do
			echo "export $v=$(vm_quote "${!v}")"
		done
		printf 'exec'
		for v in "$@"; do
			printf ' %s' "$(vm_quote "$v")"
		done
		echo
	} >"$root/splicemsg-vm/cmd"
	(cd "$root" && find . | cpio -o -H newc --quiet) >"$VM_RUN/initrd" ||
		sm_die "cpio failed"
}

# Console lines: the command's output to stdout (and $VM_TRANSCRIPT if set),
# the harness's and the kernel's lines to stderr, boot noise dropped.
vm_filter() {
	local line started='' pre stamp='^\[ *[0-9]+\.[0-9]+\] '
	while IFS= read -r line || [ -n "$line" ]; do
		line=${line%$'\r'}
		if [[ $line =~ $stamp ]]; then
			[[ $line == *'reboot: Power down'* ]] ||
				printf '%s\n' "$line" >&2
			continue
		fi
		case $line in
		*SPLICEMSG-VM-START*)
			started=1
			continue ;;
		*SPLICEMSG-VM-EXIT\ *)
			pre=${line%%SPLICEMSG-VM-EXIT *}
			[ -z "$pre" ] || vm_out "$pre"
			continue ;;
		SPLICEMSG-VM-KMSG\ *)
			printf 'vm: kernel: %s\n' "${line#* }" >&2
			continue ;;
		*'is not connected to host network'*)
			# --net2's hub is meant to be isolated.
			continue ;;
		qemu-system-*)
			printf '%s\n' "$line" >&2
			continue ;;
		SPLICEMSG-VM:\ *)
			printf 'vm: %s\n' "${line#* }" >&2
			continue ;;
		esac
		[ -n "$started" ] && vm_out "$line"
	done
}

vm_out() {
	printf '%s\n' "$1"
	[ -z "${VM_TRANSCRIPT:-}" ] || printf '%s\n' "$1" >>"$VM_TRANSCRIPT"
}

vm_abort() {
	kill "$VM_QPID" 2>/dev/null
	wait "$VM_QPID" "$VM_FPID"
	rm -rf "$VM_RUN"
	exit "$1"
}

# vm_boot KO NET2 CWD COMMAND...: boot once, run COMMAND (KO: the module to
# insert first, or empty), stream its output, return its exit status, or 99
# when the VM ends without reporting one.
vm_boot() {
	local ko=$1 net2=$2 cwd=$3
	shift 3
	VM_RUN=$(mktemp -d "$SM_VM_DIR/run.XXXXXX")
	vm_initramfs "$ko" "$net2" "$cwd" "$@"
	local log=$VM_RUN/console.log rc=0 status
	# Single-threaded TCG: with a host thread per vCPU, a vCPU can run a
	# stale translation of code the kernel is patching with int3
	# (static keys flipping at run time), which oopses in the int3
	# handler: seen in early boot and, 90 s in, when the CRNG became
	# ready (get_random_u64).  One thread for both vCPUs costs ~20% of
	# the VM stage (102 s -> 122 s).
	# shellcheck disable=SC2054 # commas belong to qemu's options
	local -a qemu=(qemu-system-x86_64 -m 2048 -smp 2
		-accel tcg,thread=single -nographic -no-reboot
		-kernel "$VM_KDIR/vmlinuz" -initrd "$VM_RUN/initrd"
		-append 'console=ttyS0 panic=-1 quiet loglevel=4'
		-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap
		-nic none)
	if [ "$net2" = 1 ]; then
		# shellcheck disable=SC2054
		qemu+=(-netdev hubport,id=p0,hubid=0
			-device virtio-net-pci,netdev=p0
			-netdev hubport,id=p1,hubid=0
			-device virtio-net-pci,netdev=p1)
	fi
	local attempt
	for attempt in 1 2; do
		: >"$log"
		rc=0
		timeout -k 10 "$SM_VM_TIMEOUT" "${qemu[@]}" </dev/null \
			>"$log" 2>&1 &
		VM_QPID=$!
		# Stop the VM with us; bash runs traps only between commands,
		# hence the background jobs and wait.
		trap 'vm_abort 130' INT
		trap 'vm_abort 143' TERM
		tail -s 0.1 --pid=$VM_QPID -n +1 -f "$log" | vm_filter &
		VM_FPID=$!
		wait $VM_QPID || rc=$?
		wait $VM_FPID
		trap - INT TERM
		cp "$log" "$SM_VM_DIR/last-console.log"
		# A kernel that died before /init ran had run nothing of ours
		# (multi-threaded TCG oopsed so once, see above): that boot,
		# and only that one, is tried again, once.
		grep -q SPLICEMSG-VM-INIT "$log" || [ $attempt = 2 ] ||
			[ $rc -eq 124 ] || [ $rc -eq 137 ] || {
			cp "$log" "$SM_VM_DIR/early-death.log"
			printf 'vm: the kernel died before /init (%s): booting again\n' \
				"$SM_VM_DIR/early-death.log" >&2
			continue
		}
		break
	done
	status=$(sed -n 's/.*SPLICEMSG-VM-EXIT \([0-9]*\).*/\1/p' "$log" |
		tail -1)
	if [ -z "$status" ]; then
		if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
			printf 'vm: timed out after %ss (SM_VM_TIMEOUT)\n' \
				"$SM_VM_TIMEOUT" >&2
		else
			printf 'vm: ended without an exit status (qemu: %d)\n' \
				$rc >&2
		fi
		printf 'vm: console log (%s), last lines:\n' \
			"$SM_VM_DIR/last-console.log" >&2
		tail -40 "$log" | tr -d '\r' | sed 's/^/  | /' >&2
		status=99
	fi
	[ -n "${SM_VM_KEEP:-}" ] || rm -rf "$VM_RUN"
	return "$status"
}
