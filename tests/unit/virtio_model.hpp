// A virtio-net device model for host tests: the device side of the split rings in host memory (dma_host.cpp gives
// DMA memory whose physical address is the host address), the status/feature handshake, the configuration space, and
// interrupts delivered through a callback. Two front-ends put it behind a transport: DirectTransport (a
// virtio::Transport calling the model) and MmioFront (an hw::Model answering virtio-MMIO register accesses, for the
// real MmioTransport).
//
// The model keeps the driver honest: every rule below that the driver breaks is recorded in violations(), and tests
// require it empty. Each rule cites what it models (virtio 1.2 section titles; QEMU hw/virtio/virtio.c and
// hw/net/virtio-net.c where the behaviour is QEMU's).
//  - features written are a subset of those offered; FEATURES_OK only after they are written ("Device
//    Initialization"); no queue is touched before FEATURES_OK and no notification before DRIVER_OK (QEMU ignores them).
//  - a chain never loops and is at most the queue size long; device-readable buffers come before writable ones
//    ("The Virtqueue Descriptor Table"); receive chains are all writable, transmit chains all readable
//    ("Network Device: Device Operation"); every descriptor address points at memory the test can see (non-zero).
//  - the available index never runs more than the queue size ahead of what the device consumed (QEMU
//    virtqueue_num_heads: "Guest moved used index from ... to ...").
//  - a head the driver makes available is not one the device still holds (QEMU's virtqueue_pop would reuse it).
// And it can misbehave on purpose: bad used ids and lengths, jumps of the used index, configuration changes,
// NEEDS_RESET.
#pragma once

#include <stdint.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "drivers/bus/virtio/mmio_transport.hpp"
#include "drivers/bus/virtio/virtio.hpp"
#include "hw/hw.hpp"

namespace skerry::virtio::test {

class NetModel {
public:
    struct Queue {
        uint16_t max = 256;
        uint16_t size = 0;
        QueueAddresses addr{};
        bool ready = false;
        bool legacy_layout = false;
        uint16_t last_avail = 0;  // the device's next available entry
        uint16_t used_idx = 0;
        std::set<uint16_t> held;  // heads the device took and has not returned
        uint64_t notifies = 0;
    };
    struct TxFrame {
        std::vector<uint8_t> hdr;
        std::vector<uint8_t> data;
    };

    explicit NetModel(bool legacy = false);

    // Configuration the driver reads.
    uint64_t offered;
    uint8_t mac[6] = {0x52, 0x54, 0x00, 0xAB, 0xCD, 0xEF};
    uint16_t status_field = 1;  // LINK_UP
    uint16_t mtu = 1500;
    uint32_t generation = 0;
    uint32_t type = kTypeNet;
    std::vector<uint8_t> config;  // when not empty: the configuration space instead of virtio-net's (vsock: the CID)
    bool legacy;

    // Handshake state.
    uint8_t status = 0;
    uint64_t driver_features = 0;
    bool features_written = false;
    bool refuse_features_ok = false;  // the device does not accept the driver's feature set
    int resets = 0;
    static constexpr uint16_t kQueues = 3;  // virtio-net uses two; virtio-vsock three (its event queue)
    Queue q[kQueues];

    // Interrupts: sources as virtio::kIrq* bits.
    std::function<void(uint32_t)> interrupt;
    uint32_t isr = 0;  // pending INTx/MMIO status (bit 0 used, bit 1 config)
    uint64_t interrupts_raised = 0;

    std::vector<std::string> violations;
    std::vector<TxFrame> sent;
    uint64_t rx_dropped_no_buffer = 0;

    // Driver-facing operations (what a transport front-end forwards).
    void reset();
    void set_status(uint8_t s);
    void write_features(uint64_t f);
    uint8_t config_byte(uint32_t off) const;
    bool setup_queue(uint16_t qi, uint16_t size, const QueueAddresses& a);
    void notify(uint16_t qi);
    uint32_t read_isr();

    // Device actions.
    size_t hdr_len() const;
    bool negotiated(unsigned bit) const { return driver_features & (1ull << bit); }
    // A received frame into the next available receive chain: header (flags, num_buffers) then the bytes; with
    // `len_override` the used length written is that instead of the real one. False when no buffer is available.
    bool deliver(const std::vector<uint8_t>& frame, uint8_t flags = 0, uint16_t num_buffers = 1,
                 uint16_t csum_start = 0, uint16_t csum_offset = 0, int64_t len_override = -1);
    // Raw packets for devices without the net header (vsock): `bytes` into the next chain of queue qi (len_override:
    // the used length written instead), and every available chain of qi taken (device-readable) as bytes.
    bool deliver_raw(uint16_t qi, const std::vector<uint8_t>& bytes, int64_t len_override = -1);
    std::vector<std::vector<uint8_t>> take_raw(uint16_t qi);
    // Consumes every available transmit chain into sent (applying NEEDS_CSUM as a device would). Returns how many.
    size_t process_tx();
    // Misbehaviour.
    void push_used_raw(uint16_t qi, uint32_t id, uint32_t len, bool signal = true);
    void bump_used_idx(uint16_t qi, uint16_t by);
    void set_link(bool up);
    void set_needs_reset();
    void config_changed();

