// Attaching an interrupt handler to a PCI function: MSI-X (entry 0), MSI, or INTx through the I/O APIC,
// whichever the device has and the caller allows. Handlers run in interrupt context (interrupts off, on
// the IRQ stack) and should only acknowledge the device and loop::raise() the real work.
#pragma once

#include <stdint.h>

#include "drivers/bus/pci/pci.hpp"
#include "kernel/arch/interrupts.hpp"

namespace skerry::pci {

enum class IrqKind : uint8_t { None, Msix, Msi, Intx };
const char* irq_kind_name(IrqKind k);  // "MSI-X", "MSI", "INTx"

struct Irq {
    IrqKind kind = IrqKind::None;
    uint8_t vector = 0;
    uint32_t gsi = 0;  // INTx only
    bool level = false, active_low = false;
};

enum IrqAllow : uint8_t { kAllowMsix = 1, kAllowMsi = 2, kAllowIntx = 4, kAllowAll = 7 };

// Allocates a vector with `handler`, programs the first allowed mechanism the device supports (in the
// order MSI-X, MSI, INTx), enables bus mastering and, for MSI/MSI-X, disables INTx. For INTx the interrupt
// line the firmware assigned is mapped to a GSI with the MADT's overrides (PCI default without one:
// level-triggered, active low). Returns false (and logs why) when nothing usable is left.
bool attach_irq(const Device& d, interrupts::Handler handler, void* context, Irq& out, uint8_t allow = kAllowAll);
// Masks the interrupt and frees the vector.
void detach_irq(const Device& d, Irq& irq);

}  // namespace skerry::pci
