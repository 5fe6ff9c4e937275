// The IDT, interrupt dispatch and the exception dump.
#pragma once

#include <stdint.h>

namespace skerry::interrupts {

// Layout pushed by isr.S (lowest address first).
struct Frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error_code;
    uint64_t rip, cs, rflags, rsp, ss;
};

using Handler = void (*)(Frame& frame, void* context);

// Loads the IDT. Until a handler is installed, a device vector is counted as spurious and acknowledged.
void init();

// Install a handler on a fixed vector (32..255). Returns false if the vector is taken or invalid.
bool set_handler(uint8_t vector, Handler handler, void* context);
// Allocate a free device vector (0x30..0xEF) with this handler; returns 0 when none is left.
uint8_t allocate_vector(Handler handler, void* context);
void free_vector(uint8_t vector);

// Called after every device-interrupt handler (the local APIC's end-of-interrupt).
void set_eoi_hook(void (*eoi)());

// Tests only (fault=doublefault): mark an exception's gate not present, so that exception escalates to a
// double fault, which must land on its own stack.
void break_gate_for_test(uint8_t vector);

// Counters for the status output.
uint64_t count(uint8_t vector);
uint64_t unhandled_count();

// Stop the machine after a fatal error: prints the reason and a backtrace from the caller, then halts
// (or exits through the configured debug-exit port, for tests).
[[noreturn]] void panic(const char* reason);

}  // namespace skerry::interrupts
