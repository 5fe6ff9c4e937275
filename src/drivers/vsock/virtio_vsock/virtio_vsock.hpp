// virtio-vsock (device type 19) on any virtio transport: the host<->guest stream channel of Firecracker and QEMU/KVM
// (vhost-vsock, vhost-user-vsock). Three queues: 0 receive (device -> driver packets), 1 transmit, 2 events
// (TRANSPORT_RESET). The guest's CID comes from the configuration. Packets are a 44-byte header and a payload in one
// buffer; the stream protocol above them (connections, credit) is net::vsock::Engine, which this driver owns and feeds.
// Facts and sources: docs/protocols/virtio-vsock.md.
//
// Receive: 4 KiB DMA buffers, one device-writable descriptor each (header and payload); a used buffer is checked (at
// least a header, the header's length within what the device wrote, within the buffer), handed to the engine, which
// copies the payload, and goes straight back to the queue. Transmit: each packet is copied into a 4 KiB slot (header
// then payload, one readable descriptor), so the engine's send buffer is free again at once; the engine cuts its
// packets to fit (Engine::set_max_payload). Events: eight 8-byte buffers.
//
// Passes as in the NIC contract (src/net/nic.hpp): ring work first (reclaim transmit slots, harvest received packets
// and events up to the budget), then delivery to the engine (which may call the application, which may send: sending
// only fills transmit slots), then refill; notifications once per loop iteration from the end-of-iteration hook.
// Nothing from the device is trusted: bad lengths, wrong CIDs, unknown ops and events are counted and dropped.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "drivers/bus/virtio/virtio.hpp"
#include "drivers/bus/virtio/virtqueue.hpp"
#include "kernel/dma.hpp"
#include "kernel/timer_queue.hpp"
#include "net/vsock/engine.hpp"

namespace skerry::virtio_vsock {

inline constexpr uint16_t kRxQueue = 0, kTxQueue = 1, kEventQueue = 2;
inline constexpr uint32_t kEventTransportReset = 0;

struct Counters {
    uint64_t rx_packets, tx_packets;
    uint64_t rx_bad;      // shorter than a header, or a length beyond what the device wrote
    uint64_t tx_no_room;  // send() found no free slot (the engine waits for device_ready)
    uint64_t events, bad_events, transport_resets;
    uint64_t device_errors;
    uint64_t interrupts;
};

struct Options {
    bool use_interrupts = true;
    uint16_t rx_ring = 128;
    uint16_t tx_ring = 128;
    uint64_t linger_ns = 200000;  // as virtio-net: keep polling this long after a pass that received
};

class Driver final : public net::vsock::Device {
public:
    static constexpr uint32_t kBufferSize = 4096;
    static constexpr uint16_t kEventBuffers = 8;
    static constexpr size_t kBudget = 64;

    Driver() : engine_(*this) {}
    ~Driver();
    Driver(const Driver&) = delete;
    Driver& operator=(const Driver&) = delete;

    // Negotiates, reads the CID, builds the queues and starts; false (logged) when unusable.
    bool init(virtio::Transport& t, const Options& options = Options{});
    static Driver* create(virtio::Transport& t, const Options& options = Options{});

    net::vsock::Engine& engine() { return engine_; }
    const char* name() const { return name_; }

    // net::vsock::Device
    uint64_t local_cid() const override { return cid_; }
    bool send(const net::vsock::Header& h, const uint8_t* payload, uint32_t len) override;

    size_t poll(size_t budget);
    bool flush();
    void handle_irq(uint32_t sources);
    void run_work();
    const Counters& counters() const { return ctr_; }
    bool running() const { return running_; }

private:
    bool read_cid(uint64_t& out);
    bool setup_queues();
    void refill_rx();
    void refill_events();
    size_t reclaim_tx();

    static void on_irq(void* context, uint32_t sources);
    static void on_work(void* context);
    static bool on_poller(void* context);
    static bool on_iteration_end(void* context);
    static void on_timer(void* context);

    net::vsock::Engine engine_;
    virtio::Transport* t_ = nullptr;
    Options opt_{};
    char name_[48] = {};
    uint64_t cid_ = 0;
    uint64_t features_ = 0;
    bool running_ = false;
    bool interrupts_on_ = false;
    bool hooked_ = false;
    Timer timer_{};

    virtio::Virtqueue rxq_, txq_, evq_;
    dma::Region rx_mem_{}, tx_mem_{}, ev_mem_{};
    uint16_t tx_free_[virtio::Virtqueue::kMaxSize] = {};
    uint16_t tx_free_count_ = 0;
    bool tx_waiting_ = false;  // the engine was told no: tell it when a slot frees
    bool rx_dirty_ = false, tx_dirty_ = false, ev_dirty_ = false;

    uint32_t pending_ = 0;
    bool work_queued_ = false;
    bool polling_ = false;
    uint64_t linger_until_ = 0;
    Counters ctr_{};
};

}  // namespace skerry::virtio_vsock
