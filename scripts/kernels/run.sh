#!/usr/bin/env bash
# Boot a Debian kernel under qemu (TCG) with a minimal busybox initramfs and
# run one static program in it; exit with the program's exit status.
#
#   scripts/kernels/run.sh [-f HOST[:GUEST]]... [-t SECONDS] [-l LOG] KERNEL PROGRAM [ARGS...]
#
# KERNEL is 6.1, 6.12 or 5.10 (see fetch.sh). PROGRAM, a static binary on
# the host, is copied to /bin in the VM and run there as root with ARGS,
# with proc, sysfs, devtmpfs, bpffs (/sys/fs/bpf) and a tmpfs /tmp mounted
# and veth (and the clsact modules, where there are) loaded. -f copies more files in (GUEST defaults to HOST's
# name under /). The console goes to LOG (default: a temporary file) and to
# standard output. -t is a hard timeout for the whole boot (default 600).
# For example, verifier statistics on 6.1:
#   CGO_ENABLED=0 go build -o /tmp/vstat ./internal/vstat
#   scripts/kernels/run.sh -f pkg/loader/xdpfw_bpfel.o 6.1 /tmp/vstat /xdpfw_bpfel.o
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
files=() timeout=600 log=
while getopts f:t:l: opt; do
	case $opt in
	f) files+=("$OPTARG") ;;
	t) timeout=$OPTARG ;;
	l) log=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 2 ] || { sed -n '2,/^set -e/p' "$0" | sed '$d' >&2; exit 2; }
kernel=$1 prog=$2
shift 2

kdir=$("$here/fetch.sh" "$kernel")
vmlinuz=$(ls "$kdir"/boot/vmlinuz-*)
modroot=$(ls -d "$kdir"/lib/modules/*)

work=$(mktemp -d /tmp/xdpfw-vm.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,lib/modules,etc}

# busybox-static with an applet link for each command it has.
bb=$(dpkg -L busybox-static 2>/dev/null | grep -m1 '/bin/busybox$' || true)
[ -n "$bb" ] || { echo "run.sh: needs the busybox-static package" >&2; exit 1; }
cp "$bb" "$root/bin/busybox"
for a in $("$bb" --list); do
	[ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
done

# Modules, with what they depend on first. Debian ships no modules.dep (its
# postinst runs depmod), so the dependencies come from each module's
# .modinfo depends= field; compressed modules are unpacked here because
# busybox insmod takes plain ones.
modules=()
add_module() {
	local name=$1 f dep
	for m in "${modules[@]}"; do [ "$m" = "$name" ] && return; done
	f=$(find "$modroot/kernel" -name "$name.ko*" | head -1)
	[ -n "$f" ] || f=$(find "$modroot/kernel" -name "${name//_/-}.ko*" | head -1)
	[ -n "$f" ] || { echo "run.sh: module $name not found in $modroot" >&2; exit 1; }
	case $f in
	*.xz) xz -dc "$f" >"$root/lib/modules/$name.ko" ;;
	*.zst) zstd -qdc "$f" >"$root/lib/modules/$name.ko" ;;
	*) cp "$f" "$root/lib/modules/$name.ko" ;;
	esac
	for dep in $(tr '\0' '\n' <"$root/lib/modules/$name.ko" | sed -n 's/^depends=//p' | tr , ' '); do
		add_module "$dep"
	done
	modules+=("$name")
}
add_module veth
# Before 6.6 (no tcx) the egress learner is a BPF filter on a clsact qdisc:
# modules a running system loads on demand, which this initramfs cannot.
for m in sch_ingress cls_bpf; do
	[ -z "$(find "$modroot/kernel" -name "$m.ko*" | head -1)" ] || add_module $m
done

cp "$prog" "$root/bin/"
for f in "${files[@]}"; do
	host=${f%%:*} guest=${f#*:}
	[ "$guest" != "$f" ] || guest=/$(basename "$host")
	mkdir -p "$root$(dirname "$guest")"
	cp -r "$host" "$root$guest"
done

# The program's arguments are passed quoted through a file, not the kernel
# command line.
{
	printf '/bin/%q' "$(basename "$prog")"
	for a in "$@"; do printf ' %q' "$a"; done
	echo
} >"$root/etc/cmd"
# insmod in reverse order of discovery: dependencies first.
mods=
for ((i = ${#modules[@]} - 1; i >= 0; i--)); do mods+=" ${modules[i]}"; done
cat >"$root/init" <<INIT
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t bpf bpf /sys/fs/bpf
mount -t tmpfs tmp /tmp
for m in$mods; do insmod /lib/modules/\$m.ko || echo "init: insmod \$m failed"; done
ip link set lo up
# A fresh line: the firmware may have left its cursor mid-line.
echo; echo "XDPFW-VM-START \$(uname -r)"
cd /
sh /etc/cmd
rc=\$?
echo; echo "XDPFW-VM-EXIT \$rc"
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd.gz"

[ -n "$log" ] || log=$work/console.log
start=$(date +%s)
status=0
# Not -nographic's monitor: the serial console alone, on standard output,
# without the firmware's terminal escapes.
timeout --foreground -k 5 "$timeout" qemu-system-x86_64 -nographic -no-reboot -m 1536 -smp 2 \
	-accel tcg,thread=multi -cpu max -nodefaults -serial stdio -monitor none \
	-kernel "$vmlinuz" -initrd "$work/initrd.gz" \
	-append "console=ttyS0 panic=-1 quiet loglevel=3 rdinit=/init" </dev/null 2>&1 |
	sed -u 's/\r$//; s/\x1bc//g; s/\x1b\[[0-9;?]*[a-zA-Z]//g' | tee "$log" || status=$?
elapsed=$(($(date +%s) - start))
code=$(sed -n 's/^XDPFW-VM-EXIT \([0-9]*\).*/\1/p' "$log" | tail -1)
if [ -z "$code" ]; then
	echo "run.sh: kernel $kernel: no result after ${elapsed}s (timeout ${timeout}s or crash; qemu status $status)" >&2
	exit 124
fi
echo "run.sh: kernel $kernel: exit $code after ${elapsed}s" >&2
exit "$code"
