// The one interface between NIC/transport drivers (e1000 now; netvsc, virtio-net, vmxnet3 later) and the
// network stack. Drivers know nothing of lwIP: they move Ethernet frames between their device and a
// NicClient (the stack's glue, src/net/netif_glue.*), report link changes, and keep counters.
//
// Threading: everything here runs in the event loop. A driver's interrupt handler only acknowledges the
// device and loop::raise()s its own poll; nothing in this interface is called from interrupt context.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry::net {

// Offloads a device can do. The stack asks for them per frame (TxFrame::offload) and is told per frame
// what the device verified on receive (RxFrame::checksum).
enum Offload : uint32_t {
    kOffloadTxIpv4Checksum = 1u << 0,    // fill in the IPv4 header checksum
    kOffloadTxTcpUdpChecksum = 1u << 1,  // fill in TCP/UDP checksums (IPv4; pseudo-header sum in place)
    kOffloadTxTcp6UdpChecksum = 1u << 2, // the same over IPv6
    kOffloadRxChecksum = 1u << 3,        // verifies IPv4 header and TCP/UDP checksums on receive
    kOffloadTso = 1u << 4,               // TCP segmentation (not used yet)
};

// Counters every driver keeps. Drops are counted per reason, so the status output can say why.
struct NicCounters {
    uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
    uint64_t rx_multicast, rx_broadcast;
    uint64_t rx_dropped_no_buffer;  // ring empty / device had no descriptor (overrun)
    uint64_t rx_dropped_bad_frame;  // runt, oversized, CRC/length/symbol errors, descriptor errors
    uint64_t rx_dropped_stack;      // the stack refused the frame (no pbuf, queue full)
    uint64_t tx_dropped_ring_full;  // transmit ring had no room
    uint64_t tx_dropped_bad_frame;  // empty, oversized or too many segments
    uint64_t tx_errors;             // the device reported a transmit error
    uint64_t link_changes;
    uint64_t interrupts;
    uint64_t device_errors;         // malformed device state seen (bad descriptor index, status), recovered
};

// One frame to transmit, as up to kMaxTxSegments pieces (a pbuf chain). The driver may keep pointing at
// the pieces (zero copy) until it calls NicClient::tx_done(frame.cookie); or copy them and call tx_done
// at once. Segment addresses are kernel addresses (identity mapped: the physical address is the same).
inline constexpr size_t kMaxTxSegments = 16;
struct TxSegment {
    const void* data;
    uint32_t len;
};
struct TxFrame {
    TxSegment segs[kMaxTxSegments];
    size_t count;
    uint32_t total_len;
    uint32_t offload;    // kOffloadTx* requested for this frame (only ones the driver advertised)
    uint16_t l3_offset;  // offsets for checksum offload: IP header, and the TCP/UDP header
    uint16_t l4_offset;
    void* cookie;        // handed back in tx_done
};

enum class RxChecksum : uint8_t {
    Unknown,   // not verified by the device: the stack checks
    Good,      // IP header and TCP/UDP checksums verified good
    Bad,       // the device says a checksum is wrong (the stack drops it, counting it)
};

// A received frame that points into the driver's receive buffer (zero copy). The stack returns the
// buffer with NicDriver::rx_release(buffer) when it is done with it, possibly much later (TCP
// reassembly, application queues), or at once from inside NicClient::receive() (a copied frame, a pure
// ACK): drivers accept both. Until then the driver must not reuse it.
struct RxFrame {
    void* data;
    uint32_t len;  // without the FCS
    RxChecksum checksum;
    void* buffer;  // the driver's handle for rx_release
};

// The stack side, implemented by the glue.
class NicClient {
public:
    // A frame arrived. The client takes ownership of frame.buffer (returns it through rx_release) when
    // it returns true; on false the driver keeps the buffer and counts rx_dropped_stack.
    virtual bool receive(const RxFrame& frame) = 0;
    // A frame given to transmit() has been sent (or dropped by the device): its pieces may be freed.
    virtual void tx_done(void* cookie) = 0;
    // The link went up or down.
    virtual void link_changed(bool up) = 0;
    // transmit() has room again after it returned false (back-pressure from a full ring).
    virtual void tx_ready() {}

protected:
    ~NicClient() = default;
};

class NicDriver {
public:
    virtual ~NicDriver() = default;

    virtual const char* name() const = 0;   // e.g. "e1000 00:03.0 (82540EM)"
    virtual const uint8_t* mac() const = 0;  // 6 bytes
    virtual uint16_t mtu() const = 0;        // IP MTU, normally 1500
    virtual bool link_up() const = 0;
    virtual uint32_t link_speed_mbps() const = 0;  // 0 = unknown
    virtual uint32_t offloads() const = 0;          // Offload bits

    // Starts the device (rings, interrupts) and from then on delivers frames and events to `client`.
    virtual bool start(NicClient& client) = 0;

    // Queues a frame. False (and nothing kept, no tx_done) when the ring is full: the caller counts or
    // retries after NicClient::tx_ready(). A malformed frame is dropped with tx_done and counted.
    virtual bool transmit(const TxFrame& frame) = 0;

    // Gives a receive buffer back (see RxFrame).
    virtual void rx_release(void* buffer) = 0;

    // Receive filter: accept these multicast MAC addresses (IPv6 needs its solicited-node and all-nodes
    // groups). Broadcast is always accepted, promiscuous mode never used.
    virtual bool add_multicast(const uint8_t mac[6]) = 0;
    virtual bool remove_multicast(const uint8_t mac[6]) = 0;

    // Processes completed receives (at most `budget` frames) and transmits; returns the number of frames
    // handled. The driver calls this itself from its interrupt work and its poller; the stack may too.
    virtual size_t poll(size_t budget) = 0;

    // Counters: the driver's, with the device's own statistics registers folded in where it has them.
    virtual NicCounters counters() const = 0;
};

}  // namespace skerry::net
