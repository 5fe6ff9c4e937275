#include "kernel/power.hpp"

#include "hw/hw.hpp"
#include "kernel/arch/cpu.hpp"
#include "kernel/log.hpp"

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
        constexpr uint16_t kSlpEn = 1 << 13;
        hw::outw(sleep_info.pm1a_cnt, static_cast<uint16_t>((sleep_info.slp_typa << 10) | kSlpEn));
        if (sleep_info.pm1b_cnt)
            hw::outw(sleep_info.pm1b_cnt, static_cast<uint16_t>((sleep_info.slp_typb << 10) | kSlpEn));
    }
    static const char msg[] = "power: the machine did not power off; halted.\n";
    log::emergency_write(msg, sizeof msg - 1);
    cpu::halt_forever();
}

[[noreturn]] void reboot() {
    cpu::disable_interrupts();
    run_shutdown_hooks();
    if (reset_reg.valid) {
        if (reset_reg.space == 1) hw::outb(static_cast<uint16_t>(reset_reg.address), reset_reg.value);
        else if (reset_reg.space == 0) hw::mmio_write8(reset_reg.address, reset_reg.value);
    }
    hw::outb(0xCF9, 0x06);  // PCI reset control (QEMU, most chipsets)
    hw::outb(0x64, 0xFE);   // keyboard controller reset line
    // Last resort: triple fault with an empty IDT.
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } empty{0, 0};
    __asm__ __volatile__("lidt %0; int3" : : "m"(empty));
    cpu::halt_forever();
}

[[noreturn]] void fatal_stop() {
    cpu::disable_interrupts();
    if (debug_exit_port) hw::outl(debug_exit_port, kFatalStatus);
    cpu::halt_forever();
}

}  // namespace skerry::power
