// Interrupt delivery check: asks the first Intel NIC to raise an interrupt (by writing its Interrupt
// Cause Set register) and reports how it arrived: MSI when the device has it (e1000e on q35), else INTx
// through the I/O APIC pin the MADT says. The handler only acknowledges the device and raises work for
// the event loop, like a real driver; the work logs the result. It proves the device-interrupt path
// (PCI -> IOAPIC/MSI -> local APIC -> IDT -> loop) before any network driver exists.
#include "appliances/hello/hello.hpp"

#include "drivers/bus/pci/pci.hpp"
#include "drivers/bus/pci/pci_irq.hpp"
#include "hw/hw.hpp"
#include "kernel/event_loop.hpp"
#include "kernel/log.hpp"
#include "kernel/time.hpp"

namespace hello {
namespace {

using namespace skerry;

// Registers shared by the 8254x (e1000) and 82574 (e1000e) families.
constexpr uint32_t kIcr = 0xC0;           // interrupt cause read (read clears)
constexpr uint32_t kIcs = 0xC8;           // interrupt cause set
constexpr uint32_t kIms = 0xD0;           // interrupt mask set
constexpr uint32_t kImc = 0xD8;           // interrupt mask clear
constexpr uint32_t kCauseTxqe = 1u << 1;  // "transmit queue empty": harmless to fake

const uint16_t kIntelNics[] = {0x100e, 0x100f, 0x1004, 0x10d3};

struct Check {
    const pci::Device* dev = nullptr;
    uint64_t regs = 0;
    pci::Irq irq;
    uint64_t raised_ns = 0, handled_ns = 0;
    uint32_t cause = 0;
    int interrupts = 0;
    loop::Timer timeout;
    bool done = false;
} check;

void report(void*) {
    if (check.done) return;
    check.done = true;
    loop::cancel(check.timeout);
    const pci::Device& d = *check.dev;
    const uint64_t us = (check.handled_ns - check.raised_ns) / 1000;
    if (check.irq.kind == pci::IrqKind::Intx) {
        log::info("irq: %02x:%02x.%x %04x:%04x interrupt delivered via INTx, I/O APIC GSI %u (%s, active %s), "
                  "vector 0x%02x, %llu us, cause 0x%x",
                  d.bus, d.dev, d.fn, d.vendor, d.device, check.irq.gsi, check.irq.level ? "level" : "edge",
                  check.irq.active_low ? "low" : "high", check.irq.vector, static_cast<unsigned long long>(us),
                  check.cause);
    } else {
        log::info("irq: %02x:%02x.%x %04x:%04x interrupt delivered via %s, vector 0x%02x, %llu us, cause 0x%x", d.bus,
                  d.dev, d.fn, d.vendor, d.device, pci::irq_kind_name(check.irq.kind), check.irq.vector,
                  static_cast<unsigned long long>(us), check.cause);
    }
    pci::detach_irq(d, check.irq);
}

void on_interrupt(interrupts::Frame&, void*) {
    const uint32_t cause = hw::mmio_read32(check.regs + kIcr);  // acknowledges (and deasserts INTx)
    if (!cause) return;                                         // a shared line: not ours
    hw::mmio_write32(check.regs + kImc, ~0u);
    ++check.interrupts;
    check.cause = cause;
    check.handled_ns = time::now_ns();
    loop::raise(report, nullptr);
}

void on_timeout(void*) {
    if (check.done) return;
    check.done = true;
    hw::mmio_write32(check.regs + kImc, ~0u);
    log::warn("irq: no interrupt from %02x:%02x.%x within 500 ms via %s (ICR now 0x%x)", check.dev->bus, check.dev->dev,
              check.dev->fn, pci::irq_kind_name(check.irq.kind), hw::mmio_read32(check.regs + kIcr));
    pci::detach_irq(*check.dev, check.irq);
}

}  // namespace

void start_irq_check() {
    // Prefer a NIC with MSI (that path needs no firmware routing knowledge), else the first one.
    const pci::Device* pick = nullptr;
    for (size_t i = 0; i < pci::count(); ++i) {
        const pci::Device& d = pci::device(i);
        if (d.vendor != 0x8086) continue;
        bool known = false;
        for (uint16_t id : kIntelNics) known = known || d.device == id;
        if (!known || !d.bars[0].is_mem() || d.bars[0].address == 0) continue;
        if (!pick || (d.msi_cap && !pick->msi_cap)) pick = &d;
    }
    if (!pick) {
        log::info("irq: no Intel NIC to check interrupt delivery with");
        return;
    }
    check.dev = pick;
    check.regs = pick->bars[0].address;
    hw::mmio_write32(check.regs + kImc, ~0u);
    (void)hw::mmio_read32(check.regs + kIcr);
    if (!pci::attach_irq(*pick, on_interrupt, nullptr, check.irq, pci::kAllowMsi | pci::kAllowIntx)) return;
    loop::arm_in(check.timeout, 500 * 1000000ull, on_timeout, nullptr);
    hw::mmio_write32(check.regs + kIms, kCauseTxqe);
    check.raised_ns = time::now_ns();
    hw::mmio_write32(check.regs + kIcs, kCauseTxqe);
}

}  // namespace hello
