# shellcheck shell=bash
# Sourced by scripts/deps.sh: builds mbedTLS 2.28 into libmbedcrypto.a, libmbedx509.a, libmbedtls.a, and
# the same for the host unit tests (libmbed{crypto,x509,tls}-host.a). Part of mbedTLS's cache key, with
# src/net/tls/mbedtls_config.h.
#
# build_mbedtls SRC BUILD STAGE -> STAGE/include/{mbedtls,psa}, STAGE/lib/libmbed{crypto,x509,tls}.a,
#                                  STAGE/lib/libmbed{crypto,x509,tls}-host.a
#
# Every library/*.c is compiled (modules our config leaves out compile to nothing) with THIRD_PARTY_CFLAGS
# plus -ffreestanding against newlib's headers, and sorted into the three archives with the object lists
# of mbedTLS's own library/Makefile (OBJS_CRYPTO, OBJS_X509, OBJS_TLS). The host archives are the same
# sources and the same mbedtls_config.h compiled with DEPS_HOSTCC against the host C library, with
# AddressSanitizer (MBEDTLS_HOST_CFLAGS below), for tests/unit/http_stack.mk; the host provides the entropy
# hook the configuration asks for (src/net/tls/entropy_host.cpp).
# shellcheck source=scripts/deps_cc.sh
source "$ROOT/scripts/deps_cc.sh"

mbedtls_objs() {  # MAKEFILE VAR -> the .o names listed in VAR= ... up to the blank line
  awk -v v="$2" '
    $0 ~ "^" v "=" { on = 1; next }
    on && /^[ \t]*$/ { on = 0 }
    on { for (i = 1; i <= NF; i++) if ($i ~ /\.o$/) print $i }' "$1"
}

# mbedtls_archives SRC OBJDIR LIBDIR SUFFIX: OBJDIR's objects into LIBDIR/libmbed{crypto,x509,tls}SUFFIX.a
mbedtls_archives() {
  local src=$1 objdir=$2 libdir=$3 suffix=$4 lib var o f
  local -a objs
  for lib in crypto:OBJS_CRYPTO x509:OBJS_X509 tls:OBJS_TLS; do
    var=${lib#*:}
    objs=()
    for o in $(mbedtls_objs "$src/library/Makefile" "$var"); do
      [ -f "$objdir/$o" ] || { echo "mbedtls: $var lists $o but library/${o%.o}.c was not compiled"; return 1; }
      objs+=("$objdir/$o")
      touch "$objdir/$o.used"
    done
    [ ${#objs[@]} -gt 0 ] || { echo "mbedtls: no objects found for $var in library/Makefile"; return 1; }
    rm -f "$libdir/libmbed${lib%%:*}$suffix.a"
    "$DEPS_AR" rcsD "$libdir/libmbed${lib%%:*}$suffix.a" "${objs[@]}"
  done
  for f in "$objdir"/*.o; do
    [ -f "$f.used" ] || echo "mbedtls: warning: $(basename "$f") is in none of the three libraries"
  done
}

build_mbedtls() {
  local src=$1 bld=$2 stage=$3
  local -a files
  # shellcheck disable=SC2207
  files=($(ls "$src"/library/*.c | sort))
  # shellcheck disable=SC2207
  CC_FLAGS=($(flags) -ffreestanding -std=gnu99 $(newlib_cflags) -I"$src/include" -I"$src/library"
            -DMBEDTLS_CONFIG_FILE='"mbedtls_config.h"' -I"$ROOT/src/net/tls")
  echo "flags: ${CC_FLAGS[*]}"
  cc_parallel "$bld/obj" "$src/library" "${files[@]}"
  mbedtls_archives "$src" "$bld/obj" "$stage/lib" ""

  # shellcheck disable=SC2206
  CC_FLAGS=($MBEDTLS_HOST_CFLAGS -std=gnu99 -I"$src/include" -I"$src/library"
            -DMBEDTLS_CONFIG_FILE='"mbedtls_config.h"' -I"$ROOT/src/net/tls")
  echo "host flags: ${CC_FLAGS[*]}"
  DEPS_CC=$DEPS_HOSTCC cc_parallel "$bld/host-obj" "$src/library" "${files[@]}"
  mbedtls_archives "$src" "$bld/host-obj" "$stage/lib" "-host"
  mkdir -p "$stage/include"
  cp -a "$src/include/mbedtls" "$src/include/psa" "$stage/include/"
}

# Host unit tests link these with -fsanitize=address,undefined code; mbedTLS itself gets ASan only, like lwIP.
MBEDTLS_HOST_CFLAGS="-O1 -g -fsanitize=address -fno-omit-frame-pointer"
