// PCI: configuration access (ports 0xCF8/0xCFC and ECAM), enumeration, BAR sizing, capability walks,
// MSI and MSI-X programming, the log lines, and driver matching (registry.hpp: ID tables, factories, the device
// registry's records). A fake machine models configuration space with per-byte
// write masks (so BARs answer the all-ones probe with their size) and one MMIO BAR holding an MSI-X table.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "drivers/bus/pci/pci.hpp"
#include "drivers/bus/pci/registry.hpp"
#include "drivers/devices.hpp"
#include "hw/hw.hpp"
#include "kernel/log.hpp"
#include "net/nic.hpp"
#include "stub_nic.hpp"

using namespace skerry;
using pci::Bar;

namespace {

struct Function {
    uint8_t cfg[4096] = {};
    uint8_t wmask[4096] = {};  // writable bits per byte

    void w8(uint16_t off, uint8_t v) { cfg[off] = v; }
    void w16(uint16_t off, uint16_t v) { std::memcpy(cfg + off, &v, 2); }
    void w32(uint16_t off, uint32_t v) { std::memcpy(cfg + off, &v, 4); }
    uint16_t r16(uint16_t off) const {
        uint16_t v;
        std::memcpy(&v, cfg + off, 2);
        return v;
    }
    uint32_t r32(uint16_t off) const {
        uint32_t v;
        std::memcpy(&v, cfg + off, 4);
        return v;
    }
    void mask32(uint16_t off, uint32_t m) { std::memcpy(wmask + off, &m, 4); }
    void mask16(uint16_t off, uint16_t m) { std::memcpy(wmask + off, &m, 2); }
};

class FakePci : public hw::Model {
public:
    static constexpr uint64_t kEcamBase = 0xB0000000;  // QEMU q35
    static constexpr uint64_t kMsixBar = 0xFEBF0000;

    FakePci() : msix_table(0x4000, 0) {
        for (size_t e = 0; e < 0x4000 / 16; ++e) msix_table[e * 16 + 12] = 1;  // every vector masked at reset
    }

    // A function with ids, class and a header; command register writable (IO, MEM, BM, INTx disable).
    Function& add(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t vendor, uint16_t device, uint32_t class_rev,
                  uint8_t header = 0) {
        Function& f = fns[key(bus, dev, fn)];
        f.w16(0x00, vendor);
        f.w16(0x02, device);
        f.w32(0x08, class_rev);
        f.w8(0x0E, header);
        f.mask16(0x04, 0x0407);
        f.wmask[0x3C] = 0xFF;
        return f;
    }
    Function* get(uint8_t bus, uint8_t dev, uint8_t fn) {
        auto it = fns.find(key(bus, dev, fn));
        return it == fns.end() ? nullptr : &it->second;
    }

    // ---- hw::Model
    uint32_t port_in(uint16_t port, int width) override {
        ++port_accesses;
        if (port >= 0xCFC && port < 0xD00) {
            if (!(cf8 & 0x80000000u)) return 0xFFFFFFFFu;
            return cfg_read(static_cast<uint8_t>(cf8 >> 16), (cf8 >> 11) & 31, (cf8 >> 8) & 7,
                            static_cast<uint16_t>((cf8 & 0xFC) + (port - 0xCFC)), width);
        }
        if (port == 0xCF8 && width == 4) return cf8;
        ADD_FAILURE() << "port_in " << std::hex << port;
        return 0xFFFFFFFFu;
    }
    void port_out(uint16_t port, uint32_t value, int width) override {
        ++port_accesses;
        if (port == 0xCF8 && width == 4) {
            cf8 = value;
            return;
        }
        if (port >= 0xCFC && port < 0xD00 && (cf8 & 0x80000000u)) {
            cfg_write(static_cast<uint8_t>(cf8 >> 16), (cf8 >> 11) & 31, (cf8 >> 8) & 7,
                      static_cast<uint16_t>((cf8 & 0xFC) + (port - 0xCFC)), value, width);
            return;
        }
        ADD_FAILURE() << "port_out " << std::hex << port;
    }
    uint64_t mmio_read(uint64_t phys, int width) override {
        if (phys >= kEcamBase && phys < kEcamBase + (256ull << 20)) {
            ++ecam_accesses;
            const uint64_t o = phys - kEcamBase;
            return cfg_read(static_cast<uint8_t>(o >> 20), (o >> 15) & 31, (o >> 12) & 7, o & 0xFFF, width);
        }
        if (phys >= kMsixBar && phys + width <= kMsixBar + msix_table.size()) {
            uint64_t v = 0;
            std::memcpy(&v, &msix_table[phys - kMsixBar], width);
            return v;
        }
        ADD_FAILURE() << "mmio_read " << std::hex << phys;
        return ~0ull;
    }
    void mmio_write(uint64_t phys, uint64_t value, int width) override {
        if (phys >= kEcamBase && phys < kEcamBase + (256ull << 20)) {
            ++ecam_accesses;
            const uint64_t o = phys - kEcamBase;
            cfg_write(static_cast<uint8_t>(o >> 20), (o >> 15) & 31, (o >> 12) & 7, o & 0xFFF,
                      static_cast<uint32_t>(value), width);
            return;
        }
        if (phys >= kMsixBar && phys + width <= kMsixBar + msix_table.size()) {
            std::memcpy(&msix_table[phys - kMsixBar], &value, width);
            return;
        }
        ADD_FAILURE() << "mmio_write " << std::hex << phys;
    }

    uint32_t msix32(size_t off) const {
        uint32_t v;
        std::memcpy(&v, &msix_table[off], 4);
        return v;
    }

    // A BAR write with the function's decode still on (it must be off while BARs are sized).
    int bar_writes = 0, bar_writes_decoding = 0;
    int port_accesses = 0, ecam_accesses = 0;
    std::vector<uint8_t> msix_table;

private:
    static uint32_t key(uint8_t bus, unsigned dev, unsigned fn) { return (bus << 8) | (dev << 3) | fn; }

