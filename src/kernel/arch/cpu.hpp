// Small x86-64 CPU helpers for the kernel build (control registers, interrupts flag, halting).
#pragma once

#include <stdint.h>

#include "hw/hw.hpp"

namespace skerry::cpu {

inline uint64_t read_cr0() {
    uint64_t v;
    __asm__ __volatile__("mov %%cr0, %0" : "=r"(v));
    return v;
}
inline uint64_t read_cr2() {
    uint64_t v;
    __asm__ __volatile__("mov %%cr2, %0" : "=r"(v));
    return v;
}
inline uint64_t read_cr3() {
    uint64_t v;
    __asm__ __volatile__("mov %%cr3, %0" : "=r"(v));
    return v;
}
inline uint64_t read_cr4() {
    uint64_t v;
    __asm__ __volatile__("mov %%cr4, %0" : "=r"(v));
    return v;
}
inline void write_cr0(uint64_t v) { __asm__ __volatile__("mov %0, %%cr0" : : "r"(v) : "memory"); }
inline void write_cr3(uint64_t v) { __asm__ __volatile__("mov %0, %%cr3" : : "r"(v) : "memory"); }
inline void write_cr4(uint64_t v) { __asm__ __volatile__("mov %0, %%cr4" : : "r"(v) : "memory"); }
inline uint64_t xgetbv(uint32_t idx) {
    uint32_t lo, hi;
    __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(idx));
    return (static_cast<uint64_t>(hi) << 32) | lo;
}
inline void xsetbv(uint32_t idx, uint64_t v) {
    __asm__ __volatile__("xsetbv" : : "c"(idx), "a"(static_cast<uint32_t>(v)), "d"(static_cast<uint32_t>(v >> 32)));
}
inline void enable_interrupts() { __asm__ __volatile__("sti" ::: "memory"); }
inline void disable_interrupts() { __asm__ __volatile__("cli" ::: "memory"); }
inline bool interrupts_enabled() {
    uint64_t f;
    __asm__ __volatile__("pushfq; popq %0" : "=r"(f));
    return f & (1u << 9);
}
// Atomically enable interrupts and halt until the next one (sti's one-instruction shadow covers hlt).
inline void enable_and_halt() { __asm__ __volatile__("sti; hlt" ::: "memory"); }
[[noreturn]] inline void halt_forever() {
    for (;;) __asm__ __volatile__("cli; hlt");
}
inline void invlpg(uint64_t addr) { __asm__ __volatile__("invlpg (%0)" : : "r"(addr) : "memory"); }

// Saves and restores the interrupt flag around a critical section (one implementation, in the hardware layer).
using InterruptGuard = hw::InterruptGuard;

}  // namespace skerry::cpu
