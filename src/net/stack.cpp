#include "net/stack.hpp"

#include <stdio.h>
#include <string.h>

#include "kernel/cmdline.hpp"
#include "kernel/event_loop.hpp"
#include "kernel/kernel.hpp"
#include "kernel/log.hpp"
#include "kernel/time.hpp"
#include "lwip/dhcp.h"
#include "lwip/dns.h"
#include "lwip/netif.h"
#include "lwip/prot/dhcp.h"
#include "lwip/stats.h"
#include "net/alloc.hpp"
#include "net/log_stream.hpp"
#include "net/lwip_addr.hpp"
#include "net/lwip_port.hpp"
#include "net/netif_glue.hpp"
#include "net/nic.hpp"
#include "net/tcp_guard.hpp"

namespace skerry::net {
namespace {

constexpr uint64_t kDhcpCheckNs = 1000ull * 1000 * 1000;
constexpr unsigned kDropReportSeconds = 10;  // at most one "dropped" line per NIC this often
constexpr uint8_t kDhcpAttemptsLogged = 6;   // lwIP's discover backoff reaches 60 s after six attempts
constexpr const char* kDefaultHostname = "skerry";

// ---- command-line options owned by the network stack
cmdline::Option opt_ip = cmdline::Option::cidr("ip", cmdline::Cidr{},
                                               "static IPv4 address/prefix of the first NIC "
                                               "(default: DHCP)");
cmdline::Option opt_gw = cmdline::Option::ipv4("gw", cmdline::Ipv4{}, "IPv4 default gateway (with ip=)");
cmdline::Option opt_dns = cmdline::Option::ipv4("dns", cmdline::Ipv4{}, "DNS server (default: from DHCP)");
char hostname_store[64];
cmdline::Option opt_hostname = cmdline::Option::string("hostname", kDefaultHostname, hostname_store,
                                                       sizeof hostname_store, "host name, sent with DHCP");
char ip6_store[64];
cmdline::Option opt_ip6 = cmdline::Option::string("ip6", "", ip6_store, sizeof ip6_store,
                                                  "static IPv6 address/prefix of the first NIC (SLAAC runs anyway)");
char log_stream_store[80];
cmdline::Option opt_log_stream =
    cmdline::Option::string("log.stream", "", log_stream_store, sizeof log_stream_store,
                            "stream the console log to a host listener: vsock:<cid>:<port> or <ip>:<port>");
cmdline::Option* const kNetOptions[] = {&opt_ip, &opt_gw, &opt_dns, &opt_hostname, &opt_ip6, &opt_log_stream};

struct Iface {
    NetifGlue glue;
    bool dhcp = false;
    bool v4_announced = false;
    uint32_t v4_announced_addr = 0;
    uint8_t dhcp_tries_logged = 1;
    bool dhcp_quiet = false;  // stopped logging attempts
    bool link_wait_logged = false;
    loop::Timer dhcp_timer;
    uint8_t v6_announced = 0;  // address slots logged as valid
    uint8_t v6_duplicate = 0;  // address slots logged as duplicates
    bool has_static6 = false;
    ip6_addr_t static6{};
    uint64_t drops_reported = 0;  // driver + glue drops in the last report
};

NicDriver* added[kMaxInterfaces];  // add_nic(), for start()
size_t n_added;
Iface* ifaces[kMaxInterfaces];
size_t n_ifaces;
bool started_, start_result, ready_;
const char* hostname = kDefaultHostname;

struct ReadyCallback {
    ReadyFn fn;
    void* ctx;
};
ReadyCallback ready_callbacks[kMaxReadyCallbacks];
size_t n_ready_callbacks;

Iface* find(const netif* n) {
    for (size_t i = 0; i < n_ifaces; ++i)
        if (ifaces[i]->glue.lwip_netif() == n) return ifaces[i];
    return nullptr;
}

size_t format_ip(const ip_addr_t* a, char* buf, size_t size) { return lwip_addr::from_ip(a).format(buf, size, false); }

size_t format_ip4(const ip4_addr_t* a, char* buf, size_t size) {
    return lwip_addr::from_ip4(a).format(buf, size, false);
}

int prefix_length(const ip4_addr_t* mask) {
    uint32_t m = lwip_ntohl(ip4_addr_get_u32(mask));
    int n = 0;
    while (m & 0x80000000u) {
        ++n;
        m <<= 1;
    }
    return n;
}

void set_ready() {
    if (ready_) return;
    ready_ = true;
    for (size_t i = 0; i < n_ready_callbacks; ++i) ready_callbacks[i].fn(ready_callbacks[i].ctx);
}

// "DNS 10.0.2.3" / "DNS 10.0.2.3, 10.0.2.4" / "no DNS"
void format_dns(char* buf, size_t size) {
    size_t len = 0;
    buf[0] = '\0';
    for (u8_t i = 0; i < DNS_MAX_SERVERS; ++i) {
        const ip_addr_t* s = dns_getserver(i);
        if (!s || ip_addr_isany(s)) continue;
        char a[kAddressTextMax];
        format_ip(s, a, sizeof a);
        len += static_cast<size_t>(snprintf(buf + len, len < size ? size - len : 0, "%s%s", len ? ", " : "DNS ", a));
        if (len >= size) break;
    }
    if (!buf[0]) snprintf(buf, size, "no DNS");
}

void apply_static_dns() {
    if (!opt_dns.is_set()) return;
    const cmdline::Ipv4 d = opt_dns.as_ipv4();
    ip_addr_t a;
    IP_ADDR4(&a, d.octets[0], d.octets[1], d.octets[2], d.octets[3]);
    dns_setserver(0, &a);
}

void dhcp_check(void* ctx);

void announce_ipv4(Iface& f) {
    netif* n = f.glue.lwip_netif();
    const ip4_addr_t* addr = netif_ip4_addr(n);
    if (!netif_is_up(n) || ip4_addr_isany_val(*addr)) {
        if (f.v4_announced && f.dhcp) {  // a NAK, an expired lease: lwIP gave the address up and starts over
            char old[kAddressTextMax];
            ip4_addr_t o;
            ip4_addr_set_u32(&o, f.v4_announced_addr);
            format_ip4(&o, old, sizeof old);
            log::warn("net %s: DHCP: address %s given up (the server refused it or the lease ended); asking again",
                      f.glue.name(), old);
            f.dhcp_tries_logged = 1;
            f.dhcp_quiet = false;
            loop::arm_in(f.dhcp_timer, kDhcpCheckNs, dhcp_check, &f);
        }
        f.v4_announced = false;
        return;
    }
    if (f.dhcp && !dhcp_supplied_address(n)) return;
    if (f.v4_announced && ip4_addr_get_u32(addr) == f.v4_announced_addr) return;
    // A new address after the first: the appliances' ready callbacks say again how to reach them.
    const bool changed = ready_ && f.v4_announced_addr != 0 && f.v4_announced_addr != ip4_addr_get_u32(addr);
    f.v4_announced = true;
    f.v4_announced_addr = ip4_addr_get_u32(addr);
    if (f.dhcp) apply_static_dns();  // dns= wins over the server DHCP offered
    char a[kAddressTextMax], gw[kAddressTextMax + 8], dns[2 * kAddressTextMax + 8];
    format_ip4(addr, a, sizeof a);
    if (ip4_addr_isany_val(*netif_ip4_gw(n))) {
        snprintf(gw, sizeof gw, "no gateway");
    } else {
        char g[kAddressTextMax];
        format_ip4(netif_ip4_gw(n), g, sizeof g);
        snprintf(gw, sizeof gw, "via %s", g);
    }
    format_dns(dns, sizeof dns);
    log::info("net %s: %s/%d %s (%s), %s", f.glue.name(), a, prefix_length(netif_ip4_netmask(n)), gw,
              f.dhcp ? "DHCP" : "static", dns);
    loop::cancel(f.dhcp_timer);
    if (changed) {
        for (size_t i = 0; i < n_ready_callbacks; ++i) ready_callbacks[i].fn(ready_callbacks[i].ctx);
    }
    set_ready();
}

void announce_ipv6(Iface& f) {
    netif* n = f.glue.lwip_netif();
    for (int i = 0; i < LWIP_IPV6_NUM_ADDRESSES; ++i) {
        const uint8_t bit = static_cast<uint8_t>(1u << i);
        const u8_t state = netif_ip6_addr_state(n, i);
        const ip6_addr_t* a = netif_ip6_addr(n, i);
        if (ip6_addr_isvalid(state)) {
            if (f.v6_announced & bit) continue;
            f.v6_announced |= bit;
            f.v6_duplicate &= static_cast<uint8_t>(~bit);
            char text[kAddressTextMax];
            lwip_addr::from_ip6(a).format(text, sizeof text, false);
            const char* kind = ip6_addr_islinklocal(a)                                 ? "link-local"
                               : f.has_static6 && ip6_addr_cmp_zoneless(a, &f.static6) ? "static"
                                                                                       : "SLAAC";
            log::info("net %s: IPv6 %s (%s)", f.glue.name(), text, kind);
            continue;
        }
        f.v6_announced &= static_cast<uint8_t>(~bit);
        if (ip6_addr_isduplicated(state) && !(f.v6_duplicate & bit)) {
            f.v6_duplicate |= bit;
            char text[kAddressTextMax];
            lwip_addr::from_ip6(a).format(text, sizeof text, false);
            log::warn("net %s: IPv6 %s is already used by another host (duplicate address detection); not using it",
                      f.glue.name(), text);
        }
    }
}

void status_callback(netif* n) {
    Iface* f = find(n);
    if (!f) return;
    announce_ipv4(*f);
    announce_ipv6(*f);
}

// While DHCP has no answer: one line per new attempt, then quiet (lwIP keeps trying once a minute).
void dhcp_check(void* ctx) {
    Iface& f = *static_cast<Iface*>(ctx);
    netif* n = f.glue.lwip_netif();
    if (f.v4_announced || !f.dhcp) return;
    if (!netif_is_link_up(n)) {
        if (!f.link_wait_logged) log::info("net %s: DHCP: waiting for the link to come up", f.glue.name());
        f.link_wait_logged = true;
    } else if (const dhcp* d = netif_dhcp_data(n); d && !dhcp_supplied_address(n) && !f.dhcp_quiet) {
        if (d->tries > f.dhcp_tries_logged && d->state == DHCP_STATE_SELECTING) {
            f.dhcp_tries_logged = d->tries;
            if (d->tries <= kDhcpAttemptsLogged) {
                log::info("net %s: DHCP: waiting for an answer (attempt %u)...", f.glue.name(),
                          static_cast<unsigned>(d->tries));
            } else {
                log::warn("net %s: DHCP: no answer after %u attempts; retrying once a minute in the background "
                          "(IPv6 works meanwhile; ip=<addr>/<prefix> sets a static address)",
                          f.glue.name(), static_cast<unsigned>(kDhcpAttemptsLogged));
                f.dhcp_quiet = true;
            }
        }
    }
    loop::arm_in(f.dhcp_timer, kDhcpCheckNs, dhcp_check, &f);
}

// ---- drop report: what the driver, the glue and lwIP threw away, at most every kDropReportSeconds

loop::Timer drop_timer;
uint64_t stack_errors_reported;
uint64_t retransmissions_reported;
uint64_t drops_reported_ns;  // when the counters were last looked at

// lwIP's counters of malformed or failed packets (not "not for us" drops, which are normal). Global: lwIP
// counts per protocol, not per interface.
uint64_t stack_errors(char* detail, size_t size) {
    uint64_t total = 0;
    size_t len = 0;
    detail[0] = '\0';
#if LWIP_STATS
    struct Entry {
        const char* name;
        const stats_proto* p;
    };
    const Entry entries[] = {{"link", &lwip_stats.link},         {"arp", &lwip_stats.etharp},  {"ip", &lwip_stats.ip},
                             {"ip-frag", &lwip_stats.ip_frag},   {"icmp", &lwip_stats.icmp},   {"ip6", &lwip_stats.ip6},
                             {"ip6-frag", &lwip_stats.ip6_frag}, {"icmp6", &lwip_stats.icmp6}, {"nd6", &lwip_stats.nd6},
                             {"udp", &lwip_stats.udp},           {"tcp", &lwip_stats.tcp}};
    for (const Entry& e : entries) {
        const uint64_t n = static_cast<uint64_t>(e.p->chkerr) + e.p->lenerr + e.p->memerr + e.p->proterr + e.p->opterr +
                           e.p->err;
        if (!n) continue;
        total += n;
        if (len < size)
            len += static_cast<size_t>(snprintf(detail + len, size - len, "%s%s %llu", len ? ", " : "", e.name,
                                                static_cast<unsigned long long>(n)));
    }
#endif
    return total;
}

uint64_t nic_drops(Iface& f, char* detail, size_t size) {
    const NicCounters d = f.glue.driver().counters();
    const NetifGlue::Counters& g = f.glue.counters();
    struct Entry {
        const char* name;
        uint64_t n;
    };
    // A full transmit ring is back-pressure (TCP sends again), not loss: log_status() shows it. "refused":
    // frames the glue handed back to the driver (runts, bad checksums, no pbuf).
    const Entry entries[] = {{"bad frame", d.rx_dropped_bad_frame},
                             {"no buffer", d.rx_dropped_no_buffer},
                             {"refused", g.rx_refused + g.rx_bad_checksum},
                             {"tx bad frame", d.tx_dropped_bad_frame},
                             {"tx error", d.tx_errors},
                             {"input", g.rx_dropped}};
    uint64_t total = 0;
    size_t len = 0;
    detail[0] = '\0';
    for (const Entry& e : entries) {
        if (!e.n) continue;
        total += e.n;
        if (len < size)
            len += static_cast<size_t>(snprintf(detail + len, size - len, "%s%s %llu", len ? ", " : "", e.name,
                                                static_cast<unsigned long long>(e.n)));
    }
    return total;
}

void drop_report_now() {
    const uint64_t now = time::now_ns();
    const unsigned seconds = static_cast<unsigned>((now - drops_reported_ns + 500000000ull) / 1000000000ull);
    drops_reported_ns = now;
    char nic_detail[200], stack_detail[200];
    const uint64_t stack = stack_errors(stack_detail, sizeof stack_detail);
    const bool stack_new = stack != stack_errors_reported;
    for (size_t i = 0; i < n_ifaces; ++i) {
        Iface& f = *ifaces[i];
        const uint64_t nic = nic_drops(f, nic_detail, sizeof nic_detail);
        // With one NIC, lwIP's global counts are that NIC's.
        const bool with_stack = n_ifaces == 1 && stack_new;
        if (nic == f.drops_reported && !with_stack) continue;
        const uint64_t delta = (nic - f.drops_reported) + (with_stack ? stack - stack_errors_reported : 0);
        f.drops_reported = nic;
        char totals[420];
        snprintf(totals, sizeof totals, "%s%s%s%s%s", nic_detail[0] ? "NIC: " : "", nic_detail,
                 nic_detail[0] && with_stack && stack_detail[0] ? "; " : "",
                 with_stack && stack_detail[0] ? "stack: " : "", with_stack ? stack_detail : "");
        log::info("net %s: dropped %llu frame%s in the last %u s (totals %s)", f.glue.name(),
                  static_cast<unsigned long long>(delta), delta == 1 ? "" : "s", seconds, totals);
    }
    if (stack_new && n_ifaces > 1) {
        log::info("net: the stack dropped %llu malformed or failed packets in the last %u s (totals %s)",
                  static_cast<unsigned long long>(stack - stack_errors_reported), seconds, stack_detail);
    }
    stack_errors_reported = stack;
    // Retransmissions are the sign of loss on the path (frames lost beyond this host, a peer that went away).
    const uint64_t rt = tcp_guard::segments_retransmitted();
    if (rt != retransmissions_reported) {
        log::info("tcp: %llu segment%s retransmitted in the last %u s (total %llu)",
                  static_cast<unsigned long long>(rt - retransmissions_reported),
                  rt - retransmissions_reported == 1 ? "" : "s", seconds, static_cast<unsigned long long>(rt));
        retransmissions_reported = rt;
    }
}

void drop_report(void*) {
    drop_report_now();
    loop::arm_in(drop_timer, kDropReportSeconds * 1000000000ull, drop_report, nullptr);
}

bool token_given(const char* name) {
    cmdline::CommandLine& cl = kernel::command_line();
    for (size_t i = 0; i < cl.token_count(); ++i)
        if (strcmp(cl.key(i), name) == 0) return true;
    return false;
}

bool valid_hostname(const char* s) {
    const size_t len = strlen(s);
    if (len == 0 || len > 63 || s[0] == '-' || s[len - 1] == '-') return false;
    for (size_t i = 0; i < len; ++i) {
        const char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-')) return false;
    }
    return true;
}

void log_nic(Iface& f) {
    NicDriver& d = f.glue.driver();
    const uint8_t* m = d.mac();
    const uint32_t off = d.offloads();
    constexpr uint32_t kTx = kOffloadTxIpv4Checksum | kOffloadTxTcpUdpChecksum | kOffloadTxTcp6UdpChecksum;
    char link[32];
    if (!d.link_up()) {
        snprintf(link, sizeof link, "link down");
    } else if (d.link_speed_mbps()) {
        snprintf(link, sizeof link, "link up %u Mb/s", static_cast<unsigned>(d.link_speed_mbps()));
    } else {
        snprintf(link, sizeof link, "link up");
    }
    log::info("net %s: %s, MAC %02x:%02x:%02x:%02x:%02x:%02x, %s, MTU %u%s%s%s", f.glue.name(), d.name(), m[0], m[1],
              m[2], m[3], m[4], m[5], link, static_cast<unsigned>(f.glue.lwip_netif()->mtu),
              (off & kTx) ? ", TX checksum offload" : "", (off & kOffloadRxChecksum) ? ", RX checksum offload" : "",
              (off & kOffloadTso) ? ", TSO (unused)" : "");
}

}  // namespace

bool start() {
    if (started_) return start_result;
    started_ = true;
    port::init();

    cmdline::CommandLine& cl = kernel::command_line();
    cl.apply(kNetOptions);

    // Static IPv4 for the first NIC, if ip= is usable.
    bool static4 = false;
    if (opt_ip.is_set()) {
        const cmdline::Cidr c = opt_ip.as_cidr();
        if (c.prefix == 0 || c.prefix > 31 || c.addr.to_u32() == 0) {
            char v[32];
            opt_ip.format_value(v, sizeof v);
            log::warn("net: ip=%s is not a usable host address/prefix; using DHCP instead", v);
        } else {
            static4 = true;
        }
    } else if (token_given("ip")) {
        log::warn("net: the ip= option is not usable (see above); using DHCP instead");
    }
    if (opt_gw.is_set() && !static4) log::warn("net: gw= only applies with a static ip=; DHCP supplies the gateway");

    hostname = opt_hostname.as_string();
    if (!valid_hostname(hostname)) {
        log::warn("net: bad hostname '%s' (letters, digits and '-', at most 63); using '%s'", hostname,
                  kDefaultHostname);
        hostname = kDefaultHostname;
    }

    ip6_addr_t static6{};
    bool has_static6 = false;
    if (opt_ip6.as_string()[0]) {
        uint8_t bytes[16], prefix = 0;
        if (!parse_ipv6_prefix(opt_ip6.as_string(), bytes, &prefix) || prefix == 0) {
            log::warn("net: bad value '%s' for 'ip6' (expected an IPv6 address/prefix such as fd00::15/64); "
                      "no static IPv6 address (link-local and SLAAC still run)",
                      opt_ip6.as_string());
        } else {
            memcpy(static6.addr, bytes, 16);
            has_static6 = true;
            if (prefix != 64) {
                log::info("net: ip6=%s: lwIP treats the prefix of a static IPv6 address as /64 (on-link)",
                          opt_ip6.as_string());
            }
        }
    }

    if (n_added == 0) {
        log::warn("net: no network interface found; the network stays down");
        start_result = false;
        log_stream::start_from_option(opt_log_stream.as_string());  // vsock may still carry it
        return false;
    }
    for (size_t i = 0; i < n_added && n_ifaces < kMaxInterfaces; ++i) {
        Iface* f = create<Iface>();
        if (!f) {
            log::error("net: out of memory for interface %zu", i);
            break;
        }
        if (!f->glue.attach(*added[i])) continue;  // logged; the netif stays down
        ifaces[n_ifaces++] = f;
        netif* n = f->glue.lwip_netif();
        netif_set_hostname(n, hostname);
        netif_set_status_callback(n, status_callback);
        log_nic(*f);

        const bool first = n_ifaces == 1;
        if (first) netif_set_default(n);  // the IPv4 default route (DHCP's or gw='s router) is e0's
        if (first && static4) {
            const cmdline::Cidr c = opt_ip.as_cidr();
            const cmdline::Ipv4 mask = c.netmask(), gw = opt_gw.as_ipv4();
            ip4_addr_t a, m, g;
            IP4_ADDR(&a, c.addr.octets[0], c.addr.octets[1], c.addr.octets[2], c.addr.octets[3]);
            IP4_ADDR(&m, mask.octets[0], mask.octets[1], mask.octets[2], mask.octets[3]);
            IP4_ADDR(&g, gw.octets[0], gw.octets[1], gw.octets[2], gw.octets[3]);
            netif_set_addr(n, &a, &m, &g);
        }
        if (first && has_static6) {
            f->has_static6 = true;
            f->static6 = static6;
        }
        if (first) apply_static_dns();
        f->glue.bring_up();
        if (f->has_static6) {
            s8_t idx = -1;
            if (netif_add_ip6_address(n, &f->static6, &idx) != ERR_OK) {
                log::warn("net %s: no free IPv6 address slot for ip6=%s", f->glue.name(), opt_ip6.as_string());
            }
        }
        if (!(first && static4)) {
            f->dhcp = true;
            const err_t e = dhcp_start(n);
            if (e != ERR_OK) log::error("net %s: DHCP did not start (lwIP error %d)", f->glue.name(), e);
            loop::arm_in(f->dhcp_timer, kDhcpCheckNs, dhcp_check, f);
        }
        status_callback(n);  // a static address is ready now
    }
    port::reschedule();
    start_result = n_ifaces > 0;
    drops_reported_ns = time::now_ns();
    if (start_result) loop::arm_in(drop_timer, kDropReportSeconds * 1000000000ull, drop_report, nullptr);
    log_stream::start_from_option(opt_log_stream.as_string());
    return start_result;
}

bool started() { return started_; }

bool add_nic(NicDriver& nic) {
    if (started_) {
        log::warn("net: %s was added after the stack started; not used", nic.name());
        return false;
    }
    for (size_t i = 0; i < n_added; ++i)
        if (added[i] == &nic) return false;
    if (n_added == kMaxInterfaces) {
        log::warn("net: more than %zu NICs; %s not used", kMaxInterfaces, nic.name());
        return false;
    }
    added[n_added++] = &nic;
    return true;
}

size_t nics_added() { return n_added; }

bool on_ready(ReadyFn fn, void* ctx) {
    if (!fn) return false;
    if (ready_) {
        fn(ctx);
        return true;
    }
    if (n_ready_callbacks == kMaxReadyCallbacks) return false;
    ready_callbacks[n_ready_callbacks++] = {fn, ctx};
    return true;
}

bool is_ready() { return ready_; }

bool primary_address(Address* out) {
    for (size_t i = 0; i < n_ifaces; ++i) {
        netif* n = ifaces[i]->glue.lwip_netif();
        if (netif_is_up(n) && !ip4_addr_isany_val(*netif_ip4_addr(n))) {
            *out = lwip_addr::from_ip4(netif_ip4_addr(n));
            return true;
        }
    }
    for (int pass = 0; pass < 2; ++pass) {  // global (and unique local) first, then link-local
        for (size_t i = 0; i < n_ifaces; ++i) {
            netif* n = ifaces[i]->glue.lwip_netif();
            for (int j = 0; j < LWIP_IPV6_NUM_ADDRESSES; ++j) {
                if (!ip6_addr_isvalid(netif_ip6_addr_state(n, j))) continue;
                const bool ll = ip6_addr_islinklocal(netif_ip6_addr(n, j));
                if (ll != (pass == 1)) continue;
                *out = lwip_addr::from_ip6(netif_ip6_addr(n, j));
                return true;
            }
        }
    }
    return false;
}

size_t primary_address(char* buf, size_t size) {
    Address a;
    if (!primary_address(&a)) {
        if (size) buf[0] = '\0';
        return 0;
    }
    return a.format(buf, size, false);
}

size_t interface_count() { return n_ifaces; }
NetifGlue* interface(size_t i) { return i < n_ifaces ? &ifaces[i]->glue : nullptr; }

void report_drops() { drop_report_now(); }

void log_status() {
    for (size_t i = 0; i < n_ifaces; ++i) {
        Iface& f = *ifaces[i];
        log_nic(f);
        netif* n = f.glue.lwip_netif();
        char a[kAddressTextMax];
        format_ip4(netif_ip4_addr(n), a, sizeof a);
        log::info("net %s: IPv4 %s/%d (%s)", f.glue.name(), a, prefix_length(netif_ip4_netmask(n)),
                  f.dhcp ? (dhcp_supplied_address(n) ? "DHCP" : "DHCP, no lease yet") : "static");
        for (int j = 0; j < LWIP_IPV6_NUM_ADDRESSES; ++j) {
            if (!ip6_addr_isvalid(netif_ip6_addr_state(n, j))) continue;
            lwip_addr::from_ip6(netif_ip6_addr(n, j)).format(a, sizeof a, false);
            log::info("net %s: IPv6 %s", f.glue.name(), a);
        }
        using ull = unsigned long long;
        const NetifGlue::Counters& c = f.glue.counters();
        log::info("net %s: glue: tx %llu frames %llu bytes (queued %llu, refused %llu, linearised %llu, offloaded "
                  "%llu, ACKs coalesced %llu); rx %llu frames %llu bytes (copied %llu, refused %llu, dropped %llu, bad "
                  "checksum %llu); "
                  "%zu buffers lent",
                  f.glue.name(), ull(c.tx_frames), ull(c.tx_bytes), ull(c.tx_queued), ull(c.tx_dropped),
                  ull(c.tx_linearised), ull(c.tx_offloaded), ull(c.tx_acks_coalesced), ull(c.rx_frames),
                  ull(c.rx_bytes), ull(c.rx_copied), ull(c.rx_refused), ull(c.rx_dropped), ull(c.rx_bad_checksum),
                  f.glue.rx_lent());
        const NicCounters d = f.glue.driver().counters();
        log::info("net %s: driver: drops: no buffer %llu, bad frame %llu, ring full %llu, tx bad frame %llu; tx "
                  "errors %llu; device errors %llu; interrupts %llu",
                  f.glue.name(), ull(d.rx_dropped_no_buffer), ull(d.rx_dropped_bad_frame), ull(d.tx_dropped_ring_full),
                  ull(d.tx_dropped_bad_frame), ull(d.tx_errors), ull(d.device_errors), ull(d.interrupts));
    }
    port::log_stats();
}

}  // namespace skerry::net