    uint32_t cfg_read(uint8_t bus, unsigned dev, unsigned fn, uint64_t off, int width) {
        EXPECT_EQ(off % width, 0u) << "misaligned config read";
        Function* f = get(bus, static_cast<uint8_t>(dev), static_cast<uint8_t>(fn));
        if (!f) return width == 4 ? 0xFFFFFFFFu : width == 2 ? 0xFFFFu : 0xFFu;
        uint32_t v = 0;
        std::memcpy(&v, f->cfg + off, width);
        return v;
    }
    void cfg_write(uint8_t bus, unsigned dev, unsigned fn, uint64_t off, uint32_t value, int width) {
        EXPECT_EQ(off % width, 0u) << "misaligned config write";
        Function* f = get(bus, static_cast<uint8_t>(dev), static_cast<uint8_t>(fn));
        if (!f) return;
        const uint8_t header = f->cfg[0x0E] & 0x7F;
        const uint64_t bar_end = header == 0 ? 0x28 : header == 1 ? 0x18 : 0x10;
        if (off >= 0x10 && off < bar_end) {
            ++bar_writes;
            if (f->r16(0x04) & 3) ++bar_writes_decoding;
        }
        for (int i = 0; i < width; ++i) {
            const uint8_t b = static_cast<uint8_t>(value >> (8 * i));
            uint8_t& c = f->cfg[off + i];
            c = static_cast<uint8_t>((c & ~f->wmask[off + i]) | (b & f->wmask[off + i]));
        }
    }

