// What the PCI bus code needs from the machine besides configuration access: the MSI message that reaches this
// CPU, and MMIO mapping for ECAM windows and MSI-X tables. The kernel's are pci_platform_kernel.cpp (the local
// APIC, the page tables); host tests link pci_platform_host.cpp.
#pragma once

#include <stdint.h>

namespace skerry::pci::platform {

// MSI address and data for `vector`: fixed delivery, edge, physical destination = our local APIC.
uint64_t msi_address();
uint32_t msi_data(uint8_t vector);
// Makes [phys, phys + len) accessible as MMIO. False when it cannot.
bool map_device_memory(uint64_t phys, uint64_t len);

}  // namespace skerry::pci::platform
