#include "net/address.hpp"

#include <string.h>

#include "kernel/text_out.hpp"

namespace skerry::net {
namespace {

using Out = TextBuf;  // kernel/text_out.hpp

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool parse_decimal(const char* s, size_t len, uint64_t max, uint64_t* out) {
    if (len == 0 || len > 10) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; ++i) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + static_cast<uint64_t>(s[i] - '0');
    }
    if (v > max) return false;
    *out = v;
    return true;
}

void format_ipv4_into(Out& o, const uint8_t ip[4]) {
    for (int i = 0; i < 4; ++i) {
        if (i) o.chr('.');
        o.u64(ip[i]);
    }
}

void format_ipv6_into(Out& o, const uint8_t ip[16]) {
    uint16_t w[8];
    for (int i = 0; i < 8; ++i) w[i] = static_cast<uint16_t>((ip[2 * i] << 8) | ip[2 * i + 1]);
    // IPv4-mapped (::ffff:a.b.c.d) keeps the dotted quad (RFC 5952 section 5).
    bool mapped = w[0] == 0 && w[1] == 0 && w[2] == 0 && w[3] == 0 && w[4] == 0 && w[5] == 0xffff;
    if (mapped) {
        o.str("::ffff:");
        format_ipv4_into(o, ip + 12);
        return;
    }
    // The longest run of two or more zero words becomes "::" (the first one on a tie).
    int best = -1, best_len = 0;
    for (int i = 0; i < 8;) {
        if (w[i] != 0) {
            ++i;
            continue;
        }
        int j = i;
        while (j < 8 && w[j] == 0) ++j;
        if (j - i > best_len && j - i >= 2) {
            best = i;
            best_len = j - i;
        }
        i = j;
    }
    for (int i = 0; i < 8; ++i) {
        if (i == best) {
            o.str("::");
            i += best_len - 1;
            continue;
        }
        if (i && !(best >= 0 && i == best + best_len)) o.chr(':');
        o.hex(w[i]);
    }
}

}  // namespace

const char* family_name(Family f) {
    switch (f) {
    case Family::Any: return "any";
    case Family::Ipv4: return "IPv4";
    case Family::Ipv6: return "IPv6";
    case Family::Vsock: return "vsock";
    }
    return "?";
}

Address Address::ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint32_t port) {
    Address r;
    r.family = Family::Ipv4;
    r.ip[0] = a;
    r.ip[1] = b;
    r.ip[2] = c;
    r.ip[3] = d;
    r.port = port;
    return r;
}

Address Address::ipv4_u32(uint32_t v, uint32_t port) {
    return ipv4(static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8),
                static_cast<uint8_t>(v), port);
}

Address Address::ipv6(const uint8_t bytes[16], uint32_t port, uint8_t zone) {
    Address r;
    r.family = Family::Ipv6;
    memcpy(r.ip, bytes, 16);
    r.port = port;
    r.zone = zone;
    return r;
}

Address Address::any_ipv6(uint32_t port) {
    const uint8_t zero[16] = {};
    return ipv6(zero, port);
}

Address Address::vsock(uint32_t cid, uint32_t port) {
    Address r;
    r.family = Family::Vsock;
    r.cid = cid;
    r.port = port;
    return r;
}

bool Address::is_unspecified() const {
    if (family == Family::Any) return true;
    size_t n = family == Family::Ipv4 ? 4 : family == Family::Ipv6 ? 16 : 0;
    if (n == 0) return false;
    for (size_t i = 0; i < n; ++i)
        if (ip[i]) return false;
    return true;
}

bool Address::is_ipv6_link_local() const { return family == Family::Ipv6 && ip[0] == 0xfe && (ip[1] & 0xc0) == 0x80; }

uint32_t Address::ipv4_u32() const {
    if (family != Family::Ipv4) return 0;
    return (static_cast<uint32_t>(ip[0]) << 24) | (static_cast<uint32_t>(ip[1]) << 16) |
           (static_cast<uint32_t>(ip[2]) << 8) | ip[3];
}