    std::map<uint32_t, Function> fns;
    uint32_t cf8 = 0;
};

// q35-like machine plus a few troublemakers.
void build(FakePci& m) {
    m.add(0, 0, 0, 0x8086, 0x29C0, 0x06000002);  // host bridge
    // 00:01: multifunction ISA bridge with functions 0, 2 and 3 (1 absent).
    m.add(0, 1, 0, 0x8086, 0x2918, 0x06010002, 0x80);
    m.add(0, 1, 2, 0x8086, 0x2922, 0x01060102);
    Function& smbus = m.add(0, 1, 3, 0x8086, 0x2930, 0x0C050002);
    smbus.w32(0x20, 0x0701);  // BAR4 io 0x700/64
    smbus.mask32(0x20, 0xFFC0);
    smbus.w8(0x3D, 1);
    smbus.w8(0x3C, 10);

    // 00:02.0 e1000-like.
    Function& e = m.add(0, 2, 0, 0x8086, 0x100E, 0x02000003);
    e.w16(0x04, 0x0003);      // the firmware turned decode on
    e.w32(0x10, 0xFEB80000);  // BAR0 mem32 128K
    e.mask32(0x10, 0xFFFE0000);
    e.w32(0x14, 0xC001);  // BAR1 io 64, 16-bit decode (upper half reads 0)
    e.mask32(0x14, 0x0000FFC0);
    e.w32(0x18, 0x0000000C);  // BAR2/3 mem64 prefetchable 16M at 0x8_0000_0000
    e.mask32(0x18, 0xFF000000);
    e.w32(0x1C, 0x8);
    e.mask32(0x1C, 0xFFFFFFFF);
    e.w32(0x20, FakePci::kMsixBar);  // BAR4 mem32 16K (MSI-X table)
    e.mask32(0x20, 0xFFFFC000);
    e.w16(0x2C, 0x8086);
    e.w16(0x2E, 0x0001);
    e.w8(0x3C, 11);
    e.w8(0x3D, 1);
    e.w16(0x06, 0x0010);  // capability list
    e.w8(0x34, 0x40);
    // MSI at 0x40: 64-bit, per-vector masking, 8 messages capable.
    e.w8(0x40, 0x05);
    e.w8(0x41, 0x60);
    e.w16(0x42, 0x0186);
    e.mask16(0x42, 0x0071);
    for (uint16_t o = 0x44; o < 0x58; ++o) e.wmask[o] = 0xFF;
    e.w32(0x50, 0xFFFFFFFF);  // mask bits
    // Vendor-specific at 0x60.
    e.w8(0x60, 0x09);
    e.w8(0x61, 0x70);
    e.w8(0x62, 0x10);
    // MSI-X at 0x70: 3 entries, table in BAR4 at 0, PBA in BAR4 at 0x800.
    e.w8(0x70, 0x11);
    e.w8(0x71, 0x00);
    e.w16(0x72, 0x0002);
    e.mask16(0x72, 0xC000);
    e.w32(0x74, 0x00000004);
    e.w32(0x78, 0x00000804);
    e.w32(0x100, 0x00010001);  // an extended capability header (ECAM only)

    // 00:03.0 capability loop 0x40 -> 0x50 -> 0x40.
    Function& loop = m.add(0, 3, 0, 0x1234, 0x0003, 0xFF000000);
    loop.w16(0x06, 0x0010);
    loop.w8(0x34, 0x40);
    loop.w8(0x40, 0x09);
    loop.w8(0x41, 0x50);
    loop.w8(0x50, 0x01);
    loop.w8(0x51, 0x40);
    // 00:04.0 capability pointer below 0x40.
    Function& low = m.add(0, 4, 0, 0x1234, 0x0004, 0xFF000000);
    low.w16(0x06, 0x0010);
    low.w8(0x34, 0x20);
    // 00:05.0 32-bit MSI without masking; the pointer's low bits are reserved and ignored.
    Function& m32 = m.add(0, 5, 0, 0x1234, 0x0005, 0x07000001);
    m32.w16(0x06, 0x0010);
    m32.w8(0x34, 0x47);
    m32.w8(0x44, 0x05);
    m32.w8(0x45, 0x00);
    m32.w16(0x46, 0x0000);
    m32.mask16(0x46, 0x0071);
    for (uint16_t o = 0x48; o < 0x50; ++o) m32.wmask[o] = 0xFF;
    m32.w32(0x50, 0xA5A5A5A5);  // past the 32-bit layout: must stay untouched
    // 00:06.0 capability pointer set but the status bit clear: no list.
    Function& nocap = m.add(0, 6, 0, 0x1234, 0x0006, 0xFF000000);
    nocap.w8(0x34, 0x40);
    nocap.w8(0x40, 0x05);
    // 00:07.0 PCI bridge (header type 1: two BARs; the rest of its header is not BARs).
    Function& br = m.add(0, 7, 0, 0x8086, 0x244E, 0x06040000, 0x01);
    br.w32(0x10, 0xD001);
    br.mask32(0x10, 0xFFFFFFF0);  // io 16
    br.w32(0x18, 0x00010100);     // bus numbers: must not be sized as a BAR
    br.mask32(0x18, 0x00FFFFFF);
    // 01:00.0 virtio-net (modern): vendor capabilities, MSI-X whose table BIR points at an absent BAR.
    Function& v = m.add(1, 0, 0, 0x1AF4, 0x1041, 0x02000001);
    v.w32(0x20, 0xFE00000C);  // BAR4 mem64 pref 16K
    v.mask32(0x20, 0xFFFFC000);
    v.mask32(0x24, 0xFFFFFFFF);
    v.w16(0x06, 0x0010);
    v.w8(0x34, 0x84);
    v.w8(0x84, 0x09);
    v.w8(0x85, 0x70);
    v.w8(0x70, 0x09);
    v.w8(0x71, 0x60);
    v.w8(0x60, 0x09);
    v.w8(0x61, 0x98);
    v.w8(0x98, 0x11);
    v.w8(0x99, 0x00);
    v.w16(0x9A, 0x0002);
    v.w32(0x9C, 0x00000005);  // BIR 5: not implemented
    // ff:1f.0 / ff:1f.7: the very last bus, device and function are reachable.
    m.add(255, 31, 0, 0x1234, 0x00FF, 0x08800000, 0x80);
    m.add(255, 31, 7, 0x1234, 0x01FF, 0x08800000);
}

constexpr size_t kExpectedDevices = 13;

class PciTest : public ::testing::Test {
protected:
    void SetUp() override {
        build(model);
        hw::set_model(&model);
        log::reset();
    }
    void TearDown() override {
        hw::set_model(nullptr);
        log::reset();
    }
    const pci::Device& dev(uint16_t vendor, uint16_t id) {
        const pci::Device* d = pci::find(vendor, id);
        EXPECT_NE(d, nullptr) << std::hex << vendor << ":" << id;
        static pci::Device none{};
        return d ? *d : none;
    }
    FakePci model;
};

TEST_F(PciTest, LegacyEnumerationFindsEveryFunction) {
    pci::init(nullptr, 0);
    EXPECT_FALSE(pci::ecam());
    ASSERT_EQ(pci::enumerate(), kExpectedDevices);
    ASSERT_EQ(pci::count(), kExpectedDevices);
    EXPECT_EQ(model.ecam_accesses, 0);

    const pci::Device& hb = pci::device(0);
    EXPECT_EQ(hb.vendor, 0x8086);
    EXPECT_EQ(hb.device, 0x29C0);
    EXPECT_EQ(hb.class_code, 0x06);
    EXPECT_EQ(hb.subclass, 0x00);
    EXPECT_EQ(hb.revision, 0x02);

    // Multifunction: functions 0, 2, 3 of device 1, in order; function 1 is absent.
    EXPECT_TRUE(pci::device(1).multifunction);
    EXPECT_EQ(pci::device(1).fn, 0);
    EXPECT_EQ(pci::device(2).fn, 2);
    EXPECT_EQ(pci::device(2).prog_if, 0x01);
    EXPECT_EQ(pci::device(3).fn, 3);
    EXPECT_EQ(pci::device(3).irq_pin, 1);
    EXPECT_EQ(pci::device(3).irq_line, 10);

    const pci::Device& e = dev(0x8086, 0x100E);
    EXPECT_EQ(e.bus, 0);
    EXPECT_EQ(e.dev, 2);
    EXPECT_EQ(e.subsystem_vendor, 0x8086);
    EXPECT_EQ(e.subsystem_device, 0x0001);
    EXPECT_EQ(e.irq_line, 11);
    EXPECT_EQ(e.irq_pin, 1);

    const pci::Device& v = dev(0x1AF4, 0x1041);
    EXPECT_EQ(v.bus, 1);
    const pci::Device& last = dev(0x1234, 0x01FF);
    EXPECT_EQ(last.bus, 255);
    EXPECT_EQ(last.dev, 31);
    EXPECT_EQ(last.fn, 7);

    // find() with a start index.
    const pci::Device* first_1234 = pci::find(0x1234, 0x0003);
    ASSERT_NE(first_1234, nullptr);
    EXPECT_EQ(pci::find(0x1234, 0x0003, static_cast<size_t>(first_1234 - &pci::device(0)) + 1), nullptr);
    EXPECT_EQ(pci::find(0xDEAD, 0xBEEF), nullptr);

    // Enumerating again gives the same list (no duplicates).
    EXPECT_EQ(pci::enumerate(), kExpectedDevices);
}

TEST_F(PciTest, BarsAreSizedAndRestored) {
    const Function before = *model.get(0, 2, 0);
    pci::init(nullptr, 0);
    pci::enumerate();
    const pci::Device& e = dev(0x8086, 0x100E);
    EXPECT_EQ(e.bars[0].kind, Bar::Kind::Mem32);
    EXPECT_EQ(e.bars[0].address, 0xFEB80000u);
    EXPECT_EQ(e.bars[0].size, 128u * 1024);
    EXPECT_FALSE(e.bars[0].prefetchable);
    EXPECT_EQ(e.bars[1].kind, Bar::Kind::Io);
    EXPECT_EQ(e.bars[1].address, 0xC000u);
    EXPECT_EQ(e.bars[1].size, 64u);
    EXPECT_EQ(e.bars[2].kind, Bar::Kind::Mem64);
    EXPECT_TRUE(e.bars[2].prefetchable);
    EXPECT_EQ(e.bars[2].address, 0x800000000ull);
    EXPECT_EQ(e.bars[2].size, 16u << 20);
    EXPECT_EQ(e.bars[3].kind, Bar::Kind::None);  // the upper half of BAR2
    EXPECT_EQ(e.bars[4].kind, Bar::Kind::Mem32);
    EXPECT_EQ(e.bars[4].size, 16u * 1024);
    EXPECT_EQ(e.bars[5].kind, Bar::Kind::None);

    // Original BAR values and the command register are back; nothing was written with decode on.
    const Function& after = *model.get(0, 2, 0);
    for (uint16_t off = 0x10; off < 0x28; off += 4) EXPECT_EQ(after.r32(off), before.r32(off)) << std::hex << off;
    EXPECT_EQ(after.r16(0x04), 0x0003);
    EXPECT_GT(model.bar_writes, 0);
    EXPECT_EQ(model.bar_writes_decoding, 0);

    const pci::Device& smbus = pci::device(3);
    EXPECT_EQ(smbus.bars[4].kind, Bar::Kind::Io);
    EXPECT_EQ(smbus.bars[4].address, 0x700u);
    EXPECT_EQ(smbus.bars[4].size, 64u);

    const pci::Device& v = dev(0x1AF4, 0x1041);
    EXPECT_EQ(v.bars[4].kind, Bar::Kind::Mem64);
    EXPECT_EQ(v.bars[4].address, 0xFE000000u);
    EXPECT_EQ(v.bars[4].size, 16u * 1024);

    // The bridge: two BARs only; its bus-number register was not probed.
    const pci::Device& br = dev(0x8086, 0x244E);
    EXPECT_EQ(br.header_type, 1);
    EXPECT_EQ(br.bars[0].kind, Bar::Kind::Io);
    EXPECT_EQ(br.bars[0].size, 16u);
    EXPECT_EQ(model.get(0, 7, 0)->r32(0x18), 0x00010100u);
    for (int i = 1; i < 6; ++i) EXPECT_EQ(br.bars[i].kind, Bar::Kind::None);
}

TEST_F(PciTest, CapabilitiesAndBadLists) {
    pci::init(nullptr, 0);
    pci::enumerate();
    const pci::Device& e = dev(0x8086, 0x100E);
    EXPECT_EQ(e.msi_cap, 0x40);
    EXPECT_EQ(e.msix_cap, 0x70);
    EXPECT_EQ(e.msix_table_size, 3);
    EXPECT_EQ(e.vendor_cap_count, 1);
    EXPECT_EQ(e.cap_count, 3);
    EXPECT_FALSE(e.cap_list_bad);
    EXPECT_EQ(e.find_capability(pci::kCapMsi), 0x40);
    EXPECT_EQ(e.find_capability(pci::kCapMsix), 0x70);
    EXPECT_EQ(e.find_capability(pci::kCapVendor), 0x60);
    EXPECT_EQ(e.find_capability(pci::kCapPcie), 0);

    const pci::Device& loop = dev(0x1234, 0x0003);
    EXPECT_TRUE(loop.cap_list_bad);
    EXPECT_EQ(loop.cap_count, 2);
    EXPECT_EQ(loop.find_capability(0x01), 0x50);
    EXPECT_EQ(loop.find_capability(0x77), 0);  // terminates

    const pci::Device& low = dev(0x1234, 0x0004);
    EXPECT_TRUE(low.cap_list_bad);
    EXPECT_EQ(low.cap_count, 0);
    EXPECT_EQ(low.find_capability(0x05), 0);

    const pci::Device& m32 = dev(0x1234, 0x0005);
    EXPECT_EQ(m32.msi_cap, 0x44);
    EXPECT_FALSE(m32.cap_list_bad);

    const pci::Device& nocap = dev(0x1234, 0x0006);
    EXPECT_EQ(nocap.cap_count, 0);
    EXPECT_EQ(nocap.msi_cap, 0);
    EXPECT_FALSE(nocap.cap_list_bad);

    const pci::Device& v = dev(0x1AF4, 0x1041);
    EXPECT_EQ(v.vendor_cap_count, 3);
    EXPECT_EQ(v.msix_cap, 0x98);
}

TEST_F(PciTest, EcamAccess) {
    const pci::EcamRegion regions[] = {{FakePci::kEcamBase, 0, 0, 255}, {0xC0000000, 0, 9, 3}};
    pci::init(regions, 2);  // the second region is invalid and ignored
    EXPECT_TRUE(pci::ecam());
    ASSERT_EQ(pci::enumerate(), kExpectedDevices);
    EXPECT_EQ(model.port_accesses, 0);
    EXPECT_GT(model.ecam_accesses, 0);
    const pci::Device& e = dev(0x8086, 0x100E);
    EXPECT_EQ(e.read32(0x100), 0x00010001u);  // extended configuration space
    EXPECT_EQ(e.bars[0].size, 128u * 1024);
    EXPECT_EQ(model.get(0, 2, 0)->r32(0x10), 0xFEB80000u);
    EXPECT_EQ(model.bar_writes_decoding, 0);
    EXPECT_EQ(pci::config_read8(0, 0, 2, 0, 0x08), 0x03);
    EXPECT_EQ(pci::config_read16(0, 0, 2, 0, 0x02), 0x100E);
    EXPECT_EQ(pci::config_read32(1, 0, 2, 0, 0x00), 0xFFFFFFFFu);  // segment 1: no region, no ports

    // Legacy access cannot reach the extended space.
    pci::init(nullptr, 0);
    EXPECT_EQ(pci::config_read32(0, 0, 2, 0, 0x100), 0xFFFFFFFFu);
    EXPECT_EQ(pci::config_read16(0, 0, 2, 0, 0x02), 0x100E);
    EXPECT_EQ(pci::config_read8(0, 0, 2, 0, 0x3C), 11);
}

TEST_F(PciTest, EcamRegionCoversOnlyItsBuses) {
    // MCFG's base is bus 0's address even when the region starts at bus 1.
    const pci::EcamRegion one_bus[] = {{FakePci::kEcamBase, 0, 1, 1}};
    pci::init(one_bus, 1);
    ASSERT_EQ(pci::enumerate(), 1u);
    EXPECT_EQ(pci::device(0).vendor, 0x1AF4);
    EXPECT_EQ(model.port_accesses, 0);
    // Buses outside the region fall back to the ports (segment 0).
    EXPECT_EQ(pci::config_read16(0, 0, 2, 0, 0x02), 0x100E);
    EXPECT_GT(model.port_accesses, 0);
}

TEST_F(PciTest, EnableSetsDecodeBusMasterAndIntxDisable) {
    pci::init(nullptr, 0);
    pci::enumerate();
    const pci::Device& e = dev(0x8086, 0x100E);
    e.enable(true, true);
    EXPECT_EQ(model.get(0, 2, 0)->r16(0x04), 0x0407);
    const pci::Device& v = dev(0x1AF4, 0x1041);
    v.enable(false, false);
    EXPECT_EQ(model.get(1, 0, 0)->r16(0x04), pci::kCommandMemory);  // no I/O BAR: no I/O decode
    v.enable(true, false);
    EXPECT_EQ(model.get(1, 0, 0)->r16(0x04), pci::kCommandMemory | pci::kCommandBusMaster);
}

TEST_F(PciTest, EnableMsi64BitMaskable) {
    pci::init(nullptr, 0);
    pci::enumerate();
    const pci::Device& e = dev(0x8086, 0x100E);
    Function& f = *model.get(0, 2, 0);
    f.w16(0x72, 0x8002);  // MSI-X was on: enabling MSI must turn it off
    ASSERT_TRUE(pci::enable_msi(e, 0x41));
    EXPECT_EQ(f.r32(0x44), 0xFEE00000u);
    EXPECT_EQ(f.r32(0x48), 0u);
    EXPECT_EQ(f.r16(0x4C), 0x41);
    EXPECT_EQ(f.r32(0x50), 0xFFFFFFFEu);  // vector 0 unmasked
    EXPECT_EQ(f.r16(0x42), 0x0187);       // enabled, one message (MME 0), capability bits intact
    EXPECT_EQ(f.r16(0x72) & 0x8000, 0);
}

TEST_F(PciTest, EnableMsi32Bit) {
    pci::init(nullptr, 0);
    pci::enumerate();
    const pci::Device& d = dev(0x1234, 0x0005);
    Function& f = *model.get(0, 5, 0);
    ASSERT_TRUE(pci::enable_msi(d, 0x30));
    EXPECT_EQ(f.r32(0x48), 0xFEE00000u);
    EXPECT_EQ(f.r16(0x4C), 0x30);
    EXPECT_EQ(f.r32(0x50), 0xA5A5A5A5u);
    EXPECT_EQ(f.r16(0x46), 0x0001);
    EXPECT_FALSE(pci::enable_msi(dev(0x1234, 0x0006), 0x30));  // no MSI
    EXPECT_FALSE(pci::enable_msi(dev(0x1234, 0x0003), 0x30));  // looping list without MSI
}

TEST_F(PciTest, EnableMsixProgramsTheTableEntry) {
    pci::init(nullptr, 0);
    pci::enumerate();
    const pci::Device& e = dev(0x8086, 0x100E);
    Function& f = *model.get(0, 2, 0);
    f.w16(0x42, 0x0187);  // MSI was on: enabling MSI-X must turn it off
    f.w16(0x04, 0x0000);  // memory decode off: the table needs it
    ASSERT_TRUE(pci::enable_msix(e, 2, 0x42));
    EXPECT_EQ(model.msix32(2 * 16 + 0), 0xFEE00000u);
    EXPECT_EQ(model.msix32(2 * 16 + 4), 0u);
    EXPECT_EQ(model.msix32(2 * 16 + 8), 0x42u);
    EXPECT_EQ(model.msix32(2 * 16 + 12), 0u);  // unmasked
    EXPECT_EQ(model.msix32(1 * 16 + 12), 1u);  // other entries stay masked
    EXPECT_EQ(model.msix32(0 * 16 + 8), 0u);
    EXPECT_EQ(f.r16(0x72), 0x8002);  // enabled, function mask clear
    EXPECT_EQ(f.r16(0x42) & 1, 0);
    EXPECT_TRUE(f.r16(0x04) & pci::kCommandMemory);

    EXPECT_FALSE(pci::enable_msix(e, 3, 0x43));                    // beyond the table
    EXPECT_FALSE(pci::enable_msix(dev(0x1AF4, 0x1041), 0, 0x43));  // table BAR absent
    EXPECT_FALSE(pci::enable_msix(dev(0x1234, 0x0005), 0, 0x43));  // no MSI-X
}

TEST_F(PciTest, LogLines) {
    pci::init(nullptr, 0);
    pci::enumerate();
    char line[512];
    pci::format_device(pci::device(0), line, sizeof line);
    EXPECT_STREQ(line, "pci 00:00.0 8086:29c0 Host bridge (rev 02)");
    pci::format_device(dev(0x8086, 0x100E), line, sizeof line);
    EXPECT_STREQ(line,
                 "pci 00:02.0 8086:100e Ethernet controller (rev 03) BAR0 mem32 0xfeb80000/128K BAR1 io 0xc000/64 "
                 "BAR2 mem64 pref 0x800000000/16M BAR4 mem32 0xfebf0000/16K IRQ pin A line 11 MSI MSI-X(3)");
    pci::format_device(dev(0x1234, 0x0003), line, sizeof line);
    EXPECT_STREQ(line, "pci 00:03.0 1234:0003 Unassigned class (rev 00) (bad capability list)");
    pci::Device other{};
    other.segment = 1;
    other.bus = 0x3A;
    other.dev = 0x1F;
    other.fn = 6;
    other.vendor = 0xABCD;
    other.device = 0x00EF;
    other.class_code = 0x01;
    other.subclass = 0x08;
    other.bars[0] = {Bar::Kind::Mem32, false, 0x1000, 1000};
    other.bars[1] = {Bar::Kind::Mem32, false, 0x40000000, 1ull << 30};
    const size_t n = pci::format_device(other, line, sizeof line);
    EXPECT_EQ(n, std::strlen(line));
    EXPECT_STREQ(line, "pci 0001:3a:1f.6 abcd:00ef Non-Volatile memory controller (rev 00) BAR0 mem32 0x1000/1000 "
                       "BAR1 mem32 0x40000000/1G");
    char tiny[12];
    EXPECT_EQ(pci::format_device(other, tiny, sizeof tiny), 11u);
    EXPECT_STREQ(tiny, "pci 0001:3a");

    // The boot log, as the QEMU tests grep it.
    struct Capture : log::Sink {
        void write(const char* s, size_t n) override { text.append(s, n); }
        std::string text;
    } sink;
    ASSERT_TRUE(log::add_sink(&sink));
    devices::Record storage[4];
    devices::Registry none{storage, 4};  // nothing recorded: every function says "no driver"
    pci::log_devices(none);
    EXPECT_NE(sink.text.find("pci 00:00.0 8086:"), std::string::npos) << sink.text;
    // grep 'pci 00:02.0 8086:100e .*Ethernet'
    const size_t at = sink.text.find("pci 00:02.0 8086:100e ");
    ASSERT_NE(at, std::string::npos) << sink.text;
    EXPECT_LT(sink.text.find("Ethernet", at), sink.text.find('\n', at)) << sink.text;
    EXPECT_EQ(std::count(sink.text.begin(), sink.text.end(), '\n'), static_cast<long>(kExpectedDevices));
    log::remove_sink(&sink);
}

TEST(PciNames, ClassNames) {
    EXPECT_STREQ(pci::class_name(0x02, 0x00), "Ethernet controller");
    EXPECT_STREQ(pci::class_name(0x02, 0x80), "Network controller");
    EXPECT_STREQ(pci::class_name(0x06, 0x00), "Host bridge");
    EXPECT_STREQ(pci::class_name(0x06, 0x01), "ISA bridge");
    EXPECT_STREQ(pci::class_name(0x01, 0x06), "SATA controller");
    EXPECT_STREQ(pci::class_name(0x03, 0x00), "VGA compatible controller");
    EXPECT_STREQ(pci::class_name(0x0C, 0x05), "SMBus");
    EXPECT_STREQ(pci::class_name(0x42, 0x00), "Unknown class");
}

// ------------------------------------------------------------------------------------------------ driver matching
// A NIC a test factory makes; only its identity matters here.
using skerry_test::StubNic;

struct ProbeLog {
    std::vector<std::string> calls;  // "<driver> <bb:dd.f> <entry's model>", in call order
    std::vector<std::unique_ptr<StubNic>> made;
};
ProbeLog probe_log;

devices::Product make_stub(const char* driver, bool fail, const pci::Device& d, const pci::Match& m) {
    char call[64];
    snprintf(call, sizeof call, "%s %02x:%02x.%x %s", driver, d.bus, d.dev, d.fn, m.model ? m.model : "-");
    probe_log.calls.push_back(call);
    if (fail) return devices::Product::nic(nullptr);
    probe_log.made.push_back(std::make_unique<StubNic>(d.device));
    return devices::Product::nic(probe_log.made.back().get());
}
devices::Product probe_intel(const pci::Device& d, const pci::Match& m) { return make_stub("intel-nic", false, d, m); }
devices::Product probe_any(const pci::Device& d, const pci::Match& m) { return make_stub("any-nic", false, d, m); }
devices::Product probe_other(const pci::Device& d, const pci::Match& m) { return make_stub("other", false, d, m); }
devices::Product probe_broken(const pci::Device& d, const pci::Match& m) { return make_stub("ahci", true, d, m); }

constexpr pci::Match kIntelIds[] = {pci::match_id(0x8086, 0x10D3, "82574L"), pci::match_id(0x8086, 0x100E, "82540EM")};
constexpr pci::Match kAnyNicIds[] = {pci::match_class(0x02, 0x00, "Ethernet")};
constexpr pci::Match kAhciIds[] = {pci::match_class_if(0x01, 0x06, 0x01, "AHCI")};

class PciMatchTest : public PciTest {
protected:
    void SetUp() override {
        PciTest::SetUp();
        probe_log = ProbeLog{};
        pci::init(nullptr, 0);
        ASSERT_EQ(pci::enumerate(), kExpectedDevices);
    }
    void TearDown() override {
        probe_log = ProbeLog{};
        PciTest::TearDown();
    }
    const devices::Record* rec(const devices::Registry& r, uint8_t bus, uint8_t dev, uint8_t fn) {
        return r.find(devices::Bus::Pci, devices::pci_address(0, bus, dev, fn));
    }
    // Registered in this order: the catch-all NIC driver first, so the e1000's own driver wins by its device id,
    // not by its place in the list.
    pci::DeviceDriver any{"any-nic", kAnyNicIds, 1, probe_any};
    pci::DeviceDriver intel{"intel-nic", kIntelIds, 2, probe_intel};
    pci::DeviceDriver ahci{"ahci", kAhciIds, 1, probe_broken};
    devices::Record storage[32];
    devices::Registry out{storage, 32};
};

TEST_F(PciMatchTest, DevicesGoToTheirDriversAndTheRestSayNoDriver) {
    pci::Registry reg;
    ASSERT_TRUE(reg.add(any));
    ASSERT_TRUE(reg.add(intel));
    ASSERT_TRUE(reg.add(ahci));
    EXPECT_EQ(reg.bind(out), 2u);

    // Every function is recorded, in bus order.
    ASSERT_EQ(out.count(), kExpectedDevices);
    EXPECT_EQ(out.at(0)->address, devices::pci_address(0, 0, 0, 0));
    EXPECT_EQ(out.at(kExpectedDevices - 1)->address, devices::pci_address(0, 255, 31, 7));

    // Vendor/device match, ahead of the class match registered before it.
    const devices::Record* e = rec(out, 0, 2, 0);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->bus, devices::Bus::Pci);
    EXPECT_EQ(e->outcome, devices::Outcome::Bound);
    EXPECT_STREQ(e->driver, "intel-nic");
    EXPECT_STREQ(e->detail, "82540EM");
    ASSERT_EQ(e->product.kind(), devices::Kind::Nic);
    EXPECT_EQ(static_cast<StubNic*>(e->product.as_nic())->id(), 0x100E);
    // Class match: virtio-net is an Ethernet controller nobody names.
    const devices::Record* v = rec(out, 1, 0, 0);
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v->outcome, devices::Outcome::Bound);
    EXPECT_STREQ(v->driver, "any-nic");
    EXPECT_STREQ(v->detail, "Ethernet");
    // Class + prog-if match whose factory fails: recorded as failed, nothing made.
    const devices::Record* sata = rec(out, 0, 1, 2);
    ASSERT_NE(sata, nullptr);
    EXPECT_EQ(sata->outcome, devices::Outcome::Failed);
    EXPECT_STREQ(sata->driver, "ahci");
    EXPECT_TRUE(sata->product.empty());
    EXPECT_EQ(sata->product.as_nic(), nullptr);
    // No match.
    const devices::Record* hb = rec(out, 0, 0, 0);
    ASSERT_NE(hb, nullptr);
    EXPECT_EQ(hb->outcome, devices::Outcome::NoDriver);
    EXPECT_EQ(hb->driver, nullptr);
    EXPECT_TRUE(hb->product.empty());

    // Each factory was called once, with the entry that matched, in bus order.
    EXPECT_EQ(probe_log.calls,
              (std::vector<std::string>{"ahci 00:01.2 AHCI", "intel-nic 00:02.0 82540EM", "any-nic 01:00.0 Ethernet"}));
    EXPECT_EQ(reg.stats().functions_seen, kExpectedDevices);
    EXPECT_EQ(reg.stats().unclaimed, kExpectedDevices - 3);
    EXPECT_EQ(reg.stats().factory_failures, 1u);
    EXPECT_EQ(reg.stats().table_full, 0u);
    EXPECT_EQ(out.count(devices::Outcome::Bound), 2u);
    EXPECT_EQ(out.count(devices::Outcome::NoDriver), kExpectedDevices - 3);
    EXPECT_EQ(out.count(devices::Kind::Nic), 2u);

    // The NICs, in the order their devices were found.
    net::NicDriver* nics[4] = {};
    ASSERT_EQ(out.nics(nics, 4), 2u);
    EXPECT_EQ(static_cast<StubNic*>(nics[0])->id(), 0x100E);
    EXPECT_EQ(static_cast<StubNic*>(nics[1])->id(), 0x1041);
    EXPECT_EQ(out.nics(nics, 1), 1u);

    // Idempotent: nothing new, no factory called again (the failed one is not retried).
    EXPECT_EQ(reg.bind(out), 0u);
    EXPECT_EQ(probe_log.calls.size(), 3u);
    EXPECT_EQ(reg.stats().functions_seen, kExpectedDevices);
    EXPECT_EQ(out.count(), kExpectedDevices);
}

