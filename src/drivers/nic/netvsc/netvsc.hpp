// The Hyper-V synthetic NIC (netvsc): a NicDriver over one VMBus channel, speaking NVSP with RNDIS inside.
//
// Event-driven and non-blocking like Connection and Channel. create() allocates the rings and buffers and
// starts opening the channel; every poll() then advances the bring-up state machine as the host answers:
//   channel open, receive/send buffer GPADLs created -> NVSP INIT (newest version first, the next one when the
//   host refuses or the owner reports a timeout) -> NDIS_CONFIG (NVSP >= 2) and NDIS_VERSION -> SEND_RECV_BUF
//   (section checked) -> SEND_SEND_BUF (section size; optional) -> RNDIS INITIALIZE -> QUERY MAC (permanent,
//   else current) -> QUERY maximum frame size -> QUERY link speed -> QUERY media connect status -> SET packet
//   filter -> Ready.
// The owner polls the VMBus Connection (host messages: GPADL_CREATED, OPENCHANNEL_RESULT, rescind) before
// calling poll(); it owns time: on_timeout() when progress() has not moved for a while (say 1 s). Once ready()
// the driver is handed to the stack (mac() and mtu() are known); start() attaches the client and, with
// Options::self_poll, registers a loop poller. Host signals (SIEF bit = relid) only need to wake the loop.
//
// A pass (poll(), from the loop poller or the owner) keeps the NIC contract (src/net/nic.hpp): ring work first,
// then delivery to the client.
//   Ring work: send the receive completions that waited for ring space, then read host packets off the inbound
//   ring, up to `budget` frames (and 4 x budget packets): a send completion frees its send-buffer section or
//   GPA-direct slot (a GPA-direct frame's cookie is queued for tx_done); a transfer-page packet takes a packet
//   slot and each of its RNDIS data messages is queued as a frame, counted against the packet as it is queued;
//   a packet that queued no frame is completed on the spot; RNDIS control messages move the bring-up on, get
//   keepalives answered and change the link state. Reading pauses while every packet slot is held by frames or
//   a receive completion waits for ring space.
//   Delivery: tx_done for the queued cookies, receive() for each queued frame in ring order, then
//   link_changed (when the link differs from what the client last heard) and tx_ready.
// Inside those callbacks the client may transmit(), rx_release() and change the multicast filter: these never
// call back into the client and never read the inbound ring, so no state guards against re-entry. Frames the
// client holds and frames still queued both keep their packet uncompleted, so the packet's completion goes out
// exactly once, after the last of its frames came back, whether the client released it inside receive(),
// much later, or refused it.
//
// Transmit copies each frame behind a 44-byte RNDIS PACKET_MSG header into a free send-buffer section and sends
// NVSP SEND_RNDIS_PKT for it; the copy is the host's, so the frame's cookie is queued and comes back with
// tx_done in the next pass (never from inside transmit()). Without a send buffer (option, or the host refused
// it) frames go GPA direct instead: a header range plus the frame's own pages, zero copy, tx_done in the pass
// that reads the host's completion. Completions are matched by transaction id. With no section/slot or ring
// space transmit() says Full and tx_ready() follows in a pass once a completion freed one. Malformed frames are
// Dropped (tx_dropped_bad_frame); once the device is gone or going (rescind, stop, failure, corrupt ring) every
// frame is Dropped and counted in tx_errors; frames in flight GPA direct then come back with tx_done.
// Signalling the host: Channel::send signals by the ring rule (ring.hpp): only when the ring was empty before
// the write and the host has not masked its interrupt, so the sends of a loop iteration cost one signal unless
// the host empties the ring between them. There is no end-of-iteration doorbell (rule 5 of nic.hpp): it would
// save signals only in that case, bring-up and stop() send outside the loop, and the host simulator checks at
// read time that a packet written to an empty ring was signalled.
// Receive is zero copy: each RNDIS PACKET_MSG of a transfer-page packet is handed to the client as an RxFrame
// pointing into the receive buffer; the packet's completion (NVSP SEND_RNDIS_PKT_COMPLETE with the host's
// transaction id) is sent when the last of its frames came back: from rx_release() itself, from the delivery
// when the client refused the frame, or by a later pass when the outbound ring was full. Every range and every RNDIS
// offset is bounds-checked; malformed input is logged (rate-limited), counted and dropped. Counters: per-frame counting
// is the glue's; the driver counts what only it sees (NicCounters: malformed frames, no free frame reference, ring-full
// refusals, transmit errors, link changes, malformed host input) and its own protocol statistics (NetvscStats).
//
// A rescinded channel (on_rescind(), or noticed by poll()) takes the link down, closes the channel, tears the
// GPADLs down and releases the relid; stop() does the same after packet filter 0, HALT and the buffer revokes.
// The client hears of the link going down, and gets the cookies of frames in flight back, in the next pass.
// The receive buffer is freed only once the stack returned every frame.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "drivers/bus/vmbus/channel.hpp"
#include "drivers/bus/vmbus/hv.hpp"
#include "drivers/bus/vmbus/registry.hpp"
#include "drivers/bus/vmbus/vmbus.hpp"
#include "kernel/dma.hpp"
#include "net/nic.hpp"

