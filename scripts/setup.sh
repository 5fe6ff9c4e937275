#!/usr/bin/env bash
# Skerry set-up: installs the Debian packages the build, the tests and `make run` need, and adds a deb-src
# entry (derived from this machine's own apt configuration) so `apt-get source` can fetch pinned sources.
# Idempotent and quick when everything is already in place. Run as root on Debian 12 (bookworm).
set -euo pipefail

PACKAGES=(
  # build
  make gcc g++ python3 git xz-utils dpkg-dev
  # dependencies and unit tests
  newlib-source libgtest-dev googletest
  # fuzz targets (libFuzzer)
  clang libclang-rt-14-dev
  # the C/C++ style (make format, make format-check; .clang-format is written for clang-format 14)
  clang-format
  # the screen console's font
  console-setup-linux
  # QEMU, firmware, boot loaders and image tools
  qemu-system-x86 qemu-utils ovmf ipxe ipxe-qemu grub-common grub-pc-bin grub-efi-amd64-bin xorriso mtools
  # images (make images / release / test-images): GPT on a file, stream-optimized VMDK, OVF and dnsmasq checks
  fdisk python3-vmdkstream libxml2-utils dnsmasq-base
  # network clients used by tests and benchmarks
  curl iperf iperf3 socat netcat-openbsd iproute2 iputils-ping
  # connection bursts and churn (h2load, ab), floods (hping3), nftables loss (issue 15)
  nghttp2-client apache2-utils hping3 nftables
  # the benchmark: the Linux guest's initramfs, HTTP load, the chart
  cpio wrk gnuplot-nox
)
SRC_LIST=/etc/apt/sources.list.d/skerry-deb-src.sources

fail() {
  echo "setup: $1" >&2
  [ $# -gt 1 ] && echo "setup: what to do: $2" >&2
  exit 1
}

missing_packages() {
  local p status
  for p in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
    [ "${status:0:2}" = "ii" ] || echo "$p"
  done
}

have_deb_src() {
  # Any enabled deb-src entry in either apt source format.
  grep -qsE '^[[:space:]]*deb-src[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list && return 0
  grep -qsiE '^Types:.*deb-src' /etc/apt/sources.list.d/*.sources && return 0
  return 1
}

# Write deb-src stanzas mirroring every enabled "deb" entry of this machine (mirror, suites, components and
# signing key as configured here; no host name is assumed).
write_deb_src() {
  local tmp
  tmp=$(mktemp)
  {
    echo "# Added by Skerry's scripts/setup.sh: source entries mirroring this machine's binary entries."
    # deb822 files
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -e "$f" ] || continue
      [ "$f" = "$SRC_LIST" ] && continue
      awk '
        function flush() {
          if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled !~ /^[Nn]o/ && uris != "") {
            print "Types: deb-src"; print "URIs: " uris; print "Suites: " suites
            if (comps != "") print "Components: " comps
            if (signed != "") print "Signed-By: " signed
            print ""
          }
          types = uris = suites = comps = signed = enabled = ""
        }
        /^[ \t]*#/ { next }
        /^[ \t]*$/ { flush(); next }
        {
          key = tolower($1); sub(/:$/, "", key); val = $0; sub(/^[^:]*:[ \t]*/, "", val)
          if (key == "types") types = val
          else if (key == "uris") uris = val
          else if (key == "suites") suites = val
          else if (key == "components") comps = val
          else if (key == "signed-by") signed = val
          else if (key == "enabled") enabled = val
        }
        END { flush() }' "$f"
    done
    # one-line format
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [ -e "$f" ] || continue
      sed -nE 's/^[[:space:]]*deb[[:space:]]+(.*)$/\1/p' "$f" | while read -r rest; do
        # "[options] uri suite components..." -> deb822 stanza
        opts=""; signed=""
        if [[ $rest == \[* ]]; then opts=${rest%%]*}; rest=${rest#*]}; rest=${rest# }; fi
        [[ $opts == *signed-by=* ]] && signed=$(sed -E 's/.*signed-by=([^ ]+).*/\1/' <<<"$opts")
        read -r uri suite comps <<<"$rest"
        echo "Types: deb-src"; echo "URIs: $uri"; echo "Suites: $suite"
        [ -n "$comps" ] && echo "Components: $comps"
        [ -n "$signed" ] && echo "Signed-By: $signed"
        echo
      done
    done
  } >"$tmp"
  grep -q '^Types: deb-src' "$tmp" || { rm -f "$tmp"; fail "found no enabled 'deb' entry in /etc/apt to derive a deb-src entry from" \
      "configure a Debian mirror in /etc/apt/sources.list.d/ (or add a deb-src line yourself) and run make setup again"; }
  install -m 0644 "$tmp" "$SRC_LIST"
  rm -f "$tmp"
  echo "setup: added source entries in $SRC_LIST"
}

missing=$(missing_packages | tr '\n' ' ')
need_src=0
have_deb_src || need_src=1
if [ -z "${missing// /}" ] && [ $need_src = 0 ]; then
  exit 0
fi

[ -r /etc/debian_version ] || fail "this is not a Debian system" "run on Debian 12 (bookworm), or install the packages listed in scripts/setup.sh yourself"
if [ "$(id -u)" != 0 ]; then
  fail "packages missing (${missing:-none}) or no deb-src entry, and installing needs root" \
       "run 'sudo make setup' once, then build as yourself"
fi

export DEBIAN_FRONTEND=noninteractive
[ $need_src = 1 ] && write_deb_src
echo "setup: updating the package lists"
apt-get update -q >/tmp/skerry-apt-update.log 2>&1 || { tail -20 /tmp/skerry-apt-update.log >&2;
  fail "apt-get update failed (is the Debian registry reachable?)" "check network access to the mirror in /etc/apt and run make setup again"; }
if [ -n "${missing// /}" ]; then
  echo "setup: installing $missing"
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $missing >/tmp/skerry-apt-install.log 2>&1 || {
    tail -30 /tmp/skerry-apt-install.log >&2
    fail "apt-get install failed" "see /tmp/skerry-apt-install.log; fix the package manager's state and run make setup again"; }
fi
still=$(missing_packages | tr '\n' ' ')
[ -z "${still// /}" ] || fail "packages still missing after install: $still" "install them with apt-get and run make setup again"
echo "setup: all packages present"
