// C++ runtime support for the kernel: allocation operators, pure-virtual and stack-smash handlers,
// static destructor registration (never run: the kernel powers off instead of exiting).
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <new>

#include "kernel/arch/interrupts.hpp"

extern "C" {
uintptr_t __stack_chk_guard = 0x595e9fbd94fda766ull;  // replaced with a random value at boot

[[noreturn]] void __stack_chk_fail(void) { skerry::interrupts::panic("stack smashing detected"); }
[[noreturn]] void __stack_chk_fail_local(void) { skerry::interrupts::panic("stack smashing detected"); }
[[noreturn]] void __cxa_pure_virtual(void) { skerry::interrupts::panic("pure virtual function called"); }
int __cxa_atexit(void (*)(void*), void*, void*) { return 0; }
void* __dso_handle = nullptr;
}

namespace {
void* checked_alloc(size_t n) {
    void* p = malloc(n ? n : 1);
    if (!p) skerry::interrupts::panic("out of memory in operator new");
    return p;
}
void* checked_aligned_alloc(size_t n, std::align_val_t a) {
    void* p = memalign(static_cast<size_t>(a), n ? n : 1);
    if (!p) skerry::interrupts::panic("out of memory in operator new");
    return p;
}
}  // namespace

void* operator new(size_t n) { return checked_alloc(n); }
void* operator new[](size_t n) { return checked_alloc(n); }
void* operator new(size_t n, const std::nothrow_t&) noexcept { return malloc(n ? n : 1); }
void* operator new[](size_t n, const std::nothrow_t&) noexcept { return malloc(n ? n : 1); }
void* operator new(size_t n, std::align_val_t a) { return checked_aligned_alloc(n, a); }
void* operator new[](size_t n, std::align_val_t a) { return checked_aligned_alloc(n, a); }
void operator delete(void* p) noexcept { free(p); }
void operator delete[](void* p) noexcept { free(p); }
void operator delete(void* p, size_t) noexcept { free(p); }
void operator delete[](void* p, size_t) noexcept { free(p); }
void operator delete(void* p, std::align_val_t) noexcept { free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { free(p); }
