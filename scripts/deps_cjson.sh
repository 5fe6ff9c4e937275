# shellcheck shell=bash
# Sourced by scripts/deps.sh: builds cJSON (Debian's cjson source package, with its patches) into
# libcjson.a for the kernel and libcjson-host.a for the host unit tests. Part of cJSON's cache key.
#
# build_cjson SRC BUILD STAGE -> STAGE/include/cJSON.h, STAGE/lib/libcjson.a, STAGE/lib/libcjson-host.a
#
# Only cJSON.c (not cJSON_Utils.c): compiled like kernel C code (THIRD_PARTY_CFLAGS, -ffreestanding, newlib's
# headers), and again with DEPS_HOSTCC and AddressSanitizer for the host.
# shellcheck source=scripts/deps_cc.sh
source "$ROOT/scripts/deps_cc.sh"

build_cjson() {
  local src=$1 bld=$2 stage=$3
  # shellcheck disable=SC2207
  CC_FLAGS=($(flags) -ffreestanding -std=gnu99 $(newlib_cflags) -I"$src")
  echo "flags: ${CC_FLAGS[*]}"
  cc_parallel "$bld/obj" "$src" "$src/cJSON.c"
  rm -f "$stage/lib/libcjson.a"
  "$DEPS_AR" rcsD "$stage/lib/libcjson.a" "$bld/obj/cJSON.o"
  cp -a "$src/cJSON.h" "$stage/include/"

  # shellcheck disable=SC2206
  CC_FLAGS=($CJSON_HOST_CFLAGS -std=gnu99 -I"$src")
  echo "host flags: ${CC_FLAGS[*]}"
  DEPS_CC=$DEPS_HOSTCC cc_parallel "$bld/host-obj" "$src" "$src/cJSON.c"
  rm -f "$stage/lib/libcjson-host.a"
  "$DEPS_AR" rcsD "$stage/lib/libcjson-host.a" "$bld/host-obj/cJSON.o"
}

CJSON_HOST_CFLAGS="-O1 -g -fsanitize=address -fno-omit-frame-pointer"