    uint16_t avail_idx(uint16_t qi) const;
    uint16_t used_event(uint16_t qi) const;
    uint16_t avail_flags(uint16_t qi) const;
    void set_avail_event(uint16_t qi, uint16_t v);

private:
    void violation(const std::string& what) { violations.push_back(what); }
    bool read_chain(uint16_t qi, uint16_t head, bool want_write, std::vector<std::pair<uint64_t, uint32_t>>& bufs);
    void push_used(uint16_t qi, uint16_t id, uint32_t len);
    void signal_used(uint16_t qi, uint16_t old_idx);
    uint8_t* ptr(uint64_t phys) const { return reinterpret_cast<uint8_t*>(static_cast<uintptr_t>(phys)); }
    uint64_t used_base(uint16_t qi) const { return q[qi].addr.used; }
};

// A virtio::Transport straight onto the model.
class DirectTransport final : public Transport {
public:
    explicit DirectTransport(NetModel& m, const char* kind = "model") : m_(m), kind_(kind) {}
    uint32_t device_type() const override { return m_.type; }
    const char* location() const override { return "model 0"; }
    const char* kind() const override { return kind_; }
    bool legacy() const override { return m_.legacy; }
    void reset() override { m_.reset(); }
    uint8_t status() override { return m_.status; }
    void set_status(uint8_t s) override { m_.set_status(s); }
    uint64_t device_features() override { return m_.offered; }
    void set_driver_features(uint64_t f) override { m_.write_features(f); }
    uint8_t config8(uint32_t off) override { return m_.config_byte(off); }
    uint16_t config16(uint32_t off) override {
        return static_cast<uint16_t>(m_.config_byte(off) | m_.config_byte(off + 1) << 8);
    }
    uint32_t config32(uint32_t off) override {
        return static_cast<uint32_t>(config16(off)) | static_cast<uint32_t>(config16(off + 2)) << 16;
    }
    uint32_t config_generation() override { return m_.generation; }
    bool attach_interrupts(uint16_t, IrqCallback cb, void* ctx) override {
        if (!with_interrupts) return false;
        m_.interrupt = [cb, ctx](uint32_t s) { cb(ctx, s); };
        return true;
    }
    void detach_interrupts() override { m_.interrupt = nullptr; }
    const char* interrupt_mode() const override { return with_interrupts ? "model" : "none (polled)"; }
    uint16_t max_queue_size(uint16_t q) override { return q < NetModel::kQueues && !m_.q[q].ready ? m_.q[q].max : 0; }
    bool setup_queue(uint16_t q, uint16_t size, const QueueAddresses& a) override { return m_.setup_queue(q, size, a); }
    void notify(uint16_t q) override { m_.notify(q); }
    uint32_t read_isr() override { return m_.read_isr(); }

    bool with_interrupts = true;

private:
    NetModel& m_;
    const char* kind_;
};

// virtio-MMIO registers at `base` in front of the model (an hw::Model), and an MmioEnv whose interrupt line is the
// model's interrupt callback.
class MmioFront final : public hw::Model, public MmioEnv {
public:
    MmioFront(NetModel& m, uint64_t base, uint32_t version) : m_(m), base_(base), version_(version) {}
    uint64_t mmio_read(uint64_t phys, int width) override;
    void mmio_write(uint64_t phys, uint64_t value, int width) override;
    bool map_mmio(uint64_t, uint64_t) override { return true; }
    bool attach_gsi(uint32_t gsi, bool level, bool active_low, interrupts::Handler h, void* ctx,
                    uint8_t& vector) override;
    bool gsi_level = false, gsi_active_low = false;
    void detach_gsi(uint32_t, uint8_t) override { handler_ = nullptr; }
    void delay_us(uint64_t) override {}

    uint32_t gsi = 0;
    uint32_t device_id = kTypeNet;

private:
    NetModel& m_;
    uint64_t base_;
    uint32_t version_;
    uint32_t dev_sel_ = 0, drv_sel_ = 0, queue_sel_ = 0;
    uint32_t page_size_ = 0;
    uint64_t drv_features_ = 0;
    struct Pending {
        uint16_t num = 0;
        uint64_t desc = 0, avail = 0, used = 0;
    } pending_[2];
    interrupts::Handler handler_ = nullptr;
    void* handler_ctx_ = nullptr;
};

}  // namespace skerry::virtio::test