TEST_F(PciMatchTest, MoreDevicesThanTheTableHolds) {
    pci::Registry reg;
    ASSERT_TRUE(reg.add(intel));
    devices::Record small_storage[4];
    devices::Registry small{small_storage, 4};
    struct Capture : log::Sink {
        void write(const char* s, size_t n) override { text.append(s, n); }
        std::string text;
    } sink;
    ASSERT_TRUE(log::add_sink(&sink));
    EXPECT_EQ(reg.bind(small), 0u);
    log::remove_sink(&sink);
    // The first four functions are recorded; the e1000 (the fifth) is left alone: its driver is never called, so
    // no NIC exists that nobody could find.
    EXPECT_EQ(small.count(), 4u);
    EXPECT_EQ(rec(small, 0, 2, 0), nullptr);
    EXPECT_TRUE(probe_log.calls.empty());
    EXPECT_EQ(reg.stats().table_full, kExpectedDevices - 4);
    EXPECT_EQ(small.dropped(), kExpectedDevices - 4);
    net::NicDriver* nics[2];
    EXPECT_EQ(small.nics(nics, 2), 0u);
    EXPECT_NE(sink.text.find("pci: 00:02.0 8086:100e: no room in the device registry (4 devices); its driver is not "
                             "called"),
              std::string::npos)
        << sink.text;
}

