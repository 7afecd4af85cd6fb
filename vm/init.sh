#!/bin/busybox sh
# /init of the emulated VFIO host (busybox ash, PID 1).
#
# This file is copied unchanged into every initramfs. Everything that varies per run is read
# from files, never substituted into this text:
#   /etc/vfio-vm/modules        modules to insmod, in load order: "NAME FILE" per line
#   /run/vfio-vm/ (9p tag vmwork, written by the host for each run):
#     mode                      "run" or "shell"
#     mounts                    "TAG GUEST_PATH ro|rw CACHE" per line, mounted in order
#     bind                      "BDF DRIVER" per line: devices to bind before the command starts
#     cmd                       a shell script that cds and execs the command with its environment
#   and results written back to it:
#     status                    "exit N" once the command finished, or "error KIND DETAIL"
#
# Markers on the console ("vfio-vm: ...") let the host follow progress and diagnose failures
# when no status file could be written.

# The initramfs carries busybox's applet links in /bin: no /proc is needed to create them.
export PATH=/sbin:/bin

WORK=/run/vfio-vm

say() { echo "vfio-vm: $*" > /dev/console; }

# Power off without waiting for anything: the host reads the result from the share.
halt_now() {
	sync
	poweroff -f
	# poweroff -f does not return; if it ever does, stop here so the kernel does not panic.
	while :; do sleep 60; done
}

# A failure before or around the command: record it where the host looks, then stop.
fail() {
	kind=$1; shift
	say "error $kind $*"
	[ -d "$WORK" ] && echo "error $kind $*" > "$WORK/status" 2>/dev/null
	halt_now
}

mount_base() {
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	mount -t devtmpfs devtmpfs /dev 2>/dev/null
	mount -t debugfs debugfs /sys/kernel/debug
	mount -t tmpfs -o mode=1777 tmpfs /tmp
	mount -t tmpfs -o mode=755 tmpfs /run
	mkdir -p /dev/pts /dev/shm
	mount -t devpts devpts /dev/pts
}

# Parameters given as NAME.PARAM=VALUE on the kernel command line, for module NAME.
# busybox insmod ignores them, so they are forwarded here.
module_params() {
	for word in $(cat /proc/cmdline); do
		case "$word" in
		"$1".*=*) echo "${word#"$1".}" ;;
		esac
	done
}

load_modules() {
	[ -f /etc/vfio-vm/modules ] || return 0
	while read -r name file; do
		[ -n "$name" ] || continue
		# shellcheck disable=SC2046 # one word per parameter is what insmod expects
		insmod "/modules/$file" $(module_params "$name") || fail module "$name"
	done < /etc/vfio-vm/modules
}

mount_9p() { # TAG DIR ro|rw CACHE
	mkdir -p "$2"
	opts=trans=virtio,version=9p2000.L,msize=512000,cache=$4
	[ "$3" = ro ] && opts=$opts,ro
	# A 9p channel appears when virtio_pci has probed its device; where that probe finishes
	# after the modules load, the first mount finds no channel: retry for a few seconds.
	grep -qw 9p /proc/filesystems ||
		fail mount "$1 on $2: this kernel has no 9p file system (build in CONFIG_NET_9P_VIRTIO and CONFIG_9P_FS, or provide its modules)"
	tries=0
	while [ $tries -lt 20 ]; do
		mount -t 9p -o "$opts" "$1" "$2" 2>/dev/null && return 0
		tries=$((tries + 1))
		sleep 0.25
	done
	mount -t 9p -o "$opts" "$1" "$2" && return 0
	fail mount "$1 on $2"
}

mount_shares() {
	mount_9p vmwork "$WORK" rw none
	while read -r tag dir access cache; do
		[ -n "$tag" ] && mount_9p "$tag" "$dir" "$access" "$cache"
	done < "$WORK/mounts"
}

bind_one() { # BDF DRIVER
	dev=/sys/bus/pci/devices/$1
	[ -d "$dev" ] || fail bind "$1 $2 no such PCI device"
	echo "$2" > "$dev/driver_override" || fail bind "$1 $2 driver_override refused"
	[ -e "$dev/driver" ] && echo "$1" > "$dev/driver/unbind"
	echo "$1" > /sys/bus/pci/drivers_probe
	bound=$(readlink "$dev/driver")
	[ "${bound##*/}" = "$2" ] || fail bind "$1 $2 probe failed (driver: ${bound##*/})"
}

bind_devices() {
	while read -r bdf driver; do
		[ -n "$bdf" ] && bind_one "$bdf" "$driver"
	done < "$WORK/bind"
}

# The virtio serial port the host named $1, as a device node.
port_by_name() {
	for p in /sys/class/virtio-ports/*; do
		[ "$(cat "$p/name" 2>/dev/null)" = "$1" ] && { echo "/dev/${p##*/}"; return 0; }
	done
	return 1
}

run_command() {
	out=$(port_by_name vfio-vm.stdout) || fail port stdout
	err=$(port_by_name vfio-vm.stderr) || fail port stderr
	say "cmd start $(cut -d' ' -f1 /proc/uptime)"
	# The ports are closed when the command and this subshell end; a virtio port write returns
	# only once the host has taken the bytes, so nothing is lost at power-off.
	sh "$WORK/cmd" < /dev/null > "$out" 2> "$err"
	status=$?
	echo "exit $status" > "$WORK/status"
	say "cmd exit $status $(cut -d' ' -f1 /proc/uptime)"
}

run_shell() {
	say "shell (exit the shell to power off)"
	setsid cttyhack sh "$WORK/cmd" < /dev/console > /dev/console 2>&1
	echo "exit $?" > "$WORK/status"
}

mount_base
say "init $(cut -d' ' -f1 /proc/uptime)"
load_modules
mount_shares
bind_devices
say "ready $(cut -d' ' -f1 /proc/uptime)"
case "$(cat "$WORK/mode")" in
shell) run_shell ;;
*) run_command ;;
esac
halt_now