namespace skerry::netvsc {

struct Options {
    uint32_t ring_out_pages = 1 + 16;  // guest->host ring, control page included
    uint32_t ring_in_pages = 1 + 32;   // host->guest ring (transfer-page packets carry many ranges)
    uint32_t recv_buffer_bytes = 1u << 20;
    uint32_t send_buffer_bytes = 512u << 10;
    uint32_t max_nvsp_version = 0x00060001;  // start the version walk here (newest we speak: 6.1)
    // false: no send buffer; every send goes GPA direct (page ranges, frames zero copy). Also what happens
    // when the host refuses the send buffer.
    bool use_send_buffer = true;
    bool self_poll = true;  // start() registers a loop poller running passes; false: the owner calls poll()
};

enum class BringUp : uint8_t {
    Opening,   // ring GPADL, OPENCHANNEL, receive/send buffer GPADLs
    NvspInit,  // INIT for versions_[version_index_]
    RecvBuf,
    SendBuf,
    RndisInit,
    QueryMac,
    QueryMtu,
    QuerySpeed,
    QueryLink,
    SetFilter,
    Ready,
    Failed,
    Draining,  // stop(): filter 0 and HALT sent; waiting for send completions, then revoke
    Stopping,  // rescinded / stopped: waiting for the GPADL teardowns
    Stopped,
};
const char* bring_up_name(BringUp s);

struct NetvscStats {
    uint64_t polls = 0;
    uint64_t host_packets = 0;     // packets read from the inbound ring
    uint64_t rx_xfer_packets = 0;  // transfer-page packets
    uint64_t rx_completions_sent = 0;
    uint64_t rx_completions_deferred = 0;  // the outbound ring was full: sent on a later poll
    uint64_t tx_completions = 0;
    uint64_t control_messages = 0;  // RNDIS control messages from the host
    uint64_t malformed = 0;         // also counted in device_errors or rx_dropped_bad_frame
    uint64_t timeouts = 0;
    uint64_t rx_stalls = 0;     // inbound reading paused: every transfer-page slot held by the stack
    uint64_t rx_no_client = 0;  // frames dropped because nobody takes frames (before start(), stopping)
};

class Driver final : public net::NicDriver {
public:
    // Allocates rings and buffers and begins opening channel `relid` (an offer of the netvsc class on `conn`).
    // Returns nullptr (logged) when the offer is unknown or memory or the channel open fails at once.
    // Memory comes from `dma` (the kernel's page allocator by default; tests may fail it).
    static Driver* create(vmbus::Connection& conn, hv::HypercallPort& port, uint32_t relid,
                          vmbus::DmaProvider& dma = vmbus::kernel_dma(), const Options& opt = Options{});
    ~Driver() override;

    // ---- bring-up (the owner's loop): poll() advances; on_timeout() when nothing moved for too long.
    BringUp state() const { return state_; }
    bool ready() const { return state_ == BringUp::Ready; }
    bool failed() const { return state_ == BringUp::Failed; }
    void on_timeout();
    // The owner saw the channel rescinded (Connection's offer flag): link down, tear down, release.
    void on_rescind();
    // Close the device in an orderly way (filter 0, HALT, revoke, close, teardown) — e.g. before a hand-off.
    void stop();
    bool stopped() const { return state_ == BringUp::Stopped; }
    // Bumped on every bring-up step (state change or new version tried): an owner that sees it unchanged for
    // its timeout (say 1 s) while !ready() calls on_timeout().
    uint32_t progress() const { return progress_; }

