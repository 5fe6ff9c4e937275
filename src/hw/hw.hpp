// The hardware access layer: port I/O, MMIO, MSRs, CPUID, and physical-memory access.
//
// In the kernel build every function here is an inline instruction (or a plain volatile access), so the
// layer costs nothing. In host unit tests (SKERRY_HOST_TEST) the same calls go to a device model that the
// test installs with hw::set_model(); a test without a model that touches hardware aborts loudly.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry::hw {

struct CpuidResult {
    uint32_t eax, ebx, ecx, edx;
};

#if defined(SKERRY_HOST_TEST)

// A host-side model of the machine. Tests derive from it and override what their device needs.
class Model {
public:
    virtual ~Model() = default;
    virtual uint32_t port_in(uint16_t port, int width);
    virtual void port_out(uint16_t port, uint32_t value, int width);
    virtual uint64_t mmio_read(uint64_t phys, int width);
    virtual void mmio_write(uint64_t phys, uint64_t value, int width);
    virtual uint64_t rdmsr(uint32_t msr);
    virtual void wrmsr(uint32_t msr, uint64_t value);
    virtual CpuidResult cpuid(uint32_t leaf, uint32_t subleaf);
    virtual uint64_t rdtsc();
    // Translate a guest-physical address range to host memory (DMA buffers, tables). nullptr = not mapped.
    virtual void* phys_to_host(uint64_t phys, size_t len);
};

void set_model(Model* model);  // nullptr restores the aborting default
Model& model();

inline uint8_t inb(uint16_t p) { return static_cast<uint8_t>(model().port_in(p, 1)); }
inline uint16_t inw(uint16_t p) { return static_cast<uint16_t>(model().port_in(p, 2)); }
inline uint32_t inl(uint16_t p) { return model().port_in(p, 4); }
inline void outb(uint16_t p, uint8_t v) { model().port_out(p, v, 1); }
inline void outw(uint16_t p, uint16_t v) { model().port_out(p, v, 2); }
inline void outl(uint16_t p, uint32_t v) { model().port_out(p, v, 4); }
inline uint8_t mmio_read8(uint64_t a) { return static_cast<uint8_t>(model().mmio_read(a, 1)); }
inline uint16_t mmio_read16(uint64_t a) { return static_cast<uint16_t>(model().mmio_read(a, 2)); }
inline uint32_t mmio_read32(uint64_t a) { return static_cast<uint32_t>(model().mmio_read(a, 4)); }
inline uint64_t mmio_read64(uint64_t a) { return model().mmio_read(a, 8); }
inline void mmio_write8(uint64_t a, uint8_t v) { model().mmio_write(a, v, 1); }
inline void mmio_write16(uint64_t a, uint16_t v) { model().mmio_write(a, v, 2); }
inline void mmio_write32(uint64_t a, uint32_t v) { model().mmio_write(a, v, 4); }
inline void mmio_write64(uint64_t a, uint64_t v) { model().mmio_write(a, v, 8); }
inline uint64_t rdmsr(uint32_t m) { return model().rdmsr(m); }
inline void wrmsr(uint32_t m, uint64_t v) { model().wrmsr(m, v); }
inline CpuidResult cpuid(uint32_t leaf, uint32_t sub = 0) { return model().cpuid(leaf, sub); }
inline uint64_t rdtsc() { return model().rdtsc(); }
inline uint64_t rdtsc_ordered() { return model().rdtsc(); }
inline void* phys_to_virt(uint64_t phys, size_t len = 1) { return model().phys_to_host(phys, len); }
inline void io_wait() {}
inline void pause() {}
inline void compiler_barrier() { __asm__ __volatile__("" ::: "memory"); }
// A full barrier: stores before it are visible before loads after it (x86 reorders only that pair). For rings
// shared with a device where the driver stores an index and then reads the device's event field (virtio §4.6).
inline void memory_barrier() { __asm__ __volatile__("mfence" ::: "memory"); }
// Keeps interrupt handlers out of a short critical section (the loop's work queue). Host tests are one thread
// with no interrupts: nothing to do.
class InterruptGuard {
public:
    InterruptGuard() {}
    ~InterruptGuard() {}
    InterruptGuard(const InterruptGuard&) = delete;
    InterruptGuard& operator=(const InterruptGuard&) = delete;
};

#else  // kernel build

