# shellcheck shell=bash
# Sourced by scripts/deps_lwip.sh and scripts/deps_mbedtls.sh: parallel compilation of C files.
# Part of the lwIP and mbedTLS cache keys.

# cc_parallel OBJDIR SRCROOT FILE...: compiles each FILE with "$DEPS_CC" "${CC_FLAGS[@]}" into OBJDIR,
# naming the object after FILE's path below SRCROOT (dir/x.c -> dir_x.o), DEPS_JOBS at a time.
cc_parallel() {
  local objdir=$1 root=$2 f rel obj running=0 failed=0
  shift 2
  mkdir -p "$objdir"
  for f in "$@"; do
    rel=${f#"$root"/}
    obj=$objdir/${rel//\//_}
    obj=${obj%.c}.o
    echo "  CC      $rel"
    "$DEPS_CC" "${CC_FLAGS[@]}" -c "$f" -o "$obj" &
    running=$((running + 1))
    if [ "$running" -ge "$DEPS_JOBS" ]; then
      wait -n || failed=1
      running=$((running - 1))
    fi
  done
  while [ "$running" -gt 0 ]; do
    wait -n || failed=1
    running=$((running - 1))
  done
  return "$failed"
}