    // For an owner that needs the device before it goes on (the kernel at boot: the stack wants the MAC):
    // polls the connection and the driver until Ready, calling on_timeout() whenever progress() stood still
    // for step_ns, at most budget_ns in all (clock: now_ns); `between(context)` runs after each round (host
    // tests: the simulated host). Not ready in time, or failed: the device is stopped (bounded by step_ns),
    // and false. Returns ready().
    struct Wait {
        uint64_t (*now_ns)();
        uint64_t step_ns;
        uint64_t budget_ns;
        void (*between)(void* context) = nullptr;
        void* context = nullptr;
    };
    bool bring_up(const Wait& w);

    uint32_t nvsp_version() const { return nvsp_version_; }
    uint32_t relid() const { return relid_; }
    uint32_t recv_sub_alloc_size() const { return sub_alloc_size_; }
    uint32_t recv_sub_alloc_count() const { return sub_alloc_count_; }
    uint32_t send_section_size() const { return section_size_; }
    uint32_t send_section_count() const { return section_count_; }
    uint32_t packet_filter() const { return filter_; }
    size_t rx_frames_lent() const { return rx_lent_; }
    size_t tx_done_pending() const { return tx_done_count_; }  // cookies waiting for the next pass
    size_t tx_sections_busy() const { return sections_busy_; }
    size_t tx_gpa_busy() const { return gpa_busy_; }
    const NetvscStats& stats() const { return stats_; }

    // ---- NicDriver
    const char* name() const override { return name_; }
    const uint8_t* mac() const override { return mac_; }
    uint16_t mtu() const override { return mtu_; }
    bool link_up() const override { return link_; }
    uint32_t link_speed_mbps() const override { return speed_mbps_; }
    uint32_t offloads() const override { return 0; }
    bool start(net::NicClient& client) override;
    net::TxStatus transmit(const net::TxFrame& frame) override;
    void rx_release(void* buffer) override;
    bool add_multicast(const uint8_t mac[6]) override;
    bool remove_multicast(const uint8_t mac[6]) override;
    net::NicCounters counters() const override { return ctr_; }

    // One pass: ring work (bring-up steps, completions, up to `budget` received frames), then delivery to the
    // client (see above). The loop poller calls it (Options::self_poll), else the owner. Returns work done.
    size_t poll(size_t budget);

    static constexpr uint32_t kMaxSections = 1024;
    static constexpr uint32_t kGpaSlots = 32;     // GPA-direct sends in flight (each with a 128-byte header area)
    static constexpr size_t kMaxRxPackets = 256;  // transfer-page packets with frames still lent
    static constexpr size_t kMaxRxFrames = 1024;  // frames queued for delivery or lent at once
    // Cookies waiting for tx_done. Between two deliveries transmit() can queue at most one per section (or
    // slot): sections are freed only by the ring work that precedes a delivery. So the cookies of the delivery
    // under way and those queued during it fit twice the sections.
    static constexpr size_t kTxDoneSlots = 2 * kMaxSections;
    static constexpr uint16_t kRecvBufId = 0xCAFE;  // becomes the transfer page set id
    static constexpr uint16_t kSendBufId = 0;

private:
    Driver(vmbus::Connection& conn, hv::HypercallPort& port, uint32_t relid, vmbus::DmaProvider& dma,
           const Options& opt);
    bool begin();
    net::TxStatus send_failed();
    void advance();
    void fail(const char* why);
    void enter(BringUp s);
    bool send_nvsp(const uint8_t* msg, size_t len, uint64_t tid, bool completion);
    bool send_init();
    bool send_rndis_control(const uint8_t* msg, size_t len);
    bool rndis_query(uint32_t oid);
    void start_rndis();
    bool rndis_set_filter(uint32_t filter);
    void handle_packet(const uint8_t* pkt, size_t len);
    void handle_completion(uint64_t tid, const uint8_t* payload, size_t len);
    void handle_xfer(const vmbus::PacketDescriptor& d, const uint8_t* pkt, size_t len);
    void handle_rndis_control(const uint8_t* msg, size_t len);
    void queue_frame(const uint8_t* frame, uint32_t len, uint16_t slot);
    void put_back(uint16_t ref);
    void finish_packet(uint16_t slot);
    void complete_rx(uint16_t slot);
    size_t flush_rx_completions();
    void malformed(bool data, const char* what, uint64_t value = 0);
    size_t ring_work(size_t budget);
    size_t deliver();
    void queue_tx_done(void* cookie);
    int alloc_section();
    void free_section(uint32_t i);
    int alloc_gpa();
    bool send_gpa(uint32_t slot, size_t head_len, const net::TxFrame* frame, uint32_t channel);
    bool can_send() const;
    void teardown();
    void drain();
    void finish_stop();
    void free_memory();
    static bool poller(void* self);

