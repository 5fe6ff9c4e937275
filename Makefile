# Skerry: the one entry point.
#   make            build every appliance kernel and the host unit tests
#   make run        set up, build and boot APP (default: hello) in QEMU on the serial console
#   make test       set up, build and run every test (unit + QEMU integration)
#   make check      unit tests only (fast loop)
#   make clean      remove build/ (the dependency cache in $(SKERRY_CACHE) stays)
# V=1 shows the commands.

APPS := hello echo iperf http
APP ?= hello
CMDLINE ?=
MEM ?= 128M
ACCEL ?= tcg

V ?= 0
ifeq ($(V),1)
Q :=
else
Q := @
endif

CXX_K ?= g++
CC_K ?= gcc
HOSTCXX ?= g++
PYTHON ?= python3
SKERRY_CACHE ?= $(HOME)/.cache/skerry
export SKERRY_CACHE

# Build in parallel on every core unless -j was given.
ifeq ($(MAKELEVEL)$(filter -j%,$(MAKEFLAGS)),0)
MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 2)
endif

.DEFAULT_GOAL := all
.DELETE_ON_ERROR:
.SUFFIXES:

include mk/flags.mk
include mk/deps.mk
-include mk/font.mk
-include appliances/*/*.mk
include tests/unit.mk
include mk/images.mk
include mk/tools.mk

# ---------------------------------------------------------------------------------------------------
# Kernel objects. Everything under src/ is kernel code except *_host.cpp (host-test implementations).
KERNEL_CXX_SRCS := $(sort $(shell find src -name '*.cpp' ! -name '*_host.cpp'))
KERNEL_ASM_SRCS := $(sort $(shell find src -name '*.S'))
KERNEL_OBJS := $(patsubst %.cpp,build/kernel/%.o,$(KERNEL_CXX_SRCS)) \
               $(patsubst %.S,build/kernel/%.o,$(KERNEL_ASM_SRCS))
ifneq ($(FONT_SRC),)
KERNEL_OBJS += build/kernel/gen/font.o
endif

GCC_INCLUDE := $(shell $(CC_K) -print-file-name=include)
GCC_MAJOR := $(shell $(CC_K) -dumpversion | cut -d. -f1)
CXX_INCLUDES := -isystem /usr/include/c++/$(GCC_MAJOR) -isystem /usr/include/x86_64-linux-gnu/c++/$(GCC_MAJOR)
KERNEL_INCLUDES := -nostdinc $(CXX_INCLUDES) -isystem $(NEWLIB_INCLUDE) -isystem src/kernel/include -isystem $(GCC_INCLUDE) -Isrc -I. \
                   $(LWIP_INCLUDES) $(MBEDTLS_INCLUDES) $(CJSON_INCLUDES)
KERNEL_DEFS := -DSKERRY_KERNEL=1 -D_POSIX_TIMERS=200112L -D_POSIX_MONOTONIC_CLOCK=200112L
SKERRY_VERSION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
LIBGCC := $(shell $(CC_K) -print-libgcc-file-name)

build/kernel/%.o: %.cpp mk/flags.mk Makefile | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CXX     $<"
	$(Q)$(CXX_K) $(KERNEL_CXXFLAGS) $(KERNEL_WARN_FLAGS) $(KERNEL_INCLUDES) $(KERNEL_DEFS) -MMD -MP -c $< -o $@

build/kernel/%.o: %.S mk/flags.mk | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  AS      $<"
	$(Q)$(CC_K) $(KERNEL_ARCH_FLAGS) -Isrc -MMD -MP -c $< -o $@

build/kernel/gen/font.o: $(FONT_SRC) mk/flags.mk | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CXX     $<"
	$(Q)$(CXX_K) $(KERNEL_CXXFLAGS) $(KERNEL_WARN_FLAGS) $(KERNEL_INCLUDES) -c $< -o $@

# ---------------------------------------------------------------------------------------------------
# Appliances: build/appliances/<name>.elf. Two links: the first finds the text symbols, which become
# the backtrace table (.ksyms) of the second; text addresses do not move between the two.
KERNEL_LIBS = -Wl,--start-group $(MBEDTLS_LIBS) $(LWIP_LIB) $(CJSON_LIB) $(NEWLIB_LIBS) $(LIBGCC) -Wl,--end-group
LDFLAGS_K := -nostdlib -static -no-pie -Wl,-T,src/boot/kernel.ld -Wl,-z,max-page-size=0x1000 \
             -Wl,--gc-sections -Wl,--no-warn-rwx-segments -Wl,-z,noexecstack -Wl,--build-id=none

# The version string lives in build/version.txt, rewritten only when `git describe` changes, so a new
# commit relinks the kernels without recompiling everything.
$(shell mkdir -p build && v='$(SKERRY_VERSION)'; [ "$$(cat build/version.txt 2>/dev/null)" = "$$v" ] || echo "$$v" > build/version.txt)

# Each appliance gets an identity object: its name and the version, for the boot banner.
build/appliances/%.ident.o: build/version.txt
	@mkdir -p $(dir $@)
	$(Q)printf '\t.section .rodata\n\t.globl skerry_app_name, skerry_version\nskerry_app_name: .asciz "%s"\nskerry_version: .asciz "%s"\n\t.section .note.GNU-stack, "", @progbits\n' \
	    '$*' "$$(cat build/version.txt)" | $(CC_K) -x assembler -c - -o $@

define APP_RULES
APP_$(1)_SRCS := $$(sort $$(wildcard appliances/$(1)/*.cpp))
APP_$(1)_OBJS := $$(patsubst %.cpp,build/kernel/%.o,$$(APP_$(1)_SRCS)) build/appliances/$(1).ident.o $$(APP_$(1)_EXTRA_OBJS)

build/appliances/$(1).pass1.elf: $$(KERNEL_OBJS) $$(APP_$(1)_OBJS) build/kernel/ksyms_empty.o src/boot/kernel.ld $(DEPS_STAMP)
	@mkdir -p $$(dir $$@)
	@echo "  LD      $$@"
	$(Q)$(CXX_K) $(LDFLAGS_K) -o $$@ $$(KERNEL_OBJS) $$(APP_$(1)_OBJS) build/kernel/ksyms_empty.o $$(KERNEL_LIBS)

build/appliances/$(1).ksyms.S: build/appliances/$(1).pass1.elf scripts/gen_ksyms.py
	$(Q)$(PYTHON) scripts/gen_ksyms.py $$< $$@

build/appliances/$(1).debug.elf: build/appliances/$(1).pass1.elf build/appliances/$(1).ksyms.o scripts/check_image.py
	@echo "  LD      $$@"
	$(Q)$(CXX_K) $(LDFLAGS_K) -o $$@ $$(KERNEL_OBJS) $$(APP_$(1)_OBJS) build/appliances/$(1).ksyms.o $$(KERNEL_LIBS)
	$(Q)$(PYTHON) scripts/check_image.py $$@ --same-text-as build/appliances/$(1).pass1.elf

build/appliances/$(1).elf: build/appliances/$(1).debug.elf
	$(Q)objcopy --strip-debug $$< $$@
	@echo "  IMAGE   $$@ ($$$$(stat -c %s $$@) bytes)"

-include $$(APP_$(1)_OBJS:.o=.d)
endef
$(foreach a,$(APPS),$(eval $(call APP_RULES,$(a))))

build/appliances/%.ksyms.o: build/appliances/%.ksyms.S
	$(Q)$(CC_K) -c $< -o $@

build/kernel/ksyms_empty.o:
	@mkdir -p $(dir $@)
	$(Q)printf '\t.section .ksyms, "a"\n\t.balign 8\n\t.quad 0\n\t.section .note.GNU-stack, "", @progbits\n' | $(CC_K) -x assembler -c - -o $@

-include $(KERNEL_OBJS:.o=.d)

# ---------------------------------------------------------------------------------------------------
APP_ELFS := $(foreach a,$(APPS),build/appliances/$(a).elf)

.PHONY: all build-all kernels unit check test test-qemu test-virtio test-faults run clean iso bench bench-ab profile images release test-images
# `make` on a fresh machine sets up first (packages, pinned sources), then builds in a new make that
# sees what the set-up installed (the console font, GoogleTest).
all: setup
	$(Q)$(MAKE) --no-print-directory build-all
build-all: kernels $(UNIT_BIN) $(TOOL_BINS) $(DEPS_LINK_CHECK)
kernels: $(APP_ELFS)
unit: $(UNIT_BIN)

check: $(UNIT_BIN)
	@echo "== unit tests"
	$(Q)$(UNIT_BIN) --gtest_brief=1

# A GRUB ISO (BIOS + UEFI) of one appliance, used by the boot tests; `make images` builds the full set.
build/images/%/boot.iso: build/appliances/%.elf images/grub.cfg.in images/make_iso.sh
	$(Q)sh images/make_iso.sh $< $@ "$(CMDLINE)"
iso: build/images/$(APP)/boot.iso

# The boot tests' ISO: the command line makes the guest power off through isa-debug-exit when done.
TEST_ISO_CMDLINE := debug_exit=0xf4 poweroff_after=300
build/test/hello-test.iso: build/appliances/hello.elf images/grub.cfg.in images/make_iso.sh
	$(Q)sh images/make_iso.sh $< $@ "$(TEST_ISO_CMDLINE)"

test-qemu: kernels build/test/hello-test.iso
	@echo "== QEMU integration tests"
	$(Q)$(PYTHON) tests/qemu/boot_test.py --kernel build/appliances/hello.elf --iso build/test/hello-test.iso
	@echo "== QEMU microvm tests (PVH, MP table or hardware-reduced ACPI, PIT clock, power-off, no RTC)"
	$(Q)$(PYTHON) tests/qemu/microvm_test.py --kernel build/appliances/hello.elf
	@echo "== QEMU network tests (echo appliance, e1000)"
	$(Q)$(PYTHON) tests/qemu/net_test.py --kernel build/appliances/echo.elf

# virtio-net end to end: echo, http and iperf with stock clients on q35 (MSI-X), i440fx (INTx) and microvm
# (virtio-MMIO v2, PVH) with and without ACPI, and the link taken down and up during a transfer.
test-virtio: build/appliances/echo.elf build/appliances/http.elf build/appliances/iperf.elf
	@echo "== QEMU virtio-net tests (echo, http, iperf; q35, i440fx, microvm with and without ACPI)"
	$(Q)$(PYTHON) tests/qemu/virtio_test.py --echo build/appliances/echo.elf --http build/appliances/http.elf \
	    --iperf build/appliances/iperf.elf

# Faults on a tap device in a namespace: garbage at every port, link flaps mid-transfer, a DHCP pool change, a SYN
# flood and a slowloris crowd (tests/qemu/fault_test.py).
test-faults: build/appliances/echo.elf build/appliances/http.elf build/appliances/iperf.elf
	@echo "== QEMU fault tests (tap in a namespace: garbage, link flaps, DHCP pool change, SYN flood, slowloris crowd)"
	$(Q)$(PYTHON) tests/qemu/fault_test.py --echo build/appliances/echo.elf --http build/appliances/http.elf \
	    --iperf build/appliances/iperf.elf

# The style check runs first (fails fast); the packages step before it (scripts/setup.sh, quick when all is
# installed) brings clang-format to a fresh machine before `setup` builds the dependencies.
test:
	$(Q)bash scripts/setup.sh
	$(Q)$(MAKE) --no-print-directory format-check
	$(Q)$(MAKE) --no-print-directory setup
	$(Q)$(MAKE) --no-print-directory build-all
	$(Q)$(MAKE) --no-print-directory check
	$(Q)$(MAKE) --no-print-directory test-qemu
	$(Q)$(MAKE) --no-print-directory test-http
	$(Q)$(MAKE) --no-print-directory test-iperf
	$(Q)$(MAKE) --no-print-directory test-virtio
	$(Q)$(MAKE) --no-print-directory test-faults
	$(Q)$(MAKE) --no-print-directory test-vsock-linux
	$(Q)$(MAKE) --no-print-directory test-vsock
	$(Q)$(MAKE) --no-print-directory fuzz-http
	$(Q)$(MAKE) --no-print-directory fuzz-hyperv
	$(Q)$(MAKE) --no-print-directory fuzz-vsock
	$(Q)$(MAKE) --no-print-directory test-images-quick

# Skerry against Skerry: this tree's appliances and those of BASE (a git revision, built in build/bench-base),
# taking turns round by round; for changes that must not slow anything down. `make bench-ab BASE=main~3`.
BASE ?= HEAD
bench-ab: setup
	$(Q)$(MAKE) --no-print-directory kernels
	$(Q)rm -rf build/bench-base && git worktree prune && git worktree add --detach build/bench-base $(BASE) >/dev/null
	$(Q)$(MAKE) --no-print-directory -C build/bench-base kernels
	$(Q)$(PYTHON) tests/bench/ab.py build/bench-base; rc=$$?; git worktree remove --force build/bench-base; exit $$rc

# Where an appliance's time goes under a load: `make profile APP=iperf LOAD='iperf3 -c {host} -p {port} -t 8' TAP=1`
# (tests/bench/profile.py; {host} and {port} are filled in; TAP=1: e1000 on a tap device instead of slirp).
LOAD ?= iperf3 -c {host} -p {port} -t 8
profile: setup
	$(Q)$(MAKE) --no-print-directory build/appliances/$(APP).elf
	$(Q)$(PYTHON) tests/bench/profile.py --app $(APP) --load "$(LOAD)" $(if $(filter 1,$(TAP)),--tap)

# The benchmark (not part of `make test`): every appliance against a Linux guest in the same QEMU, on e1000 and
# on virtio-net-pci, on e1000 over a tap device in a namespace, and over vsock through the test backend
# (BENCH_NICS=e1000 for the first set only).
bench: setup
	$(Q)$(MAKE) --no-print-directory kernels tools
	$(Q)bash scripts/bench/linux_guest.sh build/linux-guest
	$(Q)$(PYTHON) tests/bench/bench.py

run: setup
	$(Q)$(MAKE) --no-print-directory build/appliances/$(APP).elf
	$(Q)sh scripts/run_qemu.sh build/appliances/$(APP).elf "$(CMDLINE)" $(MEM) $(ACCEL)

clean:
	rm -rf build third_party

# ---------------------------------------------------------------------------------------------------
# Habits: one C/C++ style and a compilation database.
#   make format                 rewrite every tracked .cpp/.hpp/.h/.c under src/ appliances/ tests/ tools/ in the
#                               style of .clang-format
#   make format-check           list the files that differ from it (fails; the first step of `make test`)
#   make compile_commands.json  compile_commands.json at the top of the tree for editors and clang-tidy
#                               (`make compile_commands` too): every kernel, host unit-test, link-check and
#                               fuzz compile with its exact flags, from a dry run of make (nothing is built)
CLANG_FORMAT ?= clang-format
# lwIP's and mbedTLS's configuration headers keep their hand-aligned tables; they are also part of the
# dependency cache key (mk/deps.mk), so reformatting them would rebuild lwIP and mbedTLS for everyone.
FORMAT_EXCLUDE := src/net/lwip/lwipopts.h src/net/lwip/arch/%.h src/net/tls/mbedtls_config.h
FORMAT_FILES = $(filter-out $(FORMAT_EXCLUDE),$(wildcard $(shell git ls-files -- src appliances tests tools 2>/dev/null \
                 || find src appliances tests tools -type f) ))
FORMAT_SRCS = $(filter %.cpp %.hpp %.h %.c,$(FORMAT_FILES))

.PHONY: format format-check compile_commands compile_commands.json
format:
	$(Q)command -v $(CLANG_FORMAT) >/dev/null || { echo "format: $(CLANG_FORMAT) not found (make setup installs it)" >&2; exit 1; }
	@echo "  FORMAT  $(words $(FORMAT_SRCS)) files"
	$(Q)$(CLANG_FORMAT) -i --style=file $(FORMAT_SRCS)

format-check:
	$(Q)command -v $(CLANG_FORMAT) >/dev/null || { echo "format-check: $(CLANG_FORMAT) not found (make setup installs it)" >&2; exit 1; }
	@echo "== format check ($(words $(FORMAT_SRCS)) files, $$($(CLANG_FORMAT) --version | sed 's/.*version \([0-9.]*\).*/clang-format \1/'))"
	$(Q)out=$$($(CLANG_FORMAT) --dry-run --Werror --ferror-limit=1 --style=file $(FORMAT_SRCS) 2>&1) && exit 0; \
	  bad=$$(printf '%s\n' "$$out" | sed -n 's/^\(.*\):[0-9]*:[0-9]*: error: code should be clang-formatted.*/\1/p' | sort -u); \
	  if [ -z "$$bad" ]; then printf '%s\n' "$$out" >&2; echo "format-check: $(CLANG_FORMAT) failed" >&2; exit 1; fi; \
	  printf '  %s\n' $$bad >&2; \
	  echo "format-check: $$(printf '%s\n' $$bad | wc -l) file(s) differ from .clang-format: run 'make format' (then review and commit)" >&2; \
	  exit 1

compile_commands: compile_commands.json
compile_commands.json:
	$(Q)$(PYTHON) scripts/compile_commands.py -o $@ -- $(MAKE) -Bn -j1 --no-print-directory V=1 \
	    kernels $(UNIT_BIN) $(DEPS_LINK_CHECK) $(HTTP_FUZZ_BIN) $(HV_FUZZ_BIN)
