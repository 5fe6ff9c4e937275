/* lwIP architecture header for Skerry: x86-64, little endian, compiled against newlib's headers (which
 * provide stdint.h, inttypes.h, limits.h, ctype.h, errno.h, stdlib.h and string.h, so lwIP's defaults
 * for types and format macros are used).
 *
 * Diagnostics go to the kernel, which defines (in C++ with C linkage):
 *   void skerry_lwip_diag(const char* fmt, ...);                             printf-like, one message
 *   void skerry_lwip_assert(const char* msg, const char* file, int line);    must not return (panic)
 */
#ifndef SKERRY_LWIP_ARCH_CC_H
#define SKERRY_LWIP_ARCH_CC_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h> /* ssize_t; newlib's machine/endian.h: BYTE_ORDER, LITTLE_ENDIAN */

/* lwIP takes ssize_t from unistd.h only when SSIZE_MAX is defined, else it typedefs ssize_t as int, which
 * conflicts with newlib's (long). newlib has no SSIZE_MAX; sys/types.h above already gave us ssize_t. */
#ifndef SSIZE_MAX
#define SSIZE_MAX LONG_MAX
#endif
#define LWIP_NO_UNISTD_H 1

#ifdef __cplusplus
extern "C" {
#endif
void skerry_lwip_diag(const char* fmt, ...) __attribute__((__format__(__printf__, 1, 2)));
__attribute__((__noreturn__)) void skerry_lwip_assert(const char* msg, const char* file, int line);
#ifdef __cplusplus
}
#endif

#ifndef LITTLE_ENDIAN
#define LITTLE_ENDIAN 1234
#endif
#ifndef BIG_ENDIAN
#define BIG_ENDIAN 4321
#endif
#ifndef BYTE_ORDER
#define BYTE_ORDER LITTLE_ENDIAN
#endif

/* x is a parenthesized printf argument list: LWIP_PLATFORM_DIAG(("%d\n", n)). */
#define LWIP_PLATFORM_DIAG(x) \
    do {                      \
        skerry_lwip_diag x;   \
    } while (0)
#define LWIP_PLATFORM_ASSERT(x) skerry_lwip_assert((x), __FILE__, __LINE__)

/* Byte order through the compiler's byte swaps: an instruction instead of a call into def.c per header field (the
   kernel is built -ffreestanding; lwIP's def.h takes these macros in place of its functions). */
#define lwip_htons(x) ((u16_t)__builtin_bswap16((u16_t)(x)))
#define lwip_htonl(x) ((u32_t)__builtin_bswap32((u32_t)(x)))

/* newlib's rand() is not used: see LWIP_RAND in lwipopts.h. */

#endif /* SKERRY_LWIP_ARCH_CC_H */
