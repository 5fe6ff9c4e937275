// The one interface between NIC/transport drivers (e1000, netvsc; virtio-net, vmxnet3 next) and the network
// stack. Drivers know nothing of lwIP: they move Ethernet frames between their device and a NicClient (the
// stack's glue, src/net/netif_glue.*), report link changes, and count what only they can see (device errors,
// ring overruns). Per-frame counters (packets, bytes, broadcast, multicast) are the glue's.
//
// The contract: who calls what, when, and which calls may nest.
//  1. Everything runs in the event loop (src/kernel/event_loop.hpp). A driver's interrupt handler only
//     acknowledges the device and loop::raise()s the driver's own work; nothing here runs in interrupt context.
//  2. A driver calls its client (receive, tx_done, link_changed, tx_ready) only from its own loop work
//     (raised work, poller, timer) and from start(), and only between ring passes: it first finishes its ring
//     work for the pass (harvest up to its budget of received frames, reclaim finished transmits, recover from
//     device errors; give the ring fresh buffers when it runs low), and then delivers what it collected:
//     tx_done for the reclaimed frames, receive() for each harvested frame in ring order, then link_changed
//     and tx_ready. While it delivers, its ring state is consistent and stays so. After the delivery it may
//     do more ring work that calls nobody (one refill and tail write for the buffers that came back).
//  3. Inside those callbacks the client may call transmit(), rx_release(), add_multicast() and
//     remove_multicast() (lwIP answers a frame from inside receive() and frees buffers there). These calls
//     never call back into the client and never walk the receive ring: transmit() only fills descriptors
//     (finished frames it reclaims to make room are delivered with tx_done in the driver's next pass) and
//     rx_release() only takes the buffer back.
//  4. Nobody calls into a driver's pass from a callback: the client never calls the driver's poll, and a
//     driver never calls a client callback from inside transmit(), rx_release() or the multicast calls.
//  5. The transmit doorbell: transmit() makes frames ready; the driver tells the device once per loop
//     iteration from its end-of-iteration hook (loop::add_iteration_end), so a burst costs one register write
//     (on a hypervisor each such write is a trap into the device model).
// Drivers keep these rules without re-entry guards: a callback cannot reach a half-done ring walk.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry::net {

// Offloads a device can do. The stack asks for them per frame (TxFrame::offload) and is told per frame
// what the device verified on receive (RxFrame::checksum).
enum Offload : uint32_t {
    kOffloadTxIpv4Checksum = 1u << 0,     // fill in the IPv4 header checksum
    kOffloadTxTcpUdpChecksum = 1u << 1,   // fill in TCP/UDP checksums (IPv4; pseudo-header sum in place)
    kOffloadTxTcp6UdpChecksum = 1u << 2,  // the same over IPv6
    kOffloadRxChecksum = 1u << 3,         // verifies IPv4 header and TCP/UDP checksums on receive
    kOffloadTso = 1u << 4,                // TCP segmentation (not used yet)
};

// What only the driver can see, per reason, so the status output can say why frames were lost. Frames and
// bytes that reached the stack or left it are counted by the glue (NetifGlue::Counters).
struct NicCounters {
    uint64_t rx_dropped_no_buffer;  // ring empty / device had no descriptor (overrun)
    uint64_t rx_dropped_bad_frame;  // runt, oversized, CRC/length/symbol errors, descriptor errors
    uint64_t tx_dropped_ring_full;  // transmit() said Full
    uint64_t tx_dropped_bad_frame;  // transmit() said Dropped: empty, oversized or too many segments
    uint64_t tx_errors;             // the device reported a transmit error, or dropped frames in flight at a reset
    uint64_t link_changes;
    uint64_t interrupts;
    uint64_t device_errors;  // malformed device state seen (bad descriptor index, status), recovered
};

// One frame to transmit, as up to kMaxTxSegments pieces (a pbuf chain). The driver may keep pointing at
// the pieces (zero copy) until it hands the cookie back with NicClient::tx_done in a later pass; a driver that
// copies the frame does so inside transmit() and still hands the cookie back in its next pass. Segment
// addresses are kernel addresses (identity mapped: the physical address is the same).
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
    void* cookie;  // handed back in tx_done
};

enum class RxChecksum : uint8_t {
    Unknown,  // not verified by the device: the stack checks
    Good,     // IP header and TCP/UDP checksums verified good
    Bad,      // the device says a checksum is wrong (the stack drops it, counting it)
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

// What transmit() did with a frame.
enum class TxStatus : uint8_t {
    Queued,   // the driver has it; its cookie comes back through NicClient::tx_done in a later pass
    Full,     // no room now: nothing kept; NicClient::tx_ready follows once there is room
    Dropped,  // malformed (empty, oversized, too many pieces, bad offload offsets), or the device is gone for
              // good (netvsc after a rescind; counted as tx_errors): counted, nothing kept; the caller frees it
};

// The stack side, implemented by the glue. Called only as rule 2 above says.
class NicClient {
public:
    // A frame arrived. The client takes the buffer (returns it through rx_release, maybe from inside this
    // call) when it returns true; on false the driver keeps the buffer and reuses it.
    virtual bool receive(const RxFrame& frame) = 0;
    // A frame that transmit() queued has been sent (or dropped by the device or a reset): its pieces may be
    // freed.
    virtual void tx_done(void* cookie) = 0;
    // The link went up or down.
    virtual void link_changed(bool up) = 0;
    // transmit() has room again after it said Full.
    virtual void tx_ready() {}

protected:
    ~NicClient() = default;
};

class NicDriver {
public:
    virtual ~NicDriver() = default;

    virtual const char* name() const = 0;    // e.g. "e1000 00:03.0 (82540EM)"
    virtual const uint8_t* mac() const = 0;  // 6 bytes
    virtual uint16_t mtu() const = 0;        // IP MTU, normally 1500
    virtual bool link_up() const = 0;
    virtual uint32_t link_speed_mbps() const = 0;  // 0 = unknown
    virtual uint32_t offloads() const = 0;         // Offload bits

    // Starts the device (rings, interrupts, the driver's own loop work) and from then on delivers frames and
    // events to `client`. May report the initial link with link_changed() before it returns. False (logged)
    // when the device cannot start: the driver then holds no client and schedules nothing.
    virtual bool start(NicClient& client) = 0;

    // Queues a frame (see TxStatus). Never calls the client (rule 3).
    virtual TxStatus transmit(const TxFrame& frame) = 0;

    // Gives a receive buffer back (see RxFrame). Never calls the client.
    virtual void rx_release(void* buffer) = 0;

    // Receive filter: accept these multicast MAC addresses (IPv6 needs its solicited-node and all-nodes
    // groups). Broadcast is always accepted, promiscuous mode never used.
    virtual bool add_multicast(const uint8_t mac[6]) = 0;
    virtual bool remove_multicast(const uint8_t mac[6]) = 0;

    // What only the driver can see, with the device's own statistics registers folded in where it has them.
    virtual NicCounters counters() const = 0;
};

}  // namespace skerry::net
