/* Interrupt and exception entry stubs. Every vector pushes (error code or 0) and its number, then the
 * common path saves the general registers and the FPU/SSE state (XSAVE when enabled, else FXSAVE) and
 * calls interrupt_dispatch(InterruptFrame*). All vectors run on IST stacks (see gdt.cpp), so nothing
 * is ever pushed into the interrupted code's stack. */

    .section .text
    .code64

/* One stub per vector, each padded to 16 bytes so the C++ side finds vector n at isr_stubs + 16 * n.
 * Exceptions that push an error code themselves: 8, 10-14, 17, 21, 29, 30. */
    .balign 16
    .globl isr_stubs
isr_stubs:
    .set vec, 0
    .rept 256
    .balign 16
    .if (vec == 8) || (vec >= 10 && vec <= 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    .else
    pushq $0
    .endif
    pushq $vec
    jmp isr_common
    .set vec, vec + 1
    .endr
    .balign 16
    .globl isr_stubs_end
isr_stubs_end:

isr_common:
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    cld
    movq %rsp, %rbx                     /* rbx: the register frame (callee-saved) */
    subq fpu_state_size(%rip), %rsp
    andq $-64, %rsp
    cmpb $0, fpu_use_xsave(%rip)
    je 1f
    movl $0xFFFFFFFF, %eax
    movl $0xFFFFFFFF, %edx
    xsave64 (%rsp)
    jmp 2f
1:  fxsave64 (%rsp)
2:  movq %rbx, %rdi
    movq 64(%rbx), %rbp                 /* keep the interrupted rbp chain for backtraces */
    call interrupt_dispatch
    cmpb $0, fpu_use_xsave(%rip)
    je 3f
    movl $0xFFFFFFFF, %eax
    movl $0xFFFFFFFF, %edx
    xrstor64 (%rsp)
    jmp 4f
3:  fxrstor64 (%rsp)
4:  movq %rbx, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp
    iretq

    .section .data
    .balign 8
    .globl fpu_state_size, fpu_use_xsave
fpu_state_size: .quad 512
fpu_use_xsave:  .byte 0
