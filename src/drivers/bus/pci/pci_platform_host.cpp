// Host tests' side of pci_platform.hpp: an MSI message for APIC id 0 with the vector as data, and device memory
// that is the test's own (nothing to map).
#include "drivers/bus/pci/pci_platform.hpp"

namespace skerry::pci::platform {

uint64_t msi_address() { return 0xFEE00000ull; }
uint32_t msi_data(uint8_t vector) { return vector; }
bool map_device_memory(uint64_t, uint64_t) { return true; }

}  // namespace skerry::pci::platform
