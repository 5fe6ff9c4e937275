// Socket addresses for the socket layer (src/net/socket.hpp): IPv4, IPv6 and, reserved for later, vsock.
// Pure value type: no lwIP here, so appliances and tests use it without the stack's headers.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry::net {

enum class Family : uint8_t {
    Any,  // no particular address: bind/listen on every IPv4 and IPv6 address (dual stack)
    Ipv4,
    Ipv6,
    Vsock,  // reserved: virtio-vsock / Hyper-V sockets join later behind the same Stream/Listener API
};

const char* family_name(Family f);  // "any", "IPv4", "IPv6", "vsock"

struct Address {
    Family family = Family::Any;
    uint8_t zone = 0;     // IPv6 scope of a link-local address: interface index (netif number + 1), 0 = none
    uint32_t port = 0;    // TCP/UDP port (0..65535), or the vsock port
    uint8_t ip[16] = {};  // IPv4: ip[0..3]; IPv6: all 16 bytes; network order
    uint32_t cid = 0;     // vsock context id

    static Address any(uint32_t port = 0) {
        Address a;
        a.port = port;
        return a;
    }
    static Address ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint32_t port = 0);
    static Address ipv4_u32(uint32_t host_order, uint32_t port = 0);  // 0x0a00020f = 10.0.2.15
    static Address ipv6(const uint8_t bytes[16], uint32_t port = 0, uint8_t zone = 0);
    static Address any_ipv4(uint32_t port = 0) { return ipv4(0, 0, 0, 0, port); }
    static Address any_ipv6(uint32_t port = 0);
    static Address vsock(uint32_t cid, uint32_t port);

    bool is_inet() const { return family == Family::Ipv4 || family == Family::Ipv6; }
    bool is_unspecified() const;  // Any, 0.0.0.0 or ::
    bool is_ipv6_link_local() const;
    uint32_t ipv4_u32() const;  // host order (0 unless IPv4)

    // Same family, address, zone and port.
    bool operator==(const Address& o) const;
    bool same_host(const Address& o) const;  // same family, address and zone; any port

    // Text forms. With the port: "10.0.2.2:51234", "[fe80::1%2]:7", "vsock:3:1024", "*:7".
    // Without: "10.0.2.2", "fe80::1%2", "vsock:3", "*". Always NUL-terminated; returns the length written.
    size_t format(char* buf, size_t size, bool with_port = true) const;
};

// Parsers. All are strict (no trailing garbage, no leading zeros in IPv4 octets) and reject empty input.
//   "10.0.2.15", "10.0.2.15:7", "fe80::1", "fe80::1%2", "[fd00::1]:7", "[fe80::1%2]:7", "vsock:2:5140"
bool parse_address(const char* text, Address* out);
bool parse_ipv4(const char* text, size_t len, uint8_t out[4]);
bool parse_ipv6(const char* text, size_t len, uint8_t out[16]);  // RFC 4291 text, incl. "::ffff:1.2.3.4"
// "fd00::15/64": the address and its prefix length (0..128).
bool parse_ipv6_prefix(const char* text, uint8_t out[16], uint8_t* prefix);

// RFC 5952 form ("2001:db8::1", "::ffff:10.0.2.15"). Always NUL-terminated; returns the length written.
size_t format_ipv6(const uint8_t ip[16], char* buf, size_t size);
size_t format_ipv4(const uint8_t ip[4], char* buf, size_t size);

inline constexpr size_t kAddressTextMax = 64;  // enough for any Address::format result

}  // namespace skerry::net
