/* Skerry entry: Multiboot1, Multiboot2 and PVH headers, and the switch from 32-bit protected mode to
 * long mode. All three protocols enter here in 32-bit protected mode with paging off:
 *   Multiboot1/2: EAX = loader magic, EBX = physical address of the info structure (_start_multiboot)
 *   PVH:          EBX = physical address of hvm_start_info (_start_pvh)
 * We build early page tables identity-mapping the first 4 GiB with 2 MiB pages, enable long mode and
 * SSE, and call kernel_entry(magic, info) on the boot stack. The kernel replaces these tables early. */

#define MB1_MAGIC       0x1BADB002
#define MB1_FLAGS       0x00010003   /* page-align modules, memory info, a.out address fields */
#define MB2_MAGIC       0xE85250D6
#define PVH_BOOT_MAGIC  0x336EC578

#define CR0_PE  (1 << 0)
#define CR0_MP  (1 << 1)
#define CR0_EM  (1 << 2)
#define CR0_WP  (1 << 16)
#define CR0_PG  (1 << 31)
#define CR4_PAE (1 << 5)
#define CR4_OSFXSR (1 << 9)
#define CR4_OSXMMEXCPT (1 << 10)
#define MSR_EFER 0xC0000080
#define EFER_LME (1 << 8)
#define EFER_NXE (1 << 11)

/* ---------------------------------------------------------------- Multiboot1 (QEMU -kernel, iPXE) */
    .section .multiboot1, "a"
    .balign 4
mb1_header:
    .long MB1_MAGIC
    .long MB1_FLAGS
    .long -(MB1_MAGIC + MB1_FLAGS)
    .long mb1_header            /* header_addr */
    .long __image_start         /* load_addr: file offset 0 */
    .long __load_end            /* load_end_addr */
    .long __image_end           /* bss_end_addr */
    .long _start_multiboot      /* entry_addr */

/* ---------------------------------------------------------------- Multiboot2 (GRUB, BIOS and UEFI) */
    .section .multiboot2, "a"
    .balign 8
mb2_header:
    .long MB2_MAGIC
    .long 0                                  /* architecture: i386 protected mode */
    .long mb2_header_end - mb2_header
    .long -(MB2_MAGIC + 0 + (mb2_header_end - mb2_header))
    /* console flags tag: we support EGA text. No framebuffer tag: on BIOS it would replace text mode;
       GRUB passes a framebuffer (UEFI GOP) when grub.cfg loads a video driver. */
    .balign 8
    .word 4, 0
    .long 12
    .long 2
    .balign 8
    .word 0, 0                               /* end tag */
    .long 8
mb2_header_end:

/* ---------------------------------------------------------------- PVH (QEMU -kernel, Firecracker) */
    .section .note.pvh, "a"
    .balign 4
    .long 4                                  /* namesz */
    .long 4                                  /* descsz */
    .long 18                                 /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .long _start_pvh

/* ---------------------------------------------------------------- 32-bit entry */
    .section .text.boot32, "ax"
    .code32
    .globl _start_multiboot
_start_multiboot:
    cli
    cld
    movl %eax, boot_magic
    movl %ebx, boot_info_phys
    jmp common32

    .globl _start_pvh
_start_pvh:
    cli
    cld
    movl $PVH_BOOT_MAGIC, boot_magic
    movl %ebx, boot_info_phys

common32:
    movl $boot_stack_top, %esp

    /* Long mode present? (CPUID 0x80000001 EDX bit 29). Without it we cannot run: say so and stop. */
    movl $0x80000000, %eax
    cpuid
    cmpl $0x80000001, %eax
    jb no_long_mode
    movl $0x80000001, %eax
    cpuid
    btl $29, %edx
    jnc no_long_mode
    movl %edx, %esi                          /* remember NX support (bit 20) */

    /* Early page tables: PML4[0] -> PDPT, PDPT[0..3] -> 4 page directories of 2 MiB pages = 4 GiB. */
    movl $early_pml4, %edi
    xorl %eax, %eax
    movl $(6 * 4096 / 4), %ecx
    rep stosl
    movl $early_pdpt, %eax
    orl $0x3, %eax
    movl %eax, early_pml4
    movl $early_pd, %edi
    movl $early_pdpt, %ebx
    movl $4, %ecx
