#!/usr/bin/env bash
# Skerry's third-party dependency pipeline: newlib, lwIP, mbedTLS and cJSON, pinned in deps.lock.
#
#   scripts/deps.sh dirs          print the cache directories of newlib, lwIP, mbedTLS, cJSON and the stamp path
#                                 (used by mk/deps.mk at parse time; fast, never downloads or builds)
#   scripts/deps.sh build [lib…]  fetch, verify, unpack and build whatever is not cached yet (default: all)
#   scripts/deps.sh fetch [lib…]  fetch and verify the pinned source files only
#   scripts/deps.sh unpack [lib…] fetch, verify and unpack into third_party/<name>-<version>/
#   scripts/deps.sh undefined     list the external symbols newlib's libc.a/libm.a expect from the kernel
#   scripts/deps.sh clean         remove third_party/ (sources and build trees; the cache stays)
#   scripts/deps.sh prune         remove cache entries other than the current ones (downloads stay)
#
# Flow per library: source files are fetched (apt-get source --download-only for Debian source packages,
# a file of an installed Debian package for newlib) into $SKERRY_CACHE/downloads/, checked against the
# SHA-256 pins of deps.lock, unpacked into third_party/<name>-<version>/ (dpkg-source applies the Debian
# patches), built with THIRD_PARTY_CFLAGS by scripts/deps_<name>.sh, and installed into
#   $SKERRY_CACHE/<name>-<version>-<key>/{include,lib}
# where <key> hashes everything the result depends on: the pins, the flags, the compiler, the library's
# build script and its configuration headers (and newlib's key for lwIP/mbedTLS, which compile against
# newlib's headers). A cached library is never rebuilt; a changed input gives a new key and a new build.
#
# Environment: SKERRY_CACHE (default ~/.cache/skerry), THIRD_PARTY_CFLAGS (default: from mk/flags.mk),
# DEPS_CC (default gcc), DEPS_AR (default ar), DEPS_JOBS (default: number of CPUs), DEPS_HOSTCC (default gcc:
# the host compiler of the unit-test builds liblwip-host.a, libmbed*-host.a and libcjson-host.a).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
LOCK=$ROOT/deps.lock
LIBS=(newlib lwip mbedtls cjson)
SKERRY_CACHE=${SKERRY_CACHE:-$HOME/.cache/skerry}
DEPS_CC=${DEPS_CC:-gcc}
DEPS_AR=${DEPS_AR:-ar}
DEPS_HOSTCC=${DEPS_HOSTCC:-gcc}
DEPS_JOBS=${DEPS_JOBS:-$(nproc 2>/dev/null || echo 2)}
TP=$ROOT/third_party
# Run from a make recipe: do not hand the outer make's flags, variables or jobserver to the inner builds.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
CLEANUP=()
trap 'rm -rf "${CLEANUP[@]}"' EXIT

# ---- messages ----------------------------------------------------------------------------------------
say() { echo "deps: $*" >&2; }
# die WHAT [WHAT-TO-DO]
die() {
  echo "deps: error: $1" >&2
  [ $# -gt 1 ] && echo "deps: what to do: $2" >&2
  exit 1
}
show_log() {  # file [lines]: the first error lines, then the end of the log
  [ -f "$1" ] || return 0
  if grep -qE '(error|Error|ERROR)[: ]' "$1"; then
    echo "---- first errors in $1 ----" >&2
    grep -E '(error|Error|ERROR)[: ]' "$1" | head -n 10 >&2
  fi
  echo "---- last lines of $1 ----" >&2
  tail -n "${2:-25}" "$1" >&2
  echo "----" >&2
}
is_root() { [ "$(id -u)" = 0 ]; }
setup_hint() {
  if is_root; then echo "run 'make setup' (or bash scripts/setup.sh)"; else echo "run 'sudo make setup' once"; fi
}

# ---- deps.lock -----------------------------------------------------------------------------------------
[ -r "$LOCK" ] || die "$LOCK is missing" "restore it from git (git checkout -- deps.lock)"

lock_lines() {  # name -> its pin lines, whitespace normalized
  awk -v n="$1" '$1 == n && NF == 5 { print $1, $2, $3, $4, $5 }' "$LOCK"
}
lock_version() { lock_lines "$1" | awk 'NR == 1 { print $2 }'; }
lock_origin() { lock_lines "$1" | awk 'NR == 1 { print $3 }'; }

flags() {
  if [ -z "${THIRD_PARTY_CFLAGS:-}" ]; then
    THIRD_PARTY_CFLAGS=$(printf 'include mk/flags.mk\nprint:\n\t@echo $(THIRD_PARTY_CFLAGS)\n' |
                         make --no-print-directory -s -f - print 2>/dev/null) ||
      die "could not read THIRD_PARTY_CFLAGS from mk/flags.mk" "check mk/flags.mk, or set THIRD_PARTY_CFLAGS"
  fi
  echo "$THIRD_PARTY_CFLAGS" | tr -s ' \t' ' ' | sed 's/^ //; s/ $//'
}

compiler_id() {
  local v
  v=$("$DEPS_CC" -dumpmachine 2>/dev/null && "$DEPS_CC" -dumpfullversion 2>/dev/null) || v="cc-missing:$DEPS_CC"
  echo "$v"
  "$DEPS_AR" --version 2>/dev/null | head -n 1 || echo "ar-missing:$DEPS_AR"
}

# ---- cache keys ------------------------------------------------------------------------------------------
hash_stream() { sha256sum | cut -c1-16; }
hash_files() {  # files... -> one line per file: name and content hash (missing files hash as "missing")
  local f
  for f in "$@"; do
    if [ -f "$f" ]; then echo "$f $(sha256sum <"$f" | cut -c1-64)"; else echo "$f missing"; fi
  done
}
declare -A KEY DIR
compute_keys() {
  [ -n "${KEY[newlib]:-}" ] && return 0
  THIRD_PARTY_CFLAGS=$(flags)
  export THIRD_PARTY_CFLAGS
  local common
  common=$(flags; compiler_id)
  KEY[newlib]=$( { echo "newlib"; lock_lines newlib; echo "$common";
                   hash_files scripts/deps_newlib.sh; } | hash_stream)
  # shellcheck disable=SC2046
  KEY[lwip]=$( { echo "lwip"; lock_lines lwip; echo "$common"; echo "newlib ${KEY[newlib]}";
                 echo "host $("$DEPS_HOSTCC" -dumpmachine 2>/dev/null) $("$DEPS_HOSTCC" -dumpfullversion 2>/dev/null)";
                 hash_files scripts/deps_lwip.sh scripts/deps_cc.sh src/net/lwip/lwipopts.h \
                            $(find src/net/lwip/arch -name '*.h' 2>/dev/null | sort); } | hash_stream)
  KEY[mbedtls]=$( { echo "mbedtls"; lock_lines mbedtls; echo "$common"; echo "newlib ${KEY[newlib]}";
                    echo "host $("$DEPS_HOSTCC" -dumpmachine 2>/dev/null) $("$DEPS_HOSTCC" -dumpfullversion 2>/dev/null)";
                    hash_files scripts/deps_mbedtls.sh scripts/deps_cc.sh src/net/tls/mbedtls_config.h; } | hash_stream)
  KEY[cjson]=$( { echo "cjson"; lock_lines cjson; echo "$common"; echo "newlib ${KEY[newlib]}";
                  echo "host $("$DEPS_HOSTCC" -dumpmachine 2>/dev/null) $("$DEPS_HOSTCC" -dumpfullversion 2>/dev/null)";
                  hash_files scripts/deps_cjson.sh scripts/deps_cc.sh; } | hash_stream)
  local n
  for n in "${LIBS[@]}"; do
    [ -n "$(lock_version "$n")" ] || die "deps.lock has no pin for $n" "restore deps.lock from git"
    DIR[$n]=$SKERRY_CACHE/$n-$(lock_version "$n")-${KEY[$n]}
  done
  STAMP=$SKERRY_CACHE/stamps/deps-$(echo "${KEY[newlib]} ${KEY[lwip]} ${KEY[mbedtls]} ${KEY[cjson]}" | hash_stream).stamp
}

# ---- fetching and verification ---------------------------------------------------------------------------
sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# verify name file path [where]: the pinned sha256 of <file> against the file at <path>
verify() {
  local name=$1 file=$2 path=$3 where=${4:-the registry served a different file than deps.lock pins} want got
  want=$(lock_lines "$name" | awk -v f="$file" '$4 == f { print $5 }')
  got=$(sha_of "$path")
  [ "$want" = "$got" ] && return 0
  die "sha256 mismatch for $file: expected $want, got $got" \
      "$where: check deps.lock and your mirror in /etc/apt; if the new file is legitimate, update its pin in deps.lock (that changes the cache key and rebuilds $name)"
}

downloads_dir() { echo "$SKERRY_CACHE/downloads/$1-$(lock_version "$1")"; }

fetch_deb_file() {  # newlib: a file shipped by an installed Debian binary package
  local name=$1 origin pkg dir file path
  origin=$(lock_origin "$name")            # deb:<package>:<dir>
  pkg=$(cut -d: -f2 <<<"$origin"); dir=$(cut -d: -f3- <<<"$origin")
  while read -r _ _ _ file _; do
    path=$dir/$file
    if [ ! -f "$path" ]; then
      if dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null | grep -q '^ii'; then
        die "$path is missing although the Debian package $pkg ($(dpkg-query -W -f='${Version}' "$pkg")) is installed" \
            "reinstall it (apt-get install --reinstall $pkg, as root); if that version no longer ships $file, update deps.lock"
      fi
      die "$path is missing (it comes from the Debian package $pkg, which is not installed)" \
          "$(setup_hint) (it installs $pkg), or: apt-get install $pkg"
    fi
    verify "$name" "$file" "$path" \
      "$path comes from the installed $pkg $(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null), which is not the file deps.lock pins"
  done < <(lock_lines "$name")
}

apt_source_ok() {  # name version: does apt know this exact source version?
  # grep reads everything (no -q): an early exit would kill apt-cache with SIGPIPE, and pipefail would fail.
  apt-cache showsrc "$1" 2>/dev/null | grep -Fx "Version: $2" >/dev/null
}

fetch_apt_source() {
  local name=$1 version dl tmp file ok=1 log extra
  version=$(lock_version "$name")
  dl=$(downloads_dir "$name")
  while read -r _ _ _ file _; do
    [ -f "$dl/$file" ] && [ "$(sha_of "$dl/$file")" = "$(lock_lines "$name" | awk -v f="$file" '$4 == f { print $5 }')" ] || ok=0
  done < <(lock_lines "$name")
  [ $ok = 1 ] && return 0

  command -v apt-get >/dev/null && command -v apt-cache >/dev/null ||
    die "apt-get is not available, so $name $version cannot be fetched" "build on Debian 12 (bookworm) with apt"
  if ! apt_source_ok "$name" "$version"; then
    if is_root; then
      say "apt does not know source package $name=$version yet; updating the package lists"
      apt-get update -q >"$SKERRY_CACHE/apt-update.log" 2>&1 || { show_log "$SKERRY_CACHE/apt-update.log";
        die "apt-get update failed while looking for source package $name=$version" \
            "check that the Debian registry configured in /etc/apt is reachable (network, proxy), then run make again"; }
    fi
    apt_source_ok "$name" "$version" ||
      die "apt does not know source package $name=$version (no deb-src entry, stale package lists, or a registry without bookworm)" \
          "$(setup_hint) (it adds a deb-src entry and updates the lists); if it still fails, check 'apt-cache showsrc $name' against deps.lock"
  fi

  mkdir -p "$dl"
  tmp=$(mktemp -d "$SKERRY_CACHE/downloads/.fetch-$name.XXXXXX")
  CLEANUP+=("$tmp" "$tmp.log")
  log=$tmp.log
  say "fetching $name $version (apt-get source --download-only $name=$version)"
  if ! (cd "$tmp" && apt-get source --download-only -q "$name=$version") >"$log" 2>&1; then
    show_log "$log"
    rm -rf "$tmp"
    if grep -qiE "Failed to fetch|Could not resolve|Temporary failure|Connection (failed|refused|timed out)|Unable to connect" "$log"; then
      die "downloading $name $version from the Debian registry failed (registry unreachable)" \
          "check network access to the mirror configured in /etc/apt (apt-cache policy shows it), then run make again"
    fi
    die "apt-get source --download-only $name=$version failed (log above)" \
        "$(setup_hint) and run make again; if the version is gone from the registry, update deps.lock"
  fi
  while read -r _ _ _ file _; do
    [ -f "$tmp/$file" ] || { rm -rf "$tmp" "$log";
      die "apt-get source $name=$version did not deliver $file, which deps.lock pins" \
          "the registry serves a different source package: check deps.lock against 'apt-cache showsrc $name'"; }
    verify "$name" "$file" "$tmp/$file"
  done < <(lock_lines "$name")
  extra=$(cd "$tmp" && for f in *; do lock_lines "$name" | awk -v f="$f" '$4 == f { found = 1 } END { exit !found }' || echo "$f"; done)
  [ -z "$extra" ] || { rm -rf "$tmp" "$log";
    die "apt-get source $name=$version delivered files deps.lock does not pin: $extra" \
        "pin every file of the source package in deps.lock (name, version, origin, file, sha256)"; }
  while read -r _ _ _ file _; do mv -f "$tmp/$file" "$dl/$file"; done < <(lock_lines "$name")
  rm -rf "$tmp" "$log"
}

fetch() {
  local name=$1
  case $(lock_origin "$name") in
    apt-source) fetch_apt_source "$name" ;;
    deb:*) fetch_deb_file "$name" ;;
    *) die "deps.lock: unknown origin '$(lock_origin "$name")' for $name" "use apt-source or deb:<package>:<dir>" ;;
  esac
}

# ---- unpacking --------------------------------------------------------------------------------------------
src_dir() { echo "$TP/$1-$(lock_version "$1")"; }

unpack() {
  local name=$1 dst tmp marker origin dir file log
  dst=$(src_dir "$name")
  marker=$(lock_lines "$name" | sha256sum | cut -c1-64)
  [ -f "$dst/.skerry-source" ] && [ "$(cat "$dst/.skerry-source")" = "$marker" ] && return 0
  fetch "$name"
  command -v xz >/dev/null || die "xz is not installed" "$(setup_hint) (or apt-get install xz-utils)"
  mkdir -p "$TP"
  rm -rf "$dst"
  tmp=$TP/.unpack-$name.$$
  log=$TP/.unpack-$name.log
  rm -rf "$tmp"
  CLEANUP+=("$tmp")
  say "unpacking $name $(lock_version "$name") into ${dst#"$ROOT"/}"
  origin=$(lock_origin "$name")
  case $origin in
    apt-source)
      command -v dpkg-source >/dev/null || die "dpkg-source is not installed" "$(setup_hint) (or apt-get install dpkg-dev)"
      file=$(lock_lines "$name" | awk '$4 ~ /\.dsc$/ { print $4 }')
      (dpkg-source -x "$(downloads_dir "$name")/$file" "$tmp") >"$log" 2>&1 || { show_log "$log"; rm -rf "$tmp";
        die "dpkg-source -x $file failed (log above)" "delete $(downloads_dir "$name") to fetch it again, then run make again"; }
      ;;
    deb:*)
      dir=$(cut -d: -f3- <<<"$origin")
      file=$(lock_lines "$name" | awk 'NR == 1 { print $4 }')
      mkdir -p "$tmp"
      tar -xf "$dir/$file" -C "$tmp" --strip-components=1 >"$log" 2>&1 || { show_log "$log"; rm -rf "$tmp";
        die "unpacking $dir/$file failed (log above)" "reinstall its package: apt-get install --reinstall $(cut -d: -f2 <<<"$origin")"; }
      ;;
  esac
  echo "$marker" >"$tmp/.skerry-source"
  mv "$tmp" "$dst"
  rm -f "$log"
}

# ---- building ----------------------------------------------------------------------------------------------
check_tools() {
  local t missing=""
  for t in "$DEPS_CC" "$DEPS_HOSTCC" "$DEPS_AR" make tar xz sha256sum flock; do command -v "$t" >/dev/null || missing+=" $t"; done
  [ -z "$missing" ] || die "build tools missing:$missing" "$(setup_hint) (it installs gcc, make, xz-utils, dpkg-dev)"
}

# Run by the library scripts: compile flags for code built against newlib's installed headers.
newlib_cflags() {
  echo "-nostdinc -isystem ${DIR[newlib]}/include -isystem $("$DEPS_CC" -print-file-name=include)"
}

build_one() {
  local name=$1 dir stage bld log
  dir=${DIR[$name]}
  [ -f "$dir/.done" ] && return 0
  unpack "$name"
  stage=$SKERRY_CACHE/.stage-$(basename "$dir").$$
  bld=$TP/.build/$(basename "$dir")
  log=$bld.log
  rm -rf "$stage" "$bld"
  CLEANUP+=("$stage")
  mkdir -p "$stage/include" "$stage/lib" "$bld"
  say "building $name $(lock_version "$name") (log: ${log#"$ROOT"/})"
  local t0=$SECONDS
  # shellcheck source=/dev/null
  source "scripts/deps_$name.sh"
  # Not "if ! ( … )": errexit would be off inside the subshell.
  local rc=0
  set +e
  ( set -e; "build_$name" "$(src_dir "$name")" "$bld" "$stage" ) >"$log" 2>&1
  rc=$?
  set -e
  if [ $rc != 0 ]; then
    show_log "$log" 40
    rm -rf "$stage"
    die "building $name $(lock_version "$name") failed (full log: $log)" \
        "read the log above; if you changed $(config_of "$name"), fix it; the flags were: $(flags)"
  fi
  { echo "name=$name"; echo "version=$(lock_version "$name")"; echo "key=${KEY[$name]}"; echo "flags=$(flags)";
    echo "compiler=$(compiler_id | tr '\n' ' ')"; echo "built=$(date -u +%FT%TZ)"; } >"$stage/.done"
  rm -rf "$dir"
  mv "$stage" "$dir"
  # Keep this build's log; drop its build tree and leftovers of earlier (failed or superseded) builds.
  find "$TP/.build" -mindepth 1 -maxdepth 1 -name "$name-*" ! -path "$log" -exec rm -rf {} +
  say "built $name in $((SECONDS - t0)) s -> $dir"
}

