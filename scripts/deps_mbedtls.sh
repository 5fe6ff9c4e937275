# shellcheck shell=bash
# Sourced by scripts/deps.sh: builds mbedTLS 2.28 into libmbedcrypto.a, libmbedx509.a, libmbedtls.a.
# Part of mbedTLS's cache key, with src/net/tls/mbedtls_config.h.
#
# build_mbedtls SRC BUILD STAGE -> STAGE/include/{mbedtls,psa}, STAGE/lib/libmbed{crypto,x509,tls}.a
#
# Every library/*.c is compiled (modules our config leaves out compile to nothing) with THIRD_PARTY_CFLAGS
# plus -ffreestanding against newlib's headers, and sorted into the three archives with the object lists
# of mbedTLS's own library/Makefile (OBJS_CRYPTO, OBJS_X509, OBJS_TLS).
# shellcheck source=scripts/deps_cc.sh
source "$ROOT/scripts/deps_cc.sh"

mbedtls_objs() {  # MAKEFILE VAR -> the .o names listed in VAR= ... up to the blank line
  awk -v v="$2" '
    $0 ~ "^" v "=" { on = 1; next }
    on && /^[ \t]*$/ { on = 0 }
    on { for (i = 1; i <= NF; i++) if ($i ~ /\.o$/) print $i }' "$1"
}

build_mbedtls() {
  local src=$1 bld=$2 stage=$3 lib var o f
  local -a files objs
  # shellcheck disable=SC2207
  files=($(ls "$src"/library/*.c | sort))
  # shellcheck disable=SC2207
  CC_FLAGS=($(flags) -ffreestanding -std=gnu99 $(newlib_cflags) -I"$src/include" -I"$src/library"
            -DMBEDTLS_CONFIG_FILE='"mbedtls_config.h"' -I"$ROOT/src/net/tls")
  echo "flags: ${CC_FLAGS[*]}"
  cc_parallel "$bld/obj" "$src/library" "${files[@]}"
  for lib in crypto:OBJS_CRYPTO x509:OBJS_X509 tls:OBJS_TLS; do
    var=${lib#*:}
    objs=()
    for o in $(mbedtls_objs "$src/library/Makefile" "$var"); do
      [ -f "$bld/obj/$o" ] || { echo "mbedtls: $var lists $o but library/${o%.o}.c was not compiled"; return 1; }
      objs+=("$bld/obj/$o")
      touch "$bld/obj/$o.used"
    done
    [ ${#objs[@]} -gt 0 ] || { echo "mbedtls: no objects found for $var in library/Makefile"; return 1; }
    rm -f "$stage/lib/libmbed${lib%%:*}.a"
    "$DEPS_AR" rcsD "$stage/lib/libmbed${lib%%:*}.a" "${objs[@]}"
  done
  for f in "$bld"/obj/*.o; do
    [ -f "$f.used" ] || echo "mbedtls: warning: $(basename "$f") is in none of the three libraries"
  done
  mkdir -p "$stage/include"
  cp -a "$src/include/mbedtls" "$src/include/psa" "$stage/include/"
}
