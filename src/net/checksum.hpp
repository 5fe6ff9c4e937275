// The Internet checksum (RFC 1071) over a byte string, for lwIP (LWIP_CHKSUM in lwipopts.h) and our own code.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry::net {

// The one's-complement sum of the bytes taken as 16-bit words in memory order, folded to 16 bits and not
// complemented: on a little-endian machine the value whose bytes, stored, are the network-order sum. Any
// alignment and length (an odd last byte counts as the high-order byte of a word padded with zero).
uint16_t ones_sum(const void* data, size_t len);

}  // namespace skerry::net
