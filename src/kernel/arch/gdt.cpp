#include "kernel/arch/gdt.hpp"

#include <string.h>

extern "C" {
extern uint64_t gdt64[];
extern char gdt64_pointer[];
extern char boot_stack_guard[], boot_stack_bottom[], boot_stack_top[];
}

namespace skerry::gdt {
namespace {

struct __attribute__((packed)) Tss {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
};
static_assert(sizeof(Tss) == 104);

constexpr int kIstCount = 5;
constexpr uint64_t kIstStackSize = 16 * 1024;

// Each IST stack is preceded by a guard page (unmapped later), all page aligned in .bss.
struct alignas(4096) GuardedStack {
    uint8_t guard[4096];
    uint8_t stack[kIstStackSize];
};
__attribute__((section(".bss.pagealigned"))) GuardedStack ist_stacks[kIstCount];

Tss tss;
StackRange stack_ranges[kIstCount + 1];
uint64_t guards[kIstCount + 1];
const char* const kIstNames[kIstCount] = {"exception", "double-fault", "nmi", "machine-check", "irq"};

}  // namespace

void init() {
    memset(&tss, 0, sizeof tss);
    tss.iomap_base = sizeof(Tss);  // no I/O permission bitmap
    for (int i = 0; i < kIstCount; ++i) {
        uint64_t top = reinterpret_cast<uint64_t>(ist_stacks[i].stack + kIstStackSize);
        tss.ist[i] = top;
        stack_ranges[i + 1] = {reinterpret_cast<uint64_t>(ist_stacks[i].stack), top, kIstNames[i]};
        guards[i + 1] = reinterpret_cast<uint64_t>(ist_stacks[i].guard);
    }
    stack_ranges[0] = {reinterpret_cast<uint64_t>(boot_stack_bottom), reinterpret_cast<uint64_t>(boot_stack_top),
                       "boot"};
    guards[0] = reinterpret_cast<uint64_t>(boot_stack_guard);

    // 64-bit TSS descriptor (16 bytes) in GDT slot 3 (selector 0x18): available TSS, type 9.
    uint64_t base = reinterpret_cast<uint64_t>(&tss);
    uint64_t limit = sizeof(Tss) - 1;
    uint64_t low = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (0x89ull << 40) | (((limit >> 16) & 0xF) << 48) |
                   (((base >> 24) & 0xFF) << 56);
    gdt64[3] = low;
    gdt64[4] = base >> 32;
    __asm__ __volatile__("lgdt (%0)" : : "r"(gdt64_pointer) : "memory");
    __asm__ __volatile__("ltr %w0" : : "r"(0x18) : "memory");
}

int stacks(const StackRange** out) {
    *out = stack_ranges;
    return kIstCount + 1;
}

int guard_pages(const uint64_t** out) {
    *out = guards;
    return kIstCount + 1;
}

}  // namespace skerry::gdt
