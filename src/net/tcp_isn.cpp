#include "net/tcp_isn.hpp"

#include <string.h>

#include "kernel/time.hpp"
#include "lwip/ip_addr.h"

namespace skerry::net::isn {
namespace {

uint64_t key0, key1;

inline uint64_t rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

inline void round(uint64_t& v0, uint64_t& v1, uint64_t& v2, uint64_t& v3) {
    v0 += v1;
    v1 = rotl(v1, 13);
    v1 ^= v0;
    v0 = rotl(v0, 32);
    v2 += v3;
    v3 = rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = rotl(v1, 17);
    v1 ^= v2;
    v2 = rotl(v2, 32);
}

inline uint64_t load_le64(const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

}  // namespace

uint64_t siphash24(uint64_t k0, uint64_t k1, const void* data, size_t len) {
    const uint8_t* in = static_cast<const uint8_t*>(data);
    uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
    const size_t whole = len & ~size_t{7};
    for (size_t i = 0; i < whole; i += 8) {
        const uint64_t m = load_le64(in + i);
        v3 ^= m;
        round(v0, v1, v2, v3);
        round(v0, v1, v2, v3);
        v0 ^= m;
    }
    // The last word: the remaining bytes, and the message length's low byte in the top byte.
    uint64_t last = static_cast<uint64_t>(len & 0xff) << 56;
    for (size_t i = 0; i < (len & 7); ++i) last |= static_cast<uint64_t>(in[whole + i]) << (8 * i);
    v3 ^= last;
    round(v0, v1, v2, v3);
    round(v0, v1, v2, v3);
    v0 ^= last;
    v2 ^= 0xff;
    for (int i = 0; i < 4; ++i) round(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

void set_key(uint64_t k0, uint64_t k1) {
    key0 = k0;
    key1 = k1;
}

uint32_t compute(const uint8_t* local, size_t local_len, uint16_t local_port, const uint8_t* remote, size_t remote_len,
                 uint16_t remote_port, uint64_t now_ns) {
    uint8_t buf[2 * 16 + 4 + 2];
    size_t n = 0;
    if (local_len > 16) local_len = 16;
    if (remote_len > 16) remote_len = 16;
    memcpy(buf + n, local, local_len);
    n += local_len;
    memcpy(buf + n, remote, remote_len);
    n += remote_len;
    buf[n++] = static_cast<uint8_t>(local_port >> 8);
    buf[n++] = static_cast<uint8_t>(local_port);
    buf[n++] = static_cast<uint8_t>(remote_port >> 8);
    buf[n++] = static_cast<uint8_t>(remote_port);
    buf[n++] = static_cast<uint8_t>(local_len);  // an IPv4 and an IPv6 tuple never hash the same bytes
    buf[n++] = static_cast<uint8_t>(remote_len);
    const uint32_t f = static_cast<uint32_t>(siphash24(key0, key1, buf, n));
    const uint32_t m = static_cast<uint32_t>(now_ns / 4000);  // RFC 6528's 4-microsecond timer
    return m + f;
}

}  // namespace skerry::net::isn

namespace {
size_t address_bytes(const ip_addr_t* a, const uint8_t** out) {
#if LWIP_IPV6
    if (IP_IS_V6(a)) {
        *out = reinterpret_cast<const uint8_t*>(ip_2_ip6(a)->addr);
        return 16;
    }
#endif
    *out = reinterpret_cast<const uint8_t*>(&ip_2_ip4(a)->addr);
    return 4;
}
}  // namespace

extern "C" u32_t skerry_lwip_tcp_isn(const ip_addr_t* local_ip, u16_t local_port, const ip_addr_t* remote_ip,
                                     u16_t remote_port) {
    const uint8_t *l, *r;
    const size_t ll = address_bytes(local_ip, &l), rl = address_bytes(remote_ip, &r);
    return skerry::net::isn::compute(l, ll, local_port, r, rl, remote_port, skerry::time::now_ns());
}