    // A transfer-page packet from the host: Held while any of its frames is queued for delivery or lent to the
    // client; then completed (if the host asked), or CompletePending while the outbound ring is full.
    struct RxPacket {
        uint64_t tid = 0;
        uint16_t frames = 0;      // queued or lent
        bool completion = false;  // the host asked for a completion
        enum : uint8_t { Free, Held, CompletePending } state = Free;
    };
    // One frame of a packet: its RxFrame::buffer handle.
    struct RxRef {
        const uint8_t* data = nullptr;
        uint32_t len = 0;
        uint16_t packet = 0;
        enum : uint8_t { Free, Queued, Lent } state = Free;
    };

    vmbus::Connection& conn_;
    hv::HypercallPort& port_;
    uint32_t relid_;
    vmbus::DmaProvider& dma_;
    Options opt_;
    BringUp state_ = BringUp::Opening;
    vmbus::Channel channel_;
    dma::Region ring_mem_, recv_mem_, send_mem_, gpa_mem_;
    struct GpaSlot {
        void* cookie = nullptr;  // the frame's, handed back in tx_done at completion (null: control message)
        bool busy = false;
    };
    GpaSlot gpa_[kGpaSlots];
    uint32_t gpa_busy_ = 0;
    uint32_t recv_gpadl_ = 0, send_gpadl_ = 0;
    size_t version_index_ = 0;
    uint32_t nvsp_version_ = 0;
    uint32_t sub_alloc_size_ = 0, sub_alloc_count_ = 0;
    uint32_t section_size_ = 0, section_count_ = 0;
    uint64_t section_bits_[kMaxSections / 64] = {};
    uint32_t sections_busy_ = 0;
    uint32_t rndis_request_ = 0;  // id of the outstanding RNDIS control request (0 = none)
    uint32_t next_request_ = 1;
    uint32_t max_transfer_ = 0;
    bool mac_from_current_ = false;
    uint32_t filter_ = 0;
    uint8_t mac_[6] = {};
    uint16_t mtu_ = 1500;
    bool link_ = false;
    uint32_t speed_mbps_ = 0;
    char name_[40] = "netvsc";
    net::NicClient* client_ = nullptr;
    bool poller_registered_ = false;
    bool want_tx_ready_ = false;
    bool link_client_ = false;  // the link state the client last heard of (start(), then deliveries)
    bool revoked_ = false;
    RxPacket rx_packets_[kMaxRxPackets];
    RxRef rx_refs_[kMaxRxFrames];
    uint16_t rx_free_refs_[kMaxRxFrames];
    size_t rx_free_ref_count_ = 0;
    uint16_t rx_batch_[kMaxRxFrames];  // frames queued by the ring work, delivered in this order
    size_t rx_batch_count_ = 0;
    size_t rx_lent_ = 0;
    size_t rx_complete_pending_ = 0;
    void* tx_done_[kTxDoneSlots];  // FIFO of cookies for tx_done
    size_t tx_done_head_ = 0, tx_done_count_ = 0;
    net::NicCounters ctr_{};
    NetvscStats stats_;
    uint64_t log_budget_ = 0;
    uint32_t progress_ = 0;
    uint8_t* scratch_ = nullptr;  // one inbound packet (at most the inbound ring's data size)
    size_t scratch_size_ = 0;
};

}  // namespace skerry::netvsc
