// The Internet checksum (RFC 1071) over a byte string, for lwIP (LWIP_CHKSUM in lwipopts.h) and our own code.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry::net {

// The one's-complement sum of the bytes taken as 16-bit words in memory order, folded to 16 bits and not
// complemented: on a little-endian machine the value whose bytes, stored, are the network-order sum. Any
// alignment and length (an odd last byte counts as the high-order byte of a word padded with zero).
uint16_t ones_sum(const void* data, size_t len);

// The sum TCP and UDP checksums start from: the pseudo-header (RFC 793 for IPv4, RFC 8200 section 8.1 for
// IPv6) of the source and destination addresses as they stand in the IP header (8 or 32 bytes, even), the
// protocol number and the transport length. Folded, not complemented, same convention as ones_sum: stored
// as it is, it is what a device that completes the checksum expects in the checksum field.
uint16_t pseudo_header_sum(const void* addresses, size_t len, uint8_t protocol, uint32_t transport_len);

}  // namespace skerry::net
