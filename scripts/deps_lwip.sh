# shellcheck shell=bash
# Sourced by scripts/deps.sh: builds lwIP's core (NO_SYS=1: no api/ directory) into liblwip.a.
# Part of lwIP's cache key, with src/net/lwip/lwipopts.h and src/net/lwip/arch/*.h.
#
# build_lwip SRC BUILD STAGE -> STAGE/include (lwIP's src/include), STAGE/lib/liblwip.a,
#                               STAGE/lib/liblwip-host.a
#
# liblwip.a is compiled like kernel C code: THIRD_PARTY_CFLAGS plus -ffreestanding, against newlib's
# headers and gcc's freestanding headers only (-nostdinc), with our lwipopts.h and arch/cc.h from
# src/net/lwip. liblwip-host.a is the same sources and configuration compiled for the host unit tests
# (tests/unit/net.mk): DEPS_HOSTCC, the host C library, AddressSanitizer (LWIP_HOST_CFLAGS below).
# shellcheck source=scripts/deps_cc.sh
source "$ROOT/scripts/deps_cc.sh"

build_lwip() {
  local src=$1 bld=$2 stage=$3
  local -a files
  # shellcheck disable=SC2207
  files=($(ls "$src"/src/core/*.c "$src"/src/core/ipv4/*.c "$src"/src/core/ipv6/*.c | sort) "$src/src/netif/ethernet.c")
  # shellcheck disable=SC2207
  CC_FLAGS=($(flags) -ffreestanding -std=gnu11 $(newlib_cflags) -I"$src/src/include" -I"$ROOT/src/net/lwip")
  echo "flags: ${CC_FLAGS[*]}"
  cc_parallel "$bld/obj" "$src/src" "${files[@]}"
  rm -f "$stage/lib/liblwip.a"
  "$DEPS_AR" rcsD "$stage/lib/liblwip.a" "$bld"/obj/*.o
  cp -a "$src/src/include/." "$stage/include/"

  # shellcheck disable=SC2206
  CC_FLAGS=($LWIP_HOST_CFLAGS -std=gnu11 -I"$src/src/include" -I"$ROOT/src/net/lwip")
  echo "host flags: ${CC_FLAGS[*]}"
  DEPS_CC=$DEPS_HOSTCC cc_parallel "$bld/host-obj" "$src/src" "${files[@]}"
  rm -f "$stage/lib/liblwip-host.a"
  "$DEPS_AR" rcsD "$stage/lib/liblwip-host.a" "$bld"/host-obj/*.o
}

# Host unit tests link this with -fsanitize=address,undefined code; lwIP itself gets ASan only (its packed
# header structs would make UBSan's alignment checks noisy).
LWIP_HOST_CFLAGS="-O1 -g -fsanitize=address -fno-omit-frame-pointer"

