// The kernel's hypercall: a call into the hypercall page the hypervisor overlays (see hv.hpp).
#include "drivers/bus/vmbus/hv.hpp"
#include "hw/hw.hpp"

namespace skerry::hv {

uint64_t PageHypercall::call(uint64_t control, uint64_t rdx, uint64_t r8) {
    if (page_phys_ == 0) return kStatusInvalidHypercallCode;
    void* page = hw::phys_to_virt(page_phys_, 4096);
    uint64_t rax;
    register uint64_t r8_reg __asm__("r8") = r8;
    // The page behaves like a function: it returns with RAX = result. Treat RCX, RDX, R8-R11 and flags as
    // clobbered, as Linux and iPXE do (the TLFS promises less damage).
    __asm__ __volatile__("call *%[page]"
                         : "=a"(rax), "+c"(control), "+d"(rdx), "+r"(r8_reg)
                         : [page] "r"(page)
                         : "r9", "r10", "r11", "memory", "cc");
    return rax;
}

}  // namespace skerry::hv