TEST_F(PciMatchTest, MostSpecificEntryWinsAndTiesGoToTheFirstRegistered) {
    constexpr pci::Match kVirtio[] = {pci::match_vendor_class(0x1AF4, 0x02, 0x00, "virtio")};
    pci::DeviceDriver other{"other", kAnyNicIds, 1, probe_other};  // the same entry as `any`
    pci::DeviceDriver virtio{"virtio", kVirtio, 1, probe_other};   // vendor + class beats class alone
    pci::Registry reg;
    ASSERT_TRUE(reg.add(any));
    ASSERT_TRUE(reg.add(other));
    const pci::Match* entry = nullptr;
    const pci::DeviceDriver* d = reg.match(dev(0x1AF4, 0x1041), &entry);
    ASSERT_NE(d, nullptr);
    EXPECT_STREQ(d->name, "any-nic");
    EXPECT_EQ(entry, &kAnyNicIds[0]);
    ASSERT_TRUE(reg.add(virtio));
    d = reg.match(dev(0x1AF4, 0x1041), &entry);
    ASSERT_NE(d, nullptr);
    EXPECT_STREQ(d->name, "virtio");
    EXPECT_STREQ(entry->model, "virtio");
    ASSERT_TRUE(reg.add(intel));
    EXPECT_STREQ(reg.match(dev(0x8086, 0x100E))->name, "intel-nic");
    EXPECT_EQ(reg.match(dev(0x8086, 0x29C0), &entry), nullptr);
    EXPECT_EQ(entry, nullptr);
}

