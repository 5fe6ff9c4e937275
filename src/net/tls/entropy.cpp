// mbedTLS's entropy source for every appliance (MBEDTLS_ENTROPY_HARDWARE_ALT in mbedtls_config.h): RDRAND.
// Without RDRAND (QEMU's default TCG CPU model) it falls back to the kernel generator seeded from the TSC and
// says once, loudly, that keys made from it are not secret enough for real use.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kernel/log.hpp"
#include "kernel/random.hpp"
#include "kernel/time.hpp"

extern "C" int mbedtls_hardware_poll(void*, unsigned char* out, size_t len, size_t* olen) {
    if (!skerry::random::hardware_fill(out, len)) {
        static bool warned;
        if (!warned) {
            skerry::log::warn("tls: no RDRAND on this CPU; TLS entropy comes from the TSC-seeded generator, which is "
                              "weak (give the VM a CPU model with RDRAND)");
            warned = true;
        }
        for (size_t i = 0; i < len; i += 8) {
            const uint64_t v = skerry::random::next_u64() ^ (skerry::time::now_ns() * 0x9e3779b97f4a7c15ull);
            memcpy(out + i, &v, len - i < 8 ? len - i : 8);
        }
    }
    *olen = len;
    return 0;
}
