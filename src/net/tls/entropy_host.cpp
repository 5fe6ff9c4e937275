// mbedTLS's entropy hook (MBEDTLS_ENTROPY_HARDWARE_ALT in mbedtls_config.h) for host unit tests: the kernel's
// src/net/tls/entropy.cpp reads RDRAND; on the host the source is the operating system's, getrandom(2).
// A failure is reported to mbedTLS as an entropy source failure, never papered over.
#if defined(SKERRY_HOST_TEST)
#include <errno.h>
#include <stddef.h>
#include <sys/random.h>

#include "mbedtls/entropy.h"

extern "C" int mbedtls_hardware_poll(void*, unsigned char* out, size_t len, size_t* olen) {
    size_t got = 0;
    while (got < len) {
        const ssize_t r = getrandom(out + got, len - got, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += static_cast<size_t>(r);
    }
    *olen = got;
    return got == len ? 0 : MBEDTLS_ERR_ENTROPY_SOURCE_FAILED;
}
#endif
