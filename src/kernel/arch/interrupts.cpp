#include "kernel/arch/interrupts.hpp"

#include <string.h>

#include "kernel/arch/cpu.hpp"
#include "kernel/arch/gdt.hpp"
#include "kernel/ksyms.hpp"
#include "kernel/log.hpp"
#include "kernel/power.hpp"

extern "C" {
extern const uint8_t isr_stubs[];
void interrupt_dispatch(skerry::interrupts::Frame* frame);
}

namespace skerry::interrupts {
namespace {

struct __attribute__((packed)) Gate {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attr;
    uint16_t offset_mid;
    uint32_t offset_high;
    uint32_t reserved;
};
static_assert(sizeof(Gate) == 16);

struct __attribute__((packed)) IdtPointer {
    uint16_t limit;
    uint64_t base;
};

alignas(16) Gate idt[256];
struct Slot {
    Handler handler;
    void* context;
};
Slot slots[256];
uint64_t counts[256];
uint64_t unhandled;
void (*eoi_hook)();
int panic_depth;  // one CPU; only touched with interrupts off

constexpr uint8_t kFirstDynamicVector = 0x30;
constexpr uint8_t kLastDynamicVector = 0xEF;

const char* const kExceptionNames[32] = {"divide error (#DE)",
                                         "debug (#DB)",
                                         "non-maskable interrupt (NMI)",
                                         "breakpoint (#BP)",
                                         "overflow (#OF)",
                                         "bound range exceeded (#BR)",
                                         "invalid opcode (#UD)",
                                         "device not available (#NM)",
                                         "double fault (#DF)",
                                         "coprocessor segment overrun",
                                         "invalid TSS (#TS)",
                                         "segment not present (#NP)",
                                         "stack-segment fault (#SS)",
                                         "general protection fault (#GP)",
                                         "page fault (#PF)",
                                         "reserved 15",
                                         "x87 floating-point error (#MF)",
                                         "alignment check (#AC)",
                                         "machine check (#MC)",
                                         "SIMD floating-point exception (#XM)",
                                         "virtualization exception (#VE)",
                                         "control protection (#CP)",
                                         "reserved 22",
                                         "reserved 23",
                                         "reserved 24",
                                         "reserved 25",
                                         "reserved 26",
                                         "reserved 27",
                                         "hypervisor injection (#HV)",
                                         "VMM communication (#VC)",
                                         "security exception (#SX)",
                                         "reserved 31"};

// ---- a formatter for the fatal path: no heap, no newlib, only the console sinks.
void out(const char* s) { log::emergency_write(s, strlen(s)); }
void out_hex(uint64_t v, int digits = 16) {
    char buf[19];
    buf[0] = '0';
    buf[1] = 'x';
    for (int i = 0; i < digits; ++i) buf[2 + i] = "0123456789abcdef"[(v >> (4 * (digits - 1 - i))) & 0xF];
    log::emergency_write(buf, 2 + digits);
}
void out_dec(uint64_t v) {
    char buf[21];
    int i = 20;
    buf[i] = 0;
    do {
        buf[--i] = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v);
    out(buf + i);
}
void out_reg(const char* name, uint64_t v) {
    out(name);
    out("=");
    out_hex(v);
}
void out_symbol(uint64_t addr) {
    out_hex(addr);
    uint64_t off = 0;
    if (const char* name = ksyms::lookup(addr, &off)) {
        out(" <");
        out(name);
        out("+");
        out_hex(off, 4);
        out(">");
    }
}

// True when [addr, addr+16) lies inside one of the kernel stacks: the frame-pointer walk never
// dereferences anything else.
bool on_a_stack(uint64_t addr) {
    const gdt::StackRange* ranges;
    int n = gdt::stacks(&ranges);
    for (int i = 0; i < n; ++i)
        if (addr >= ranges[i].bottom && addr + 16 <= ranges[i].top) return true;
    return false;
}

void backtrace_from(uint64_t rip, uint64_t rbp) {
    out("Backtrace:\n  ");
    out_symbol(rip);
    out("\n");
    for (int depth = 0; depth < 32 && rbp && on_a_stack(rbp) && (rbp & 7) == 0; ++depth) {
        const uint64_t* fp = reinterpret_cast<const uint64_t*>(rbp);
        uint64_t ret = fp[1];
        if (ret == 0) break;
        out("  ");
        out_symbol(ret);
        out("\n");
        if (fp[0] <= rbp) break;  // frames grow towards higher addresses; anything else is corrupt
        rbp = fp[0];
    }
}

// The kernel stack holding addr (for "the handler runs on the double-fault stack"), nullptr if none.
const char* running_on(uint64_t addr) {
    const gdt::StackRange* ranges;
    int n = gdt::stacks(&ranges);
    for (int i = 0; i < n; ++i)
        if (addr >= ranges[i].bottom && addr < ranges[i].top) return ranges[i].name;
    return nullptr;
}

const char* stack_name(uint64_t addr) {
    const gdt::StackRange* ranges;
    int n = gdt::stacks(&ranges);
    for (int i = 0; i < n; ++i)
        if (addr >= ranges[i].bottom - 4096 && addr < ranges[i].bottom) return ranges[i].name;
    return nullptr;
}

[[noreturn]] void exception_dump(const Frame& f) {
    if (++panic_depth > 1) {
        out("\n*** nested fault while reporting a fault; stopping.\n");
        power::fatal_stop();
    }
    uint64_t cr2 = cpu::read_cr2();
    out("\n*** KERNEL EXCEPTION: ");
    out(f.vector < 32 ? kExceptionNames[f.vector] : "unexpected vector");
    out(" (vector ");
    out_dec(f.vector);
    out(", error code ");
    out_hex(f.error_code, 8);
    out(")\n");
    if (f.vector == 14) {
        out("Page fault at ");
        out_hex(cr2);
        out(f.error_code & 1 ? " (protection violation" : " (page not present");
        out(f.error_code & 2 ? ", write" : ", read");
        if (f.error_code & 16) out(", instruction fetch");
        out(")\n");
        if (const char* s = stack_name(cr2)) {
            out("This is the guard page below the ");
            out(s);
            out(" stack: stack overflow.\n");
        }
    }
    out("RIP ");
    out_symbol(f.rip);
    out("\n");
    uint64_t here = reinterpret_cast<uint64_t>(__builtin_frame_address(0));
    const char* handler_stack = running_on(here);
    const char* fault_stack = running_on(f.rsp);
    out("Handler on the ");
    out(handler_stack ? handler_stack : "unknown");
    out(" stack; interrupted code on the ");
    out(fault_stack ? fault_stack : "unknown");
    out(" stack\n");
    out_reg("RAX", f.rax);
    out(" ");
    out_reg("RBX", f.rbx);
    out(" ");
    out_reg("RCX", f.rcx);
    out("\n");
    out_reg("RDX", f.rdx);
    out(" ");
    out_reg("RSI", f.rsi);
    out(" ");
    out_reg("RDI", f.rdi);
    out("\n");
    out_reg("RBP", f.rbp);
    out(" ");
    out_reg("RSP", f.rsp);
    out(" ");
    out_reg("R8 ", f.r8);
    out("\n");
    out_reg("R9 ", f.r9);
    out(" ");
    out_reg("R10", f.r10);
    out(" ");
    out_reg("R11", f.r11);
    out("\n");
    out_reg("R12", f.r12);
    out(" ");
    out_reg("R13", f.r13);
    out(" ");
    out_reg("R14", f.r14);
    out("\n");
    out_reg("R15", f.r15);
    out(" ");
    out_reg("RFLAGS", f.rflags);
    out(" ");
    out_reg("CS", f.cs);
    out(" ");
    out_reg("SS", f.ss);
    out("\n");
    out_reg("CR0", cpu::read_cr0());
    out(" ");
    out_reg("CR2", cr2);
    out(" ");
    out_reg("CR3", cpu::read_cr3());
    out(" ");
    out_reg("CR4", cpu::read_cr4());
    out("\n");
    backtrace_from(f.rip, f.rbp);
    out("System halted.\n");
    power::fatal_stop();
}

void set_gate(int vector, uint8_t ist) {
    uint64_t addr = reinterpret_cast<uint64_t>(isr_stubs) + 16 * static_cast<uint64_t>(vector);
    Gate& g = idt[vector];
    g.offset_low = addr & 0xFFFF;
    g.selector = 0x08;
    g.ist = ist;
    g.type_attr = 0x8E;  // present, DPL 0, 64-bit interrupt gate (interrupts stay off in handlers)
    g.offset_mid = (addr >> 16) & 0xFFFF;
    g.offset_high = static_cast<uint32_t>(addr >> 32);
    g.reserved = 0;
}

}  // namespace

void init() {
    for (int v = 0; v < 256; ++v) {
        uint8_t ist = gdt::kIstIrq;
        if (v < 32) ist = gdt::kIstException;
        if (v == 2) ist = gdt::kIstNmi;
        if (v == 8) ist = gdt::kIstDoubleFault;
        if (v == 18) ist = gdt::kIstMachineCheck;
        set_gate(v, ist);
    }
    IdtPointer p{sizeof(idt) - 1, reinterpret_cast<uint64_t>(idt)};
    __asm__ __volatile__("lidt %0" : : "m"(p) : "memory");
}

bool set_handler(uint8_t vector, Handler handler, void* context) {
    if (vector < 32 || slots[vector].handler) return false;
    slots[vector] = {handler, context};
    return true;
}

uint8_t allocate_vector(Handler handler, void* context) {
    for (int v = kFirstDynamicVector; v <= kLastDynamicVector; ++v) {
        if (!slots[v].handler) {
            slots[v] = {handler, context};
            return static_cast<uint8_t>(v);
        }
    }
    return 0;
}

void free_vector(uint8_t vector) {
    if (vector >= 32) slots[vector] = {nullptr, nullptr};
}

void set_eoi_hook(void (*eoi)()) { eoi_hook = eoi; }
void break_gate_for_test(uint8_t vector) { idt[vector].type_attr &= 0x7F; }
uint64_t count(uint8_t vector) { return counts[vector]; }
uint64_t unhandled_count() { return unhandled; }

[[noreturn]] void panic(const char* reason) {
    cpu::disable_interrupts();
    if (++panic_depth > 1) {
        out("\n*** nested panic: ");
        out(reason);
        out("\n");
        power::fatal_stop();
    }
    out("\n*** KERNEL PANIC: ");
    out(reason);
    out("\n");
    uint64_t rbp;
    __asm__ __volatile__("mov %%rbp, %0" : "=r"(rbp));
    backtrace_from(reinterpret_cast<uint64_t>(__builtin_return_address(0)), rbp);
    out("System halted.\n");
    power::fatal_stop();
}

}  // namespace skerry::interrupts

using skerry::interrupts::Frame;

extern "C" void interrupt_dispatch(Frame* frame) {
    using namespace skerry::interrupts;
    uint64_t v = frame->vector & 0xFF;
    ++counts[v];
    if (v < 32) {
        if (slots[v].handler) {  // reserved for a future debugger; exceptions are otherwise fatal
            slots[v].handler(*frame, slots[v].context);
            return;
        }
        exception_dump(*frame);
    }
    if (slots[v].handler) {
        slots[v].handler(*frame, slots[v].context);
    } else {
        ++unhandled;
    }
    if (v != 0xFF && eoi_hook) eoi_hook();  // 0xFF is the APIC spurious vector: no EOI
}
