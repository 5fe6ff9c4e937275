/* The kernel compiles against Newlib's C headers but the host's libstdc++ headers (header-only parts:
 * <span>, <array>, <atomic>, <new>, ...). libstdc++'s Linux configuration includes glibc's <features.h>;
 * this stands in for it with Newlib's own feature macros and no glibc version. */
#pragma once
#include <sys/features.h>
#define __GLIBC_PREREQ(major, minor) 0
