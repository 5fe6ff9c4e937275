// What the kernel found at boot, for drivers and appliances: the boot information, the ACPI facts, the
// CPU and the physical page allocator (DMA memory). Filled in by kernel_entry before the appliance's main.
#pragma once

#include "boot/bootinfo.hpp"
#include "kernel/acpi.hpp"
#include "kernel/cmdline.hpp"
#include "kernel/cpu_info.hpp"
#include "kernel/page_alloc.hpp"

namespace skerry::kernel {

const boot::BootInfo& boot_info();
const acpi::AcpiInfo& acpi();  // valid == false when the firmware has no (usable) ACPI tables
const cpu_info::CpuInfo& cpu();
PageAllocator& pages();
// The kernel command line, loaded at boot. Modules declare their own options and apply() them when they
// start (before the appliance's main returns; unclaimed options are reported after that).
cmdline::CommandLine& command_line();

}  // namespace skerry::kernel
