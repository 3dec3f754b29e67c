#!/bin/sh
# extract-vmlinux.sh BZIMAGE OUT: write the uncompressed ELF kernel inside an x86 bzImage.
#
# Why: under qemu TCG the bzImage's own decompressor runs on the emulated CPU and costs
# 2-3 s per boot; qemu boots an ELF vmlinux that carries a PVH note directly.
#
# How: the x86 boot protocol (Documentation/arch/x86/boot.rst) says where the payload is,
# so nothing is guessed by scanning for magic bytes:
#   0x1f1 u8  setup_sects      512-byte sectors of real-mode setup after the boot sector
#                              (0 means 4)
#   0x202 u32 "HdrS"           header magic
#   0x206 u16 version          payload_offset/length exist from protocol 2.08 on
#   0x248 u32 payload_offset   from the start of the protected-mode code
#   0x24c u32 payload_length
# The protected-mode code starts at (setup_sects + 1) * 512. The kernel build appends the
# uncompressed size as a little-endian u32 to the compressed stream (size_append), so the
# payload is stream + 4 bytes; the size lets us verify the result.
set -eu

die() {
    echo "extract-vmlinux: $*" >&2
    exit 1
}

[ $# -eq 2 ] || die "usage: extract-vmlinux.sh BZIMAGE OUT"
img=$1
out=$2
[ -r "$img" ] || die "cannot read '$img'"

# unsigned little-endian integer of $2 bytes at offset $1 (od reads host order: x86 is LE)
le() { od -An -tu"$2" -j "$1" -N "$2" "$img" | tr -d ' \n'; }

[ "$(od -An -c -j 514 -N 4 "$img" | tr -d ' \n')" = HdrS ] || die "'$img' is not a bzImage (no HdrS)"
version=$(le 518 2)
[ "$version" -ge 520 ] || die "'$img': boot protocol $version < 2.08 has no payload fields" # 0x208
sects=$(le 497 1)
[ "$sects" -ne 0 ] || sects=4
pm_start=$(((sects + 1) * 512))
poff=$((pm_start + $(le 584 4)))
plen=$(le 588 4)
size_pos=$((poff + plen - 4))
want=$(le "$size_pos" 4)

magic=$(od -An -tx1 -j "$poff" -N 6 "$img" | tr -d ' \n')
case $magic in
fd377a585a00) dec="xz -dc --single-stream" ;;
28b52ffd*) dec="zstd -dcq" ;;
1f8b*) dec="gzip -dc" ;;
*) die "'$img': unsupported payload compression (magic $magic)" ;;
esac

tmp=$out.tmp.$$
trap 'rm -f "$tmp"' EXIT
# The decompressor reads exactly the stream: the trailing size word is cut off.
dd if="$img" bs=64K iflag=skip_bytes,count_bytes skip="$poff" count=$((plen - 4)) status=none |
    $dec >"$tmp" || die "'$img': decompressing the payload failed ($dec)"

got=$(stat -c %s "$tmp")
[ "$got" -eq "$want" ] || die "'$img': decompressed $got bytes, the header says $want"
[ "$(od -An -tx1 -N 4 "$tmp" | tr -d ' \n')" = 7f454c46 ] || die "'$img': payload is not an ELF file"
mv "$tmp" "$out"
trap - EXIT
