#include "kernel/apic.hpp"

#include "hw/hw.hpp"
#include "kernel/arch/interrupts.hpp"
#include "kernel/arch/paging.hpp"

namespace skerry::apic {
namespace {

constexpr uint32_t kApicBaseMsr = 0x1B;
constexpr uint64_t kApicBaseEnable = 1ull << 11;
constexpr uint64_t kApicBaseX2 = 1ull << 10;
constexpr uint32_t kTscDeadlineMsr = 0x6E0;

// Register offsets (xAPIC MMIO offset; x2APIC MSR = 0x800 + offset / 16).
constexpr uint32_t kId = 0x20, kTpr = 0x80, kEoi = 0xB0, kSvr = 0xF0, kLvtTimer = 0x320, kLvtLint0 = 0x350,
                   kLvtLint1 = 0x360, kLvtError = 0x370, kTimerInit = 0x380, kTimerCurrent = 0x390,
                   kTimerDivide = 0x3E0, kEsr = 0x280;
constexpr uint32_t kMasked = 1u << 16;

bool use_x2;
uint64_t lapic_base;
bool deadline_mode;
// APIC timer ticks per TSC cycle as 32.32 fixed point (one-shot mode only).
uint64_t apic_per_tsc_fp32;

struct IoApic {
    uint64_t base;
    uint32_t gsi_base;
    uint32_t count;
    uint8_t id;
};
IoApic ioapics[8];
uint32_t n_ioapics;

uint32_t read(uint32_t reg) {
    if (use_x2) return static_cast<uint32_t>(hw::rdmsr(0x800 + reg / 16));
    return hw::mmio_read32(lapic_base + reg);
}
void write(uint32_t reg, uint32_t v) {
    if (use_x2) hw::wrmsr(0x800 + reg / 16, v);
    else hw::mmio_write32(lapic_base + reg, v);
}

uint32_t io_read(const IoApic& io, uint32_t reg) {
    hw::mmio_write32(io.base, reg);
    return hw::mmio_read32(io.base + 0x10);
}
void io_write(const IoApic& io, uint32_t reg, uint32_t v) {
    hw::mmio_write32(io.base, reg);
    hw::mmio_write32(io.base + 0x10, v);
}

void mask_pic() {
    // Remap the 8259s to vectors 0x20-0x2F (so a stray legacy interrupt is not mistaken for an
    // exception) and mask every line. Harmless where no PIC exists.
    hw::outb(0x20, 0x11);
    hw::io_wait();
    hw::outb(0xA0, 0x11);
    hw::io_wait();
    hw::outb(0x21, 0x20);
    hw::io_wait();
    hw::outb(0xA1, 0x28);
    hw::io_wait();
    hw::outb(0x21, 0x04);
    hw::io_wait();
    hw::outb(0xA1, 0x02);
    hw::io_wait();
    hw::outb(0x21, 0x01);
    hw::io_wait();
    hw::outb(0xA1, 0x01);
    hw::io_wait();
    hw::outb(0x21, 0xFF);
    hw::outb(0xA1, 0xFF);
}

void spurious(interrupts::Frame&, void*) {}
void timer_irq(interrupts::Frame&, void*) {}  // only wakes the event loop out of hlt

}  // namespace

bool init(uint64_t lapic_address, const IoApicDesc* descs, size_t count, bool legacy_pic) {
    if (legacy_pic) mask_pic();  // Hyper-V Gen2 and hardware-reduced platforms have no 8259s
    uint64_t base_msr = hw::rdmsr(kApicBaseMsr);
    use_x2 = hw::cpuid(1).ecx & (1u << 21);
    if (use_x2) {
        hw::wrmsr(kApicBaseMsr, base_msr | kApicBaseEnable);
        hw::wrmsr(kApicBaseMsr, base_msr | kApicBaseEnable | kApicBaseX2);
    } else {
        lapic_base = lapic_address ? lapic_address : (base_msr & 0xFFFFFF000ull);
        if (!paging::map_mmio(lapic_base, 4096)) return false;
        hw::wrmsr(kApicBaseMsr, base_msr | kApicBaseEnable);
    }
    write(kTpr, 0);
    write(kLvtLint0, kMasked);
    write(kLvtLint1, kMasked);
    write(kLvtError, kMasked);
    write(kLvtTimer, kMasked);
    write(kSvr, 0x100 | 0xFF);  // enable, spurious vector 0xFF
    write(kEsr, 0);
    interrupts::set_handler(0xFF, spurious, nullptr);
    interrupts::set_handler(kTimerVector, timer_irq, nullptr);
    interrupts::set_eoi_hook(eoi);

    deadline_mode = hw::cpuid(1).ecx & (1u << 24);
    if (deadline_mode) {
        write(kLvtTimer, kTimerVector | (2u << 17));
    } else {
        write(kTimerDivide, 0xB);        // divide by 1
        write(kLvtTimer, kTimerVector);  // one-shot
    }

    n_ioapics = 0;
    for (size_t i = 0; i < count && n_ioapics < 8; ++i) {
        IoApic io{descs[i].address, descs[i].gsi_base, 0, descs[i].id};
        if (!paging::map_mmio(io.base, 4096)) continue;
        io.count = ((io_read(io, 1) >> 16) & 0xFF) + 1;
        if (io.gsi_base == kGsiBaseNext) {
            // The MP spec has no GSI base: I/O APICs take consecutive ranges in table order (as Linux's mpparse).
            io.gsi_base = n_ioapics ? ioapics[n_ioapics - 1].gsi_base + ioapics[n_ioapics - 1].count : 0;
        }
        for (uint32_t e = 0; e < io.count; ++e) {
            io_write(io, 0x10 + 2 * e, kMasked);
            io_write(io, 0x11 + 2 * e, 0);
        }
        ioapics[n_ioapics++] = io;
    }
    return true;
}

uint32_t lapic_id() { return use_x2 ? read(kId) : read(kId) >> 24; }
bool x2apic() { return use_x2; }
uint32_t ioapic_count() { return n_ioapics; }
uint32_t gsi_count() {
    uint32_t n = 0;
    for (uint32_t i = 0; i < n_ioapics; ++i)
        if (ioapics[i].gsi_base + ioapics[i].count > n) n = ioapics[i].gsi_base + ioapics[i].count;
    return n;
}
void eoi() { write(kEoi, 0); }

static IoApic* ioapic_for(uint32_t gsi) {
    for (uint32_t i = 0; i < n_ioapics; ++i)
        if (gsi >= ioapics[i].gsi_base && gsi < ioapics[i].gsi_base + ioapics[i].count) return &ioapics[i];
    return nullptr;
}

bool route_gsi(uint32_t gsi, uint8_t vector, bool level, bool active_low) {
    IoApic* io = ioapic_for(gsi);
    if (!io) return false;
    uint32_t e = gsi - io->gsi_base;
    uint32_t low = vector | (active_low ? 1u << 13 : 0) | (level ? 1u << 15 : 0);
    io_write(*io, 0x11 + 2 * e, lapic_id() << 24);
    io_write(*io, 0x10 + 2 * e, low);
    return true;
}

void mask_gsi(uint32_t gsi, bool masked) {
    IoApic* io = ioapic_for(gsi);
    if (!io) return;
    uint32_t e = gsi - io->gsi_base;
    uint32_t low = io_read(*io, 0x10 + 2 * e);
    io_write(*io, 0x10 + 2 * e, masked ? (low | kMasked) : (low & ~kMasked));
}

uint64_t msi_address() { return 0xFEE00000ull | (static_cast<uint64_t>(lapic_id() & 0xFF) << 12); }
uint32_t msi_data(uint8_t vector) { return vector; }

bool tsc_deadline() { return deadline_mode; }

void set_timer_frequency(uint64_t apic_hz, uint64_t tsc_hz) {
    if (tsc_hz == 0 || apic_hz >= (1ull << 32)) return;
    apic_per_tsc_fp32 = (apic_hz << 32) / tsc_hz;
}

uint64_t measure_timer_ticks(uint64_t tsc_cycles) {
    if (deadline_mode) return 0;
    write(kLvtTimer, kMasked);
    write(kTimerDivide, 0xB);
    write(kTimerInit, 0xFFFFFFFF);
    uint64_t start = hw::rdtsc();
    while (hw::rdtsc() - start < tsc_cycles) hw::pause();
    uint32_t left = read(kTimerCurrent);
    write(kTimerInit, 0);
    write(kLvtTimer, kTimerVector);
    return 0xFFFFFFFFull - left;
}

void timer_arm_tsc(uint64_t deadline) {
    if (deadline_mode) {
        hw::wrmsr(kTscDeadlineMsr, deadline ? deadline : 1);
        return;
    }
    // One-shot countdown: convert the TSC distance into APIC ticks.
    uint64_t now = hw::rdtsc();
    uint64_t cycles = deadline > now ? deadline - now : 1;
    uint64_t ticks = static_cast<uint64_t>((static_cast<unsigned __int128>(cycles) * apic_per_tsc_fp32) >> 32);
    if (ticks == 0) ticks = 1;
    if (ticks > 0xFFFFFFFFull) ticks = 0xFFFFFFFFull;
    write(kTimerInit, static_cast<uint32_t>(ticks));
}

void timer_disarm() {
    if (deadline_mode) hw::wrmsr(kTscDeadlineMsr, 0);
    else write(kTimerInit, 0);
}

}  // namespace skerry::apic