bool Address::same_host(const Address& o) const {
    if (family != o.family) return false;
    switch (family) {
    case Family::Any: return true;
    case Family::Ipv4: return memcmp(ip, o.ip, 4) == 0;
    case Family::Ipv6: return memcmp(ip, o.ip, 16) == 0 && zone == o.zone;
    case Family::Vsock: return cid == o.cid;
    }
    return false;
}

bool Address::operator==(const Address& o) const { return same_host(o) && port == o.port; }

size_t Address::format(char* buf, size_t size, bool with_port) const {
    Out o(buf, size);
    switch (family) {
    case Family::Any:
        o.chr('*');
        if (with_port) {
            o.chr(':');
            o.u64(port);
        }
        break;
    case Family::Ipv4:
        format_ipv4_into(o, ip);
        if (with_port) {
            o.chr(':');
            o.u64(port);
        }
        break;
    case Family::Ipv6:
        if (with_port) o.chr('[');
        format_ipv6_into(o, ip);
        if (zone) {
            o.chr('%');
            o.u64(zone);
        }
        if (with_port) {
            o.str("]:");
            o.u64(port);
        }
        break;
    case Family::Vsock:
        o.str("vsock:");
        o.u64(cid);
        if (with_port) {
            o.chr(':');
            o.u64(port);
        }
        break;
    }
    return o.len();
}

size_t format_ipv6(const uint8_t ip[16], char* buf, size_t size) {
    Out o(buf, size);
    format_ipv6_into(o, ip);
    return o.len();
}

size_t format_ipv4(const uint8_t ip[4], char* buf, size_t size) {
    Out o(buf, size);
    format_ipv4_into(o, ip);
    return o.len();
}

bool parse_ipv4(const char* s, size_t len, uint8_t out[4]) {
    uint8_t r[4];
    size_t pos = 0;
    for (int part = 0; part < 4; ++part) {
        size_t start = pos;
        while (pos < len && s[pos] >= '0' && s[pos] <= '9') ++pos;
        size_t n = pos - start;
        if (n == 0 || n > 3 || (n > 1 && s[start] == '0')) return false;
        uint64_t v;
        if (!parse_decimal(s + start, n, 255, &v)) return false;
        r[part] = static_cast<uint8_t>(v);
        if (part < 3) {
            if (pos >= len || s[pos] != '.') return false;
            ++pos;
        }
    }
    if (pos != len) return false;
    memcpy(out, r, 4);
    return true;
}

bool parse_ipv6(const char* s, size_t len, uint8_t out[16]) {
    uint16_t words[8] = {};
    int n = 0;     // words parsed
    int gap = -1;  // index in words where "::" was seen
    size_t pos = 0;
    if (len < 2) return false;
    if (s[0] == ':') {
        if (s[1] != ':') return false;
        gap = 0;
        pos = 2;
        if (pos == len) {  // "::"
            memset(out, 0, 16);
            return true;
        }
    }
    bool ipv4_tail = false;
    while (pos < len) {
        // One group: up to 4 hex digits, or a dotted IPv4 address as the last 32 bits.
        size_t start = pos;
        while (pos < len && hex_value(s[pos]) >= 0) ++pos;
        if (pos < len && s[pos] == '.') {
            size_t end = start;
            while (end < len && s[end] != ':') ++end;
            if (end != len || n > 6) return false;
            uint8_t v4[4];
            if (!parse_ipv4(s + start, len - start, v4)) return false;
            words[n++] = static_cast<uint16_t>((v4[0] << 8) | v4[1]);
            words[n++] = static_cast<uint16_t>((v4[2] << 8) | v4[3]);
            pos = len;
            ipv4_tail = true;
            break;
        }
        size_t digits = pos - start;
        if (digits == 0 || digits > 4 || n >= 8) return false;
        unsigned v = 0;
        for (size_t i = start; i < pos; ++i) v = (v << 4) | static_cast<unsigned>(hex_value(s[i]));
        words[n++] = static_cast<uint16_t>(v);
        if (pos == len) break;
        if (s[pos] != ':') return false;
        ++pos;
        if (pos < len && s[pos] == ':') {
            if (gap >= 0) return false;  // a second "::"
            gap = n;
            ++pos;
            if (pos == len) break;
        } else if (pos == len) {
            return false;  // trailing single ':'
        }
    }
    (void)ipv4_tail;
    uint16_t full[8] = {};
    if (gap >= 0) {
        if (n > 7) return false;  // "::" must stand for at least one zero word
        for (int i = 0; i < gap; ++i) full[i] = words[i];
        int tail = n - gap;
        for (int i = 0; i < tail; ++i) full[8 - tail + i] = words[gap + i];
    } else {
        if (n != 8) return false;
        for (int i = 0; i < 8; ++i) full[i] = words[i];
    }
    for (int i = 0; i < 8; ++i) {
        out[2 * i] = static_cast<uint8_t>(full[i] >> 8);
        out[2 * i + 1] = static_cast<uint8_t>(full[i]);
    }
    return true;
}

