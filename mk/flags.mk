# Compiler flags shared by the kernel, the third-party libraries built for it, and host unit tests.
# Included by the top-level Makefile and by scripts that build dependencies (via `make -s print-flags`).

# Code generation for the freestanding x86-64 kernel target. The kernel is linked at 2 MiB and identity
# mapped, so the small code model and non-PIC code are correct. No red zone: interrupts push onto the
# current stack. Frame pointers are kept for the exception backtrace.
KERNEL_ARCH_FLAGS := -m64 -march=x86-64 -mtune=generic -mno-red-zone -mcmodel=small -fno-pic -fno-pie \
  -fno-omit-frame-pointer -fstack-protector-strong -mstack-protector-guard=global -ffunction-sections -fdata-sections \
  -fno-asynchronous-unwind-tables -fno-unwind-tables

KERNEL_OPT_FLAGS := -O2 -g

# Our own kernel sources: strict warnings.
KERNEL_WARN_FLAGS := -Wall -Wextra -Werror

KERNEL_CFLAGS := $(KERNEL_ARCH_FLAGS) $(KERNEL_OPT_FLAGS) -ffreestanding -std=c11
KERNEL_CXXFLAGS := $(KERNEL_ARCH_FLAGS) $(KERNEL_OPT_FLAGS) -ffreestanding -std=c++20 -fno-exceptions -fno-rtti \
  -fno-threadsafe-statics -fno-use-cxa-atexit -fcheck-new

# Third-party C code (newlib, lwIP, mbedTLS) gets the same code generation, without -Werror.
THIRD_PARTY_CFLAGS := $(KERNEL_ARCH_FLAGS) $(KERNEL_OPT_FLAGS)

# Host unit tests: same sources, normal hosted build with sanitizers.
HOST_CXXFLAGS := -std=c++20 -O1 -g -Wall -Wextra -Werror -fsanitize=address,undefined -fno-omit-frame-pointer \
  -DSKERRY_HOST_TEST=1
HOST_LDFLAGS := -fsanitize=address,undefined
