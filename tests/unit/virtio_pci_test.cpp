// The virtio modern PCI transport in front of the virtio-net device model: configuration space with the vendor
// capabilities (virtio 1.2 "Virtio Structure PCI Capabilities", laid out as QEMU's virtio-pci does: common at BAR4
// +0x0000, ISR +0x1000, device +0x2000, notify +0x3000 with a multiplier of 4), the common configuration registers,
// MSI-X vectors per queue (and a device that refuses them), INTx through the ISR byte, and malformed capabilities.
#include <gtest/gtest.h>

#include <string.h>

#include <map>
#include <memory>
#include <vector>

#include "drivers/bus/pci/pci.hpp"
#include "drivers/bus/pci/pci_env.hpp"
#include "drivers/bus/virtio/pci_transport.hpp"
#include "drivers/nic/virtio_net/virtio_net.hpp"
#include "kernel/event_loop.hpp"
#include "kernel/log.hpp"
#include "virtio_model.hpp"

using namespace skerry;
using virtio::test::NetModel;
namespace cap = virtio::pcicap;

namespace {

constexpr uint64_t kBar4 = 0xFE000000;
constexpr uint32_t kCommon = 0x0000, kIsr = 0x1000, kDevice = 0x2000, kNotify = 0x3000, kMult = 4;

class VirtioPciMachine final : public hw::Model, public pci::Env {
public:
    explicit VirtioPciMachine(NetModel& m) : m_(m) {
        w16(0x00, 0x1AF4);
        w16(0x02, 0x1041);
        w16(0x06, 0x10);  // capability list
        cfg_[0x0B] = 0x02;
        cfg_[0x34] = 0x40;
        // Vendor capabilities: common, ISR, device, notify (20 bytes); then MSI-X.
        add_cap(0x40, 0x50, cap::kCommon, kCommon, 0x38);
        add_cap(0x50, 0x60, cap::kIsr, kIsr, 1);
        add_cap(0x60, 0x70, cap::kDevice, kDevice, 0x10);
        add_cap(0x70, 0x88, cap::kNotify, kNotify, 0x10, 20);
        w32(0x70 + 16, kMult);
        cfg_[0x88] = pci::kCapMsix;
        cfg_[0x89] = 0;
        w16(0x8A, 3 - 1);  // three entries
    }

    pci::Device device() const {
        pci::Device d{};
        d.bus = 0;
        d.dev = 4;
        d.vendor = 0x1AF4;
        d.device = 0x1041;
        d.class_code = 2;
        d.bars[4].kind = pci::Bar::Kind::Mem64;
        d.bars[4].address = kBar4;
        d.bars[4].size = 0x4000;
        d.msix_cap = msix ? 0x88 : 0;
        d.msix_table_size = 3;
        d.irq_pin = 1;
        d.irq_line = 11;
        return d;
    }

    void add_cap(uint8_t at, uint8_t next, uint8_t type, uint32_t offset, uint32_t length, uint8_t len = 16) {
        cfg_[at] = pci::kCapVendor;
        cfg_[at + 1] = next;
        cfg_[at + 2] = len;
        cfg_[at + 3] = type;
        cfg_[at + 4] = 4;  // BAR4
        w32(static_cast<uint16_t>(at + 8), offset);
        w32(static_cast<uint16_t>(at + 12), length);
    }
    void w16(uint16_t off, uint16_t v) { memcpy(cfg_ + off, &v, 2); }
    void w32(uint16_t off, uint32_t v) { memcpy(cfg_ + off, &v, 4); }
    uint8_t* cfg() { return cfg_; }