bool parse_ipv6_prefix(const char* text, uint8_t out[16], uint8_t* prefix) {
    if (!text) return false;
    const char* slash = strchr(text, '/');
    if (!slash) return false;
    uint64_t p;
    if (!parse_decimal(slash + 1, strlen(slash + 1), 128, &p)) return false;
    if (strlen(slash + 1) > 1 && slash[1] == '0') return false;
    if (!parse_ipv6(text, static_cast<size_t>(slash - text), out)) return false;
    *prefix = static_cast<uint8_t>(p);
    return true;
}

bool parse_address(const char* text, Address* out) {
    if (!text || !*text) return false;
    const size_t len = strlen(text);
    if (strncmp(text, "vsock:", 6) == 0) {  // "vsock:<cid>:<port>", as format() writes it
        const char* cid_text = text + 6;
        const char* colon = strchr(cid_text, ':');
        uint64_t cid, port;
        if (!colon || !parse_decimal(cid_text, static_cast<size_t>(colon - cid_text), 0xFFFFFFFFu, &cid) ||
            !parse_decimal(colon + 1, strlen(colon + 1), 0xFFFFFFFFu, &port))
            return false;
        *out = Address::vsock(static_cast<uint32_t>(cid), static_cast<uint32_t>(port));
        return true;
    }
    Address a;
    const char* host = text;
    size_t host_len = len;
    const char* port_text = nullptr;
    size_t port_len = 0;
    bool bracketed = false;
    if (text[0] == '[') {
        const char* close = strchr(text, ']');
        if (!close) return false;
        host = text + 1;
        host_len = static_cast<size_t>(close - host);
        bracketed = true;
        if (close[1] == ':') {
            port_text = close + 2;
            port_len = strlen(port_text);
        } else if (close[1] != '\0') {
            return false;
        }
    } else {
        const char* colon = strchr(text, ':');
        if (colon && !strchr(colon + 1, ':')) {  // exactly one ':': IPv4 with a port
            host_len = static_cast<size_t>(colon - text);
            port_text = colon + 1;
            port_len = strlen(port_text);
        }
    }
    if (port_text) {
        uint64_t p;
        if (!parse_decimal(port_text, port_len, 65535, &p)) return false;
        a.port = static_cast<uint32_t>(p);
    }
    // An IPv6 zone: "%<index>".
    const char* pct = static_cast<const char*>(memchr(host, '%', host_len));
    size_t addr_len = pct ? static_cast<size_t>(pct - host) : host_len;
    if (parse_ipv4(host, addr_len, a.ip)) {
        if (pct || bracketed) return false;
        a.family = Family::Ipv4;
    } else if (parse_ipv6(host, addr_len, a.ip)) {
        a.family = Family::Ipv6;
        if (pct) {
            uint64_t z;
            if (!parse_decimal(pct + 1, host_len - addr_len - 1, 255, &z) || z == 0) return false;
            a.zone = static_cast<uint8_t>(z);
        }
    } else {
        return false;
    }
    *out = a;
    return true;
}

}  // namespace skerry::net
