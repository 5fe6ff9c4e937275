#!/bin/sh
# Build a hybrid BIOS + UEFI GRUB ISO for one appliance kernel: make_iso.sh <kernel.elf> <out.iso> [cmdline]
set -eu
kernel=$1; out=$2; cmdline=${3:-}
app=$(basename "$kernel" .elf)
for f in /usr/lib/grub/i386-pc/modinfo.sh /usr/lib/grub/x86_64-efi/modinfo.sh; do
    [ -e "$f" ] || { echo "make_iso: $f missing: install grub-pc-bin and grub-efi-amd64-bin (make setup)" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/boot/grub" "$(dirname "$out")"
cp "$kernel" "$tmp/boot/$app.elf"
sed -e "s|@APP@|$app|g" -e "s|@CMDLINE@|$cmdline|g" "$(dirname "$0")/grub.cfg.in" > "$tmp/boot/grub/grub.cfg"
# Fixed timestamps keep the image reproducible for the same inputs.
# (No locales, fonts or themes: the menu is text on serial and screen.)
epoch=${SOURCE_DATE_EPOCH:-1700000000}
date=$(date -u -d "@$epoch" +%Y%m%d%H%M%S00)
SOURCE_DATE_EPOCH=$epoch grub-mkrescue --locales= --fonts= --themes= -o "$out" "$tmp" -- -volid SKERRY \
    -volume_date c "=$epoch" -volume_date m "=$epoch" -volume_date uuid "$date" \
    -volume_date all_file_dates "=$epoch" >"$tmp.log" 2>&1 || {
    cat "$tmp.log" >&2; rm -f "$tmp.log"; echo "make_iso: grub-mkrescue failed" >&2; exit 1; }
rm -f "$tmp.log"
echo "  ISO     $out"
