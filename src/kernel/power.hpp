// Power off, reset and the fatal stop.
#pragma once

#include <stdint.h>

namespace skerry::power {

// With debug_exit=<port> on the command line (QEMU's isa-debug-exit device, used by tests), exits go
// through that port first: QEMU then exits with status (code << 1) | 1.
void set_debug_exit_port(uint16_t port);

// Work to do before an orderly power-off or reset (e.g. telling the hypervisor we leave: VMBus UNLOAD). Hooks
// run once, in registration order, with interrupts disabled; each must bound its own waiting. Not run on a
// panic or fatal stop (the state may be what failed). False when the table (4) is full.
bool add_shutdown_hook(void (*hook)());

// Power the machine off: shutdown hooks, debug-exit port, ACPI S5 (PM1 control registers, or the sleep control
// register of hardware-reduced ACPI), then the i8042 reset command (Firecracker ends the VM on it), then a triple
// fault (QEMU with -no-reboot exits on it; elsewhere it resets), then halt. Each attempt is logged first.
[[noreturn]] void power_off(int status);
// Reset: shutdown hooks, ACPI reset register, keyboard controller, triple fault.
[[noreturn]] void reboot();
// After a panic or exception dump: debug-exit with kFatalStatus when configured, else halt forever.
[[noreturn]] void fatal_stop();
constexpr int kFatalStatus = 0x7E;

// Registered by ACPI init.
struct AcpiSleep {
    uint16_t pm1a_cnt, pm1b_cnt;  // I/O ports, 0 = absent
    uint16_t slp_typa, slp_typb;
    bool valid;
    // Hardware-reduced ACPI (FADT SLEEP_CONTROL_REG): SLP_TYPa in bits 2-4 and SLP_EN (bit 5) go here instead.
    uint8_t sleep_control_space;  // GAS space: 0 memory, 1 I/O
    uint64_t sleep_control;       // 0 = none
};
void set_acpi_sleep(const AcpiSleep& s);
struct ResetRegister {
    uint8_t space;  // 0 = memory, 1 = I/O
    uint64_t address;
    uint8_t value;
    bool valid;
};
void set_acpi_reset(const ResetRegister& r);

}  // namespace skerry::power
