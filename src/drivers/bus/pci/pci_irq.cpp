#include "drivers/bus/pci/pci_irq.hpp"

#include "kernel/acpi.hpp"
#include "kernel/apic.hpp"
#include "kernel/kernel.hpp"
#include "kernel/log.hpp"

namespace skerry::pci {

const char* irq_kind_name(IrqKind k) {
    switch (k) {
    case IrqKind::Msix: return "MSI-X";
    case IrqKind::Msi: return "MSI";
    case IrqKind::Intx: return "INTx";
    case IrqKind::None: break;
    }
    return "none";
}

namespace {
// PCI interrupt lines the firmware assigned are ISA IRQ numbers (the PIC routing it set up). With the
// I/O APIC the same input is GSI n unless the MADT overrides it; PCI interrupts are level-triggered,
// active low, unless an override says otherwise (QEMU's PIIX overrides 5, 9, 10, 11 as level, active high).
bool intx_gsi(const Device& d, uint32_t& gsi, bool& level, bool& active_low) {
    if (d.irq_pin == 0 || d.irq_pin > 4 || d.irq_line == 0 || d.irq_line >= 16) return false;
    const acpi::AcpiInfo& info = kernel::acpi();
    gsi = d.irq_line;
    level = true;
    active_low = true;
    for (size_t i = 0; i < info.override_count; ++i) {
        const acpi::IrqOverride& o = info.overrides[i];
        if (o.bus != 0 || o.source_irq != d.irq_line) continue;
        gsi = o.gsi;
        const uint16_t pol = o.flags & acpi::kPolarityMask, trig = o.flags & acpi::kTriggerMask;
        if (pol == acpi::kPolarityHigh) active_low = false;
        if (trig == acpi::kTriggerEdge) level = false;
        break;
    }
    return gsi < apic::gsi_count();
}
}  // namespace

bool attach_irq(const Device& d, interrupts::Handler handler, void* context, Irq& out, uint8_t allow) {
    out = Irq{};
    const uint8_t vector = interrupts::allocate_vector(handler, context);
    if (!vector) {
        log::error("pci %02x:%02x.%x: no free interrupt vector", d.bus, d.dev, d.fn);
        return false;
    }
    if ((allow & kAllowMsix) && d.msix_cap) {
        d.enable(true, true);
        if (enable_msix(d, 0, vector)) {
            out = {IrqKind::Msix, vector, 0, false, false};
            return true;
        }
    }
    if ((allow & kAllowMsi) && d.msi_cap) {
        d.enable(true, true);
        if (enable_msi(d, vector)) {
            out = {IrqKind::Msi, vector, 0, false, false};
            return true;
        }
    }
    uint32_t gsi;
    bool level, active_low;
    if ((allow & kAllowIntx) && intx_gsi(d, gsi, level, active_low)) {
        d.enable(true, false);
        if (apic::route_gsi(gsi, vector, level, active_low)) {
            out = {IrqKind::Intx, vector, gsi, level, active_low};
            return true;
        }
    }
    interrupts::free_vector(vector);
    log::error("pci %02x:%02x.%x: no usable interrupt (MSI-X %s, MSI %s, INTx pin %u line %u)", d.bus, d.dev, d.fn,
               d.msix_cap ? "yes" : "no", d.msi_cap ? "yes" : "no", d.irq_pin, d.irq_line);
    return false;
}

void detach_irq(const Device& d, Irq& irq) {
    switch (irq.kind) {
    case IrqKind::Msix: {
        const uint16_t c = d.read16(static_cast<uint16_t>(d.msix_cap + 2));
        d.write16(static_cast<uint16_t>(d.msix_cap + 2), static_cast<uint16_t>(c & ~0x8000));
        break;
    }
    case IrqKind::Msi: {
        const uint16_t c = d.read16(static_cast<uint16_t>(d.msi_cap + 2));
        d.write16(static_cast<uint16_t>(d.msi_cap + 2), static_cast<uint16_t>(c & ~1u));
        break;
    }
    case IrqKind::Intx: apic::mask_gsi(irq.gsi, true); break;
    case IrqKind::None: return;
    }
    interrupts::free_vector(irq.vector);
    irq = Irq{};
}

}  // namespace skerry::pci