1:  movl %edi, %eax
    orl $0x3, %eax
    movl %eax, (%ebx)
    addl $8, %ebx
    addl $4096, %edi
    loop 1b
    movl $early_pd, %edi
    xorl %eax, %eax                          /* physical address of the current 2 MiB page */
    movl $2048, %ecx
2:  movl %eax, %edx
    orl $0x83, %edx                          /* present, writable, 2 MiB page */
    movl %edx, (%edi)
    movl $0, 4(%edi)
    addl $0x200000, %eax
    addl $8, %edi
    loop 2b

    movl %cr4, %eax
    orl $(CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT), %eax
    movl %eax, %cr4
    movl $early_pml4, %eax
    movl %eax, %cr3
    movl $MSR_EFER, %ecx
    rdmsr
    orl $EFER_LME, %eax
    btl $20, %esi
    jnc 3f
    orl $EFER_NXE, %eax
3:  wrmsr
    movl %cr0, %eax
    andl $~CR0_EM, %eax
    orl $(CR0_PE | CR0_MP | CR0_WP | CR0_PG), %eax
    movl %eax, %cr0

    lgdt gdt64_pointer
    ljmp $0x08, $start64

no_long_mode:
    /* Tell the user on COM1 and on the VGA text screen, then halt. */
    movl $msg_no_lm, %esi
    movl $0xB8000, %edi
4:  lodsb
    testb %al, %al
    jz 6f
    movb %al, %bl
    movw $0x3FD, %dx
5:  inb %dx, %al
    testb $0x20, %al
    jz 5b
    movw $0x3F8, %dx
    movb %bl, %al
    outb %al, %dx
    movb %bl, (%edi)
    movb $0x4F, 1(%edi)
    addl $2, %edi
    jmp 4b
6:  cli
    hlt
    jmp 6b

/* ---------------------------------------------------------------- 64-bit */
    .section .text.boot64, "ax"
    .code64
start64:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorl %eax, %eax
    movw %ax, %fs
    movw %ax, %gs
    movabsq $boot_stack_top, %rsp
    xorl %ebp, %ebp
    movl boot_magic(%rip), %edi
    movl boot_info_phys(%rip), %esi
    call kernel_entry
7:  cli
    hlt
    jmp 7b

/* ---------------------------------------------------------------- data */
    .section .rodata
msg_no_lm:
    .asciz "Skerry: this CPU has no 64-bit long mode; cannot boot.\r\n"

    .section .data
    .balign 16
    .globl gdt64
gdt64:
    .quad 0                                  /* 0x00 null */
    .quad 0x00AF9A000000FFFF                 /* 0x08 64-bit code */
    .quad 0x00CF92000000FFFF                 /* 0x10 data */
    .quad 0, 0                               /* 0x18 TSS (filled in by the kernel) */
gdt64_end:
    .globl gdt64_pointer
gdt64_pointer:
    .word gdt64_end - gdt64 - 1
    .quad gdt64

    .globl boot_magic, boot_info_phys
    .balign 4
boot_magic:     .long 0
boot_info_phys: .long 0

    .section .bss.pagealigned, "aw", @nobits
    .balign 4096
early_pml4: .skip 4096
early_pdpt: .skip 4096
early_pd:   .skip 4 * 4096
    /* Boot stack, with a guard page below it that the kernel unmaps. */
    .globl boot_stack_guard, boot_stack_bottom, boot_stack_top
boot_stack_guard:  .skip 4096
boot_stack_bottom: .skip 65536
boot_stack_top:
