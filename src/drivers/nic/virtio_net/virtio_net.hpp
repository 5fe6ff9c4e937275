// virtio-net (device type 1) on any virtio transport (modern PCI, MMIO v2, MMIO v1 legacy): one receive and one
// transmit queue, MAC and link status from the device configuration, MTU, mergeable receive buffers, checksum offload
// both ways, zero copy both ways. Facts and sources: docs/protocols/virtio.md §7.
//
// Receive: a pool of 2 KiB DMA buffers (twice the ring by default) feeds the receive queue, one device-writable
// buffer per descriptor; a filled buffer goes to the client as it is (the frame starts after the virtio-net header)
// and the queue gets a fresh one. With mergeable buffers negotiated a frame may still claim several buffers
// (num_buffers); we never offer segmentation offloads, so a frame that does is malformed and dropped, with its
// continuation buffers. Transmit: a header descriptor from a per-slot array, then one descriptor per segment of the
// frame (zero copy); tx_done once the device has used the chain.
//
// Passes follow the NIC contract (src/net/nic.hpp): ring work first (reclaim used transmit chains, harvest up to the
// budget of received frames, recover from a broken queue or NEEDS_RESET), then delivery to the client, then a refill.
// Notifications to the device (a trap into the hypervisor each) happen once per loop iteration from the
// end-of-iteration hook, and only when the device asks for them (EVENT_IDX or its NO_NOTIFY flag). Interrupts:
// receive interrupts are re-armed at the end of a pass that emptied the queue (a poller takes over while it does
// not); transmit interrupts fire once per batch (EVENT_IDX: at the last chain in flight). Without an interrupt the
// driver polls on a 1 ms timer. A one-second watchdog checks the device status and the queues.
//
// Nothing the device writes is trusted: the virtqueue drops used elements with bad ids or lengths (virtqueue.hpp), and
// a frame shorter than the header plus an Ethernet header, longer than the MTU allows, or with a bad checksum
// request, is counted and dropped. A device that sets NEEDS_RESET, or whose used index runs wild, is reset and
// traffic resumes; frames in flight go back to the client.
//
// Host tests drive a Driver on a model Transport with poll(), handle_irq(), run_work(), flush() and watchdog(); the
// kernel's factory and registration are in virtio_net_kernel.cpp.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "drivers/bus/virtio/virtio.hpp"
#include "drivers/bus/virtio/virtqueue.hpp"
#include "kernel/dma.hpp"
#include "kernel/timer_queue.hpp"
#include "net/nic.hpp"

namespace skerry::virtio_net {

// Feature bits (§7.1) and configuration offsets (§7.2).
inline constexpr unsigned kFeatCsum = 0, kFeatGuestCsum = 1, kFeatMtu = 3, kFeatMac = 5, kFeatMrgRxbuf = 15,
                          kFeatStatus = 16, kFeatCtrlVq = 17;
inline constexpr uint32_t kCfgMac = 0, kCfgStatus = 6, kCfgMaxPairs = 8, kCfgMtu = 10;
inline constexpr uint16_t kLinkUp = 1, kAnnounce = 2;

// The header in front of every frame (§7.3). 12 bytes with VERSION_1 or MRG_RXBUF, else 10 (no num_buffers).
struct NetHdr {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
    uint16_t num_buffers;
};
static_assert(sizeof(NetHdr) == 12);
inline constexpr uint8_t kHdrNeedsCsum = 1, kHdrDataValid = 2;
inline constexpr uint8_t kGsoNone = 0;
inline constexpr uint16_t kRxQueue = 0, kTxQueue = 1;

struct Options {
    bool use_interrupts = true;
    uint16_t rx_ring = 256;  // at most the device's maximum; a power of two
    uint16_t tx_ring = 256;
    uint16_t rx_buffers = 0;  // 0 = twice the receive ring
    size_t poll_budget = 64;
    // After a pass that received frames, keep polling (receive interrupt off) this long before waiting for an
    // interrupt again: NAPI-style moderation for a device that interrupts once per frame. 0 = interrupt at once.
    uint64_t linger_ns = 200000;
    const uint8_t* fallback_mac = nullptr;  // used when the device has no MAC (else a fixed locally administered one)
};

class Driver final : public net::NicDriver {
public:
    static constexpr uint32_t kBufferSize = 2048;
    static constexpr size_t kMaxRxBuffers = 2048;
    static constexpr size_t kMaxBudget = 256;
    static constexpr uint16_t kMaxMtu = 1500;  // what our 2 KiB buffers and the stack take

    enum class State : uint8_t { Off, Ready, Running, Failed };

    Driver() = default;
    ~Driver() override;
    Driver(const Driver&) = delete;
    Driver& operator=(const Driver&) = delete;

    // Takes over the device: features, MAC, MTU, link; the queues are built by start(). False (logged) when unusable.
    bool init(virtio::Transport& t, const Options& options = Options{});
    static Driver* create(virtio::Transport& t, const Options& options = Options{});

