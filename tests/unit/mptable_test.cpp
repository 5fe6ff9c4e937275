// MP spec 1.4 table parser (src/kernel/mptable.*): tables laid out like Firecracker's and qboot's, a default
// configuration, and malformed input (checksums, lengths, entry counts, unknown entries, unreadable memory). Bad
// input gives warnings and a partial or empty result, never a read outside what the structures declare.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "kernel/mptable.hpp"

using namespace skerry;

namespace {

using Bytes = std::vector<uint8_t>;

// Guest memory as sparse regions; a read outside them fails (and is counted).
class FakeMem final : public boot::PhysReader {
public:
    std::map<uint64_t, Bytes> regions;
    mutable int bad_reads = 0;
    void put(uint64_t at, const Bytes& b) { regions[at] = b; }
    bool read(uint64_t phys, void* dst, size_t len) const override {
        for (const auto& [base, b] : regions) {
            if (phys >= base && phys - base <= b.size() && len <= b.size() - (phys - base)) {
                memcpy(dst, b.data() + (phys - base), len);
                return true;
            }
        }
        ++bad_reads;
        return false;
    }
};

void put16(Bytes& b, size_t off, uint16_t v) {
    b[off] = static_cast<uint8_t>(v);
    b[off + 1] = static_cast<uint8_t>(v >> 8);
}
void put32(Bytes& b, size_t off, uint32_t v) {
    for (int i = 0; i < 4; ++i) b[off + i] = static_cast<uint8_t>(v >> (8 * i));
}
uint8_t sum(const Bytes& b, size_t from = 0, size_t to = SIZE_MAX) {
    uint8_t s = 0;
    for (size_t i = from; i < b.size() && i < to; ++i) s = static_cast<uint8_t>(s + b[i]);
    return s;
}

Bytes floating(uint32_t table, uint8_t feature1 = 0, uint8_t rev = 4) {
    Bytes f(16, 0);
    memcpy(f.data(), "_MP_", 4);
    put32(f, 4, table);
    f[8] = 1;
    f[9] = rev;
    f[11] = feature1;
    f[10] = static_cast<uint8_t>(-sum(f));
    return f;
}

Bytes cpu(uint8_t id, bool enabled, bool bsp) {
    Bytes e(20, 0);
    e[0] = 0;
    e[1] = id;
    e[2] = 0x14;
    e[3] = static_cast<uint8_t>((enabled ? 1 : 0) | (bsp ? 2 : 0));
    return e;
}
Bytes bus(uint8_t id, const char* type) {
    Bytes e(8, ' ');
    e[0] = 1;
    e[1] = id;
    memcpy(e.data() + 2, type, strlen(type));
    return e;
}
Bytes ioapic(uint8_t id, uint32_t addr, bool enabled = true) {
    Bytes e(8, 0);
    e[0] = 2;
    e[1] = id;
    e[2] = 0x14;
    e[3] = enabled ? 1 : 0;
    put32(e, 4, addr);
    return e;
}
Bytes intsrc(uint8_t type, uint16_t flags, uint8_t bus_id, uint8_t irq, uint8_t apic, uint8_t pin) {
    return {3, type, static_cast<uint8_t>(flags), static_cast<uint8_t>(flags >> 8), bus_id, irq, apic, pin};
}
Bytes lintsrc(uint8_t type, uint8_t apic, uint8_t lint) { return {4, type, 0, 0, 0, 0, apic, lint}; }

// A configuration table; entry_count as given (Firecracker and qboot write 0), checksum fixed unless told.
Bytes table(const std::vector<Bytes>& entries, uint16_t entry_count = 0, const char* oem = "FC      ") {
    Bytes t(44, 0);
    memcpy(t.data(), "PCMP", 4);
    t[6] = 4;
    memcpy(t.data() + 8, oem, 8);
    memcpy(t.data() + 16, "000000000000", 12);
    put16(t, 34, entry_count);
    put32(t, 36, 0xFEE00000);
    for (const Bytes& e : entries) t.insert(t.end(), e.begin(), e.end());
    put16(t, 4, static_cast<uint16_t>(t.size()));
    t[7] = static_cast<uint8_t>(-sum(t));
    return t;
}

// Firecracker's table for one vCPU (src/vmm/src/arch/x86_64/mptable.rs): the I/O APIC id is CPUs + 1, ISA IRQs
// 0..23 identity-mapped with default flags, ExtINT on LINT0 and NMI on LINT1.
std::vector<Bytes> firecracker_entries(int cpus) {
    std::vector<Bytes> e;
    for (int i = 0; i < cpus; ++i) e.push_back(cpu(static_cast<uint8_t>(i), true, i == 0));
    e.push_back(bus(0, "ISA"));
    const uint8_t io = static_cast<uint8_t>(cpus + 1);
    e.push_back(ioapic(io, 0xFEC00000));
    for (uint8_t irq = 0; irq <= 23; ++irq) e.push_back(intsrc(0, 0, 0, irq, io, irq));
    e.push_back(lintsrc(3, 0, 0));
    e.push_back(lintsrc(1, 0xFF, 1));
    return e;
}

constexpr uint64_t kFp = 0x9FC00, kTable = 0x9FC10;

std::string warnings(const mptable::Info& info) {
    std::string w;
    for (size_t i = 0; i < info.warning_count && i < mptable::kMaxWarnings; ++i)
        w += std::string(info.warnings[i]) + "\n";
    return w;
}

TEST(MpTable, FirecrackerLayout) {
    FakeMem mem;
    Bytes region = floating(kTable);
    Bytes t = table(firecracker_entries(2));
    region.insert(region.end(), t.begin(), t.end());
    mem.put(kFp, region);
    mptable::Info info;
    ASSERT_TRUE(mptable::find(mem, info));
    EXPECT_TRUE(info.found);
    EXPECT_TRUE(info.table_ok) << warnings(info);
    EXPECT_EQ(info.floating_phys, kFp);
    EXPECT_EQ(info.table_phys, kTable);
    EXPECT_EQ(info.spec_rev, 4);
    EXPECT_STREQ(info.oem, "FC");
    EXPECT_EQ(info.lapic_address, 0xFEE00000u);
    EXPECT_EQ(info.cpu_count, 2u);
    EXPECT_EQ(info.entry_count, 0);  // left 0 by Firecracker: the walk goes by the table's length
    EXPECT_EQ(info.entries_seen, 2 + 1 + 1 + 24 + 2);
    ASSERT_EQ(info.ioapic_count, 1u);
    EXPECT_EQ(info.ioapics[0].id, 3);
    EXPECT_EQ(info.ioapics[0].address, 0xFEC00000u);
    EXPECT_TRUE(info.ioapics[0].enabled);
    EXPECT_EQ(info.isa_irq_count, 24u);
    EXPECT_EQ(info.warning_count, 0u) << warnings(info);
    bool low = true, level = true;
    EXPECT_EQ(mptable::isa_irq_to_gsi(info, 5, &low, &level), 5u);
    EXPECT_FALSE(low);
    EXPECT_FALSE(level);
    char line[256];
    mptable::format_summary(info, line, sizeof line);
    EXPECT_NE(std::string(line).find("I/O APIC id 3 at 0xfec00000"), std::string::npos) << line;
    EXPECT_NE(std::string(line).find("2 CPUs"), std::string::npos) << line;
}

TEST(MpTable, QbootLayoutWithIrq0OverrideAndLevelEntry) {
    // qboot (QEMU microvm's firmware) maps ISA IRQ 0 to pin 2 and leaves IRQ 2 out; add a level/low entry.
    std::vector<Bytes> e = {cpu(0, true, true), bus(0, "ISA"), ioapic(2, 0xFEC00000)};
    for (uint8_t irq = 0; irq < 16; ++irq) {
        if (irq == 2) continue;
        e.push_back(intsrc(0, irq == 9 ? 0x0F : 0, 0, irq, 2, irq == 0 ? 2 : irq));
    }
    FakeMem mem;
    mem.put(kFp, floating(kTable));
    mem.put(kTable, table(e, 0, "QBOOT   "));
    mptable::Info info;
    ASSERT_TRUE(mptable::parse(mem, kFp, info));
    ASSERT_TRUE(info.table_ok) << warnings(info);
    EXPECT_STREQ(info.oem, "QBOOT");
    bool low = false, level = false;
    EXPECT_EQ(mptable::isa_irq_to_gsi(info, 0, &low, &level), 2u);
    EXPECT_EQ(mptable::isa_irq_to_gsi(info, 9, &low, &level), 9u);
    EXPECT_TRUE(low);
    EXPECT_TRUE(level);
    EXPECT_EQ(mptable::isa_irq_to_gsi(info, 2, &low, &level), 2u);  // not listed: identity, ISA defaults
    EXPECT_FALSE(level);
}

TEST(MpTable, InterruptEntriesFromOtherBusesAreNotIsa) {
    std::vector<Bytes> e = {cpu(0, true, true),
                            bus(0, "PCI"),
                            bus(1, "ISA"),
                            ioapic(2, 0xFEC00000),
                            intsrc(0, 0x0F, 0, 0x0C, 2, 16),
                            intsrc(0, 0, 1, 4, 2, 4),
                            intsrc(1, 0, 1, 7, 2, 7)};
    FakeMem mem;
    mem.put(kFp, floating(kTable));
    mem.put(kTable, table(e, static_cast<uint16_t>(e.size())));
    mptable::Info info;
    ASSERT_TRUE(mptable::parse(mem, kFp, info));
    EXPECT_EQ(info.isa_bus_id, 1);
    ASSERT_EQ(info.isa_irq_count, 1u);  // the PCI entry and the NMI entry are not ISA INT assignments
    EXPECT_EQ(info.isa_irqs[0].source_irq, 4);
    EXPECT_EQ(info.warning_count, 0u) << warnings(info);  // the entry count matches
}

TEST(MpTable, DefaultConfigurationHasNoTable) {
    FakeMem mem;
    mem.put(0xF5A20, floating(0, 5));  // in the BIOS ROM area, 16-byte aligned
    mptable::Info info;
    ASSERT_TRUE(mptable::find(mem, info));
    EXPECT_EQ(info.floating_phys, 0xF5A20u);
    EXPECT_EQ(info.default_config, 5);
    EXPECT_FALSE(info.table_ok);
    EXPECT_EQ(info.table_phys, 0u);
}

TEST(MpTable, BadFloatingPointers) {
    FakeMem mem;
    Bytes f = floating(kTable);
    f[10] ^= 1;  // checksum
    mem.put(kFp, f);
    mptable::Info info;
    EXPECT_FALSE(mptable::parse(mem, kFp, info));
    EXPECT_NE(warnings(info).find("bad checksum"), std::string::npos) << warnings(info);
    EXPECT_FALSE(mptable::find(mem, info));

    Bytes g = floating(kTable);
    g[8] = 2;  // two paragraphs: not the 1.4 structure
    g[10] = static_cast<uint8_t>(g[10] - 1);
    mem.put(kFp, g);
    EXPECT_FALSE(mptable::parse(mem, kFp, info));
    EXPECT_NE(warnings(info).find("length"), std::string::npos);

    FakeMem none;
    EXPECT_FALSE(mptable::find(none, info));  // nothing readable at all
    EXPECT_FALSE(info.found);

    // No table and no default configuration.
    mem.put(kFp, floating(0));
    ASSERT_TRUE(mptable::parse(mem, kFp, info));
    EXPECT_FALSE(info.table_ok);
}

TEST(MpTable, BadTables) {
    const std::vector<Bytes> e = firecracker_entries(1);
    mptable::Info info;
    {  // bad checksum: nothing from the table is used
        FakeMem mem;
        Bytes t = table(e);
        t[7] ^= 0x10;
        mem.put(kFp, floating(kTable));
        mem.put(kTable, t);
        ASSERT_TRUE(mptable::parse(mem, kFp, info));
        EXPECT_FALSE(info.table_ok);
        EXPECT_EQ(info.ioapic_count, 0u);
        EXPECT_NE(warnings(info).find("bad checksum"), std::string::npos);
    }
    {  // bad signature
        FakeMem mem;
        Bytes t = table(e);
        t[0] = 'X';
        mem.put(kFp, floating(kTable));
        mem.put(kTable, t);
        ASSERT_TRUE(mptable::parse(mem, kFp, info));
        EXPECT_FALSE(info.table_ok);
    }
    {  // length beyond readable memory (and a matching checksum is impossible to check): refused, no wild read
        FakeMem mem;
        Bytes t = table(e);
        put16(t, 4, 0xFFF0);
        mem.put(kFp, floating(kTable));
        mem.put(kTable, t);
        ASSERT_TRUE(mptable::parse(mem, kFp, info));
        EXPECT_FALSE(info.table_ok);
        EXPECT_NE(warnings(info).find("runs past readable memory"), std::string::npos) << warnings(info);
    }
    {  // length shorter than the header
        FakeMem mem;
        Bytes t = table(e);
        put16(t, 4, 20);
        mem.put(kFp, floating(kTable));
        mem.put(kTable, t);
        ASSERT_TRUE(mptable::parse(mem, kFp, info));
        EXPECT_FALSE(info.table_ok);
    }
    {  // table pointer to unreadable memory
        FakeMem mem;
        mem.put(kFp, floating(0xDEAD0000));
        ASSERT_TRUE(mptable::parse(mem, kFp, info));
        EXPECT_FALSE(info.table_ok);
        EXPECT_NE(warnings(info).find("unreadable"), std::string::npos);
    }
}

TEST(MpTable, TruncatedAndUnknownEntriesStopTheWalk) {
    mptable::Info info;
    {  // a length that cuts the last entry in half: the whole entries before it count
        std::vector<Bytes> e = {cpu(0, true, true), bus(0, "ISA"), ioapic(1, 0xFEC00000)};
        Bytes t = table(e);
        t.erase(t.end() - 4, t.end());
        put16(t, 4, static_cast<uint16_t>(t.size()));
        t[7] = 0;
        t[7] = static_cast<uint8_t>(-sum(t));
        FakeMem mem;
        mem.put(kFp, floating(kTable));
        mem.put(kTable, t);
        ASSERT_TRUE(mptable::parse(mem, kFp, info));
        EXPECT_TRUE(info.table_ok);
        EXPECT_EQ(info.cpu_count, 1u);
        EXPECT_EQ(info.ioapic_count, 0u);
        EXPECT_NE(warnings(info).find("runs past the table's end"), std::string::npos) << warnings(info);
    }
    {  // an unknown base-table entry type: its length is unknown, so the rest is ignored
        std::vector<Bytes> e = {cpu(0, true, true), Bytes{9, 0, 0, 0, 0, 0, 0, 0}, ioapic(1, 0xFEC00000)};
        FakeMem mem;
        mem.put(kFp, floating(kTable));
        mem.put(kTable, table(e, 3));
        ASSERT_TRUE(mptable::parse(mem, kFp, info));
        EXPECT_EQ(info.ioapic_count, 0u);
        const std::string w = warnings(info);
        EXPECT_NE(w.find("unknown entry type 9"), std::string::npos) << w;
        EXPECT_NE(w.find("header says 3 entries, 1 found"), std::string::npos) << w;
    }
    {  // an entry count larger than what fits: the length wins
        FakeMem mem;
        mem.put(kFp, floating(kTable));
        mem.put(kTable, table(firecracker_entries(1), 0xFFFF));
        ASSERT_TRUE(mptable::parse(mem, kFp, info));
        EXPECT_EQ(info.ioapic_count, 1u);
        EXPECT_NE(warnings(info).find("header says 65535 entries"), std::string::npos);
    }
    {  // more I/O APICs and ISA entries than kept
        std::vector<Bytes> e = {bus(0, "ISA")};
        for (int i = 0; i < 12; ++i) e.push_back(ioapic(static_cast<uint8_t>(i), 0xFEC00000 + 0x1000 * i));
        for (int i = 0; i < 40; ++i) e.push_back(intsrc(0, 0, 0, static_cast<uint8_t>(i), 0, static_cast<uint8_t>(i)));
        FakeMem mem;
        mem.put(kFp, floating(kTable));
        mem.put(kTable, table(e));
        ASSERT_TRUE(mptable::parse(mem, kFp, info));
        EXPECT_EQ(info.ioapic_count, mptable::kMaxIoApics);
        EXPECT_EQ(info.isa_irq_count, mptable::kMaxIrqs);
        EXPECT_GE(info.warning_count, 2u);
    }
}

// Random bytes behind a valid floating pointer and a table header with a fixed checksum: never a crash, never a
// read outside the region, counts within their bounds.
TEST(MpTable, GarbageNeverEscapes) {
    uint32_t seed = 12345;
    auto rnd = [&seed] {
        seed = seed * 1103515245u + 12345u;
        return static_cast<uint8_t>(seed >> 16);
    };
    for (int round = 0; round < 2000; ++round) {
        const size_t n = 44 + rnd() * 4;
        Bytes t(n);
        for (auto& b : t) b = rnd();
        memcpy(t.data(), "PCMP", 4);
        put16(t, 4, static_cast<uint16_t>(round % 3 == 0 ? n : 44 + rnd() * 5));
        t[7] = 0;
        t[7] = static_cast<uint8_t>(-sum(t, 0, t[4] | (t[5] << 8)));
        FakeMem mem;
        mem.put(kFp, floating(kTable));
        mem.put(kTable, t);
        mptable::Info info;
        ASSERT_TRUE(mptable::parse(mem, kFp, info));
        EXPECT_LE(info.ioapic_count, mptable::kMaxIoApics);
        EXPECT_LE(info.isa_irq_count, mptable::kMaxIrqs);
        char line[512];
        mptable::format_summary(info, line, sizeof line);
        bool low, level;
        for (int irq = 0; irq < 32; ++irq) (void)mptable::isa_irq_to_gsi(info, static_cast<uint8_t>(irq), &low, &level);
    }
}

}  // namespace