inline uint8_t inb(uint16_t p) {
    uint8_t v;
    __asm__ __volatile__("inb %1, %0" : "=a"(v) : "Nd"(p));
    return v;
}
inline uint16_t inw(uint16_t p) {
    uint16_t v;
    __asm__ __volatile__("inw %1, %0" : "=a"(v) : "Nd"(p));
    return v;
}
inline uint32_t inl(uint16_t p) {
    uint32_t v;
    __asm__ __volatile__("inl %1, %0" : "=a"(v) : "Nd"(p));
    return v;
}
inline void outb(uint16_t p, uint8_t v) { __asm__ __volatile__("outb %0, %1" : : "a"(v), "Nd"(p)); }
inline void outw(uint16_t p, uint16_t v) { __asm__ __volatile__("outw %0, %1" : : "a"(v), "Nd"(p)); }
inline void outl(uint16_t p, uint32_t v) { __asm__ __volatile__("outl %0, %1" : : "a"(v), "Nd"(p)); }

// RAM and MMIO are identity mapped (MMIO uncached), so a physical address is a usable pointer.
inline void* phys_to_virt(uint64_t phys, size_t = 1) { return reinterpret_cast<void*>(static_cast<uintptr_t>(phys)); }

inline uint8_t mmio_read8(uint64_t a) { return *static_cast<volatile uint8_t*>(phys_to_virt(a)); }
inline uint16_t mmio_read16(uint64_t a) { return *static_cast<volatile uint16_t*>(phys_to_virt(a)); }
inline uint32_t mmio_read32(uint64_t a) { return *static_cast<volatile uint32_t*>(phys_to_virt(a)); }
inline uint64_t mmio_read64(uint64_t a) { return *static_cast<volatile uint64_t*>(phys_to_virt(a)); }
inline void mmio_write8(uint64_t a, uint8_t v) { *static_cast<volatile uint8_t*>(phys_to_virt(a)) = v; }
inline void mmio_write16(uint64_t a, uint16_t v) { *static_cast<volatile uint16_t*>(phys_to_virt(a)) = v; }
inline void mmio_write32(uint64_t a, uint32_t v) { *static_cast<volatile uint32_t*>(phys_to_virt(a)) = v; }
inline void mmio_write64(uint64_t a, uint64_t v) { *static_cast<volatile uint64_t*>(phys_to_virt(a)) = v; }

inline uint64_t rdmsr(uint32_t m) {
    uint32_t lo, hi;
    __asm__ __volatile__("rdmsr" : "=a"(lo), "=d"(hi) : "c"(m));
    return (static_cast<uint64_t>(hi) << 32) | lo;
}
inline void wrmsr(uint32_t m, uint64_t v) {
    __asm__ __volatile__("wrmsr" : : "c"(m), "a"(static_cast<uint32_t>(v)), "d"(static_cast<uint32_t>(v >> 32)));
}
inline CpuidResult cpuid(uint32_t leaf, uint32_t sub = 0) {
    CpuidResult r;
    __asm__ __volatile__("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(sub));
    return r;
}
inline uint64_t rdtsc() {
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return (static_cast<uint64_t>(hi) << 32) | lo;
}
// RDTSC after every earlier load has completed (LFENCE first), for reads paired with memory (pvclock).
inline uint64_t rdtsc_ordered() {
    uint32_t lo, hi;
    __asm__ __volatile__("lfence; rdtsc" : "=a"(lo), "=d"(hi)::"memory");
    return (static_cast<uint64_t>(hi) << 32) | lo;
}
inline void io_wait() { outb(0x80, 0); }
inline void pause() { __asm__ __volatile__("pause"); }
inline void compiler_barrier() { __asm__ __volatile__("" ::: "memory"); }
// A full barrier: stores before it are visible before loads after it (x86 reorders only that pair). For rings
// shared with a device where the driver stores an index and then reads the device's event field (virtio §4.6).
inline void memory_barrier() { __asm__ __volatile__("mfence" ::: "memory"); }
// Saves the interrupt flag and disables interrupts for a short critical section; restores the flag after.
class InterruptGuard {
public:
    InterruptGuard() {
        uint64_t f;
        __asm__ __volatile__("pushfq; popq %0; cli" : "=r"(f) : : "memory");
        was_enabled_ = f & (1u << 9);
    }
    ~InterruptGuard() {
        if (was_enabled_) __asm__ __volatile__("sti" ::: "memory");
    }
    InterruptGuard(const InterruptGuard&) = delete;
    InterruptGuard& operator=(const InterruptGuard&) = delete;

private:
    bool was_enabled_;
};

#endif

}  // namespace skerry::hw
