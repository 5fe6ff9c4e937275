// The PCI functions the e1000 driver registers for (e1000_kernel.cpp), with the model names the boot log shows.
// The same devices as the driver's own model table (find_model in e1000.cpp); tests/unit/pci_registry_test.cpp
// checks that the two agree.
#pragma once

#include "drivers/bus/pci/registry.hpp"

namespace skerry::e1000 {

inline constexpr uint16_t kIntel = 0x8086;

inline constexpr pci::Match kPciIds[] = {
    pci::match_id(kIntel, 0x100E, "82540EM"),  // QEMU `e1000`
    pci::match_id(kIntel, 0x1015, "82540EM"), pci::match_id(kIntel, 0x1016, "82540EP"),
    pci::match_id(kIntel, 0x1017, "82540EP"), pci::match_id(kIntel, 0x101E, "82540EP"),
    pci::match_id(kIntel, 0x100F, "82545EM"),  // VMware's e1000
    pci::match_id(kIntel, 0x1026, "82545GM"), pci::match_id(kIntel, 0x1010, "82546EB"),
    pci::match_id(kIntel, 0x1079, "82546GB"), pci::match_id(kIntel, 0x1008, "82544EI"),
    pci::match_id(kIntel, 0x100C, "82544GC"),                                           // QEMU `e1000-82544gc`
    pci::match_id(kIntel, 0x100D, "82544GC"), pci::match_id(kIntel, 0x10D3, "82574L"),  // QEMU/VMware `e1000e`
};

}  // namespace skerry::e1000
