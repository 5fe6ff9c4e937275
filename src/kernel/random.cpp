#include "kernel/random.hpp"

#include <string.h>

#include "hw/hw.hpp"

namespace skerry::random {
namespace {
uint64_t state[4];
bool seeded;
int rdrand_state = -1;  // -1 unknown, 0 absent, 1 present

bool rdrand64(uint64_t* out) {
    for (int i = 0; i < 10; ++i) {
        unsigned char ok;
        uint64_t v;
        __asm__ __volatile__("rdrand %0; setc %1" : "=r"(v), "=qm"(ok));
        if (ok) {
            *out = v;
            return true;
        }
    }
    return false;
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t splitmix(uint64_t& x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
}  // namespace

bool has_rdrand() {
    if (rdrand_state < 0) rdrand_state = (hw::cpuid(1).ecx & (1u << 30)) ? 1 : 0;
    return rdrand_state == 1;
}

bool hardware_fill(void* buf, size_t len) {
    if (!has_rdrand()) return false;
    auto* p = static_cast<uint8_t*>(buf);
    while (len) {
        uint64_t v;
        if (!rdrand64(&v)) return false;
        size_t n = len < 8 ? len : 8;
        memcpy(p, &v, n);
        p += n;
        len -= n;
    }
    return true;
}

void seed() {
    uint64_t s = 0;
    if (!hardware_fill(&s, sizeof s)) s = hw::rdtsc() ^ 0x5DEECE66Dull;
    for (auto& w : state) w = splitmix(s);
    seeded = true;
}

uint64_t next_u64() {
    if (!seeded) seed();
    uint64_t result = rotl(state[1] * 5, 7) * 9;
    uint64_t t = state[1] << 17;
    state[2] ^= state[0];
    state[3] ^= state[1];
    state[1] ^= state[2];
    state[0] ^= state[3];
    state[2] ^= t;
    state[3] = rotl(state[3], 45);
    return result;
}

uint32_t next_u32() { return static_cast<uint32_t>(next_u64() >> 32); }

}  // namespace skerry::random
