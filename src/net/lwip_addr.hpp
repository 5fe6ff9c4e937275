// Conversions between net::Address and lwIP's ip_addr_t (internal to src/net).
#pragma once

#include <string.h>

#include "lwip/ip_addr.h"
#include "net/address.hpp"

namespace skerry::net::lwip_addr {

inline Address from_ip4(const ip4_addr_t* a, uint32_t port = 0) {
    Address r;
    r.family = Family::Ipv4;
    memcpy(r.ip, &a->addr, 4);  // network order
    r.port = port;
    return r;
}

inline Address from_ip6(const ip6_addr_t* a, uint32_t port = 0) {
    Address r;
    r.family = Family::Ipv6;
    memcpy(r.ip, a->addr, 16);  // network order
    r.zone = static_cast<uint8_t>(ip6_addr_zone(a));
    r.port = port;
    return r;
}

inline Address from_ip(const ip_addr_t* a, uint32_t port = 0) {
    if (!a) return Address::any(port);
    if (IP_IS_V6(a)) return from_ip6(ip_2_ip6(a), port);
    if (IP_IS_ANY_TYPE_VAL(*a)) return Address::any(port);
    return from_ip4(ip_2_ip4(a), port);
}

// Any becomes lwIP's "any type" (dual stack); vsock has no lwIP form.
inline bool to_ip(const Address& a, ip_addr_t* out) {
    switch (a.family) {
    case Family::Any: ip_addr_copy(*out, ip_addr_any_type); return true;
    case Family::Ipv4:
        ip_addr_set_zero_ip4(out);
        memcpy(&ip_2_ip4(out)->addr, a.ip, 4);
        return true;
    case Family::Ipv6:
        ip_addr_set_zero_ip6(out);
        memcpy(ip_2_ip6(out)->addr, a.ip, 16);
        ip6_addr_set_zone(ip_2_ip6(out), a.zone);
        return true;
    case Family::Vsock: return false;
    }
    return false;
}

}  // namespace skerry::net::lwip_addr