    // ---- hw::Model: configuration through ports 0xCF8/0xCFC, the BAR's registers.
    uint32_t port_in(uint16_t port, int width) override {
        if (port == 0xCF8) return cf8_;
        if (port >= 0xCFC && port < 0xD00) {
            const unsigned dev = (cf8_ >> 11) & 31, bus = (cf8_ >> 16) & 0xFF;
            if (!(cf8_ & 0x80000000u) || dev != 4 || bus != 0 || ((cf8_ >> 8) & 7)) return 0xFFFFFFFFu;
            const unsigned off = (cf8_ & 0xFC) + (port - 0xCFC);
            uint32_t v = 0;
            memcpy(&v, cfg_ + off, static_cast<size_t>(width));
            return v;
        }
        return 0xFFFFFFFFu;
    }
    void port_out(uint16_t port, uint32_t value, int width) override {
        if (port == 0xCF8) {
            cf8_ = value;
            return;
        }
        if (port >= 0xCFC && port < 0xD00 && (cf8_ & 0x80000000u)) {
            const unsigned off = (cf8_ & 0xFC) + (port - 0xCFC);
            if (off == 0x04) memcpy(cfg_ + off, &value, static_cast<size_t>(width));  // command only
        }
    }
    uint64_t mmio_read(uint64_t phys, int width) override {
        const uint64_t off = phys - kBar4;
        if (off >= kDevice && off < kDevice + 0x10) {
            uint64_t v = 0;
            for (int i = 0; i < width; ++i)
                v |= static_cast<uint64_t>(m_.config_byte(static_cast<uint32_t>(off - kDevice + i))) << (8 * i);
            return v;
        }
        if (off == kIsr) {
            const uint32_t v = m_.isr;
            m_.isr = 0;
            return v;
        }
        switch (off - kCommon) {
        case cap::kDeviceFeature:
            return dev_sel_ == 0   ? static_cast<uint32_t>(m_.offered)
                   : dev_sel_ == 1 ? static_cast<uint32_t>(m_.offered >> 32)
                                   : 0;
        case cap::kConfigMsixVector: return config_vector_;
        case cap::kNumQueues: return 3;
        case cap::kDeviceStatus: return m_.status;
        case cap::kConfigGeneration: return m_.generation;
        case cap::kQueueSize: return sel_ < 2 ? m_.q[sel_].max : 0;
        case cap::kQueueMsixVector: return sel_ < 3 ? queue_vector_[sel_] : 0xFFFF;
        case cap::kQueueEnable: return sel_ < 2 && m_.q[sel_].ready;
        case cap::kQueueNotifyOff: return sel_;  // queue n notifies at n * multiplier
        default: return 0;
        }
    }
    void mmio_write(uint64_t phys, uint64_t value, int) override {
        const uint64_t off = phys - kBar4;
        const auto v = static_cast<uint32_t>(value);
        if (off >= kNotify && off < kNotify + 0x10) {
            if ((off - kNotify) % kMult != 0 || (off - kNotify) / kMult != v)
                m_.violations.push_back("notify at the wrong address");
            m_.notify(static_cast<uint16_t>(v));
            return;
        }
        switch (off - kCommon) {
        case cap::kDeviceFeatureSelect: dev_sel_ = v; break;
        case cap::kDriverFeatureSelect: drv_sel_ = v; break;
        case cap::kDriverFeature:
            if (drv_sel_ == 0) drv_ = (drv_ & ~0xFFFFFFFFull) | v;
            if (drv_sel_ == 1) drv_ = (drv_ & 0xFFFFFFFFull) | static_cast<uint64_t>(v) << 32;
            m_.write_features(drv_);
            break;
        case cap::kConfigMsixVector: config_vector_ = refuse_vectors ? 0xFFFF : static_cast<uint16_t>(v); break;
        case cap::kDeviceStatus: m_.set_status(static_cast<uint8_t>(v)); break;
        case cap::kQueueSelect: sel_ = static_cast<uint16_t>(v); break;
        case cap::kQueueSize:
            if (sel_ < 2) pending_[sel_].size = static_cast<uint16_t>(v);
            break;
        case cap::kQueueMsixVector:
            if (sel_ < 3) queue_vector_[sel_] = refuse_vectors ? 0xFFFF : static_cast<uint16_t>(v);
            break;
        case cap::kQueueDesc:
            if (sel_ < 2) pending_[sel_].desc = (pending_[sel_].desc & ~0xFFFFFFFFull) | v;
            break;
        case cap::kQueueDesc + 4:
            if (sel_ < 2) pending_[sel_].desc = (pending_[sel_].desc & 0xFFFFFFFFull) | static_cast<uint64_t>(v) << 32;
            break;
        case cap::kQueueDriver:
            if (sel_ < 2) pending_[sel_].avail = (pending_[sel_].avail & ~0xFFFFFFFFull) | v;
            break;
        case cap::kQueueDriver + 4:
            if (sel_ < 2)
                pending_[sel_].avail = (pending_[sel_].avail & 0xFFFFFFFFull) | static_cast<uint64_t>(v) << 32;
            break;
        case cap::kQueueDevice:
            if (sel_ < 2) pending_[sel_].used = (pending_[sel_].used & ~0xFFFFFFFFull) | v;
            break;
        case cap::kQueueDevice + 4:
            if (sel_ < 2) pending_[sel_].used = (pending_[sel_].used & 0xFFFFFFFFull) | static_cast<uint64_t>(v) << 32;
            break;
        case cap::kQueueEnable:
            if (sel_ < 2 && v == 1)
                m_.setup_queue(sel_, pending_[sel_].size,
                               {pending_[sel_].desc, pending_[sel_].avail, pending_[sel_].used});
            break;
        default: break;
        }
    }

