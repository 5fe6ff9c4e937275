// Binds one NicDriver (src/net/nic.hpp) to one lwIP netif and is the driver's NicClient.
//
// Transmit: lwIP's pbuf chain becomes a TxFrame without copying (each frame holds a pbuf reference until
// tx_done); a chain of more than kMaxTxSegments pieces is copied into one PBUF_RAM first. When the driver
// offloads checksums, lwIP is told not to compute them (per-netif checksum flags) and the glue fills in the
// frame's offsets (and, for TCP, the pseudo-header sum the device completes). When the ring is full the
// frame waits in a small bounded queue (kTxQueue) until NicClient::tx_ready; beyond that it is refused
// (ERR_MEM) and counted: TCP keeps the segment and sends it again once the queue drains (tcp_txnow), other
// frames are lost.
//
// Receive: a frame becomes a custom pbuf pointing into the driver's buffer (zero copy); the buffer goes
// back with NicDriver::rx_release when lwIP and the application are done with it. So that slow readers
// cannot hold all of a driver's buffers, at most rx_lend_limit() frames per NIC are outstanding (the memory
// plan's rx_lend, at most kRxZeroCopy); beyond that a frame is copied into a PBUF_RAM pbuf (within the network
// buffer budget, net_memory.hpp) and the driver's buffer returned at once. Buffers are returned as
// soon as lwIP frees them, often from inside receive() (ARP, pure ACKs), which nic.hpp allows.
//
// The glue counts every frame and byte in both directions (and broadcast/multicast received); drivers count
// only what only they see (nic.hpp).
//
// Several NICs: one NetifGlue each; lwIP numbers the netifs, and the glue names them e0, e1, ...
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "net/ack_coalescer.hpp"
#include "net/nic.hpp"

struct netif;
struct pbuf;

namespace skerry::net {

class NetifGlue final : public NicClient {
public:
    static constexpr size_t kTxQueue = 64;       // frames waiting for ring space
    static constexpr size_t kRxZeroCopy = 256;   // driver buffers lent to the stack at once, at most
    static constexpr size_t kMaxMulticast = 32;  // distinct multicast MACs in the filter

    struct Counters {
        uint64_t tx_frames, tx_bytes;
        uint64_t tx_linearised;      // chains with too many pieces, copied into one buffer
        uint64_t tx_queued;          // waited for ring space
        uint64_t tx_dropped;         // refused (ring and queue full), link down, no memory to linearise, or
                                     // malformed (the driver said Dropped)
        uint64_t tx_offloaded;       // frames with a checksum offload request
        uint64_t tx_acks_coalesced;  // pure ACKs not sent: a later ACK of the same connection replaced them
        uint64_t rx_frames, rx_bytes;
        uint64_t rx_broadcast, rx_multicast;
        uint64_t rx_copied;         // copied because rx_lend_limit() buffers were already lent out
        uint64_t rx_refused;        // handed back to the driver (runt, no pbuf)
        uint64_t rx_dropped;        // taken, then refused by lwIP's input
        uint64_t rx_bad_checksum;   // the device said a checksum was wrong (refused too)
        uint64_t rx_checksum_good;  // lwIP skipped checks the device had done
        uint64_t multicast_filter_errors;
    };

    NetifGlue() = default;
    NetifGlue(const NetifGlue&) = delete;
    NetifGlue& operator=(const NetifGlue&) = delete;

    // Adds the netif (not yet up), starts the driver. False (logged) on failure, and then nothing is left
    // behind: no netif in lwIP's list, no poller, no memory; the glue may be destroyed or attached again.
    bool attach(NicDriver& driver);
    // Brings the netif up (IPv4 addressing is configured by the caller), with IPv6 link-local + SLAAC.
    void bring_up();

    struct netif* lwip_netif() {
        return netif_;
    }
    NicDriver& driver() { return *driver_; }
    const char* name() const { return name_; }  // "e0"
    unsigned index() const;                     // lwIP's netif number (e0 -> 0)
    const Counters& counters() const { return ctr_; }
    size_t rx_lent() const { return rx_lent_; }  // driver buffers currently held by the stack
    size_t rx_lend_limit() const { return rx_lend_limit_; }
    size_t tx_queue_length() const { return txq_count_; }

    // The glue for an lwIP netif, or nullptr if the netif is not one of ours.
    static NetifGlue* from(struct netif* n);

    // NicClient
    bool receive(const RxFrame& frame) override;
    void tx_done(void* cookie) override;
    void link_changed(bool up) override;
    void tx_ready() override;

    // Called by lwIP (public for the C callbacks in netif_glue.cpp).
    struct RxSlot;
    int8_t output(struct pbuf* p);
    int8_t multicast_filter(const uint8_t mac[6], bool add);
    void free_rx(void* slot);

private:
    void detach();
    bool send_or_queue(struct pbuf* p);
    bool transmit(struct pbuf* p);
    void drain_queue();
    static bool poll(void* self);
    uint32_t prepare_offload(struct pbuf* p, TxFrame& f);
    static void send_held_ack(void* self, void* p);

    NicDriver* driver_ = nullptr;
    struct netif* netif_ = nullptr;
    char name_[8] = "e?";
    uint32_t offloads_ = 0;           // what the driver can do
    uint16_t base_chksum_flags_ = 0;  // lwIP's per-netif checksum flags outside receive()
    bool tcp_tx_offload_ = false;
    bool ip_tx_offload_ = false;

    AckCoalescer acks_;  // pure ACKs held until the end of the loop iteration (see output())

    struct pbuf* txq_[kTxQueue] = {};
    size_t txq_head_ = 0, txq_count_ = 0;

    RxSlot* rx_slots_ = nullptr;  // rx_lend_limit_ slots, one per lent buffer
    RxSlot* rx_free_ = nullptr;
    size_t rx_lent_ = 0;
    size_t rx_lend_limit_ = 0;
    bool is_up_ = false;     // bring_up() ran
    bool kick_tcp_ = false;  // frames were refused: tcp_txnow() once the queue drains

    struct McEntry {
        uint8_t mac[6];
        uint16_t refs;
    };
    McEntry mc_[kMaxMulticast] = {};

    Counters ctr_ = {};
};

}  // namespace skerry::net
