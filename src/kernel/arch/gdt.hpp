// GDT and TSS: the TSS carries the interrupt stacks (IST). Every vector runs on an IST stack:
// IST1 exceptions, IST2 double fault, IST3 NMI, IST4 machine check, IST5 device interrupts.
#pragma once

#include <stdint.h>

namespace skerry::gdt {

enum Ist : uint8_t { kIstException = 1, kIstDoubleFault = 2, kIstNmi = 3, kIstMachineCheck = 4, kIstIrq = 5 };

void init();  // builds the TSS with guarded IST stacks and loads TR

struct StackRange {
    uint64_t bottom, top;
    const char* name;
};
// Every kernel stack (boot stack and IST stacks) with its bounds, for backtraces and guard-page setup.
int stacks(const StackRange** out);
// The 4 KiB guard page below each stack (unmapped by paging::init).
int guard_pages(const uint64_t** out);

}  // namespace skerry::gdt