    // ---- pci::Env: MSI-X entries and INTx "attach" by recording the handler; the model's interrupt calls the one
    // its vector registers name (MSI-X), or the INTx handler (which reads the ISR).
    bool map_mmio(uint64_t, uint64_t) override { return true; }
    bool attach_irq(const pci::Device&, interrupts::Handler h, void* ctx, pci::Irq& out, uint8_t allow) override {
        if (!(allow & pci::kAllowIntx)) return false;
        intx_ = {h, ctx};
        out = {pci::IrqKind::Intx, 0x41, 11, true, true};
        hook();
        return true;
    }
    bool attach_msix_entry(const pci::Device&, uint16_t entry, interrupts::Handler h, void* ctx,
                           pci::Irq& out) override {
        if (!msix || entry >= 3) return false;
        entries_[entry] = {h, ctx};
        out = {pci::IrqKind::Msix, static_cast<uint8_t>(0x50 + entry), 0, false, false};
        hook();
        return true;
    }
    void detach_irq(const pci::Device&, pci::Irq& irq) override {
        if (irq.kind == pci::IrqKind::Intx) intx_ = {};
        if (irq.kind == pci::IrqKind::Msix) entries_.erase(irq.vector - 0x50);
        irq = pci::Irq{};
    }
    void delay_us(uint64_t) override {}

    bool msix = true;
    bool refuse_vectors = false;
    std::map<int, int> msix_hits;
    int intx_hits = 0;

private:
    struct Handler {
        interrupts::Handler fn = nullptr;
        void* ctx = nullptr;
    };
    void hook() {
        m_.interrupt = [this](uint32_t sources) {
            interrupts::Frame f{};
            const bool msix_on = !entries_.empty();
            if (msix_on) {
                for (uint16_t q = 0; q < 2; ++q) {
                    if (!(sources & virtio::irq_queue(q))) continue;
                    const auto it = entries_.find(queue_vector_[q]);
                    if (it != entries_.end() && it->second.fn) {
                        ++msix_hits[queue_vector_[q]];
                        it->second.fn(f, it->second.ctx);
                    }
                }
                if (sources & virtio::kIrqConfig) {
                    const auto it = entries_.find(config_vector_);
                    if (it != entries_.end() && it->second.fn) {
                        ++msix_hits[config_vector_];
                        it->second.fn(f, it->second.ctx);
                    }
                }
            } else if (intx_.fn) {
                ++intx_hits;
                intx_.fn(f, intx_.ctx);
            }
        };
    }

    NetModel& m_;
    uint8_t cfg_[256] = {};
    uint32_t cf8_ = 0;
    uint32_t dev_sel_ = 0, drv_sel_ = 0;
    uint64_t drv_ = 0;
    uint16_t sel_ = 0;
    uint16_t config_vector_ = 0xFFFF;
    uint16_t queue_vector_[3] = {0xFFFF, 0xFFFF, 0xFFFF};
    struct {
        uint16_t size = 0;
        uint64_t desc = 0, avail = 0, used = 0;
    } pending_[2];
    std::map<int, Handler> entries_;
    Handler intx_;
};

class Echo final : public net::NicClient {
public:
    virtio_net::Driver* drv = nullptr;
    std::vector<std::vector<uint8_t>> frames;
    std::vector<bool> links;
    bool receive(const net::RxFrame& f) override {
        const auto* p = static_cast<const uint8_t*>(f.data);
        frames.emplace_back(p, p + f.len);
        net::TxFrame t{};
        t.segs[0] = {f.data, f.len};
        t.count = 1;
        t.total_len = f.len;
        t.cookie = f.buffer;  // zero copy: the receive buffer goes out as is, released when sent
        if (drv->transmit(t) != net::TxStatus::Queued) drv->rx_release(f.buffer);
        return true;
    }
    void tx_done(void* cookie) override { drv->rx_release(cookie); }
    void link_changed(bool up) override { links.push_back(up); }
};

std::vector<uint8_t> frame(size_t len, uint32_t seq) {
    std::vector<uint8_t> f(len);
    for (size_t i = 0; i < len; ++i) f[i] = static_cast<uint8_t>(i * 3 + seq);
    f[0] = 0x52;  // unicast
    f[12] = 0x88;
    f[13] = 0xB5;
    return f;
}

class VirtioPciTest : public ::testing::Test {
protected:
    void SetUp() override {
        log::reset();
        pci::init(nullptr, 0);
        model = std::make_unique<NetModel>(false);
        machine = std::make_unique<VirtioPciMachine>(*model);
        hw::set_model(machine.get());
    }
    void TearDown() override {
        drv.reset();
        t.reset();
        hw::set_model(nullptr);
        if (model) {
            EXPECT_TRUE(model->violations.empty()) << model->violations.front();
        }
        log::reset();
    }
    bool bring_up() {
        t = std::make_unique<virtio::PciTransport>();
        if (!t->init(machine->device(), *machine)) return false;
        drv = std::make_unique<virtio_net::Driver>();
        client.drv = drv.get();
        virtio_net::Options o;
        o.linger_ns = 0;
        return drv->init(*t, o) && drv->start(client);
    }
    void echo_some(int n) {
        for (int i = 0; i < n; ++i) {
            ASSERT_TRUE(model->deliver(frame(60 + static_cast<size_t>(i), static_cast<uint32_t>(i))));
            for (int k = 0; k < 10 && loop::run_once(); ++k) {
            }
            model->process_tx();
            for (int k = 0; k < 10 && loop::run_once(); ++k) {
            }
        }
        ASSERT_EQ(model->sent.size(), static_cast<size_t>(n));
        for (int i = 0; i < n; ++i)
            ASSERT_EQ(model->sent[i].data, frame(60 + static_cast<size_t>(i), static_cast<uint32_t>(i)));
    }

