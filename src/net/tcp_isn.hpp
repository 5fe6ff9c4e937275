// TCP initial sequence numbers as RFC 6528 (section 3) asks: ISN = M + F(local address, local port, remote
// address, remote port, secret key), with M a clock ticking every 4 microseconds and F a keyed hash, here
// SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012) under a 128-bit key drawn at boot.
// A peer cannot predict the ISN of another connection (lwIP's own ISNs were 6510, 6511, ...), while one
// 4-tuple's ISNs still advance with the clock, as RFC 793's quiet-time rules expect. lwIP calls it through
// LWIP_HOOK_TCP_ISN (lwipopts.h, arch/lwip_hooks.h). Details and sources: docs/architecture.md, "TCP initial
// sequence numbers".
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry::net::isn {

uint64_t siphash24(uint64_t k0, uint64_t k1, const void* data, size_t len);

void set_key(uint64_t k0, uint64_t k1);

// `local`/`remote`: the addresses' bytes (4 for IPv4, 16 for IPv6, in network order).
uint32_t compute(const uint8_t* local, size_t local_len, uint16_t local_port, const uint8_t* remote, size_t remote_len,
                 uint16_t remote_port, uint64_t now_ns);

}  // namespace skerry::net::isn
