#!/bin/busybox sh
# shellcheck shell=dash
# SPDX-License-Identifier: LGPL-2.1-or-later
# /init of the test VM (scripts/vm-lib.sh builds the initramfs): mounts the
# host's root (9p, read-only) under a tmpfs overlay, inserts splicemsg.ko,
# runs /splicemsg-vm/cmd chrooted there and reports its exit status as
# "SPLICEMSG-VM-EXIT <rc>", after the kernel log lines that mean trouble.

/bin/busybox --install -s /bin
export PATH=/bin
# First: a boot that never printed this died before anything of ours ran.
echo SPLICEMSG-VM-INIT
. /splicemsg-vm/config

say() { echo "SPLICEMSG-VM: $*"; }

finish() {
	dmesg | grep -E "$SM_VM_KMSG_BAD" | sed 's/^/SPLICEMSG-VM-KMSG /'
	echo "SPLICEMSG-VM-EXIT $1"
	# Let the serial port drain what is still queued before power-off.
	sleep 0.5
	poweroff -f
}

die() {
	say "$*"
	finish 99
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
ip link set lo up

mods=$SM_VM_MODS
[ "$SM_VM_NET2" = 1 ] && mods="$mods $SM_VM_NET_MODS"
for m in $mods; do
	insmod "/lib/modules/$m.ko" || die "insmod $m failed"
done

# tmpfs directly over a 9p directory does not work; an overlay does.
# cache=loose: the share is read-only and python3 starts in 0.5 s instead of
# 10 s; host files changed during the boot may look stale in the guest.
new=/newroot
opts=trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose
mount -t 9p -o $opts hostroot /host ||
	die "mounting the host's root (9p) failed"
mkdir -p /rw
mount -t tmpfs -o mode=755 rw /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work \
	overlay $new || die "overlay over the host's root failed"
mount -t proc proc $new/proc
mount -t sysfs sysfs $new/sys
mount -t devtmpfs devtmpfs $new/dev
mkdir -p $new/dev/pts $new/dev/shm
mount -t devpts devpts $new/dev/pts
mount -t tmpfs -o mode=1777 shm $new/dev/shm
# No tmpfs on /tmp: a checkout under the host's /tmp must stay visible;
# the overlay already puts every write on the guest's tmpfs.
mount -t tmpfs -o mode=755 run $new/run
mkdir -p $new/run/splicemsg-vm
cp /splicemsg-vm/cmd $new/run/splicemsg-vm/cmd

# The command sees: SM_VM_KO (the module file, for rmmod/insmod cycles, empty
# with --no-module) and SM_VM_INSMOD (insmod's exit status).
ko=
insmod_rc=
if [ -f /splicemsg-vm/splicemsg.ko ]; then
	ko=/run/splicemsg-vm/splicemsg.ko
	cp /splicemsg-vm/splicemsg.ko $new$ko
	insmod /splicemsg-vm/splicemsg.ko
	insmod_rc=$?
	[ $insmod_rc -eq 0 ] || say "insmod splicemsg.ko failed ($insmod_rc)"
fi

echo SPLICEMSG-VM-START
env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	HOME=/root TERM=dumb LANG=C.UTF-8 SM_VM=1 SM_VM_NET2="$SM_VM_NET2" \
	SM_VM_KO="$ko" SM_VM_INSMOD="$insmod_rc" \
	/bin/chroot $new /bin/sh /run/splicemsg-vm/cmd </dev/null
finish $?
