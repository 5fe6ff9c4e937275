#include "net/checksum.hpp"

#include <string.h>

namespace skerry::net {

// Eight bytes at a time with an end-around carry (x86 loads need no alignment). The sum of 64-bit words
// folds to the same 16-bit one's-complement sum as the sum of their 16-bit words, so byte order and word
// position take care of themselves: word k of the data is always at the same place within its 64-bit word.
// The kernel is built -ffreestanding, where memcpy is an ordinary call: fixed-size loads go through
// __builtin_memcpy, which the compiler turns into plain (unaligned) moves. A call per 32 bytes made the checksum and
// newlib's memcpy a fifth of the guest's time under bulk TCP (tests/bench/profile.py).
uint16_t ones_sum(const void* data, size_t len) {
    const uint8_t* p = static_cast<const uint8_t*>(data);
    uint64_t sum = 0;
    auto add = [&sum](uint64_t w) {
        sum += w;
        sum += sum < w;  // the carry out of bit 63 goes back in at bit 0
    };
    while (len >= 32) {
        uint64_t w[4];
        __builtin_memcpy(w, p, sizeof w);
        add(w[0]);
        add(w[1]);
        add(w[2]);
        add(w[3]);
        p += 32;
        len -= 32;
    }
    while (len >= 8) {
        uint64_t w;
        __builtin_memcpy(&w, p, 8);
        add(w);
        p += 8;
        len -= 8;
    }
    if (len) {
        uint64_t w = 0;
        for (size_t i = 0; i < len; ++i) w |= static_cast<uint64_t>(p[i]) << (8 * i);  // little endian; the missing
        add(w);                                                                        // bytes are zero, in place
    }
    sum = (sum & 0xFFFFFFFFu) + (sum >> 32);
    sum = (sum & 0xFFFFFFFFu) + (sum >> 32);
    sum = (sum & 0xFFFFu) + (sum >> 16);
    sum = (sum & 0xFFFFu) + (sum >> 16);
    return static_cast<uint16_t>(sum);
}

uint16_t pseudo_header_sum(const void* addresses, size_t len, uint8_t protocol, uint32_t transport_len) {
    // Zero and the protocol, then the length as one 32-bit big-endian word (IPv6; for IPv4 its high half is
    // zero and the low half is the 16-bit length field). Both parts start at an even offset, so their sums add.
    const uint8_t rest[6] = {0,
                             protocol,
                             static_cast<uint8_t>(transport_len >> 24),
                             static_cast<uint8_t>(transport_len >> 16),
                             static_cast<uint8_t>(transport_len >> 8),
                             static_cast<uint8_t>(transport_len)};
    uint32_t sum = static_cast<uint32_t>(ones_sum(addresses, len)) + ones_sum(rest, sizeof rest);
    sum = (sum & 0xFFFFu) + (sum >> 16);
    return static_cast<uint16_t>(sum);
}

}  // namespace skerry::net

extern "C" uint16_t skerry_lwip_chksum(const void* data, int len) {
    return len > 0 ? skerry::net::ones_sum(data, static_cast<size_t>(len)) : 0;
}
