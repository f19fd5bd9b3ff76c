#!/usr/bin/env bash
# scripts/vm/run.sh — boots the throw-away cgroup v2 VM once and runs a plan of test programs in it.
#
#   scripts/vm/run.sh WORKDIR
#
# WORKDIR holds `plan` (one guest test a line: "NAME PROGRAM ARG...", no spaces inside a word)
# and `plan.env` (KEY=VALUE words for the guest tests' environment); tests/cgroup_v2_vm.rs
# writes both. This script packs WORKDIR/initramfs.cpio.gz (static busybox, scripts/vm/init, the
# 9p modules from .tools/vm/kernel, the plan) and then *execs* `timeout` around QEMU, so the
# caller's pid is timeout's: SIGTERM to it stops QEMU too. The guest console (serial) is this
# script's stdout; the guest's markers are described in scripts/vm/init.
#
# The guest sees the host's / read-only and this project folder read-write, both over 9p, at
# their host paths (it chroots into that view), so `cargo test --no-run` binaries run unchanged.
#
# Environment: VM_TIMEOUT (seconds, default 600), VM_MEMORY (MiB, default 1024), VM_CPUS
# (default 2). Needs scripts/setup.sh to have run (qemu, busybox, .tools/vm/kernel).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KERNEL="$ROOT/.tools/vm/kernel"
die() { echo "vm: ERROR: $*" >&2; exit 1; }

[[ $# -eq 1 && -f "$1/plan" && -f "$1/plan.env" ]] || die "usage: scripts/vm/run.sh WORKDIR (with WORKDIR/plan and WORKDIR/plan.env)"
WORK=$(cd "$1" && pwd)
command -v qemu-system-x86_64 >/dev/null 2>&1 || die "qemu-system-x86_64 is missing: run scripts/setup.sh"
[[ -x /bin/busybox ]] || die "/bin/busybox is missing: run scripts/setup.sh"
[[ -s "$KERNEL/vmlinux" && -s "$KERNEL/modules.load" ]] || die "no kernel in $KERNEL: run scripts/setup.sh"
[[ "$ROOT" != *[[:space:]]* ]] || die "the project path must not contain spaces: $ROOT"

# ---------------------------------------------------------------- initramfs
tree="$WORK/initramfs"
rm -rf "$tree"
mkdir -p "$tree"/{bin,dev,proc,sys,tmp,mnt,modules}
cp /bin/busybox "$tree/bin/busybox"
cp "$ROOT/scripts/vm/init" "$tree/init"
chmod 0755 "$tree/init"
cp "$KERNEL/modules.load" "$tree/modules.load"
while read -r module; do cp "$KERNEL/modules/$module" "$tree/modules/"; done <"$KERNEL/modules.load"
cp "$WORK/plan" "$WORK/plan.env" "$tree/"
printf 'PROJECT=%s\n' "$ROOT" >"$tree/vm.conf"
(cd "$tree" && find . -print0 | /bin/busybox cpio -o -H newc -0 2>/dev/null) | gzip -1 >"$WORK/initramfs.cpio.gz"
rm -rf "$tree"

# ---------------------------------------------------------------- boot
share() { echo "local,path=$1,mount_tag=$2,security_model=passthrough,multidevs=remap$3"; }
exec timeout --kill-after=5 "${VM_TIMEOUT:-600}" qemu-system-x86_64 \
    -accel tcg -cpu max -m "${VM_MEMORY:-1024}" -smp "${VM_CPUS:-2}" \
    -nodefaults -display none -no-reboot -serial stdio \
    -kernel "$KERNEL/vmlinux" -initrd "$WORK/initramfs.cpio.gz" \
    -append "console=ttyS0 quiet panic=-1 cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1" \
    -virtfs "$(share / host ,readonly=on)" \
    -virtfs "$(share "$ROOT" project "")"
