#!/usr/bin/env bash
# scripts/vm/setup.sh — installs what the cgroup v2 VM test tier needs (idempotent).
#
#   scripts/vm/setup.sh            (called by scripts/setup.sh)
#
# 1. Debian packages, without recommends: qemu-system-x86 (TCG; KVM is not usable on our
#    machines) and busybox-static (the guest's only userland: sh, mount, insmod, chroot, cpio).
# 2. A Debian kernel, never installed into /boot: `apt-get download` of the package that
#    linux-image-amd64 depends on, `dpkg-deb -x` into a temporary folder, then kept in
#    .tools/vm/kernel/:
#      vmlinux         the uncompressed kernel (QEMU boots it through its PVH entry; skipping
#                      the in-guest xz decompression saves ~3.5 s under TCG);
#      release         the kernel release string, e.g. 6.1.0-48-amd64;
#      modules/*.ko    the 9p-over-virtio modules and their dependencies;
#      modules.load    those module file names, one a line, in load order.
#    Everything else of the package (~400 MB of modules) is deleted. Skipped entirely — apt is
#    not called — when .tools/vm/kernel/ is complete, so later runs work offline.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KERNEL="$ROOT/.tools/vm/kernel"
# The guest loads these (and what they depend on) to mount the host's files over 9p.
WANTED_MODULES=(virtio_pci 9pnet_virtio 9p)

say() { echo "setup: vm: $*"; }
die() { echo "setup: vm: ERROR: $*" >&2; exit 1; }

# shellcheck source=scripts/lib/common.sh
source "$ROOT/scripts/lib/common.sh"

# ---------------------------------------------------------------- 1. packages
# ensure_apt asks dpkg first, so this costs nothing once they are installed (and it replaces a
# dynamically linked `busybox` package, which could not run in the initramfs).
ensure_apt --no-install-recommends qemu-system-x86 busybox-static \
    || die "apt-get install qemu-system-x86 busybox-static failed"
! ldd /bin/busybox >/dev/null 2>&1 || die "/bin/busybox is dynamically linked (the initramfs needs busybox-static)"
/bin/busybox --list | grep -x cpio >/dev/null || die "/bin/busybox has no cpio applet"

# ---------------------------------------------------------------- 2. kernel
kernel_ok() {
    [[ -s "$KERNEL/vmlinux" && -s "$KERNEL/release" && -s "$KERNEL/modules.load" ]] || return 1
    local module
    while read -r module; do
        [[ -s "$KERNEL/modules/$module" ]] || return 1
    done <"$KERNEL/modules.load"
}

# extract_vmlinux BZIMAGE OUT: finds the xz payload in a bzImage and decompresses it (the kernel
# tree's scripts/extract-vmlinux, for the one compression Debian uses). xz complains about the
# bytes after the payload; the result is checked by its ELF magic instead.
extract_vmlinux() {
    local image=$1 out=$2 offset
    offset=$(LC_ALL=C grep -aboP '\xfd7zXZ\x00' "$image" | head -n 1 | cut -d: -f1)
    [[ -n "$offset" ]] || die "no xz payload in $image"
    tail -c +$((offset + 1)) "$image" | xz -dc >"$out" 2>/dev/null || true
    [[ "$(head -c 4 "$out" | od -An -c | tr -d ' ')" == '177ELF' ]] \
        || die "decompressing $image did not give an ELF vmlinux"
}

# module_closure MODULES_DIR NAME...: module files (relative to MODULES_DIR) in load order,
# dependencies first, each once. Reads modules.dep ("file: dep dep ...").
module_closure() {
    local dir=$1; shift
    awk -v wanted="$*" '
        { sub(":", "", $1); file = $1; n = split(file, parts, "/"); name = parts[n]
          sub(/\.ko$/, "", name); gsub("-", "_", name); byname[name] = file
          deps[file] = ""; for (i = 2; i <= NF; i++) deps[file] = deps[file] " " $i }
        function visit(file,   list, count, i) {
            if (file in done) return; done[file] = 1
            count = split(deps[file], list, " ")
            for (i = 1; i <= count; i++) visit(list[i])
            print file
        }
        END { count = split(wanted, names, " ")
              for (i = 1; i <= count; i++) {
                  if (!(names[i] in byname)) { print "missing module " names[i] > "/dev/stderr"; exit 1 }
                  visit(byname[names[i]]) } }
    ' "$dir/modules.dep"
}

if kernel_ok; then
    say "kernel $(cat "$KERNEL/release") already unpacked in $KERNEL; not calling apt"
    exit 0
fi

command -v xz >/dev/null 2>&1 || ensure_apt xz-utils
package=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
if [[ -z "$package" ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    package=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
fi
[[ -n "$package" ]] || die "cannot tell which kernel package linux-image-amd64 depends on"
release=${package#linux-image-}

mkdir -p "$ROOT/.tools"
work=$(mktemp -d "$ROOT/.tools/vm-unpack.XXXXXX")
trap 'rm -rf "$work"' EXIT
say "downloading $package (~70 MB) and unpacking it (not installed)"
# As root apt warns that it downloads "unsandboxed"; the .deb found afterwards is what counts.
download() {
    (cd "$work" && apt-get download -qq "$package" 2>&1) | grep -v 'Download is performed unsandboxed' >&2 || true
    find "$work" -maxdepth 1 -name "${package}_*.deb" | head -n 1
}
deb=$(download)
if [[ -z "$deb" ]]; then
    say "download failed; refreshing apt's lists once (they may name a version the mirror dropped)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    deb=$(download)
fi
[[ -n "$deb" ]] || die "apt-get download $package gave no .deb"
dpkg-deb -x "$deb" "$work/root"
image="$work/root/boot/vmlinuz-$release"
[[ -f "$image" ]] || die "$package has no /boot/vmlinuz-$release"
/bin/busybox depmod -b "$work/root" "$release"

rm -rf "$KERNEL"
mkdir -p "$KERNEL/modules"
extract_vmlinux "$image" "$KERNEL/vmlinux"
moddir="$work/root/lib/modules/$release"
module_closure "$moddir" "${WANTED_MODULES[@]}" | while read -r file; do
    cp "$moddir/$file" "$KERNEL/modules/"
    basename "$file"
done >"$KERNEL/modules.load"
echo "$release" >"$KERNEL/release"
kernel_ok || die "the unpacked kernel in $KERNEL is incomplete"
say "kernel $release ready in $KERNEL: vmlinux $(du -h "$KERNEL/vmlinux" | cut -f1), modules $(tr '\n' ' ' <"$KERNEL/modules.load")"