    std::unique_ptr<NetModel> model;
    std::unique_ptr<VirtioPciMachine> machine;
    std::unique_ptr<virtio::PciTransport> t;
    std::unique_ptr<virtio_net::Driver> drv;
    Echo client;
};

TEST_F(VirtioPciTest, DeviceTypeFromIds) {
    pci::Device d{};
    d.vendor = 0x1AF4;
    d.device = 0x1041;
    EXPECT_EQ(virtio::pci_device_type(d), virtio::kTypeNet);
    d.device = 0x1053;
    EXPECT_EQ(virtio::pci_device_type(d), virtio::kTypeVsock);
    d.device = 0x1000;
    d.subsystem_device = 1;
    EXPECT_EQ(virtio::pci_device_type(d), virtio::kTypeNet);  // transitional: the subsystem id says
    d.device = 0x1110;                                        // ivshmem: same vendor, not virtio
    EXPECT_EQ(virtio::pci_device_type(d), 0u);
    d.vendor = 0x8086;
    d.device = 0x1041;
    EXPECT_EQ(virtio::pci_device_type(d), 0u);
}

TEST_F(VirtioPciTest, MsixVectorPerQueueAndEcho) {
    ASSERT_TRUE(bring_up());
    EXPECT_STREQ(t->interrupt_mode(), "MSI-X, 3 vectors");
    ASSERT_NO_FATAL_FAILURE(echo_some(30));
    EXPECT_GT(machine->msix_hits[1], 0);  // receive on entry 1
    EXPECT_GT(machine->msix_hits[2], 0);  // transmit completions on entry 2
    model->set_link(false);
    for (int k = 0; k < 10 && loop::run_once(); ++k) {
    }
    EXPECT_GT(machine->msix_hits[0], 0);  // the configuration change on entry 0
    EXPECT_EQ(client.links, (std::vector<bool>{true, false}));
}

TEST_F(VirtioPciTest, IntxWithoutMsix) {
    machine->msix = false;
    ASSERT_TRUE(bring_up());
    EXPECT_STREQ(t->interrupt_mode(), "INTx GSI 11");
    ASSERT_NO_FATAL_FAILURE(echo_some(20));
    EXPECT_GT(machine->intx_hits, 0);
    EXPECT_EQ(model->isr, 0u);  // the handler read (acknowledged) the ISR
}

TEST_F(VirtioPciTest, DeviceRefusingVectorsFallsBackToIntx) {
    machine->refuse_vectors = true;
    ASSERT_TRUE(bring_up());
    EXPECT_STREQ(t->interrupt_mode(), "INTx GSI 11");
    ASSERT_NO_FATAL_FAILURE(echo_some(5));
}

TEST_F(VirtioPciTest, CapabilityOutsideItsBarIsNotUsed) {
    machine->add_cap(0x40, 0x50, virtio::pcicap::kCommon, 0x3FF0, 0x38);  // runs past the 16 KiB BAR
    t = std::make_unique<virtio::PciTransport>();
    EXPECT_FALSE(t->init(machine->device(), *machine));
}

TEST_F(VirtioPciTest, LegacyOnlyDeviceIsRefused) {
    machine->cfg()[0x34] = 0x88;  // only the MSI-X capability: no virtio structures
    t = std::make_unique<virtio::PciTransport>();
    EXPECT_FALSE(t->init(machine->device(), *machine));
}

TEST_F(VirtioPciTest, CapabilityListLoopIsBounded) {
    machine->cfg()[0x71] = 0x40;  // notify's next points back at the first
    machine->cfg()[0x89] = 0x40;
    ASSERT_TRUE(bring_up());      // every structure was found before the loop closes
    machine->cfg()[0x41] = 0x40;  // a capability pointing at itself, first thing
    virtio::PciTransport again;
    EXPECT_FALSE(again.init(machine->device(), *machine));
}

}  // namespace