    // net::NicDriver
    const char* name() const override { return name_; }
    const uint8_t* mac() const override { return mac_; }
    uint16_t mtu() const override { return mtu_; }
    bool link_up() const override { return link_up_; }
    uint32_t link_speed_mbps() const override { return 0; }
    uint32_t offloads() const override;
    bool start(net::NicClient& client) override;
    net::TxStatus transmit(const net::TxFrame& frame) override;
    void rx_release(void* buffer) override;
    bool add_multicast(const uint8_t mac[6]) override;
    bool remove_multicast(const uint8_t mac[6]) override;
    net::NicCounters counters() const override;

    size_t poll(size_t budget);
    bool flush();                       // the end-of-iteration hook: publish and notify
    void handle_irq(uint32_t sources);  // the interrupt callback's body (interrupt context)
    void run_work();                    // the raised work
    void watchdog();

    State state() const { return state_; }
    uint64_t features() const { return features_; }
    uint32_t resets() const { return resets_; }
    bool rx_backlog() const { return rx_backlog_; }
    size_t rx_buffers_free() const { return free_count_; }
    size_t rx_buffers_total() const { return buffer_count_; }
    const virtio::Virtqueue& rxq() const { return rxq_; }
    const virtio::Virtqueue& txq() const { return txq_; }

private:
    enum class BufState : uint8_t { Free, Ring, Client };
    struct TxSlot {
        void* cookie;
        uint16_t next_free;
    };
    struct Harvested {
        uint16_t index;
        uint16_t len;
        net::RxChecksum checksum;
    };

    bool read_config();
    bool setup_queues();
    bool bring_up();
    void recover(const char* why);
    void check_device();
    void update_link();
    void deliver();
    void log_summary();

    bool alloc_buffers();
    void free_buffers();
    void* buffer_virt(uint16_t i) const;
    uint64_t buffer_phys(uint16_t i) const;
    bool buffer_index(const void* p, uint16_t& i) const;
    void recycle(uint16_t i);
    void refill();
    size_t rx_harvest(size_t budget);
    net::RxChecksum rx_checksum(const uint8_t* frame, uint32_t len, const NetHdr& h) const;
    size_t tx_reclaim();
    void take_back_all();

    static void on_irq(void* context, uint32_t sources);
    static void on_work(void* context);
    static bool on_poller(void* context);
    static bool on_iteration_end(void* context);
    static void on_timer(void* context);

    virtio::Transport* t_ = nullptr;
    Options opt_{};
    State state_ = State::Off;
    char name_[48] = {};
    uint8_t mac_[6] = {};
    bool mac_from_device_ = false;
    uint16_t mtu_ = kMaxMtu;
    uint64_t features_ = 0;
    uint32_t hdr_len_ = sizeof(NetHdr);
    bool link_up_ = false;
    bool link_report_ = false;
    net::NicClient* client_ = nullptr;
    bool hooked_ = false;
    bool interrupts_on_ = false;
    Timer timer_{};
    uint32_t ticks_ = 0;

    uint32_t pending_ = 0;  // interrupt sources not yet handled (touched with __atomic builtins)
    bool work_queued_ = false;
    bool rx_backlog_ = false;
    bool polling_ = false;       // the poller runs passes (receive interrupt off)
    uint64_t linger_until_ = 0;  // keep polling until then (time::now_ns)

    virtio::Virtqueue rxq_;
    virtio::Virtqueue txq_;
    bool rx_dirty_ = false, tx_dirty_ = false;  // published since the last notification decision
    uint16_t rx_discard_ = 0;                   // continuation buffers of a dropped multi-buffer frame still to come

    static constexpr size_t kChunkBytes = 64 * 1024;
    static constexpr size_t kBuffersPerChunk = kChunkBytes / kBufferSize;
    static constexpr size_t kMaxChunks = kMaxRxBuffers / kBuffersPerChunk;
    dma::Region chunks_[kMaxChunks] = {};
    size_t chunk_count_ = 0;
    uint16_t buffer_count_ = 0;
    BufState buf_state_[kMaxRxBuffers] = {};
    uint16_t free_list_[kMaxRxBuffers] = {};
    uint16_t free_count_ = 0;
    Harvested rx_batch_[kMaxBudget] = {};
    size_t rx_batch_count_ = 0;

    dma::Region tx_hdr_mem_{};  // one NetHdr per transmit slot
    TxSlot tx_slots_[virtio::Virtqueue::kMaxSize] = {};
    uint16_t tx_free_slot_ = 0;
    uint16_t tx_slots_free_ = 0;
    uint16_t tx_inflight_ = 0;  // chains the device holds
    bool tx_blocked_ = false;
    void* tx_done_[virtio::Virtqueue::kMaxSize] = {};
    size_t tx_done_count_ = 0;
    uint32_t tx_completed_ = 0, wd_tx_completed_ = 0;
    uint8_t wd_tx_stalls_ = 0;

    mutable net::NicCounters counters_{};
    uint32_t resets_ = 0;
};

}  // namespace skerry::virtio_net
