// What a PCI device driver needs from the kernel besides register access through hw::, i.e. the parts that
// differ between the kernel and host tests: mapping a BAR into the page tables, wiring the interrupt (MSI-X,
// MSI or INTx through pci_irq), and waiting. Drivers take an Env; the kernel's is kernel_env()
// (pci_env_kernel.cpp), host tests pass their own.
#pragma once

#include <stdint.h>

#include "drivers/bus/pci/pci.hpp"
#include "drivers/bus/pci/pci_irq.hpp"

namespace skerry::pci {

class Env {
public:
    // Makes [phys, phys + size) reachable as uncached MMIO. False when it cannot.
    virtual bool map_mmio(uint64_t phys, uint64_t size) = 0;
    // As pci::attach_irq: the handler runs in interrupt context. False when the device gets no interrupt
    // (the driver then polls).
    virtual bool attach_irq(const Device& d, interrupts::Handler handler, void* context, Irq& out, uint8_t allow) = 0;
    virtual void detach_irq(const Device& d, Irq& irq) = 0;
    // MSI-X table entry `entry` to a new vector running handler(context), for devices with a vector per queue
    // (virtio). False when the device has no such entry or no vector is left. Undone with detach_irq.
    virtual bool attach_msix_entry(const Device&, uint16_t, interrupts::Handler, void*, Irq&) { return false; }
    // Busy-waits (device resets, EEPROM reads).
    virtual void delay_us(uint64_t us) = 0;

protected:
    ~Env() = default;
};

// The kernel's: page tables, the interrupt controllers, the calibrated clock.
Env& kernel_env();

}  // namespace skerry::pci
