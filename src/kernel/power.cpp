#include "kernel/power.hpp"

#include "hw/hw.hpp"
#include "kernel/arch/cpu.hpp"
#include "kernel/log.hpp"
#include "kernel/time.hpp"

namespace skerry::power {
namespace {
uint16_t debug_exit_port;
AcpiSleep sleep_info;
ResetRegister reset_reg;
constexpr int kMaxHooks = 4;
void (*hooks[kMaxHooks])();
int n_hooks;

void run_shutdown_hooks() {
    // Each hook is taken out before it runs, so a hook that ends up here again (exit from inside) cannot loop.
    for (int i = 0; i < n_hooks; ++i) {
        void (*h)() = hooks[i];
        hooks[i] = nullptr;
        if (h) h();
    }
}
// Gives a power-off or reset request time to act (the VMM stops the CPU soon after the write) before the next try.
void settle() {
    if (time::ready()) {
        time::delay_us(50000);
    } else {
        for (int i = 0; i < 10000000; ++i) hw::pause();
    }
}

[[noreturn]] void triple_fault() {
    // An empty IDT: the breakpoint cannot be delivered, nor the double fault that follows: the CPU shuts down.
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } empty{0, 0};
    __asm__ __volatile__("lidt %0; int3" : : "m"(empty));
    cpu::halt_forever();
}
}  // namespace

bool add_shutdown_hook(void (*hook)()) {
    if (n_hooks == kMaxHooks) return false;
    hooks[n_hooks++] = hook;
    return true;
}

void set_debug_exit_port(uint16_t port) { debug_exit_port = port; }
void set_acpi_sleep(const AcpiSleep& s) { sleep_info = s; }
void set_acpi_reset(const ResetRegister& r) { reset_reg = r; }

[[noreturn]] void power_off(int status) {
    cpu::disable_interrupts();
    run_shutdown_hooks();
    if (debug_exit_port) hw::outl(debug_exit_port, static_cast<uint32_t>(status));
    if (sleep_info.valid && sleep_info.pm1a_cnt) {
        log::info("power: ACPI S5 (SLP_TYP %u) through PM1a_CNT 0x%x", sleep_info.slp_typa, sleep_info.pm1a_cnt);
        constexpr uint16_t kSlpEn = 1 << 13;
        hw::outw(sleep_info.pm1a_cnt, static_cast<uint16_t>((sleep_info.slp_typa << 10) | kSlpEn));
        if (sleep_info.pm1b_cnt)
            hw::outw(sleep_info.pm1b_cnt, static_cast<uint16_t>((sleep_info.slp_typb << 10) | kSlpEn));
        settle();
    } else if (sleep_info.valid && sleep_info.sleep_control) {
        // ACPI 6.x section 4.8.3.7: SLP_TYPx in bits 2-4, SLP_EN in bit 5 of the sleep control register.
        const uint8_t v = static_cast<uint8_t>(((sleep_info.slp_typa & 7) << 2) | (1u << 5));
        log::info("power: ACPI S5 (SLP_TYP %u) through the sleep control register (hardware-reduced ACPI) at %s 0x%llx",
                  sleep_info.slp_typa, sleep_info.sleep_control_space == 1 ? "port" : "address",
                  static_cast<unsigned long long>(sleep_info.sleep_control));
        if (sleep_info.sleep_control_space == 1) hw::outb(static_cast<uint16_t>(sleep_info.sleep_control), v);
        else hw::mmio_write8(sleep_info.sleep_control, v);
        settle();
    } else {
        log::info("power: no ACPI power-off (no ACPI, or no S5 and sleep register)");
    }
    // Without ACPI (Firecracker before its ACPI support): the keyboard controller's CPU reset command, which
    // Firecracker's i8042 model turns into the end of the VM. On a PC it resets; QEMU's microvm has no i8042.
    log::info("power: trying the i8042 reset (0xfe to port 0x64; Firecracker stops the VM on it)");
    hw::outb(0x64, 0xFE);
    settle();
    log::info("power: still running; triple fault (QEMU with -no-reboot exits on it, other machines reset)");
    triple_fault();
}

[[noreturn]] void reboot() {
    cpu::disable_interrupts();
    run_shutdown_hooks();
    if (reset_reg.valid) {
        if (reset_reg.space == 1) hw::outb(static_cast<uint16_t>(reset_reg.address), reset_reg.value);
        else if (reset_reg.space == 0) hw::mmio_write8(reset_reg.address, reset_reg.value);
    }
    hw::outb(0xCF9, 0x06);  // PCI reset control (QEMU, most chipsets)
    hw::outb(0x64, 0xFE);   // keyboard controller reset line (Firecracker: ends the VM)
    triple_fault();         // last resort
}

[[noreturn]] void fatal_stop() {
    cpu::disable_interrupts();
    if (debug_exit_port) hw::outl(debug_exit_port, kFatalStatus);
    cpu::halt_forever();
}

}  // namespace skerry::power
