# shellcheck shell=bash
# Sourced by scripts/deps.sh: builds newlib (libc.a, libm.a and headers) for the kernel with the host gcc.
# Part of newlib's cache key: editing this file rebuilds newlib (and, through its key, lwIP and mbedTLS).
#
# build_newlib SRC BUILD STAGE   -> STAGE/include, STAGE/lib/libc.a, STAGE/lib/libm.a
#
# There is no cross compiler: the host gcc builds the x86_64-elf target. Only the newlib subdirectory is
# built (no libgloss, no crt0): the kernel supplies the system calls (src/kernel/syscalls.cpp).
#  - --disable-newlib-supplied-syscalls: no libc/syscalls wrappers; libc.a's reentrant layer (_write_r
#    and friends, in libc.a itself) calls _write, _read, _sbrk, ... which the kernel defines.
#  - -UMISSING_SYSCALL_NAMES: configure.host adds -DMISSING_SYSCALL_NAMES for every target it does not
#    know (x86_64-*-elf included), which would make libc.a call write/read/sbrk instead of the underscore
#    names. CFLAGS come last on newlib's compile lines, so the -U wins.
#  - -nostdinc -isystem <gcc include>: newlib's own headers (added by its build) and gcc's freestanding
#    headers only, never the host's glibc headers in /usr/include.
#  - No reent-small, no nano formatted I/O: the kernel has plenty of memory; long long and C99 formats on.
build_newlib() {
  local src=$1 bld=$2 stage=$3 gccinc
  gccinc=$("$DEPS_CC" -print-file-name=include)
  cd "$bld" || return 1
  "$src/configure" \
    --target=x86_64-elf --prefix=/usr \
    --disable-multilib --disable-nls \
    --disable-newlib-supplied-syscalls \
    --enable-newlib-io-long-long --enable-newlib-io-c99-formats \
    CC_FOR_TARGET="$DEPS_CC" AR_FOR_TARGET="$DEPS_AR" AS_FOR_TARGET=as LD_FOR_TARGET=ld \
    RANLIB_FOR_TARGET=ranlib NM_FOR_TARGET=nm \
    CFLAGS_FOR_TARGET="$(flags) -nostdinc -isystem $gccinc -UMISSING_SYSCALL_NAMES"
  make -j"$DEPS_JOBS" all-target-newlib
  make install-target-newlib DESTDIR="$bld/install"
  cp -a "$bld/install/usr/x86_64-elf/include/." "$stage/include/"
  cp "$bld/install/usr/x86_64-elf/lib/libc.a" "$bld/install/usr/x86_64-elf/lib/libm.a" "$stage/lib/"

  # The system-call layer must call the kernel's underscore names, from libc.a's own _*_r wrappers.
  local undef defined sym
  undef=$(nm -u "$stage/lib/libc.a" 2>/dev/null | awk 'NF == 2 { print $2 }' | sort -u)
  defined=$(nm "$stage/lib/libc.a" 2>/dev/null | awk 'NF == 3 && $2 == "T" { print $3 }' | sort -u)
  for sym in _write _read _sbrk _close _fstat _isatty _lseek _getpid _kill _gettimeofday; do
    grep -qx "$sym" <<<"$undef" ||
      { echo "newlib check: libc.a does not call $sym (MISSING_SYSCALL_NAMES still in effect?)"; return 1; }
    grep -qx "${sym}_r" <<<"$defined" ||
      { echo "newlib check: libc.a does not define ${sym}_r itself"; return 1; }
  done
  undefined_syms "$stage" >"$stage/undefined-symbols.txt"
}
