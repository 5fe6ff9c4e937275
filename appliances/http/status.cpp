// /status. NIC addresses and the TCP/UDP counters come from lwIP's own structures (netif, lwip_stats):
// the socket layer has no status interface for them, so this file (and only this one) reads lwIP headers.
#include "appliances/http/status.hpp"

#include <stdio.h>
#include <string.h>

#include "appliances/http/json.hpp"
#include "appliances/http/server.hpp"
#include "appliances/http/tls.hpp"
#include "kernel/dma.hpp"
#include "kernel/heap.hpp"
#include "kernel/kernel.hpp"
#include "kernel/time.hpp"
#include "lwip/memp.h"
#include "lwip/netif.h"
#include "lwip/priv/tcp_priv.h"  // tcp_active_pcbs, tcp_tw_pcbs
#include "lwip/stats.h"
#include "net/address.hpp"
#include "net/net_memory.hpp"
#include "net/netif_glue.hpp"
#include "net/nic.hpp"
#include "net/socket.hpp"
#include "net/stack.hpp"
#include "net/tcp_guard.hpp"

extern "C" const char skerry_version[];
extern "C" const char skerry_app_name[];

namespace http {
namespace {

using namespace skerry;

void proto_stats(JsonWriter& j, const char* name, const stats_proto& p) {
    j.key(name);
    j.begin_object();
    j.field("xmit", static_cast<uint64_t>(p.xmit));
    j.field("recv", static_cast<uint64_t>(p.recv));
    j.field("drop", static_cast<uint64_t>(p.drop));
    j.field("chkerr", static_cast<uint64_t>(p.chkerr));
    j.field("lenerr", static_cast<uint64_t>(p.lenerr));
    j.field("memerr", static_cast<uint64_t>(p.memerr));
    j.field("rterr", static_cast<uint64_t>(p.rterr));
    j.field("proterr", static_cast<uint64_t>(p.proterr));
    j.field("err", static_cast<uint64_t>(p.err));
    j.end_object();
}

int prefix_length(uint32_t mask_network_order) {
    const uint8_t* b = reinterpret_cast<const uint8_t*>(&mask_network_order);
    int n = 0;
    for (int i = 0; i < 4; ++i) n += __builtin_popcount(b[i]);
    return n;
}

void nic(JsonWriter& j, net::NetifGlue& g) {
    net::NicDriver& d = g.driver();
    netif* n = g.lwip_netif();
    j.begin_object();
    j.field("name", g.name());
    j.field("driver", d.name());
    char mac[24];
    const uint8_t* m = d.mac();
    snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
    j.field("mac", mac);
    j.field_bool("link", d.link_up());
    j.field("speed_mbps", static_cast<uint64_t>(d.link_speed_mbps()));
    j.field("mtu", static_cast<uint64_t>(d.mtu()));
    j.key("addresses");
    j.begin_array();
    char text[net::kAddressTextMax + 8];
    if (n && netif_is_up(n) && !ip4_addr_isany_val(*netif_ip4_addr(n))) {
        const uint32_t a = ip4_addr_get_u32(netif_ip4_addr(n));
        uint8_t b[4];
        memcpy(b, &a, 4);
        const size_t len = net::format_ipv4(b, text, sizeof text);
        snprintf(text + len, sizeof text - len, "/%d", prefix_length(ip4_addr_get_u32(netif_ip4_netmask(n))));
        j.string(text);
    }
    for (int i = 0; n && i < LWIP_IPV6_NUM_ADDRESSES; ++i) {
        if (!ip6_addr_isvalid(netif_ip6_addr_state(n, i))) continue;
        uint8_t b[16];
        memcpy(b, netif_ip6_addr(n, i)->addr, 16);
        net::format_ipv6(b, text, sizeof text);
        j.string(text);
    }
    j.end_array();
    const net::NicCounters c = d.counters();
    const net::NetifGlue::Counters& gc = g.counters();
    j.key("counters");
    j.begin_object();
    j.field("rx_packets", gc.rx_frames);
    j.field("rx_bytes", gc.rx_bytes);
    j.field("tx_packets", gc.tx_frames);
    j.field("tx_bytes", gc.tx_bytes);
    j.field("rx_dropped", c.rx_dropped_no_buffer + c.rx_dropped_bad_frame + gc.rx_refused + gc.rx_dropped);
    j.field("tx_dropped", gc.tx_dropped + c.tx_dropped_bad_frame);
    j.field("tx_errors", c.tx_errors);
    j.field("interrupts", c.interrupts);
    j.end_object();
    j.end_object();
}

}  // namespace

size_t write_status_json(char* buf, size_t cap) {
    JsonWriter j(buf, cap);
    j.begin_object();
    j.field("appliance", skerry_app_name);
    j.field("version", skerry_version);
    j.key("uptime_s");
    j.fixed3(time::now_ns() / 1000000ull);
    const cpu_info::CpuInfo& cpu = kernel::cpu();
    j.field("hypervisor", cpu_info::hypervisor_name(cpu.hypervisor));
    j.field("cpu", cpu.brand);

    j.key("nics");
    j.begin_array();
    for (size_t i = 0; i < net::interface_count(); ++i) {
        net::NetifGlue* g = net::interface(i);
        if (g) nic(j, *g);
    }
    j.end_array();

    proto_stats(j, "tcp", lwip_stats.tcp);
    proto_stats(j, "udp", lwip_stats.udp);
    const net::SocketStats ss = net::socket_stats();
    j.key("sockets");
    j.begin_object();
    j.field("streams_open", ss.streams_open);
    j.field("streams_total", ss.streams_total);
    j.field("tcp_half_open_recycled", net::tcp_guard::half_open_recycled());  // SYN flood defence (tcp_guard.hpp)
    j.field("tcp_segments_retransmitted", net::tcp_guard::segments_retransmitted());
    j.end_object();

    // What is in use now, for leak checks: after a load these return to their idle values (tests/qemu/http_test.py,
    // http-resources-return-to-idle).
    j.key("resources");
    j.begin_object();
    uint64_t active = 0, time_wait = 0, lent = 0;
    for (const tcp_pcb* p = tcp_active_pcbs; p; p = p->next) ++active;
    for (const tcp_pcb* p = tcp_tw_pcbs; p; p = p->next) ++time_wait;
    for (size_t i = 0; i < net::interface_count(); ++i)
        if (const net::NetifGlue* g = net::interface(i)) lent += g->rx_lent();
    j.field("tcp_pcbs_active", active);
    j.field("tcp_pcbs_time_wait", time_wait);
    j.field("tcp_segments", static_cast<uint64_t>(lwip_stats.memp[MEMP_TCP_SEG]->used));
    j.field("pbufs_ref", static_cast<uint64_t>(lwip_stats.memp[MEMP_PBUF]->used));
    j.field("pbufs_pool", static_cast<uint64_t>(lwip_stats.memp[MEMP_PBUF_POOL]->used));
    j.field("nic_rx_buffers_lent", lent);
    const net::memory::Stats nm = net::memory::stats();
    j.field("net_buffer_bytes", nm.in_budget);
    j.field("net_small_bytes", nm.small);
    j.field("streams_open", ss.streams_open);
    j.end_object();

    j.key("memory");
    j.begin_object();
    j.field("heap_used", heap::used());
    j.field("heap_size", heap::size());
    j.field("dma_in_use", static_cast<uint64_t>(dma::in_use()));
    PageAllocator& pa = kernel::pages();
    j.field("pages_used_bytes", static_cast<uint64_t>(pa.used_pages()) * PageAllocator::kPageSize);
    j.field("pages_total_bytes", static_cast<uint64_t>(pa.total_pages()) * PageAllocator::kPageSize);
    j.field("lwip_heap_used", nm.in_budget + nm.small);
    j.field("net_buffers_budget", nm.budget);
    j.field("net_buffers_refused", nm.refused);
    j.end_object();

    const Totals t = totals();
    j.key("http");
    j.begin_object();
    j.field("connections", t.connections);
    j.field("open", t.open);
    j.field("requests", t.requests);
    j.field("status_2xx", t.status[2]);
    j.field("status_3xx", t.status[3]);
    j.field("status_4xx", t.status[4]);
    j.field("status_5xx", t.status[5]);
    j.field("bytes_sent", t.bytes_sent);
    j.field("rejected_503", t.rejected);
    j.field("timeouts_408", t.timeouts);
    j.field("log_suppressed", t.not_logged);
    j.end_object();
    j.key("https");
    j.begin_object();
    j.field_bool("on", tls::ready());
    j.field("port", static_cast<uint64_t>(tls::ready() ? options().https_port : 0));
    j.field("certificate_sha256", tls::fingerprint());
    j.end_object();
    j.end_object();
    return j.ok() ? j.length() : 0;
}

}  // namespace http
