// The kernel's pci::Env: BARs mapped through the page tables, interrupts through pci_irq, delays on the clock.
#include "drivers/bus/pci/pci_env.hpp"

#include "kernel/arch/paging.hpp"
#include "kernel/time.hpp"

namespace skerry::pci {
namespace {

class KernelEnv final : public Env {
public:
    bool map_mmio(uint64_t phys, uint64_t size) override { return paging::map_mmio(phys, size); }
    bool attach_irq(const Device& d, interrupts::Handler handler, void* context, Irq& out, uint8_t allow) override {
        return pci::attach_irq(d, handler, context, out, allow);
    }
    void detach_irq(const Device& d, Irq& irq) override { pci::detach_irq(d, irq); }
    bool attach_msix_entry(const Device& d, uint16_t entry, interrupts::Handler handler, void* context,
                           Irq& out) override {
        out = Irq{};
        const uint8_t vector = interrupts::allocate_vector(handler, context);
        if (!vector) return false;
        d.enable(true, true);
        if (!enable_msix(d, entry, vector)) {
            interrupts::free_vector(vector);
            return false;
        }
        out = {IrqKind::Msix, vector, 0, false, false};
        return true;
    }
    void delay_us(uint64_t us) override { time::delay_us(us); }
};
KernelEnv env;

}  // namespace

Env& kernel_env() { return env; }

}  // namespace skerry::pci