TEST(PciMatch, EntriesMatchWhatTheyName) {
    pci::Device d{};
    d.vendor = 0x8086;
    d.device = 0x2922;
    d.class_code = 0x01;
    d.subclass = 0x06;
    d.prog_if = 0x01;
    EXPECT_TRUE(pci::matches(pci::match_id(0x8086, 0x2922), d));
    EXPECT_FALSE(pci::matches(pci::match_id(0x8086, 0x2923), d));
    EXPECT_FALSE(pci::matches(pci::match_id(0x8087, 0x2922), d));
    EXPECT_TRUE(pci::matches(pci::match_class(0x01, 0x06), d));  // any programming interface
    EXPECT_TRUE(pci::matches(pci::match_class_if(0x01, 0x06, 0x01), d));
    EXPECT_FALSE(pci::matches(pci::match_class_if(0x01, 0x06, 0x00), d));  // IDE-mode, not AHCI
    EXPECT_FALSE(pci::matches(pci::match_class(0x01, 0x01), d));
    EXPECT_TRUE(pci::matches(pci::match_vendor_class(0x8086, 0x01, 0x06), d));
    EXPECT_FALSE(pci::matches(pci::match_vendor_class(0x1AF4, 0x01, 0x06), d));
    // A vendor and device with a class: all three must hold.
    EXPECT_FALSE(pci::matches(pci::Match{0x8086, 0x2922, 0x020000, 0xFFFF00, nullptr}, d));

    EXPECT_GT(pci::specificity(pci::match_id(0x8086, 0x2922)), pci::specificity(pci::match_vendor_class(0x8086, 1, 6)));
    EXPECT_GT(pci::specificity(pci::match_vendor_class(0x8086, 1, 6)), pci::specificity(pci::match_class_if(1, 6, 1)));
    EXPECT_GT(pci::specificity(pci::match_class_if(1, 6, 1)), pci::specificity(pci::match_class(1, 6)));

    EXPECT_TRUE(pci::valid(pci::match_id(0x8086, 0x2922)));
    EXPECT_TRUE(pci::valid(pci::match_class(1, 6)));
    EXPECT_TRUE(pci::valid(pci::Match{0x8086, pci::kAnyId, 0, 0, nullptr}));   // every device of one vendor
    EXPECT_FALSE(pci::valid(pci::Match{}));                                    // every function
    EXPECT_FALSE(pci::valid(pci::Match{pci::kAnyId, 0x2922, 0, 0, nullptr}));  // a device id without its vendor
}

