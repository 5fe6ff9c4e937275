#pragma once

namespace hello {
// Makes a NIC raise one interrupt and logs how it arrived (MSI or INTx via the I/O APIC).
void start_irq_check();
}  // namespace hello
