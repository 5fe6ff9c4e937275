// The kernel's side of pci_platform.hpp: the local APIC's MSI message, the page tables.
#include "drivers/bus/pci/pci_platform.hpp"
#include "kernel/apic.hpp"
#include "kernel/arch/paging.hpp"

namespace skerry::pci::platform {

uint64_t msi_address() { return apic::msi_address(); }
uint32_t msi_data(uint8_t vector) { return apic::msi_data(vector); }

bool map_device_memory(uint64_t phys, uint64_t len) {
    if (phys + len <= paging::mapped_top()) return true;  // the kernel maps everything below its mapped top
    return paging::map_mmio(phys, len);
}

}  // namespace skerry::pci::platform