TEST(PciMatch, RegistryRejectsBadDrivers) {
    constexpr pci::Match kBad[] = {pci::match_id(0x8086, 0x100E), pci::Match{}};
    pci::Registry reg;
    pci::DeviceDriver no_probe{"a", kIntelIds, 2, nullptr};
    pci::DeviceDriver no_name{nullptr, kIntelIds, 2, probe_intel};
    pci::DeviceDriver no_ids{"b", kIntelIds, 0, probe_intel};
    pci::DeviceDriver bad_entry{"c", kBad, 2, probe_intel};
    pci::DeviceDriver good{"d", kIntelIds, 2, probe_intel};
    EXPECT_FALSE(reg.add(no_probe));
    EXPECT_FALSE(reg.add(no_name));
    EXPECT_FALSE(reg.add(no_ids));
    EXPECT_FALSE(reg.add(bad_entry));
    EXPECT_TRUE(reg.add(good));
    EXPECT_FALSE(reg.add(good));
    EXPECT_EQ(reg.driver_count(), 1u);
}

TEST_F(PciMatchTest, TheLogSaysWhichDriverTookEachDevice) {
    pci::Registry reg;
    ASSERT_TRUE(reg.add(any));
    ASSERT_TRUE(reg.add(intel));
    ASSERT_TRUE(reg.add(ahci));
    reg.bind(out);
    char line[256];
    const size_t n = pci::format_summary(dev(0x8086, 0x100E), line, sizeof line);
    EXPECT_EQ(n, std::strlen(line));
    EXPECT_STREQ(line, "pci 00:02.0 8086:100e class 02.00 Ethernet controller");

    struct Capture : log::Sink {
        void write(const char* s, size_t n) override { text.append(s, n); }
        std::string text;
    } sink;
    ASSERT_TRUE(log::add_sink(&sink));
    pci::log_devices(out);
    EXPECT_EQ(std::count(sink.text.begin(), sink.text.end(), '\n'), static_cast<long>(kExpectedDevices)) << sink.text;
    for (const char* want : {
             "I pci 00:02.0 8086:100e class 02.00 Ethernet controller: intel-nic (82540EM)\n",
             "I pci 01:00.0 1af4:1041 class 02.00 Ethernet controller: any-nic (Ethernet)\n",
             "I pci 00:01.2 8086:2922 class 01.06 SATA controller: ahci failed\n",
             "I pci 00:00.0 8086:29c0 class 06.00 Host bridge: no driver\n",
             "I pci 00:01.0 8086:2918 class 06.01 ISA bridge: no driver\n",
         }) {
        EXPECT_NE(sink.text.find(want), std::string::npos) << want << sink.text;
    }
    // At debug level each device also gets its resources line.
    sink.text.clear();
    log::set_level(log::Level::Debug);
    pci::log_devices(out);
    EXPECT_EQ(std::count(sink.text.begin(), sink.text.end(), '\n'), static_cast<long>(2 * kExpectedDevices));
    EXPECT_NE(sink.text.find("D pci 00:02.0 8086:100e Ethernet controller (rev 03) BAR0 mem32 0xfeb80000/128K"),
              std::string::npos)
        << sink.text;
    log::remove_sink(&sink);
}

// A static registration, as a driver's *_kernel.cpp has it, lands in the kernel's PCI registry.
constexpr pci::Match kStaticIds[] = {pci::match_id(0x5CE7, 0x0001, "static model")};
pci::Registration static_registration{"static test driver", kStaticIds, probe_other};

TEST(PciMatch, StaticRegistrationReachesTheKernelRegistry) {
    pci::Device d{};
    d.vendor = 0x5CE7;
    d.device = 0x0001;
    const pci::Match* entry = nullptr;
    const pci::DeviceDriver* drv = pci::registry().match(d, &entry);
    ASSERT_NE(drv, nullptr);
    EXPECT_STREQ(drv->name, "static test driver");
    EXPECT_EQ(drv->probe, &probe_other);
    EXPECT_EQ(entry, &kStaticIds[0]);
}

}  // namespace