config_of() {
  case $1 in
    newlib) echo "scripts/deps_newlib.sh" ;;
    lwip) echo "src/net/lwip/lwipopts.h, src/net/lwip/arch/cc.h or scripts/deps_lwip.sh" ;;
    mbedtls) echo "src/net/tls/mbedtls_config.h or scripts/deps_mbedtls.sh" ;;
    cjson) echo "scripts/deps_cjson.sh" ;;
  esac
}

with_lock() {
  mkdir -p "$SKERRY_CACHE" 2>/dev/null && [ -w "$SKERRY_CACHE" ] ||
    die "the dependency cache $SKERRY_CACHE is not writable" "set SKERRY_CACHE to a writable directory (default ~/.cache/skerry)"
  exec 9>"$SKERRY_CACHE/.lock"
  if ! flock -n 9; then
    say "waiting for another build holding $SKERRY_CACHE/.lock"
    flock 9
  fi
}

libs_from_args() {
  local n
  if [ $# = 0 ]; then echo "${LIBS[@]}"; return; fi
  for n in "$@"; do
    [[ " ${LIBS[*]} " == *" $n "* ]] || die "unknown library '$n'" "use one of: ${LIBS[*]}"
  done
  echo "$@"
}

# External symbols of libc.a/libm.a that neither newlib nor libgcc define: what the kernel must provide
# (or must not pull in).
undefined_syms() {
  local lib=$1/lib libgcc
  libgcc=$("$DEPS_CC" -print-libgcc-file-name)
  comm -23 <(nm -u "$lib/libc.a" "$lib/libm.a" 2>/dev/null | awk 'NF == 2 { print $2 }' | sort -u) \
           <(nm "$lib/libc.a" "$lib/libm.a" "$libgcc" 2>/dev/null | awk 'NF == 3 && $2 != "U" { print $3 }' | sort -u)
}

# ---- main ---------------------------------------------------------------------------------------------------
cmd=${1:-build}
[ $# -gt 0 ] && shift
case $cmd in
  dirs)
    compute_keys
    echo "${DIR[newlib]} ${DIR[lwip]} ${DIR[mbedtls]} ${DIR[cjson]} $STAMP"
    ;;
  fetch)
    with_lock
    for n in $(libs_from_args "$@"); do fetch "$n"; done
    ;;
  unpack)
    with_lock
    for n in $(libs_from_args "$@"); do unpack "$n"; done
    ;;
  build)
    check_tools
    compute_keys
    with_lock
    want=$(libs_from_args "$@")
    # lwIP, mbedTLS and cJSON compile against newlib's headers.
    [[ " $want " == *" newlib "* ]] || want="newlib $want"
    for n in "${LIBS[@]}"; do [[ " $want " == *" $n "* ]] && build_one "$n"; done
    if [ $# = 0 ]; then mkdir -p "$(dirname "$STAMP")" && touch "$STAMP"; fi
    ;;
  undefined)
    compute_keys
    [ -f "${DIR[newlib]}/.done" ] || die "newlib is not built yet" "run make deps"
    undefined_syms "${DIR[newlib]}"
    ;;
  clean)
    rm -rf "$TP"
    ;;
  prune)
    compute_keys
    with_lock
    for d in "$SKERRY_CACHE"/*; do
      [ -d "$d" ] && [[ $(basename "$d") =~ ^(newlib|lwip|mbedtls|cjson)-.+-[0-9a-f]{16}$ ]] || continue
      case " ${DIR[newlib]} ${DIR[lwip]} ${DIR[mbedtls]} ${DIR[cjson]} " in *" $d "*) continue ;; esac
      say "removing stale $d"; rm -rf "$d"
    done
    find "$SKERRY_CACHE/stamps" -name 'deps-*.stamp' ! -path "$STAMP" -delete 2>/dev/null || true
    ;;
  *)
    sed -n '2,12p' "$0" >&2
    exit 2
    ;;
esac
