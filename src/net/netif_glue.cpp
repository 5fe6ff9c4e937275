#include "net/netif_glue.hpp"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/event_loop.hpp"
#include "kernel/log.hpp"
#include "kernel/mem_plan.hpp"
#include "lwip/etharp.h"
#include "lwip/ethip6.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"  // tcp_txnow, tcp_rexmit_rto: resending what TCP kept (ERR_MEM, link down)
#include "net/alloc.hpp"
#include "net/checksum.hpp"
#include "net/ethernet.hpp"
#include "netif/ethernet.h"

namespace skerry::net {

// A receive buffer lent to the stack: the custom pbuf lwIP frees through custom_free, and the driver's
// handle. pbuf_custom comes first, so the pbuf pointer lwIP hands back is the slot's address.
struct NetifGlue::RxSlot {
    pbuf_custom pc;
    NetifGlue* glue;
    void* buffer;
    RxSlot* next;
};

namespace {

void custom_free(pbuf* p) {
    auto* slot = reinterpret_cast<NetifGlue::RxSlot*>(p);
    slot->glue->free_rx(slot);
}

err_t linkoutput_cb(netif* n, pbuf* p) { return static_cast<NetifGlue*>(n->state)->output(p); }

err_t igmp_filter_cb(netif* n, const ip4_addr_t* group, enum netif_mac_filter_action action) {
    uint8_t g[4];
    memcpy(g, &group->addr, 4);  // network order
    const uint8_t mac[6] = {0x01, 0x00, 0x5e, static_cast<uint8_t>(g[1] & 0x7f), g[2], g[3]};
    return static_cast<NetifGlue*>(n->state)->multicast_filter(mac, action == NETIF_ADD_MAC_FILTER);
}

err_t mld_filter_cb(netif* n, const ip6_addr_t* group, enum netif_mac_filter_action action) {
    uint8_t g[16];
    memcpy(g, group->addr, 16);  // network order
    const uint8_t mac[6] = {0x33, 0x33, g[12], g[13], g[14], g[15]};
    return static_cast<NetifGlue*>(n->state)->multicast_filter(mac, action == NETIF_ADD_MAC_FILTER);
}

err_t netif_init_cb(netif* n);

}  // namespace

NetifGlue* NetifGlue::from(netif* n) {
    if (!n || n->linkoutput != linkoutput_cb) return nullptr;
    return static_cast<NetifGlue*>(n->state);
}

unsigned NetifGlue::index() const { return netif_ ? netif_->num : 0; }

namespace {
err_t netif_init_cb(netif* n) {
    NetifGlue* g = static_cast<NetifGlue*>(n->state);
    NicDriver& d = g->driver();
    n->name[0] = 'e';
    n->name[1] = 'n';
    n->hwaddr_len = ETH_HWADDR_LEN;
    memcpy(n->hwaddr, d.mac(), ETH_HWADDR_LEN);
    n->mtu = d.mtu() ? d.mtu() : 1500;
    n->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_IGMP | NETIF_FLAG_MLD6;
    n->output = etharp_output;
    n->output_ip6 = ethip6_output;
    n->linkoutput = linkoutput_cb;
    // Before netif_add starts IGMP (which joins 224.0.0.1) and before any IPv6 address joins its
    // solicited-node group.
    netif_set_igmp_mac_filter(n, igmp_filter_cb);
    netif_set_mld_mac_filter(n, mld_filter_cb);
    return ERR_OK;
}
}  // namespace

bool NetifGlue::attach(NicDriver& d) {
    driver_ = &d;
    AckCoalescer::Ops ack_ops;
    ack_ops.ctx = this;
    ack_ops.peek = [](void*, void* f, uint8_t* buf, size_t len) -> size_t {
        return pbuf_copy_partial(static_cast<pbuf*>(f), buf, static_cast<u16_t>(len), 0);
    };
    ack_ops.ref = [](void*, void* f) { pbuf_ref(static_cast<pbuf*>(f)); };
    ack_ops.unref = [](void*, void* f) { pbuf_free(static_cast<pbuf*>(f)); };
    ack_ops.send = send_held_ack;
    acks_.bind(ack_ops);
    offloads_ = d.offloads();
    ip_tx_offload_ = offloads_ & kOffloadTxIpv4Checksum;
    // lwIP's TCP checksum switch covers IPv4 and IPv6 at once. UDP stays in software: a datagram larger than
    // the MTU is fragmented after its checksum would have been left to the device, which cannot see it whole.
    tcp_tx_offload_ = (offloads_ & kOffloadTxTcpUdpChecksum) && (offloads_ & kOffloadTxTcp6UdpChecksum);
    base_chksum_flags_ = NETIF_CHECKSUM_ENABLE_ALL;
    if (ip_tx_offload_) base_chksum_flags_ &= static_cast<uint16_t>(~NETIF_CHECKSUM_GEN_IP);
    if (tcp_tx_offload_) base_chksum_flags_ &= static_cast<uint16_t>(~NETIF_CHECKSUM_GEN_TCP);

    netif_ = create<netif>();
    rx_lend_limit_ = mem_plan::current().rx_lend;
    if (rx_lend_limit_ > kRxZeroCopy) rx_lend_limit_ = kRxZeroCopy;
    rx_slots_ = static_cast<RxSlot*>(calloc(rx_lend_limit_ ? rx_lend_limit_ : 1, sizeof(RxSlot)));
    if (!netif_ || !rx_slots_) {
        log::error("net: no memory for interface state of %s", d.name());
        detach();
        return false;
    }
    for (size_t i = 0; i < rx_lend_limit_; ++i) {
        rx_slots_[i].glue = this;
        rx_slots_[i].next = rx_free_;
        rx_free_ = &rx_slots_[i];
    }
    if (!netif_add(netif_, nullptr, nullptr, nullptr, this, netif_init_cb, netif_input)) {
        log::error("net: lwIP refused the interface for %s", d.name());
        destroy(netif_);  // never added: nothing in lwIP points at it
        netif_ = nullptr;
        detach();
        return false;
    }
    NETIF_SET_CHECKSUM_CTRL(netif_, base_chksum_flags_);
    snprintf(name_, sizeof name_, "e%u", static_cast<unsigned>(netif_->num));
    // IPv6 all-nodes (ff02::1) is never joined through MLD, but neighbour discovery and router
    // advertisements arrive on it.
    const uint8_t all_nodes[6] = {0x33, 0x33, 0x00, 0x00, 0x00, 0x01};
    multicast_filter(all_nodes, true);
    if (!loop::add_poller(poll, this)) {
        detach();
        return false;
    }
    if (!d.start(*this)) {
        log::error("net %s: %s did not start", name_, d.name());
        loop::remove_poller(poll, this);
        detach();
        return false;
    }
    return true;
}

// Undoes what attach() did before the driver started: the netif leaves lwIP's list (a driver that did not
// start delivered nothing, so no pbuf points into the slots), the memory goes back.
void NetifGlue::detach() {
    if (netif_) {
        netif_remove(netif_);
        destroy(netif_);
        netif_ = nullptr;
    }
    free(rx_slots_);
    rx_slots_ = nullptr;
    rx_free_ = nullptr;
    rx_lent_ = 0;
    for (McEntry& e : mc_) e = McEntry{};
    driver_ = nullptr;
    snprintf(name_, sizeof name_, "e?");
}

void NetifGlue::bring_up() {
    is_up_ = true;
    netif_set_up(netif_);
    if (driver_->link_up()) netif_set_link_up(netif_);
    netif_create_ip6_linklocal_address(netif_, 1);
    netif_set_ip6_autoconfig_enabled(netif_, 1);
}

// ---- transmit

bool NetifGlue::transmit(pbuf* p) {
    TxFrame f{};
    for (pbuf* q = p; q; q = q->next) {
        if (q->len == 0) continue;
        f.segs[f.count++] = TxSegment{q->payload, q->len};
    }
    f.total_len = p->tot_len;
    f.cookie = p;
    f.offload = prepare_offload(p, f);
    switch (driver_->transmit(f)) {
    case TxStatus::Queued:
        if (f.offload) ++ctr_.tx_offloaded;
        return true;
    case TxStatus::Full: return false;
    case TxStatus::Dropped: break;
    }
    ++ctr_.tx_dropped;  // malformed: the driver counted why and kept nothing
    pbuf_free(p);
    return true;
}

// Fills the frame's offload request and offsets. For TCP the checksum field gets the pseudo-header sum
// (folded, not complemented): the device adds the segment and stores the complement. lwIP zeroes the field
// before every (re)transmission, and does not retransmit a segment whose pbuf the driver still holds.
uint32_t NetifGlue::prepare_offload(pbuf* p, TxFrame& f) {
    if (!ip_tx_offload_ && !tcp_tx_offload_) return 0;
    uint8_t h[kEthHeader + kEthVlanTag + kIpv4MaxHeader];
    const uint16_t n = pbuf_copy_partial(p, h, sizeof h, 0);
    if (n < kEthHeader) return 0;
    uint16_t l3 = kEthHeader;
    uint16_t type = static_cast<uint16_t>(h[12] << 8 | h[13]);
    if (type == kEthTypeVlan && n >= l3 + kEthVlanTag) {
        type = static_cast<uint16_t>(h[16] << 8 | h[17]);
        l3 = kEthHeader + kEthVlanTag;
    }
    uint32_t req = 0;
    uint16_t l4 = 0;
    uint16_t pseudo = 0;
    if (type == kEthTypeIpv4 && n >= l3 + 20 && (h[l3] >> 4) == 4) {
        const uint16_t ihl = static_cast<uint16_t>((h[l3] & 0x0f) * 4);
        if (ihl < 20 || n < l3 + ihl) return 0;
        if (ip_tx_offload_) req |= kOffloadTxIpv4Checksum;
        const bool fragment = ((h[l3 + 6] & 0x3f) | h[l3 + 7]) != 0;  // MF or an offset
        const uint16_t total = static_cast<uint16_t>(h[l3 + 2] << 8 | h[l3 + 3]);
        if (tcp_tx_offload_ && h[l3 + 9] == kIpProtoTcp && !fragment && total > ihl) {
            l4 = static_cast<uint16_t>(l3 + ihl);
            pseudo = pseudo_header_sum(h + l3 + 12, 8, kIpProtoTcp, static_cast<uint32_t>(total - ihl));
            req |= kOffloadTxTcpUdpChecksum;
        }
    } else if (type == kEthTypeIpv6 && n >= l3 + 40 && (h[l3] >> 4) == 6) {
        if (tcp_tx_offload_ && h[l3 + 6] == kIpProtoTcp) {
            l4 = static_cast<uint16_t>(l3 + 40);
            const uint32_t payload = static_cast<uint32_t>(h[l3 + 4] << 8 | h[l3 + 5]);
            pseudo = pseudo_header_sum(h + l3 + 8, 32, kIpProtoTcp, payload);
            req |= kOffloadTxTcp6UdpChecksum;
        }
    }
    if (l4) {
        // In memory order (see checksum.hpp): its bytes are the field's.
        if (pbuf_take_at(p, &pseudo, 2, static_cast<u16_t>(l4 + kTcpChecksumOffset)) != ERR_OK) {
            req &= ~(kOffloadTxTcpUdpChecksum | kOffloadTxTcp6UdpChecksum);
            l4 = 0;
        }
    }
    f.l3_offset = l3;
    f.l4_offset = l4;
    return req;
}

// A pure ACK held by acks_ goes out (flush): counted here, as output() counts the frames it sends itself.
void NetifGlue::send_held_ack(void* self, void* frame) {
    NetifGlue* g = static_cast<NetifGlue*>(self);
    pbuf* p = static_cast<pbuf*>(frame);
    ++g->ctr_.tx_frames;
    g->ctr_.tx_bytes += p->tot_len;
    (void)g->send_or_queue(p);  // a refused ACK is counted there; the next one says the same
}

err_t NetifGlue::output(pbuf* p) {
    if (!netif_is_link_up(netif_)) {
        ++ctr_.tx_dropped;
        return ERR_OK;  // like a cable pulled: the frame is lost, TCP retransmits
    }
    const AckCoalescer::Offer ack = acks_.offer(p, p->tot_len);  // pure ACKs wait for the end of the iteration
    if (ack == AckCoalescer::Offer::Replaced) ++ctr_.tx_acks_coalesced;
    if (ack != AckCoalescer::Offer::NotHeld) return ERR_OK;
    acks_.flush();  // what was held goes first: the order on the wire is kept
    ++ctr_.tx_frames;
    ctr_.tx_bytes += p->tot_len;
    size_t pieces = 0;
    for (pbuf* q = p; q; q = q->next)
        if (q->len) ++pieces;
    pbuf* frame = p;
    if (pieces > kMaxTxSegments) {
        frame = pbuf_alloc(PBUF_RAW, p->tot_len, PBUF_RAM);
        if (!frame || pbuf_copy(frame, p) != ERR_OK) {
            if (frame) pbuf_free(frame);
            ++ctr_.tx_dropped;
            return ERR_MEM;
        }
        ++ctr_.tx_linearised;
    } else {
        pbuf_ref(p);  // ours until tx_done
    }
    return send_or_queue(frame) ? ERR_OK : ERR_MEM;
}

// False when the ring and the queue are both full: the frame is refused. lwIP's TCP keeps a refused
// segment (and marks its pcb), so it is sent again once the ring drains (tcp_txnow from poll()), without
// waiting for a retransmission timeout; other frames are lost, like on a busy wire.
bool NetifGlue::send_or_queue(pbuf* p) {
    if (txq_count_) drain_queue();  // keep the order
    if (txq_count_ == 0 && transmit(p)) return true;
    if (txq_count_ < kTxQueue) {
        txq_[(txq_head_ + txq_count_) % kTxQueue] = p;
        ++txq_count_;
        ++ctr_.tx_queued;
        return true;
    }
    pbuf_free(p);
    ++ctr_.tx_dropped;
    kick_tcp_ = true;
    return false;
}

void NetifGlue::drain_queue() {
    while (txq_count_) {
        pbuf* p = txq_[txq_head_];
        if (!transmit(p)) return;
        txq_[txq_head_] = nullptr;
        txq_head_ = (txq_head_ + 1) % kTxQueue;
        --txq_count_;
    }
}

void NetifGlue::tx_done(void* cookie) { pbuf_free(static_cast<pbuf*>(cookie)); }

void NetifGlue::tx_ready() { drain_queue(); }

// ---- receive

bool NetifGlue::receive(const RxFrame& frame) {
    if (!netif_) return false;
    if (frame.checksum == RxChecksum::Bad) {
        ++ctr_.rx_bad_checksum;
        return false;  // the driver keeps the buffer (and counts the drop)
    }
    if (!frame.data || frame.len < kEthHeader || frame.len > 0xFFFF) {
        ++ctr_.rx_refused;
        return false;
    }
    const u16_t len = static_cast<u16_t>(frame.len);
    const uint8_t* dst = static_cast<const uint8_t*>(frame.data);  // read before a copied frame's buffer goes back
    const bool group = dst[0] & 1, broadcast = (dst[0] & dst[1] & dst[2] & dst[3] & dst[4] & dst[5]) == 0xFF;
    pbuf* p;
    if (RxSlot* slot = rx_free_) {
        slot->pc.custom_free_function = custom_free;
        p = pbuf_alloced_custom(PBUF_RAW, len, PBUF_REF, &slot->pc, frame.data, len);
        if (!p) {
            ++ctr_.rx_refused;
            return false;
        }
        rx_free_ = slot->next;
        slot->buffer = frame.buffer;
        ++rx_lent_;
    } else {
        // All the buffers we may lend are out: copy, and give this one straight back.
        p = pbuf_alloc(PBUF_RAW, len, PBUF_RAM);
        if (!p) {
            ++ctr_.rx_refused;
            return false;
        }
        pbuf_take(p, frame.data, len);
        driver_->rx_release(frame.buffer);
        ++ctr_.rx_copied;
    }
    ++ctr_.rx_frames;
    ctr_.rx_bytes += len;
    if (group) ++(broadcast ? ctr_.rx_broadcast : ctr_.rx_multicast);

    // The device verified the checksums: lwIP may skip its own checks for this frame. Frames are processed
    // to the end inside netif->input (NO_SYS), so the flags apply to exactly this frame.
    const bool verified = frame.checksum == RxChecksum::Good && (offloads_ & kOffloadRxChecksum);
    if (verified) {
        NETIF_SET_CHECKSUM_CTRL(netif_, base_chksum_flags_ & ~(NETIF_CHECKSUM_CHECK_IP | NETIF_CHECKSUM_CHECK_TCP |
                                                               NETIF_CHECKSUM_CHECK_UDP));
        ++ctr_.rx_checksum_good;
    }
    if (netif_->input(p, netif_) != ERR_OK) {
        pbuf_free(p);
        ++ctr_.rx_dropped;
    }
    if (verified) NETIF_SET_CHECKSUM_CTRL(netif_, base_chksum_flags_);
    return true;
}

void NetifGlue::free_rx(void* s) {
    RxSlot* slot = static_cast<RxSlot*>(s);
    driver_->rx_release(slot->buffer);
    slot->buffer = nullptr;
    --rx_lent_;
    slot->next = rx_free_;
    rx_free_ = slot;
}

bool NetifGlue::poll(void* self) {
    NetifGlue* g = static_cast<NetifGlue*>(self);
    bool worked = g->acks_.flush();
    if (g->txq_count_) g->drain_queue();  // in case the driver never calls tx_ready
    // Frames were refused while the ring was full: now that there is room, let TCP send what it kept.
    // Here rather than in tx_ready(), which a driver may call from inside transmit(), i.e. inside tcp_output.
    if (g->kick_tcp_ && g->txq_count_ < kTxQueue / 2) {
        g->kick_tcp_ = false;
        tcp_txnow();
        worked = true;
    }
    return worked;
}

// ---- link and multicast

namespace {

// After the link comes back, TCP resends at once instead of when its timers say: a connection with data in flight
// would wait for its retransmission timer, whose backoff grew while the link was down (seconds), and a zero-window
// probe for its persist timer. Resending the first unacknowledged segment costs one segment per connection.
void resume_tcp_after_link_up() {
    for (tcp_pcb* p = tcp_active_pcbs; p; p = p->next) {
        if (p->unacked) {
            tcp_rexmit_rto(p);
        } else if (p->unsent) {
            tcp_output(p);
        } else if (p->persist_backoff > 0) {
            tcp_zero_window_probe(p);
        }
    }
}

}  // namespace

// While a link is down, lwIP's ip4_route finds no netif (it skips those whose link is down), so every TCP output
// fails at once with ERR_RTE, and lwIP takes that badly: data never sent has no retransmission timer (a download
// whose client only listens stalls for good once the link is back), and a failed zero-window probe is retried on
// every slow-timer tick and counted each time, so a peer with a closed window is given up after about a second of
// link loss (tcp_slowtmr: persist_probe >= TCP_MAXRTX). With this hook (LWIP_HOOK_IP4_ROUTE, called when
// ip4_route found nothing) the packet goes to the netif it would use with its link up; the glue drops it there
// like a pulled cable (NetifGlue::output) and TCP's timers and backoff treat the outage as loss, as on Linux, where
// a route survives the loss of carrier.
extern "C" netif* skerry_lwip_ip4_route_link_down(const ip4_addr_t* dest) {
    netif* n;
    NETIF_FOREACH(n) {
        if (netif_is_up(n) && !netif_is_link_up(n) && !ip4_addr_isany_val(*netif_ip4_addr(n)) &&
            ip4_addr_netcmp(dest, netif_ip4_addr(n), netif_ip4_netmask(n)))
            return n;
    }
    n = netif_default;
    if (n && netif_is_up(n) && !netif_is_link_up(n) && !ip4_addr_isany_val(*netif_ip4_addr(n)) &&
        !ip4_addr_isloopback(dest))
        return n;
    return nullptr;
}

void NetifGlue::link_changed(bool up) {
    if (!netif_) return;
    if (!is_up_) {  // during attach: bring_up() reads the link state and the stack logs it with the NIC
        return;
    }
    if (up) {
        const uint32_t mbps = driver_->link_speed_mbps();
        if (mbps) {
            log::info("net %s: link up (%u Mb/s)", name_, static_cast<unsigned>(mbps));
        } else {
            log::info("net %s: link up", name_);
        }
        netif_set_link_up(netif_);
        resume_tcp_after_link_up();
    } else {
        log::warn("net %s: link down", name_);
        netif_set_link_down(netif_);
    }
}

err_t NetifGlue::multicast_filter(const uint8_t mac[6], bool add) {
    McEntry* free_entry = nullptr;
    for (McEntry& e : mc_) {
        if (e.refs && memcmp(e.mac, mac, 6) == 0) {
            if (add) {
                ++e.refs;
            } else if (--e.refs == 0) {
                if (!driver_->remove_multicast(mac)) ++ctr_.multicast_filter_errors;
            }
            return ERR_OK;
        }
        if (!e.refs && !free_entry) free_entry = &e;
    }
    if (!add) return ERR_OK;
    if (!free_entry) {
        ++ctr_.multicast_filter_errors;
        log::warn("net %s: multicast filter table full (%zu addresses)", name_, kMaxMulticast);
        return ERR_MEM;
    }
    if (!driver_->add_multicast(mac)) {
        ++ctr_.multicast_filter_errors;
        log::warn("net %s: %s refused multicast address %02x:%02x:%02x:%02x:%02x:%02x", name_, driver_->name(), mac[0],
                  mac[1], mac[2], mac[3], mac[4], mac[5]);
        return ERR_IF;
    }
    memcpy(free_entry->mac, mac, 6);
    free_entry->refs = 1;
    return ERR_OK;
}

}  // namespace skerry::net
