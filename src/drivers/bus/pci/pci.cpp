// PCI configuration access, enumeration, BARs, capabilities, MSI/MSI-X (see pci.hpp).
#include "drivers/bus/pci/pci.hpp"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "drivers/bus/pci/pci_platform.hpp"
#include "hw/hw.hpp"
#include "kernel/line_buffer.hpp"
#include "kernel/log.hpp"

namespace skerry::pci {
namespace {

constexpr log::Logger kLog{"pci"};

constexpr uint16_t kConfigAddress = 0xCF8, kConfigData = 0xCFC;

EcamRegion ecam_regions[kMaxEcamRegions];
size_t ecam_count;
Device devices[kMaxDevices];
size_t device_count;
size_t devices_dropped;

// The MSI message for this CPU and MMIO mapping come from pci_platform.hpp (the kernel's APIC and page tables;
// fixed values and no mapping in host tests).
using platform::map_device_memory;
using platform::msi_address;
using platform::msi_data;

// ---- configuration access
// The ECAM address of a register, 0 when no region covers the bus.
uint64_t ecam_address(uint16_t seg, uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off) {
    for (size_t i = 0; i < ecam_count; ++i) {
        const EcamRegion& r = ecam_regions[i];
        if (r.segment == seg && bus >= r.start_bus && bus <= r.end_bus) {
            return r.base + (static_cast<uint64_t>(bus) << 20) + (static_cast<uint64_t>(dev & 31) << 15) +
                   (static_cast<uint64_t>(fn & 7) << 12) + (off & 0xFFF);
        }
    }
    return 0;
}

// Legacy mechanism #1: segment 0, offsets below 256.
bool legacy_ok(uint16_t seg, uint16_t off) { return seg == 0 && off < 256; }
void legacy_select(uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off) {
    const uint32_t b = bus, d = dev & 31u, f = fn & 7u;
    const uint32_t address = 0x80000000u | (b << 16) | (d << 11) | (f << 8) | (off & 0xFCu);
    hw::outl(kConfigAddress, address);
}

using Line = LineBuffer;

void add_size(Line& l, uint64_t size) {
    constexpr uint64_t kK = 1024, kM = kK * 1024, kG = kM * 1024;
    unsigned long long s = size;
    if (size >= kG && size % kG == 0) l.add("%lluG", s / kG);
    else if (size >= kM && size % kM == 0) l.add("%lluM", s / kM);
    else if (size >= kK && size % kK == 0) l.add("%lluK", s / kK);
    else l.add("%llu", s);
}

// ---- enumeration
// The lowest set bit of the writable address bits = the BAR's size (0 = not implemented).
uint64_t lowest_bit(uint64_t v) { return v & (~v + 1); }

void size_bars(Device& d) {
    const int n = d.header_type == 0 ? 6 : d.header_type == 1 ? 2 : 0;
    if (n == 0) return;
    const uint16_t cmd = d.read16(kCommand);
    if (cmd & (kCommandIo | kCommandMemory))
        d.write16(kCommand, static_cast<uint16_t>(cmd & ~(kCommandIo | kCommandMemory)));
    for (int i = 0; i < n; ++i) {
        const uint16_t off = static_cast<uint16_t>(kBar0 + 4 * i);
        const uint32_t orig = d.read32(off);
        d.write32(off, 0xFFFFFFFFu);
        const uint32_t probe = d.read32(off);
        d.write32(off, orig);
        Bar& b = d.bars[i];
        b = Bar{};
        if (probe == 0 || probe == 0xFFFFFFFFu) continue;  // not implemented / function vanished
        if (orig & 1) {
            const uint64_t size = lowest_bit(probe & 0xFFFFFFFCu);
            if (!size) continue;
            b.kind = Bar::Kind::Io;
            b.address = orig & 0xFFFFFFFCu;
            b.size = size;
            continue;
        }
        const uint32_t type = (orig >> 1) & 3;
        b.prefetchable = (orig & 8) != 0;
        if (type == 2) {  // 64-bit: the next BAR holds the upper half
            if (i + 1 >= n) continue;
            const uint16_t off_hi = static_cast<uint16_t>(off + 4);
            const uint32_t orig_hi = d.read32(off_hi);
            d.write32(off_hi, 0xFFFFFFFFu);
            const uint32_t probe_hi = d.read32(off_hi);
            d.write32(off_hi, orig_hi);
            const uint64_t mask = (probe & 0xFFFFFFF0ull) | (static_cast<uint64_t>(probe_hi) << 32);
            const uint64_t size = lowest_bit(mask);
            ++i;  // the upper half's slot stays None
            if (!size) {
                b = Bar{};
                continue;
            }
            b.kind = Bar::Kind::Mem64;
            b.address = (orig & 0xFFFFFFF0ull) | (static_cast<uint64_t>(orig_hi) << 32);
            b.size = size;
        } else {
            const uint64_t size = lowest_bit(probe & 0xFFFFFFF0u);
            if (!size) {
                b = Bar{};
                continue;
            }
            b.kind = Bar::Kind::Mem32;
            b.address = orig & 0xFFFFFFF0u;
            b.size = size;
        }
    }
    if (cmd & (kCommandIo | kCommandMemory)) d.write16(kCommand, cmd);
}

// Walks the capability list. visit(offset, id) returns true to stop. Returns false if the list is bad.
template <typename F>
bool walk_capabilities(const Device& d, F&& visit) {
    if (!(d.read16(kStatus) & kStatusCapList)) return true;
    const uint16_t head = d.header_type == 2 ? kCardbusCapPointer : kCapPointer;
    uint8_t ptr = d.read8(head) & 0xFC;
    uint64_t seen = 0;  // one bit per dword offset 0x40..0xFC
    for (int hop = 0; ptr; ++hop) {
        if (ptr < 0x40 || hop >= kMaxCapHops) return false;
        const uint64_t bit = 1ull << ((ptr - 0x40) / 4);
        if (seen & bit) return false;  // a loop
        seen |= bit;
        const uint8_t id = d.read8(ptr);
        if (visit(ptr, id)) return true;
        ptr = d.read8(static_cast<uint16_t>(ptr + 1)) & 0xFC;
    }
    return true;
}

void read_capabilities(Device& d) {
    const bool ok = walk_capabilities(d, [&d](uint8_t off, uint8_t id) {
        ++d.cap_count;
        if (id == kCapMsi && !d.msi_cap) d.msi_cap = off;
        if (id == kCapMsix && !d.msix_cap) d.msix_cap = off;
        if (id == kCapPcie && !d.pcie_cap) d.pcie_cap = off;
        if (id == kCapVendor) ++d.vendor_cap_count;
        return false;
    });
    d.cap_list_bad = !ok;
    if (d.msix_cap) d.msix_table_size = static_cast<uint16_t>((d.read16(d.msix_cap + 2) & 0x7FF) + 1);
}

void probe_function(uint16_t seg, uint8_t bus, uint8_t dev, uint8_t fn, uint16_t vendor) {
    if (device_count >= kMaxDevices) {
        ++devices_dropped;
        return;
    }
    Device& d = devices[device_count++];
    d = Device{};
    d.segment = seg;
    d.bus = bus;
    d.dev = dev;
    d.fn = fn;
    d.vendor = vendor;
    d.device = d.read16(kDeviceId);
    const uint32_t class_rev = d.read32(kRevision);
    d.revision = static_cast<uint8_t>(class_rev);
    d.prog_if = static_cast<uint8_t>(class_rev >> 8);
    d.subclass = static_cast<uint8_t>(class_rev >> 16);
    d.class_code = static_cast<uint8_t>(class_rev >> 24);
    const uint8_t ht = d.read8(kHeaderType);
    d.header_type = ht & 0x7F;
    d.multifunction = (ht & 0x80) != 0;
    if (d.header_type == 0) {
        d.subsystem_vendor = d.read16(kSubsystemVendor);
        d.subsystem_device = d.read16(kSubsystemId);
    }
    if (d.header_type <= 1) {
        d.irq_line = d.read8(kInterruptLine);
        d.irq_pin = d.read8(kInterruptPin);
    }
    size_bars(d);
    read_capabilities(d);
}

void scan_bus(uint16_t seg, uint8_t bus) {
    for (uint8_t dev = 0; dev < 32; ++dev) {
        const uint16_t vendor = config_read16(seg, bus, dev, 0, kVendorId);
        if (vendor == 0xFFFF || vendor == 0) continue;
        probe_function(seg, bus, dev, 0, vendor);
        if (!(config_read8(seg, bus, dev, 0, kHeaderType) & 0x80)) continue;
        for (uint8_t fn = 1; fn < 8; ++fn) {
            const uint16_t v = config_read16(seg, bus, dev, fn, kVendorId);
            if (v != 0xFFFF && v != 0) probe_function(seg, bus, dev, fn, v);
        }
    }
}

}  // namespace

// ------------------------------------------------------------------------------------------------ access
uint32_t config_read32(uint16_t seg, uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off) {
    if (uint64_t a = ecam_address(seg, bus, dev, fn, off & 0xFFC)) return hw::mmio_read32(a);
    if (!legacy_ok(seg, off)) return 0xFFFFFFFFu;
    legacy_select(bus, dev, fn, off);
    return hw::inl(kConfigData);
}

uint16_t config_read16(uint16_t seg, uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off) {
    if (uint64_t a = ecam_address(seg, bus, dev, fn, off & 0xFFE)) return hw::mmio_read16(a);
    if (!legacy_ok(seg, off)) return 0xFFFF;
    legacy_select(bus, dev, fn, off);
    return hw::inw(static_cast<uint16_t>(kConfigData + (off & 2)));
}

uint8_t config_read8(uint16_t seg, uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off) {
    if (uint64_t a = ecam_address(seg, bus, dev, fn, off)) return hw::mmio_read8(a);
    if (!legacy_ok(seg, off)) return 0xFF;
    legacy_select(bus, dev, fn, off);
    return hw::inb(static_cast<uint16_t>(kConfigData + (off & 3)));
}

void config_write32(uint16_t seg, uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off, uint32_t v) {
    if (uint64_t a = ecam_address(seg, bus, dev, fn, off & 0xFFC)) return hw::mmio_write32(a, v);
    if (!legacy_ok(seg, off)) return;
    legacy_select(bus, dev, fn, off);
    hw::outl(kConfigData, v);
}

void config_write16(uint16_t seg, uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off, uint16_t v) {
    if (uint64_t a = ecam_address(seg, bus, dev, fn, off & 0xFFE)) return hw::mmio_write16(a, v);
    if (!legacy_ok(seg, off)) return;
    legacy_select(bus, dev, fn, off);
    hw::outw(static_cast<uint16_t>(kConfigData + (off & 2)), v);
}

void config_write8(uint16_t seg, uint8_t bus, uint8_t dev, uint8_t fn, uint16_t off, uint8_t v) {
    if (uint64_t a = ecam_address(seg, bus, dev, fn, off)) return hw::mmio_write8(a, v);
    if (!legacy_ok(seg, off)) return;
    legacy_select(bus, dev, fn, off);
    hw::outb(static_cast<uint16_t>(kConfigData + (off & 3)), v);
}

uint32_t Device::read32(uint16_t off) const { return config_read32(segment, bus, dev, fn, off); }
uint16_t Device::read16(uint16_t off) const { return config_read16(segment, bus, dev, fn, off); }
uint8_t Device::read8(uint16_t off) const { return config_read8(segment, bus, dev, fn, off); }
void Device::write32(uint16_t off, uint32_t v) const { config_write32(segment, bus, dev, fn, off, v); }
void Device::write16(uint16_t off, uint16_t v) const { config_write16(segment, bus, dev, fn, off, v); }
void Device::write8(uint16_t off, uint8_t v) const { config_write8(segment, bus, dev, fn, off, v); }

void Device::enable(bool bus_master, bool disable_intx) const {
    bool io = false, mem = false;
    for (const Bar& b : bars) {
        if (b.kind == Bar::Kind::Io) io = true;
        if (b.is_mem()) mem = true;
    }
    uint16_t cmd = read16(kCommand);
    uint16_t want = cmd;
    if (io) want |= kCommandIo;
    if (mem) want |= kCommandMemory;
    if (bus_master) want |= kCommandBusMaster;
    if (disable_intx) want |= kCommandIntxDisable;
    if (want != cmd) write16(kCommand, want);
}

uint8_t Device::find_capability(uint8_t id) const {
    uint8_t found = 0;
    walk_capabilities(*this, [&](uint8_t off, uint8_t cap_id) {
        if (cap_id != id) return false;
        found = off;
        return true;
    });
    return found;
}

// ------------------------------------------------------------------------------------------- enumeration
void init(const EcamRegion* regions, size_t count) {
    ecam_count = 0;
    device_count = 0;
    devices_dropped = 0;
    for (size_t i = 0; regions && i < count; ++i) {
        const EcamRegion& r = regions[i];
        if (r.base == 0 || r.start_bus > r.end_bus) {
            kLog.warn("ECAM region %zu (base 0x%llx, buses %u-%u) ignored", i, static_cast<unsigned long long>(r.base),
                      r.start_bus, r.end_bus);
            continue;
        }
        if (ecam_count >= kMaxEcamRegions) {
            kLog.warn("more than %zu ECAM regions, the rest ignored", kMaxEcamRegions);
            break;
        }
        const uint64_t first = r.base + (static_cast<uint64_t>(r.start_bus) << 20);
        const uint64_t len = static_cast<uint64_t>(r.end_bus - r.start_bus + 1) << 20;
        if (!map_device_memory(first, len)) {
            kLog.warn("cannot map ECAM region 0x%llx (+%llu MiB): ignored", static_cast<unsigned long long>(first),
                      static_cast<unsigned long long>(len >> 20));
            continue;
        }
        ecam_regions[ecam_count++] = r;
    }
}

bool ecam() { return ecam_count != 0; }

size_t enumerate() {
    device_count = 0;
    devices_dropped = 0;
    if (ecam_count) {
        for (size_t i = 0; i < ecam_count; ++i) {
            const EcamRegion& r = ecam_regions[i];
            for (unsigned bus = r.start_bus; bus <= r.end_bus; ++bus) scan_bus(r.segment, static_cast<uint8_t>(bus));
        }
    } else {
        for (unsigned bus = 0; bus < 256; ++bus) scan_bus(0, static_cast<uint8_t>(bus));
    }
    if (devices_dropped) kLog.warn("%zu functions beyond the first %zu ignored", devices_dropped, kMaxDevices);
    return device_count;
}

size_t count() { return device_count; }

const Device& device(size_t i) { return devices[i < device_count ? i : 0]; }

const Device* find(uint16_t vendor, uint16_t device_id, size_t start) {
    for (size_t i = start; i < device_count; ++i) {
        if (devices[i].vendor == vendor && devices[i].device == device_id) return &devices[i];
    }
    return nullptr;
}

// --------------------------------------------------------------------------------------------- names, log
const char* class_name(uint8_t c, uint8_t s) {
    switch (c) {
    case 0x00: return s == 0x01 ? "VGA compatible unclassified device" : "Unclassified device";
    case 0x01:
        switch (s) {
        case 0x00: return "SCSI storage controller";
        case 0x01: return "IDE interface";
        case 0x02: return "Floppy disk controller";
        case 0x04: return "RAID bus controller";
        case 0x05: return "ATA controller";
        case 0x06: return "SATA controller";
        case 0x07: return "Serial Attached SCSI controller";
        case 0x08: return "Non-Volatile memory controller";
        default: return "Mass storage controller";
        }
    case 0x02: return s == 0x00 ? "Ethernet controller" : "Network controller";
    case 0x03:
        switch (s) {
        case 0x00: return "VGA compatible controller";
        case 0x01: return "XGA compatible controller";
        case 0x02: return "3D controller";
        default: return "Display controller";
        }
    case 0x04:
        switch (s) {
        case 0x00: return "Multimedia video controller";
        case 0x01: return "Multimedia audio controller";
        case 0x03: return "Audio device";
        default: return "Multimedia controller";
        }
    case 0x05: return s == 0x00 ? "RAM memory" : "Memory controller";
    case 0x06:
        switch (s) {
        case 0x00: return "Host bridge";
        case 0x01: return "ISA bridge";
        case 0x02: return "EISA bridge";
        case 0x04: return "PCI bridge";
        case 0x07: return "CardBus bridge";
        default: return "Bridge";
        }
    case 0x07: return s == 0x00 ? "Serial controller" : "Communication controller";
    case 0x08:
        switch (s) {
        case 0x00: return "PIC";
        case 0x01: return "DMA controller";
        case 0x02: return "Timer";
        case 0x03: return "RTC";
        case 0x05: return "SD Host controller";
        case 0x06: return "IOMMU";
        default: return "System peripheral";
        }
    case 0x09: return "Input device controller";
    case 0x0A: return "Docking station";
    case 0x0B: return "Processor";
    case 0x0C:
        switch (s) {
        case 0x00: return "FireWire (IEEE 1394)";
        case 0x03: return "USB controller";
        case 0x05: return "SMBus";
        default: return "Serial bus controller";
        }
    case 0x0D: return "Wireless controller";
    case 0x0E: return "Intelligent controller";
    case 0x0F: return "Satellite communications controller";
    case 0x10: return "Encryption controller";
    case 0x11: return "Signal processing controller";
    case 0x12: return "Processing accelerators";
    case 0x13: return "Non-Essential Instrumentation";
    case 0xFF: return "Unassigned class";
    default: return "Unknown class";
    }
}

size_t format_device(const Device& d, char* buf, size_t size) {
    Line l(buf, size);
    l.add("pci ");
    if (d.segment) l.add("%04x:", d.segment);
    l.add("%02x:%02x.%x %04x:%04x %s (rev %02x)", d.bus, d.dev, d.fn, d.vendor, d.device,
          class_name(d.class_code, d.subclass), d.revision);
    for (int i = 0; i < 6; ++i) {
        const Bar& b = d.bars[i];
        if (b.kind == Bar::Kind::None) continue;
        const char* kind = b.kind == Bar::Kind::Io ? "io" : b.kind == Bar::Kind::Mem32 ? "mem32" : "mem64";
        l.add(" BAR%d %s%s 0x%llx/", i, kind, b.prefetchable ? " pref" : "",
              static_cast<unsigned long long>(b.address));
        add_size(l, b.size);
    }
    if (d.irq_pin >= 1 && d.irq_pin <= 4) l.add(" IRQ pin %c line %u", 'A' + d.irq_pin - 1, d.irq_line);
    if (d.msi_cap) l.add(" MSI");
    if (d.msix_cap) l.add(" MSI-X(%u)", d.msix_table_size);
    if (d.pcie_cap) l.add(" PCIe");
    if (d.cap_list_bad) l.add(" (bad capability list)");
    return l.len;
}

// ------------------------------------------------------------------------------------------------ MSI(-X)
bool enable_msi(const Device& d, uint8_t vector) {
    const uint8_t off = d.msi_cap ? d.msi_cap : d.find_capability(kCapMsi);
    if (!off) return false;
    if (d.msix_cap) {  // MSI and MSI-X must not both be on
        const uint16_t xc = d.read16(static_cast<uint16_t>(d.msix_cap + 2));
        if (xc & 0x8000) d.write16(static_cast<uint16_t>(d.msix_cap + 2), static_cast<uint16_t>(xc & ~0x8000));
    }
    uint16_t ctrl = d.read16(static_cast<uint16_t>(off + 2));
    const bool is64 = (ctrl & (1u << 7)) != 0;
    const bool maskable = (ctrl & (1u << 8)) != 0;
    // Disabled while it is programmed.
    ctrl = static_cast<uint16_t>(ctrl & ~1u);
    d.write16(static_cast<uint16_t>(off + 2), ctrl);

    const uint64_t addr = msi_address();
    const uint32_t data = msi_data(vector);
    d.write32(static_cast<uint16_t>(off + 4), static_cast<uint32_t>(addr));
    uint16_t data_off, mask_off;
    if (is64) {
        d.write32(static_cast<uint16_t>(off + 8), static_cast<uint32_t>(addr >> 32));
        data_off = static_cast<uint16_t>(off + 12);
        mask_off = static_cast<uint16_t>(off + 16);
    } else {
        data_off = static_cast<uint16_t>(off + 8);
        mask_off = static_cast<uint16_t>(off + 12);
    }
    d.write16(data_off, static_cast<uint16_t>(data));
    if (maskable) d.write32(mask_off, d.read32(mask_off) & ~1u);  // unmask vector 0 (the only one)

    ctrl = static_cast<uint16_t>((ctrl & ~(7u << 4)) | 1u);  // one message (MME = 0), enable
    d.write16(static_cast<uint16_t>(off + 2), ctrl);
    return true;
}

bool enable_msix(const Device& d, uint16_t entry, uint8_t vector) {
    const uint8_t off = d.msix_cap ? d.msix_cap : d.find_capability(kCapMsix);
    if (!off) return false;
    const uint16_t ctrl_off = static_cast<uint16_t>(off + 2);
    uint16_t ctrl = d.read16(ctrl_off);
    const uint16_t table_size = static_cast<uint16_t>((ctrl & 0x7FF) + 1);
    if (entry >= table_size) return false;
    const uint32_t table = d.read32(static_cast<uint16_t>(off + 4));
    const uint8_t bir = table & 7;
    if (bir > 5) return false;
    const Bar& bar = d.bars[bir];
    if (!bar.is_mem() || bar.address == 0) return false;
    const uint64_t table_base = bar.address + (table & ~7u);
    const uint64_t table_bytes = static_cast<uint64_t>(table_size) * 16;
    if ((table & ~7u) + table_bytes > bar.size) return false;
    if (!map_device_memory(table_base, table_bytes)) return false;

    if (d.msi_cap) {  // MSI off
        const uint16_t mc = d.read16(static_cast<uint16_t>(d.msi_cap + 2));
        if (mc & 1) d.write16(static_cast<uint16_t>(d.msi_cap + 2), static_cast<uint16_t>(mc & ~1u));
    }
    // The table is only reachable with memory decode on.
    const uint16_t cmd = d.read16(kCommand);
    if (!(cmd & kCommandMemory)) d.write16(kCommand, static_cast<uint16_t>(cmd | kCommandMemory));
    // Enable with the function masked while the entry is written.
    ctrl = static_cast<uint16_t>(ctrl | 0x8000 | 0x4000);
    d.write16(ctrl_off, ctrl);

    const uint64_t e = table_base + static_cast<uint64_t>(entry) * 16;
    const uint64_t addr = msi_address();
    hw::mmio_write32(e + 0, static_cast<uint32_t>(addr));
    hw::mmio_write32(e + 4, static_cast<uint32_t>(addr >> 32));
    hw::mmio_write32(e + 8, msi_data(vector));
    hw::mmio_write32(e + 12, hw::mmio_read32(e + 12) & ~1u);  // unmask the entry

    d.write16(ctrl_off, static_cast<uint16_t>(ctrl & ~0x4000));  // function mask off
    return true;
}

}  // namespace skerry::pci
