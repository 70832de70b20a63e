# SPDX-License-Identifier: LGPL-2.1-or-later
# The test VM: a Debian kernel (6.12 by default, or 7.x; scripts/vm-kernel.sh
# picks it and builds splicemsg.ko for it) under qemu (no KVM needed), with
# the host's root shared read-only and made writable in the guest by an
# overlay, so host programs run unchanged there.  Sourced by scripts/vm-run
# and scripts/vm-test; the guest side is tests/kmod/vm-init.sh.
#
# Environment: SM_VM_KVER (the kernel(s): a series such as 6.12, a version,
# or "newest"; see scripts/vm-kernel.sh), SM_VM_TIMEOUT (seconds per boot,
# default 600), SM_VM_DIR (cache, default build/vm), SM_VM_APPEND (more
# kernel command line, e.g. slub_debug=FZPU page_poison=1).
# shellcheck shell=bash

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SM_VM_DIR=${SM_VM_DIR:-$SM_BUILD/vm}
SM_VM_TIMEOUT=${SM_VM_TIMEOUT:-600}
# Guest modules, inserted in this order (the image has no modules.dep).
SM_VM_MODS=(netfs 9pnet 9pnet_virtio 9p overlay)
SM_VM_NET_MODS=(failover net_failover virtio_net)
SM_VM_PACKAGES=(qemu-system-x86 busybox-static cpio xz-utils sparse
	build-essential dkms)
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

# shellcheck source=scripts/vm-kernel.sh
. "$(dirname "${BASH_SOURCE[0]}")/vm-kernel.sh"

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
		-append "console=ttyS0 panic=-1 quiet loglevel=4${SM_VM_APPEND:+ $SM_VM_APPEND}"
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
