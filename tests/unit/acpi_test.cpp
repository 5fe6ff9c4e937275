// ACPI table parsing: RSDP v1/v2, RSDT/XSDT, MADT, MCFG, FADT, HPET, the DSDT's \_S5_, bad tables, the
// legacy BIOS search. Tables are crafted into host buffers that a hw::Model exposes as guest-physical memory.
#include <gtest/gtest.h>

#include <cstring>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hw/hw.hpp"
#include "kernel/acpi.hpp"
#include "kernel/log.hpp"

using namespace skerry;
using Bytes = std::vector<uint8_t>;

namespace {

// Guest-physical memory made of separate host buffers; an access must lie entirely inside one of them.
class PhysMemory : public hw::Model {
public:
    void add_region(uint64_t base, size_t size) { regions_[base] = Bytes(size, 0); }
    void put(uint64_t phys, const Bytes& b) {
        auto* p = static_cast<uint8_t*>(phys_to_host(phys, b.size()));
        ASSERT_NE(p, nullptr) << "test bug: 0x" << std::hex << phys << " not in a region";
        std::memcpy(p, b.data(), b.size());
    }
    void* phys_to_host(uint64_t phys, size_t len) override {
        auto it = regions_.upper_bound(phys);
        if (it == regions_.begin()) return nullptr;
        --it;
        const uint64_t off = phys - it->first;
        if (off > it->second.size() || len > it->second.size() - off) return nullptr;
        return it->second.data() + off;
    }

private:
    std::map<uint64_t, Bytes> regions_;
};

void put16(Bytes& b, size_t off, uint16_t v) {
    if (b.size() < off + 2) b.resize(off + 2);
    for (int i = 0; i < 2; ++i) b[off + i] = static_cast<uint8_t>(v >> (8 * i));
}
void put32(Bytes& b, size_t off, uint32_t v) {
    if (b.size() < off + 4) b.resize(off + 4);
    for (int i = 0; i < 4; ++i) b[off + i] = static_cast<uint8_t>(v >> (8 * i));
}
void put64(Bytes& b, size_t off, uint64_t v) {
    if (b.size() < off + 8) b.resize(off + 8);
    for (int i = 0; i < 8; ++i) b[off + i] = static_cast<uint8_t>(v >> (8 * i));
}
void append(Bytes& b, std::initializer_list<uint8_t> v) { b.insert(b.end(), v.begin(), v.end()); }
uint8_t sum(const Bytes& b, size_t from, size_t to) {
    uint8_t s = 0;
    for (size_t i = from; i < to; ++i) s = static_cast<uint8_t>(s + b[i]);
    return s;
}

// A table: the 36-byte header (QEMU's OEM ids) + body, length and checksum fixed.
Bytes table(const char* sig, uint8_t revision, const Bytes& body) {
    Bytes t(36, 0);
    std::memcpy(t.data(), sig, 4);
    t[8] = revision;
    std::memcpy(t.data() + 10, "BOCHS ", 6);
    std::memcpy(t.data() + 16, "BXPC    ", 8);
    put32(t, 24, 1);
    std::memcpy(t.data() + 28, "BXPC", 4);
    put32(t, 32, 1);
    t.insert(t.end(), body.begin(), body.end());
    put32(t, 4, static_cast<uint32_t>(t.size()));
    t[9] = static_cast<uint8_t>(0 - sum(t, 0, t.size()));
    return t;
}

Bytes rsdp(uint8_t revision, uint32_t rsdt, uint64_t xsdt) {
    Bytes r(revision >= 2 ? 36 : 20, 0);
    std::memcpy(r.data(), "RSD PTR ", 8);
    std::memcpy(r.data() + 9, "BOCHS ", 6);
    r[15] = revision;
    put32(r, 16, rsdt);
    if (revision >= 2) {
        put32(r, 20, 36);
        put64(r, 24, xsdt);
    }
    r[8] = static_cast<uint8_t>(0 - sum(r, 0, 20));
    if (revision >= 2) r[32] = static_cast<uint8_t>(0 - sum(r, 0, 36));
    return r;
}

Bytes root_body(const std::vector<uint64_t>& entries, size_t entry_size) {
    Bytes b;
    for (uint64_t e : entries) {
        size_t off = b.size();
        if (entry_size == 8) put64(b, off, e);
        else put32(b, off, static_cast<uint32_t>(e));
    }
    return b;
}

// Generic Address Structure.
void put_gas(Bytes& t, size_t off, uint8_t space, uint8_t width, uint64_t address) {
    if (t.size() < off + 12) t.resize(off + 12);
    t[off] = space;
    t[off + 1] = width;
    t[off + 2] = 0;
    t[off + 3] = space == 1 ? 1 : 3;
    put64(t, off + 4, address);
}

// FADT body (offsets below are table offsets; the body starts at 36). QEMU-like values.
struct FadtSpec {
    uint8_t revision = 3;
    size_t length = 244;
    uint32_t dsdt = 0;
    uint64_t x_dsdt = 0;
    uint32_t pm_tmr = 0x608;
    uint8_t pm_tmr_len = 4;
    uint64_t x_pm_tmr = 0x608;
    uint8_t x_pm_tmr_space = 1;
    uint32_t pm1a_cnt = 0x604;
    uint64_t x_pm1a_cnt = 0x604;
    uint32_t flags = 0;
    uint16_t boot_arch = 0x2;
    uint8_t reset_space = 1;
    uint64_t reset_addr = 0xCF9;
    uint8_t reset_value = 6;
    uint8_t sleep_space = 0;  // ACPI 5.0 SLEEP_CONTROL_REG / SLEEP_STATUS_REG (tables of 268+ bytes)
    uint64_t sleep_control = 0, sleep_status = 0;
};

Bytes fadt(const FadtSpec& s) {
    Bytes t(s.length, 0);     // the whole table, header included; the header is rewritten by table()
    put32(t, 36, 0x7FE0000);  // FACS
    put32(t, 40, s.dsdt);
    put16(t, 46, 9);      // SCI
    put32(t, 48, 0xB2);   // SMI_CMD
    t[52] = 0xF1;         // ACPI_ENABLE
    t[53] = 0xF0;         // ACPI_DISABLE
    put32(t, 56, 0x600);  // PM1a_EVT
    put32(t, 64, s.pm1a_cnt);
    put32(t, 76, s.pm_tmr);
    t[88] = 4;
    t[89] = 2;
    t[91] = s.pm_tmr_len;
    if (s.length >= 111) put16(t, 109, s.boot_arch);
    if (s.length >= 116) put32(t, 112, s.flags);
    if (s.length >= 129) {
        put_gas(t, 116, s.reset_space, 8, s.reset_addr);
        t[128] = s.reset_value;
    }
    if (s.length >= 148) put64(t, 140, s.x_dsdt);
    if (s.length >= 160) put_gas(t, 148, 1, 32, 0x600);
    if (s.length >= 184) put_gas(t, 172, 1, 16, s.x_pm1a_cnt);
    if (s.length >= 220) put_gas(t, 208, s.x_pm_tmr_space, 32, s.x_pm_tmr);
    if (s.length >= 268) {
        put_gas(t, 244, s.sleep_space, 8, s.sleep_control);
        put_gas(t, 256, s.sleep_space, 8, s.sleep_status);
    }
    t.resize(s.length);
    Bytes body(t.begin() + 36, t.end());
    return table("FACP", s.revision, body);
}

// MADT like QEMU's: one CPU, IOAPIC 0 at 0xFEC00000, ISA overrides 0->2 and 5/9/10/11 level active high,
// local APIC NMI on LINT1 for all processors.
Bytes qemu_madt() {
    Bytes b;
    put32(b, 0, 0xFEE00000);
    put32(b, 4, 1);                                                // PCAT_COMPAT
    append(b, {0, 8, 0, 0, 1, 0, 0, 0});                           // CPU 0 enabled
    append(b, {1, 12, 0, 0, 0x00, 0x00, 0xC0, 0xFE, 0, 0, 0, 0});  // IOAPIC id 0 0xFEC00000 GSI 0
    append(b, {2, 10, 0, 0, 2, 0, 0, 0, 0, 0});                    // IRQ0 -> GSI 2
    for (uint8_t irq : {5, 9, 10, 11}) append(b, {2, 10, 0, irq, irq, 0, 0, 0, 0x0D, 0});  // level, high
    append(b, {4, 6, 0xFF, 0, 0, 1});                                                      // LAPIC NMI, all CPUs, LINT1
    return table("APIC", 1, b);
}

Bytes qemu_hpet(uint64_t base = 0xFED00000) {
    Bytes b;
    put32(b, 0, 0x8086A201);  // event timer block id
    b.resize(20);
    b[4] = 0;  // GAS at table offset 40 = body offset 4: memory space
    b[5] = 64;
    put64(b, 8, base);
    b[16] = 0;           // HPET number
    put16(b, 17, 0x80);  // minimum tick
    b[19] = 0;
    return table("HPET", 1, b);
}

Bytes mcfg(const std::vector<acpi::McfgRegion>& regions) {
    Bytes b(8, 0);
    for (const auto& r : regions) {
        size_t off = b.size();
        put64(b, off, r.base);
        put16(b, off + 8, r.segment);
        b.push_back(r.start_bus);
        b.push_back(r.end_bus);
        append(b, {0, 0, 0, 0});
    }
    return table("MCFG", 1, b);
}

// AML: Name(_S5_, Package(4){Zero, Zero, Zero, Zero}) as QEMU emits it, after some unrelated AML.
Bytes s5_aml(bool root_prefix, std::initializer_list<uint8_t> elements, uint8_t count) {
    Bytes b = {0x10, 0x05, '_', 'S', 'B', '_'};  // Scope(_SB_) {} (empty, length 5)
    b.push_back(0x08);
    if (root_prefix) b.push_back('\\');
    append(b, {'_', 'S', '5', '_', 0x12});
    b.push_back(static_cast<uint8_t>(2 + elements.size()));  // PkgLength (itself + count + elements)
    b.push_back(count);
    b.insert(b.end(), elements.begin(), elements.end());
    return b;
}

std::string warnings(const acpi::AcpiInfo& info) {
    std::string s;
    for (size_t i = 0; i < info.warning_count && i < acpi::kMaxWarnings; ++i) s += std::string(info.warnings[i]) + "\n";
    return s;
}

constexpr uint64_t kBios = 0xE0000;
constexpr uint64_t kRsdpAt = 0xF5A40;
constexpr uint64_t kTables = 0x7FE0000;

class AcpiTest : public ::testing::Test {
protected:
    void SetUp() override {
        mem.add_region(kBios, 0x20000);
        mem.add_region(kTables, 0x20000);
        hw::set_model(&mem);
        log::reset();
    }
    void TearDown() override {
        hw::set_model(nullptr);
        log::reset();
    }
    // Places a table in the table area and returns its address.
    uint64_t place(const Bytes& t) {
        uint64_t at = next;
        mem.put(at, t);
        next += (t.size() + 15) & ~size_t{15};
        return at;
    }
    // A q35-like machine: XSDT -> FACP (rev 3) APIC HPET MCFG WAET; FACP -> DSDT with _S5_.
    void build_q35() {
        dsdt_at = place(table("DSDT", 1, s5_aml(false, {0x00, 0x00, 0x00, 0x00}, 4)));
        FadtSpec f;
        f.dsdt = static_cast<uint32_t>(dsdt_at);
        f.x_dsdt = dsdt_at;
        f.flags = 1u << 10;  // RESET_REG_SUP
        uint64_t facp = place(fadt(f));
        uint64_t apic = place(qemu_madt());
        uint64_t hpet = place(qemu_hpet());
        uint64_t mc = place(mcfg({{0xB0000000, 0, 0, 255}}));
        uint64_t waet = place(table("WAET", 1, {2, 0, 0, 0}));
        uint64_t xsdt = place(table("XSDT", 1, root_body({facp, apic, hpet, mc, waet}, 8)));
        uint64_t rsdt = place(table("RSDT", 1, root_body({facp}, 4)));
        mem.put(kRsdpAt, rsdp(2, static_cast<uint32_t>(rsdt), xsdt));
    }
    PhysMemory mem;
    uint64_t next = kTables;
    uint64_t dsdt_at = 0;
    acpi::AcpiInfo info{};
};

TEST_F(AcpiTest, Q35LikeMachineThroughTheXsdt) {
    build_q35();
    ASSERT_TRUE(acpi::parse(kRsdpAt, info)) << warnings(info);
    EXPECT_TRUE(info.valid);
    EXPECT_EQ(info.warning_count, 0u) << warnings(info);
    EXPECT_EQ(info.rsdp_revision, 2);
    EXPECT_TRUE(info.xsdt);
    EXPECT_STREQ(info.oem_id, "BOCHS ");
    ASSERT_EQ(info.table_count, 6u);
    EXPECT_STREQ(info.tables[0].signature, "FACP");
    EXPECT_STREQ(info.tables[4].signature, "WAET");
    EXPECT_STREQ(info.tables[5].signature, "DSDT");

    EXPECT_TRUE(info.have_madt);
    EXPECT_EQ(info.lapic_address, 0xFEE00000u);
    EXPECT_EQ(info.cpu_count, 1u);
    ASSERT_EQ(info.ioapic_count, 1u);
    EXPECT_EQ(info.ioapics[0].id, 0);
    EXPECT_EQ(info.ioapics[0].address, 0xFEC00000u);
    EXPECT_EQ(info.ioapics[0].gsi_base, 0u);
    EXPECT_EQ(info.override_count, 5u);
    ASSERT_EQ(info.nmi_count, 1u);
    EXPECT_TRUE(info.nmis[0].local);
    EXPECT_EQ(info.nmis[0].processor_uid, 0xFFFFFFFFu);
    EXPECT_EQ(info.nmis[0].lint, 1);

    ASSERT_EQ(info.mcfg_count, 1u);
    EXPECT_EQ(info.mcfg[0].base, 0xB0000000u);
    EXPECT_EQ(info.mcfg[0].end_bus, 255);

    EXPECT_TRUE(info.have_fadt);
    EXPECT_EQ(info.pm_timer_port, 0x608u);
    EXPECT_FALSE(info.pm_timer_32bit);
    EXPECT_EQ(info.pm1a_control, 0x604u);
    EXPECT_EQ(info.pm1b_control, 0u);
    EXPECT_EQ(info.pm1a_event, 0x600u);
    EXPECT_EQ(info.sci_irq, 9);
    EXPECT_EQ(info.smi_command, 0xB2u);
    EXPECT_EQ(info.acpi_enable, 0xF1);
    EXPECT_TRUE(info.have_reset_reg);
    EXPECT_EQ(info.reset_reg_space, 1);
    EXPECT_EQ(info.reset_reg_address, 0xCF9u);
    EXPECT_EQ(info.reset_value, 6);
    EXPECT_EQ(info.dsdt_address, dsdt_at);
    EXPECT_FALSE(info.hardware_reduced);
    EXPECT_TRUE(info.have_boot_arch);
    EXPECT_EQ(info.boot_arch, acpi::kBootArch8042);

    EXPECT_EQ(info.hpet_address, 0xFED00000u);
    EXPECT_EQ(info.hpet_min_tick, 0x80);
    EXPECT_TRUE(info.have_s5);
    EXPECT_EQ(info.s5_slp_typa, 0);
    EXPECT_EQ(info.s5_slp_typb, 0);

    char l1[512], l2[512];
    acpi::format_summary(info, l1, sizeof l1, l2, sizeof l2);
    EXPECT_STREQ(l1, "acpi: RSDP rev 2 at 0xf5a40 (XSDT), OEM 'BOCHS ', tables: FACP APIC HPET MCFG WAET DSDT");
    EXPECT_STREQ(l2,
                 "acpi: 1 CPU, IOAPIC id 0 at 0xfec00000 GSI 0, 5 overrides, PM timer 0x608 (24-bit), HPET 0xfed00000, "
                 "ECAM 0xb0000000 seg 0 bus 0-255, S5 type 0");
    // A short buffer truncates without overrunning.
    char tiny[16];
    acpi::format_summary(info, tiny, sizeof tiny, l2, sizeof l2);
    EXPECT_STREQ(tiny, "acpi: RSDP rev ");
    log::set_level(log::Level::Debug);
    acpi::log_summary(info);  // must not crash; the log is checked by the QEMU tests
}

TEST_F(AcpiTest, RsdpV1UsesTheRsdt) {
    // i440fx-like: FADT revision 1 (116 bytes, no X_ fields, no reset register), PM timer at 0xb008.
    uint64_t dsdt = place(table("DSDT", 1, s5_aml(true, {0x0A, 0x05, 0x0A, 0x05, 0x00, 0x00}, 4)));
    FadtSpec f;
    f.revision = 1;
    f.length = 116;
    f.dsdt = static_cast<uint32_t>(dsdt);
    f.pm_tmr = 0xB008;
    f.pm1a_cnt = 0xB004;
    f.flags = (1u << 8) | (1u << 10);  // TMR_VAL_EXT; RESET_REG_SUP without room for the register
    uint64_t facp = place(fadt(f));
    uint64_t apic = place(qemu_madt());
    uint64_t rsdt = place(table("RSDT", 1, root_body({facp, apic}, 4)));
    mem.put(kRsdpAt, rsdp(0, static_cast<uint32_t>(rsdt), 0));

    ASSERT_TRUE(acpi::parse(kRsdpAt, info)) << warnings(info);
    EXPECT_EQ(info.warning_count, 0u) << warnings(info);
    EXPECT_FALSE(info.xsdt);
    EXPECT_EQ(info.rsdp_revision, 0);
    EXPECT_EQ(info.root_phys, rsdt);
    EXPECT_EQ(info.pm_timer_port, 0xB008u);
    EXPECT_TRUE(info.pm_timer_32bit);
    EXPECT_EQ(info.pm1a_control, 0xB004u);
    EXPECT_FALSE(info.have_reset_reg);
    EXPECT_FALSE(info.have_boot_arch);  // revision 1: the field is reserved
    EXPECT_EQ(info.dsdt_address, dsdt);
    EXPECT_TRUE(info.have_s5);
    EXPECT_EQ(info.s5_slp_typa, 5);
    EXPECT_EQ(info.s5_slp_typb, 5);
    EXPECT_EQ(info.hpet_address, 0u);
    EXPECT_EQ(info.mcfg_count, 0u);
}

TEST_F(AcpiTest, RsdpBadChecksumRejected) {
    build_q35();
    Bytes r = rsdp(2, 0x1000, 0x2000);
    r[8] ^= 1;
    mem.put(kRsdpAt, r);
    EXPECT_FALSE(acpi::parse(kRsdpAt, info));
    EXPECT_FALSE(info.valid);
    EXPECT_NE(warnings(info).find("RSDP: bad checksum"), std::string::npos) << warnings(info);
    EXPECT_FALSE(acpi::parse_rsdp_copy(r.data(), r.size(), info));

    Bytes sig = rsdp(0, 0x1000, 0);
    sig[0] = 'X';
    EXPECT_FALSE(acpi::parse_rsdp_copy(sig.data(), sig.size(), info));
    EXPECT_FALSE(acpi::parse_rsdp_copy(nullptr, 0, info));
    EXPECT_FALSE(acpi::parse_rsdp_copy(sig.data(), 10, info));
    EXPECT_FALSE(acpi::parse(0x5000, info));  // unmapped
    EXPECT_FALSE(acpi::parse(0, info));
}

TEST_F(AcpiTest, BadExtendedChecksumFallsBackToTheRsdt) {
    build_q35();
    Bytes r(36);
    std::memcpy(r.data(), mem.phys_to_host(kRsdpAt, 36), 36);
    r[32] ^= 0x55;  // extended checksum only
    mem.put(kRsdpAt, r);
    ASSERT_TRUE(acpi::parse(kRsdpAt, info));
    EXPECT_FALSE(info.xsdt);
    ASSERT_EQ(info.table_count, 2u);  // the RSDT lists only the FACP (+ DSDT)
    EXPECT_NE(warnings(info).find("extended checksum"), std::string::npos) << warnings(info);
}

TEST_F(AcpiTest, BadXsdtFallsBackToTheRsdt) {
    build_q35();
    ASSERT_TRUE(acpi::parse(kRsdpAt, info));
    uint64_t xsdt = info.root_phys;
    static_cast<uint8_t*>(mem.phys_to_host(xsdt + 9, 1))[0] ^= 0xFF;  // break the XSDT's checksum
    ASSERT_TRUE(acpi::parse(kRsdpAt, info));
    EXPECT_FALSE(info.xsdt);
    EXPECT_NE(warnings(info).find("XSDT at 0x"), std::string::npos) << warnings(info);
    EXPECT_NE(warnings(info).find("bad checksum"), std::string::npos) << warnings(info);
}

TEST_F(AcpiTest, CopyFromTheLoader) {
    build_q35();
    Bytes r(36);
    std::memcpy(r.data(), mem.phys_to_host(kRsdpAt, 36), 36);
    ASSERT_TRUE(acpi::parse_rsdp_copy(r.data(), r.size(), info));
    EXPECT_TRUE(info.xsdt);
    EXPECT_EQ(info.rsdp_phys, 0u);
    char l1[256], l2[256];
    acpi::format_summary(info, l1, sizeof l1, l2, sizeof l2);
    EXPECT_NE(std::string(l1).find("RSDP rev 2 (loader copy) (XSDT)"), std::string::npos) << l1;
    // A v2 RSDP whose copy was cut to 20 bytes still works through the RSDT.
    ASSERT_TRUE(acpi::parse_rsdp_copy(r.data(), 20, info));
    EXPECT_FALSE(info.xsdt);
    EXPECT_NE(warnings(info).find("extended part is unreadable"), std::string::npos) << warnings(info);
}

TEST_F(AcpiTest, TableWithBadChecksumIsSkippedWithAWarning) {
    uint64_t apic = place(qemu_madt());
    Bytes h = qemu_hpet();
    h[50] ^= 0x10;  // corrupt the address: checksum now wrong
    uint64_t hpet = place(h);
    uint64_t rsdt = place(table("RSDT", 1, root_body({hpet, apic}, 4)));
    mem.put(kRsdpAt, rsdp(0, static_cast<uint32_t>(rsdt), 0));
    ASSERT_TRUE(acpi::parse(kRsdpAt, info));
    EXPECT_EQ(info.hpet_address, 0u);
    EXPECT_TRUE(info.have_madt);
    ASSERT_EQ(info.table_count, 1u);
    EXPECT_STREQ(info.tables[0].signature, "APIC");
    ASSERT_EQ(info.warning_count, 1u);
    EXPECT_EQ(
        warnings(info), "HPET at 0x" + [&] {
            char b[32];
            snprintf(b, sizeof b, "%llx", static_cast<unsigned long long>(hpet));
            return std::string(b);
        }() + ": bad checksum, skipped\n");
    // No FADT: nothing about power-off or timers is made up.
    EXPECT_FALSE(info.have_fadt);
    EXPECT_FALSE(info.have_s5);
    EXPECT_EQ(info.pm_timer_port, 0u);
}

TEST_F(AcpiTest, TableLengthsOutOfBounds) {
    // A table at the very end of the mapped area whose length runs past it.
    Bytes big = table("SSDT", 1, Bytes(64, 0));
    const uint64_t at_end = kTables + 0x20000 - big.size();
    put32(big, 4, 0x1000);
    mem.put(at_end, big);
    // Length below the header size, and an absurd length.
    Bytes tiny = table("TINY", 1, {});
    put32(tiny, 4, 20);
    uint64_t tiny_at = place(tiny);
    Bytes huge = table("HUGE", 1, {});
    put32(huge, 4, 0xFFFFFFF0u);
    uint64_t huge_at = place(huge);
    uint64_t apic = place(qemu_madt());
    uint64_t rsdt = place(table("RSDT", 1, root_body({at_end, tiny_at, huge_at, 0x40000000, 0, apic}, 4)));
    mem.put(kRsdpAt, rsdp(0, static_cast<uint32_t>(rsdt), 0));
    ASSERT_TRUE(acpi::parse(kRsdpAt, info));
    EXPECT_TRUE(info.have_madt);
    EXPECT_EQ(info.table_count, 1u);
    const std::string w = warnings(info);
    EXPECT_NE(w.find("SSDT at 0x"), std::string::npos) << w;
    EXPECT_NE(w.find("length 4096 runs past readable memory"), std::string::npos) << w;
    EXPECT_NE(w.find("TINY at 0x"), std::string::npos) << w;
    EXPECT_NE(w.find("bad length 20"), std::string::npos) << w;
    EXPECT_NE(w.find("bad length 4294967280"), std::string::npos) << w;
    EXPECT_NE(w.find("table at 0x40000000 unreadable"), std::string::npos) << w;
    EXPECT_EQ(info.warning_count, 4u) << w;  // the zero entry is just skipped

    // A root table that itself runs past the mapping: the parse fails cleanly.
    Bytes rt = table("RSDT", 1, root_body({apic}, 4));
    put32(rt, 4, 0x100000);
    uint64_t bad_root = place(rt);
    mem.put(kRsdpAt, rsdp(0, static_cast<uint32_t>(bad_root), 0));
    EXPECT_FALSE(acpi::parse(kRsdpAt, info));
    EXPECT_FALSE(info.valid);
}

TEST_F(AcpiTest, ManyWarningsAreCountedButBounded) {
    std::vector<uint64_t> entries;
    for (int i = 0; i < 20; ++i) entries.push_back(0x50000000ull + i * 0x1000);  // all unreadable
    uint64_t xsdt = place(table("XSDT", 1, root_body(entries, 8)));
    mem.put(kRsdpAt, rsdp(2, 0, xsdt));
    ASSERT_TRUE(acpi::parse(kRsdpAt, info));
    EXPECT_EQ(info.warning_count, 20u);
    EXPECT_EQ(info.root_entries, 20u);
    acpi::log_summary(info);
}

TEST_F(AcpiTest, MadtIoApicsOverridesAndLapicOverride) {
    Bytes b;
    put32(b, 0, 0xFEE00000);
    put32(b, 4, 0);
    append(b, {0, 8, 0, 0, 1, 0, 0, 0});  // CPU 0 enabled
    append(b, {0, 8, 1, 1, 0, 0, 0, 0});  // CPU 1 disabled
    append(b, {0, 8, 2, 2, 2, 0, 0, 0});  // CPU 2 online-capable only
    Bytes x2(16, 0);
    x2[0] = 9;
    x2[1] = 16;
    put32(x2, 4, 300);  // x2APIC id
    put32(x2, 8, 1);    // enabled
    put32(x2, 12, 3);
    b.insert(b.end(), x2.begin(), x2.end());
    append(b, {1, 12, 4, 0, 0x00, 0x00, 0xC0, 0xFE, 0, 0, 0, 0});     // IOAPIC 4 0xFEC00000 GSI 0
    append(b, {1, 12, 5, 0, 0x00, 0x10, 0xC0, 0xFE, 24, 0, 0, 0});    // IOAPIC 5 0xFEC01000 GSI 24
    append(b, {2, 10, 0, 0, 2, 0, 0, 0, 0, 0});                       // IRQ0 -> GSI 2, defaults
    append(b, {2, 10, 0, 9, 20, 0, 0, 0, 0x0F, 0});                   // IRQ9 -> GSI 20 level, low
    append(b, {2, 10, 0, 4, 4, 0, 0, 0, 0x05, 0});                    // IRQ4 edge, high (explicit)
    append(b, {2, 10, 1, 3, 40, 0, 0, 0, 0x0F, 0});                   // not ISA: ignored for ISA lookup
    append(b, {3, 8, 0x0D, 0, 30, 0, 0, 0});                          // NMI source GSI 30
    append(b, {5, 12, 0, 0, 0x00, 0x00, 0xE0, 0xFE, 0x10, 0, 0, 0});  // LAPIC at 0x10FEE00000
    append(b, {0x7F, 4, 0, 0});                                       // unknown type: skipped
    append(b, {1, 6, 9, 0, 0, 0});                                    // short IOAPIC entry: ignored
    Bytes x2nmi(12, 0);
    x2nmi[0] = 10;
    x2nmi[1] = 12;
    put16(x2nmi, 2, 0x5);
    put32(x2nmi, 4, 3);
    x2nmi[8] = 1;
    b.insert(b.end(), x2nmi.begin(), x2nmi.end());
    append(b, {0, 0, 0, 0});  // a zero-length entry: the walk must stop, not spin
    uint64_t apic = place(table("APIC", 4, b));
    uint64_t rsdt = place(table("RSDT", 1, root_body({apic}, 4)));
    mem.put(kRsdpAt, rsdp(0, static_cast<uint32_t>(rsdt), 0));

    ASSERT_TRUE(acpi::parse(kRsdpAt, info));
    EXPECT_EQ(info.lapic_address, 0x10FEE00000ull);
    EXPECT_EQ(info.cpu_entries, 4u);
    EXPECT_EQ(info.cpu_count, 2u);
    ASSERT_EQ(info.ioapic_count, 2u);
    EXPECT_EQ(info.ioapics[1].id, 5);
    EXPECT_EQ(info.ioapics[1].address, 0xFEC01000u);
    EXPECT_EQ(info.ioapics[1].gsi_base, 24u);
    ASSERT_EQ(info.override_count, 4u);
    EXPECT_EQ(info.overrides[1].source_irq, 9);
    EXPECT_EQ(info.overrides[1].gsi, 20u);
    EXPECT_EQ(info.overrides[1].flags, 0x0F);
    ASSERT_EQ(info.nmi_count, 2u);
    EXPECT_FALSE(info.nmis[0].local);
    EXPECT_EQ(info.nmis[0].gsi, 30u);
    EXPECT_EQ(info.nmis[0].flags, 0x0D);
    EXPECT_TRUE(info.nmis[1].local);
    EXPECT_EQ(info.nmis[1].processor_uid, 3u);
    EXPECT_EQ(info.nmis[1].lint, 1);
    const std::string w = warnings(info);
    EXPECT_NE(w.find("APIC: bad entry length 0"), std::string::npos) << w;
    EXPECT_NE(w.find("shorter than their type"), std::string::npos) << w;

    bool low = true, level = true;
    EXPECT_EQ(acpi::isa_irq_to_gsi(info, 0, &low, &level), 2u);
    EXPECT_FALSE(low);
    EXPECT_FALSE(level);
    EXPECT_EQ(acpi::isa_irq_to_gsi(info, 9, &low, &level), 20u);
    EXPECT_TRUE(low);
    EXPECT_TRUE(level);
    EXPECT_EQ(acpi::isa_irq_to_gsi(info, 4, &low, &level), 4u);
    EXPECT_FALSE(low);
    EXPECT_FALSE(level);
    EXPECT_EQ(acpi::isa_irq_to_gsi(info, 3, &low, &level), 3u);  // the bus-1 override does not apply
    EXPECT_FALSE(low);
    EXPECT_EQ(acpi::isa_irq_to_gsi(info, 1, nullptr, nullptr), 1u);
}

TEST_F(AcpiTest, MadtListsAreCapped) {
    Bytes b;
    put32(b, 0, 0xFEE00000);
    put32(b, 4, 0);
    for (int i = 0; i < 40; ++i) append(b, {1, 12, static_cast<uint8_t>(i), 0, 0, 0, 0xC0, 0xFE, 0, 0, 0, 0});
    for (int i = 0; i < 40; ++i) append(b, {2, 10, 0, static_cast<uint8_t>(i), 0, 0, 0, 0, 0, 0});
    uint64_t apic = place(table("APIC", 4, b));
    uint64_t rsdt = place(table("RSDT", 1, root_body({apic}, 4)));
    mem.put(kRsdpAt, rsdp(0, static_cast<uint32_t>(rsdt), 0));
    ASSERT_TRUE(acpi::parse(kRsdpAt, info));
    EXPECT_EQ(info.ioapic_count, acpi::kMaxIoApics);
    EXPECT_EQ(info.override_count, acpi::kMaxOverrides);
    EXPECT_NE(warnings(info).find("more than 16 I/O APICs"), std::string::npos) << warnings(info);
    EXPECT_NE(warnings(info).find("more than 24 interrupt overrides"), std::string::npos) << warnings(info);
}

TEST_F(AcpiTest, McfgTwoRegions) {
    uint64_t mc = place(mcfg({{0xB0000000, 0, 0, 255}, {0xE0000000, 1, 0x10, 0x1F}, {0xC0000000, 2, 9, 3}}));
    // A second MCFG adds its regions.
    uint64_t mc2 = place(mcfg({{0x4000000000ull, 3, 0, 0}}));
    uint64_t xsdt = place(table("XSDT", 1, root_body({mc, mc2}, 8)));
    mem.put(kRsdpAt, rsdp(2, 0, xsdt));
    ASSERT_TRUE(acpi::parse(kRsdpAt, info));
    ASSERT_EQ(info.mcfg_count, 3u);
    EXPECT_EQ(info.mcfg[0].base, 0xB0000000u);
    EXPECT_EQ(info.mcfg[0].segment, 0);
    EXPECT_EQ(info.mcfg[0].start_bus, 0);
    EXPECT_EQ(info.mcfg[0].end_bus, 255);
    EXPECT_EQ(info.mcfg[1].base, 0xE0000000u);
    EXPECT_EQ(info.mcfg[1].segment, 1);
    EXPECT_EQ(info.mcfg[1].start_bus, 0x10);
    EXPECT_EQ(info.mcfg[1].end_bus, 0x1F);
    EXPECT_EQ(info.mcfg[2].base, 0x4000000000ull);
    EXPECT_NE(warnings(info).find("MCFG: bad region (base 0xc0000000, buses 9-3)"), std::string::npos)
        << warnings(info);
}

TEST_F(AcpiTest, FadtXFieldsPreferredWhenValid) {
    uint64_t dsdt_low = place(table("DSDT", 1, s5_aml(false, {0x01, 0x0A, 0x02}, 2)));
    uint64_t dsdt_x = place(table("DSDT", 1, s5_aml(false, {0x0A, 0x07, 0x0A, 0x03}, 2)));
    FadtSpec f;
    f.dsdt = static_cast<uint32_t>(dsdt_low);
    f.x_dsdt = dsdt_x;
    f.pm_tmr = 0x1234;
    f.x_pm_tmr = 0x608;
    f.pm1a_cnt = 0x1230;
    f.x_pm1a_cnt = 0x604;
    f.flags = 1u << 8;
    f.boot_arch = acpi::kBootArchVgaNotPresent | acpi::kBootArchCmosRtcNotPresent;
    uint64_t facp = place(fadt(f));
    uint64_t rsdt = place(table("RSDT", 1, root_body({facp}, 4)));
    mem.put(kRsdpAt, rsdp(0, static_cast<uint32_t>(rsdt), 0));
    ASSERT_TRUE(acpi::parse(kRsdpAt, info)) << warnings(info);
    EXPECT_EQ(info.pm_timer_port, 0x608u);
    EXPECT_TRUE(info.pm_timer_32bit);
    EXPECT_EQ(info.pm1a_control, 0x604u);
    EXPECT_EQ(info.dsdt_address, dsdt_x);
    EXPECT_EQ(info.s5_slp_typa, 7);
    EXPECT_EQ(info.s5_slp_typb, 3);
    EXPECT_FALSE(info.have_reset_reg);  // RESET_REG_SUP not set
    EXPECT_EQ(info.boot_arch, acpi::kBootArchVgaNotPresent | acpi::kBootArchCmosRtcNotPresent);
}

TEST_F(AcpiTest, FadtFallsBackToThe32BitFields) {
    uint64_t dsdt_low = place(table("DSDT", 1, s5_aml(false, {0x01, 0x0A, 0x02}, 2)));
    FadtSpec f;
    f.dsdt = static_cast<uint32_t>(dsdt_low);
    f.x_dsdt = 0;  // X_DSDT zero: use DSDT
    f.pm_tmr = 0x1234;
    f.x_pm_tmr = 0xFED00F00;  // X_PM_TMR_BLK in memory space: not a port
    f.x_pm_tmr_space = 0;
    f.pm1a_cnt = 0x1230;
    f.x_pm1a_cnt = 0;    // zero: use PM1a_CNT_BLK
    f.flags = 1u << 10;  // RESET_REG_SUP
    f.reset_space = 0;
    f.reset_addr = 0xFEDC0000;
    f.reset_value = 0xAB;
    uint64_t facp = place(fadt(f));
    uint64_t rsdt = place(table("RSDT", 1, root_body({facp}, 4)));
    mem.put(kRsdpAt, rsdp(0, static_cast<uint32_t>(rsdt), 0));
    ASSERT_TRUE(acpi::parse(kRsdpAt, info)) << warnings(info);
    EXPECT_EQ(info.pm_timer_port, 0x1234u);
    EXPECT_FALSE(info.pm_timer_32bit);
    EXPECT_EQ(info.pm1a_control, 0x1230u);
    EXPECT_EQ(info.dsdt_address, dsdt_low);
    EXPECT_EQ(info.s5_slp_typa, 1);
    EXPECT_EQ(info.s5_slp_typb, 2);
    EXPECT_TRUE(info.have_reset_reg);
    EXPECT_EQ(info.reset_reg_space, 0);
    EXPECT_EQ(info.reset_reg_address, 0xFEDC0000u);
    EXPECT_EQ(info.reset_value, 0xAB);
}

TEST_F(AcpiTest, FadtHardwareReducedAndOddTimerLength) {
    FadtSpec f;
    f.length = 276;  // ACPI 6 size
    f.revision = 6;
    f.flags = (1u << 20) | (1u << 10);
    f.reset_addr = 0;  // RESET_REG_SUP with a zero address: unusable
    f.boot_arch = acpi::kBootArchVgaNotPresent | acpi::kBootArchCmosRtcNotPresent;  // Hyper-V Gen2-like
    uint64_t facp = place(fadt(f));
    uint64_t rsdt = place(table("RSDT", 1, root_body({facp}, 4)));
    mem.put(kRsdpAt, rsdp(0, static_cast<uint32_t>(rsdt), 0));
    ASSERT_TRUE(acpi::parse(kRsdpAt, info));
    EXPECT_TRUE(info.hardware_reduced);
    EXPECT_EQ(info.pm_timer_port, 0u);
    EXPECT_FALSE(info.have_reset_reg);
    EXPECT_NE(warnings(info).find("reset register"), std::string::npos) << warnings(info);
    EXPECT_FALSE(info.have_s5);  // no DSDT address at all
    char l1[512], l2[512];
    acpi::format_summary(info, l1, sizeof l1, l2, sizeof l2);
    EXPECT_NE(std::string(l2).find("no PM timer"), std::string::npos) << l2;
    EXPECT_NE(std::string(l2).find("hardware-reduced"), std::string::npos) << l2;
    EXPECT_NE(std::string(l2).find("no MADT"), std::string::npos) << l2;

    // Revision 1, PM_TMR_LEN 3: the timer block is not trusted. A too-short FADT is skipped.
    FadtSpec g;
    g.revision = 1;
    g.length = 116;
    g.pm_tmr_len = 3;
    uint64_t facp1 = place(fadt(g));
    uint64_t facp_short = place(table("FACP", 1, Bytes(20, 0)));
    uint64_t rsdt2 = place(table("RSDT", 1, root_body({facp_short, facp1}, 4)));
    mem.put(kRsdpAt, rsdp(0, static_cast<uint32_t>(rsdt2), 0));
    ASSERT_TRUE(acpi::parse(kRsdpAt, info));
    EXPECT_TRUE(info.have_fadt);
    EXPECT_EQ(info.pm_timer_port, 0u);
    const std::string w = warnings(info);
    EXPECT_NE(w.find("FACP: too short"), std::string::npos) << w;
    EXPECT_NE(w.find("PM timer block 0x608 with length 3 ignored"), std::string::npos) << w;
}

TEST_F(AcpiTest, DsdtWithBadChecksumOrWrongSignature) {
    Bytes d = table("DSDT", 1, s5_aml(false, {0, 0}, 2));
    d[d.size() - 1] ^= 1;
    uint64_t dsdt = place(d);
    FadtSpec f;
    f.dsdt = static_cast<uint32_t>(dsdt);
    uint64_t facp = place(fadt(f));
    uint64_t rsdt = place(table("RSDT", 1, root_body({facp}, 4)));
    mem.put(kRsdpAt, rsdp(0, static_cast<uint32_t>(rsdt), 0));
    ASSERT_TRUE(acpi::parse(kRsdpAt, info));
    EXPECT_FALSE(info.have_s5);
    EXPECT_NE(warnings(info).find("DSDT at 0x"), std::string::npos) << warnings(info);

    uint64_t ssdt = place(table("SSDT", 1, s5_aml(false, {0, 0}, 2)));
    f.dsdt = static_cast<uint32_t>(ssdt);
    facp = place(fadt(f));
    rsdt = place(table("RSDT", 1, root_body({facp}, 4)));
    mem.put(kRsdpAt, rsdp(0, static_cast<uint32_t>(rsdt), 0));
    ASSERT_TRUE(acpi::parse(kRsdpAt, info));
    EXPECT_FALSE(info.have_s5);
    EXPECT_NE(warnings(info).find("has signature 'SSDT'"), std::string::npos) << warnings(info);
}

// ------------------------------------------------------------------------------------------------ _S5_
bool s5(const Bytes& aml, uint16_t* a, uint16_t* b) {
    // An exact-size heap copy, so ASan catches any read past the end.
    std::unique_ptr<uint8_t[]> copy(new uint8_t[aml.size() ? aml.size() : 1]);
    if (!aml.empty()) std::memcpy(copy.get(), aml.data(), aml.size());
    return acpi::find_s5(copy.get(), aml.size(), a, b);
}

TEST(AcpiS5, Encodings) {
    uint16_t a = 99, b = 99;
    ASSERT_TRUE(s5(s5_aml(false, {0x00, 0x00, 0x00, 0x00}, 4), &a, &b));  // QEMU: ZeroOp x4
    EXPECT_EQ(a, 0);
    EXPECT_EQ(b, 0);
    ASSERT_TRUE(s5(s5_aml(true, {0x0A, 0x07, 0x0A, 0x07, 0x00, 0x00}, 4), &a, &b));  // \_S5_, BytePrefix
    EXPECT_EQ(a, 7);
    EXPECT_EQ(b, 7);
    ASSERT_TRUE(s5(s5_aml(false, {0x01, 0x00}, 2), &a, &b));  // OneOp, ZeroOp
    EXPECT_EQ(a, 1);
    EXPECT_EQ(b, 0);
    ASSERT_TRUE(s5(s5_aml(false, {0x0B, 0x05, 0x00, 0x0C, 0x06, 0, 0, 0}, 2), &a, &b));  // Word/DWord
    EXPECT_EQ(a, 5);
    EXPECT_EQ(b, 6);
    ASSERT_TRUE(s5(s5_aml(false, {0x0B, 0x05, 0x03}, 1), &a, &b));  // one element, both values packed
    EXPECT_EQ(a, 5);
    EXPECT_EQ(b, 3);

    // A two-byte PkgLength.
    Bytes two = {0x08, '_', 'S', '5', '_', 0x12, 0x40 | 0x07, 0x00, 0x02, 0x0A, 0x04, 0x0A, 0x02};
    ASSERT_TRUE(s5(two, &a, &b));
    EXPECT_EQ(a, 4);
    EXPECT_EQ(b, 2);

    // A method called _S5_ (MethodOp) and a name that is not a package are not it; a later real one is.
    Bytes tricky = {0x14, 0x08, '_', 'S', '5', '_', 0x00, 0xA4, 0x00, 0x08, '_', 'S', '5', '_', 0x0A, 0x01};
    Bytes real = s5_aml(true, {0x0A, 0x03, 0x0A, 0x03}, 2);
    tricky.insert(tricky.end(), real.begin(), real.end());
    ASSERT_TRUE(s5(tricky, &a, &b));
    EXPECT_EQ(a, 3);
    EXPECT_EQ(b, 3);
}

TEST(AcpiS5, MissingTruncatedAndGarbage) {
    uint16_t a = 99, b = 99;
    EXPECT_FALSE(s5({}, &a, &b));
    EXPECT_FALSE(acpi::find_s5(nullptr, 100, &a, &b));
    EXPECT_FALSE(s5({0x08, '_', 'S', '4', '_', 0x12, 0x04, 0x02, 0x00, 0x00}, &a, &b));
    EXPECT_FALSE(s5(s5_aml(false, {}, 0), &a, &b));                  // no elements
    EXPECT_FALSE(s5(s5_aml(false, {0x5B, 0x80}, 2), &a, &b));        // not an integer
    EXPECT_FALSE(s5(s5_aml(false, {0x0A, 0x01, 0x0A}, 2), &a, &b));  // BytePrefix without its byte
    // Every truncation of a valid encoding: no crash, no read past the end (ASan), no false success
    // once an element is cut.
    const Bytes full = s5_aml(true, {0x0C, 0x05, 0, 0, 0, 0x0C, 0x05, 0, 0, 0}, 2);
    for (size_t n = 0; n < full.size(); ++n) {
        Bytes cut(full.begin(), full.begin() + static_cast<long>(n));
        EXPECT_FALSE(s5(cut, &a, &b)) << n;
    }
    EXPECT_TRUE(s5(full, &a, &b));
    // A PkgLength larger than the data: bounded by the buffer.
    Bytes longpkg = {0x08, '_', 'S', '5', '_', 0x12, 0xFF, 0xFF, 0xFF, 0xFF, 0x02, 0x0A};
    EXPECT_FALSE(s5(longpkg, &a, &b));
    // Pseudo-random garbage sprinkled with the pieces the parser looks for.
    uint32_t x = 12345;
    for (int round = 0; round < 200; ++round) {
        Bytes g(1 + round * 3);
        for (auto& c : g) {
            x = x * 1103515245 + 12345;
            uint8_t r = static_cast<uint8_t>(x >> 16);
            static const uint8_t pieces[] = {0x08, '\\', '_', 'S', '5', 0x12, 0x0A, 0x0C, 0x40, 0xC0};
            c = (r & 1) ? pieces[(r >> 1) % sizeof pieces] : r;
        }
        s5(g, &a, &b);
    }
}

// ---------------------------------------------------------------------------------------------- search
TEST_F(AcpiTest, BiosSearchFindsAValidatedRsdp) {
    EXPECT_EQ(acpi::find_rsdp_bios(), 0u);  // nothing there (the EBDA area is not even mapped)
    // A signature with a bad checksum comes first and is passed over; a misaligned copy is never seen.
    Bytes bad = rsdp(0, 0x1234, 0);
    bad[8] ^= 1;
    mem.put(0xE0010, bad);
    mem.put(0xE0108, rsdp(0, 0x1234, 0));
    Bytes bad2 = rsdp(2, 0x1234, 0x5678);
    bad2[32] ^= 1;
    mem.put(0xE1000, bad2);
    mem.put(0xF5A40, rsdp(2, 0x1234, 0x5678));
    EXPECT_EQ(acpi::find_rsdp_bios(), 0xF5A40u);
    // One right at the end of the BIOS area.
    std::memset(mem.phys_to_host(0xF5A40, 36), 0, 36);
    mem.put(0xFFFEC, rsdp(0, 0x1234, 0));  // not 16-byte aligned
    EXPECT_EQ(acpi::find_rsdp_bios(), 0u);
    mem.put(0xFFFE0, rsdp(0, 0x1234, 0));
    EXPECT_EQ(acpi::find_rsdp_bios(), 0xFFFE0u);
}

TEST_F(AcpiTest, BiosSearchLooksInTheEbdaFirst) {
    mem.add_region(0x9F000, 0x1000);  // only the top of low memory is readable
    mem.put(0xF0000, rsdp(0, 0x1111, 0));
    mem.put(0x9FC40, rsdp(2, 0x2222, 0x3333));
    EXPECT_EQ(acpi::find_rsdp_bios(), 0x9FC40u);         // default: 0x80000-0x9FFFF scanned
    EXPECT_EQ(acpi::find_rsdp_bios(0x9FC00), 0x9FC40u);  // given EBDA: first KiB
    EXPECT_EQ(acpi::find_rsdp_bios(0x9F000), 0xF0000u);  // 0x9FC40 is beyond that EBDA's first KiB
}

// QEMU microvm's FADT (hw/i386/acpi-microvm.c): revision 5, hardware-reduced, no PM1 blocks, the GED's sleep
// control/status registers and reset register in memory space.
TEST_F(AcpiTest, FadtHardwareReducedSleepRegistersLikeMicrovm) {
    FadtSpec f;
    f.revision = 5;
    f.length = 268;
    f.flags = (1u << 20) | (1u << 10);
    f.pm_tmr = 0;
    f.x_pm_tmr = 0;
    f.pm1a_cnt = 0;
    f.x_pm1a_cnt = 0;
    f.reset_space = 0;
    f.reset_addr = 0xFEA00202;
    f.reset_value = 0x42;
    f.sleep_space = 0;
    f.sleep_control = 0xFEA00200;
    f.sleep_status = 0xFEA00201;
    uint64_t facp = place(fadt(f));
    uint64_t rsdt = place(table("RSDT", 1, root_body({facp}, 4)));
    mem.put(kRsdpAt, rsdp(0, static_cast<uint32_t>(rsdt), 0));
    ASSERT_TRUE(acpi::parse(kRsdpAt, info)) << warnings(info);
    EXPECT_TRUE(info.hardware_reduced);
    EXPECT_EQ(info.pm1a_control, 0u);
    EXPECT_EQ(info.sleep_control_space, 0);
    EXPECT_EQ(info.sleep_control_address, 0xFEA00200u);
    EXPECT_EQ(info.sleep_status_address, 0xFEA00201u);
    EXPECT_TRUE(info.have_reset_reg);
    EXPECT_EQ(info.reset_value, 0x42);
    char l1[512], l2[512];
    acpi::format_summary(info, l1, sizeof l1, l2, sizeof l2);
    EXPECT_NE(std::string(l2).find("sleep control at 0xfea00200"), std::string::npos) << l2;

    // A revision-4 table of the same length has no such fields: not read.
    f.revision = 4;
    uint64_t facp4 = place(fadt(f));
    uint64_t rsdt4 = place(table("RSDT", 1, root_body({facp4}, 4)));
    mem.put(kRsdpAt, rsdp(0, static_cast<uint32_t>(rsdt4), 0));
    ASSERT_TRUE(acpi::parse(kRsdpAt, info));
    EXPECT_EQ(info.sleep_control_address, 0u);
}

}  // namespace
