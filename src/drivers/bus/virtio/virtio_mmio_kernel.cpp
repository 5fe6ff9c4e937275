// virtio-MMIO devices in the kernel: found through `virtio_mmio.device=` options on the command line (what
// Firecracker and QEMU's microvm without ACPI append; docs/protocols/virtio.md §6.2) and in the ACPI DSDT (§6.3),
// each handed to the driver of its device type and recorded in the device registry. The kernel's MmioEnv maps windows
// through the page tables and routes the interrupt line through the I/O APIC.
#include <string.h>

#include "drivers/bus/virtio/mmio_transport.hpp"
#include "drivers/bus/virtio/registry.hpp"
#include "hw/hw.hpp"
#include "kernel/acpi.hpp"
#include "kernel/apic.hpp"
#include "kernel/arch/paging.hpp"
#include "kernel/cmdline.hpp"
#include "kernel/kernel.hpp"
#include "kernel/log.hpp"
#include "kernel/time.hpp"

namespace skerry::virtio {
namespace {

constexpr log::Logger kLog{"virtio"};

class KernelMmioEnv final : public MmioEnv {
public:
    bool map_mmio(uint64_t phys, uint64_t size) override { return paging::map_mmio(phys, size); }
    bool attach_gsi(uint32_t gsi, bool level, bool active_low, interrupts::Handler handler, void* context,
                    uint8_t& vector) override {
        vector = interrupts::allocate_vector(handler, context);
        if (!vector) return false;
        if (!apic::route_gsi(gsi, vector, level, active_low)) {
            interrupts::free_vector(vector);
            vector = 0;
            return false;
        }
        return true;
    }
    void detach_gsi(uint32_t gsi, uint8_t vector) override {
        apic::mask_gsi(gsi, true);
        interrupts::free_vector(vector);
    }
    void delay_us(uint64_t us) override { time::delay_us(us); }
};
KernelMmioEnv env;

constexpr size_t kMaxSpecs = 32;
struct Found {
    MmioDeviceSpec specs[kMaxSpecs];
    size_t count;
    size_t bad;
};

void on_option(void* ctx, const char* value) {
    Found& f = *static_cast<Found*>(ctx);
    MmioDeviceSpec s;
    if (value == nullptr || !parse_mmio_device(value, strlen(value), s)) {
        kLog.warn("cmdline: bad virtio_mmio.device='%s' (expected <size>@<base>:<irq>, e.g. 4K@0xd0000000:5); ignored",
                  value ? value : "");
        f.bad++;
        return;
    }
    for (size_t i = 0; i < f.count; ++i) {
        if (f.specs[i].base == s.base) {
            kLog.warn("cmdline: virtio_mmio.device at 0x%llx given twice; the first is used",
                      static_cast<unsigned long long>(s.base));
            return;
        }
    }
    if (f.count == kMaxSpecs) {
        kLog.warn("cmdline: more than %zu virtio_mmio.device options; 0x%llx ignored", kMaxSpecs,
                  static_cast<unsigned long long>(s.base));
        return;
    }
    f.specs[f.count++] = s;
}

// Devices the DSDT describes (QEMU's microvm with ACPI, Firecracker with ACPI) and the command line does not.
void add_acpi_devices(Found& f) {
    const uint64_t dsdt = kernel::acpi().dsdt_address;
    if (dsdt == 0 || dsdt >= (1ull << 32)) return;  // the identity map's reach at boot
    const auto* hdr = static_cast<const uint8_t*>(hw::phys_to_virt(dsdt, 36));
    if (hdr == nullptr || memcmp(hdr, "DSDT", 4) != 0) return;
    uint32_t len;
    memcpy(&len, hdr + 4, 4);
    if (len <= 36 || len > (4u << 20) || dsdt + len > (1ull << 32)) return;
    MmioDeviceSpec specs[kMaxSpecs];
    const size_t n = find_acpi_mmio_devices(hdr + 36, len - 36, specs, kMaxSpecs);
    for (size_t i = 0; i < n; ++i) {
        bool known = false;
        for (size_t k = 0; k < f.count; ++k) {
            if (f.specs[k].base != specs[i].base) continue;
            known = true;
            // Also on the command line (Firecracker writes both): the DSDT knows how the line signals.
            f.specs[k].level = specs[i].level;
            f.specs[k].active_low = specs[i].active_low;
        }
        if (known || f.count == kMaxSpecs) continue;
        kLog.debug("acpi: virtio-mmio device at 0x%llx irq %u", static_cast<unsigned long long>(specs[i].base),
                   specs[i].irq);
        f.specs[f.count++] = specs[i];
    }
}

}  // namespace

MmioEnv& kernel_mmio_env() { return env; }

size_t bind_mmio_devices(devices::Registry& out) {
    static Found found;  // 32 specs: not on the boot stack
    found.count = found.bad = 0;
    kernel::command_line().claim_each("virtio_mmio.device", on_option, &found);
    add_acpi_devices(found);
    size_t bound = 0;
    for (size_t i = 0; i < found.count; ++i) {
        const MmioDeviceSpec& s = found.specs[i];
        devices::Record* r = out.record(devices::Bus::VirtioMmio, devices::mmio_address(s.base));
        if (r == nullptr) {
            kLog.warn("0x%llx: no room in the device registry; left alone", static_cast<unsigned long long>(s.base));
            continue;
        }
        auto* t = new MmioTransport;
        if (!t->init(s, env)) {
            kLog.info("mmio 0x%llx irq %u: no device", static_cast<unsigned long long>(s.base), s.irq);
            delete t;
            continue;
        }
        const DeviceDriver* d = registry().find(t->device_type());
        kLog.info("mmio 0x%llx irq %u: %s, %s: %s", static_cast<unsigned long long>(s.base), s.irq,
                  type_name(t->device_type()), t->kind(), d ? d->name : "no driver");
        if (d == nullptr) {
            delete t;
            continue;
        }
        r->driver = d->name;
        const devices::Product p = d->probe(*t);
        if (p.empty()) {
            r->outcome = devices::Outcome::Failed;
            delete t;
            continue;
        }
        r->outcome = devices::Outcome::Bound;
        r->product = p;
        bound++;
    }
    return bound;
}

}  // namespace skerry::virtio
