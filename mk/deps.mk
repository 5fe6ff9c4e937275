# Third-party libraries (newlib, lwIP, mbedTLS, cJSON), pinned in deps.lock and built by scripts/deps.sh into
# $(SKERRY_CACHE)/<name>-<version>-<key>/ (outside build/: `make clean` and `rm -rf third_party` keep them).
# The key hashes the pins, THIRD_PARTY_CFLAGS, the compiler, the library's build script and its config
# headers, so these paths are known at parse time and a changed input selects a new (re)build.
#
#   make setup        install packages (scripts/setup.sh, needs root once) and build the dependencies
#   make deps         build the dependencies (also happens on demand: kernel objects wait for DEPS_STAMP)
#   make deps-link    link proof: lwIP + mbedTLS + newlib + libgcc with only the kernel's symbols stubbed
#   make deps-clean   remove third_party/ (unpacked sources, build trees)
#   make deps-prune   remove cache entries other than the current ones

DEPS_SH := scripts/deps.sh
HOSTCC ?= gcc
DEPS_ENV := SKERRY_CACHE='$(SKERRY_CACHE)' THIRD_PARTY_CFLAGS='$(THIRD_PARTY_CFLAGS)' DEPS_CC='$(CC_K)' DEPS_HOSTCC='$(HOSTCC)'
DEPS_DIRS := $(shell $(DEPS_ENV) bash $(DEPS_SH) dirs)
ifneq ($(words $(DEPS_DIRS)),5)
$(error deps: could not compute the dependency cache paths; run "bash $(DEPS_SH) dirs" to see why)
endif
NEWLIB_DIR := $(word 1,$(DEPS_DIRS))
LWIP_DIR := $(word 2,$(DEPS_DIRS))
MBEDTLS_DIR := $(word 3,$(DEPS_DIRS))
CJSON_DIR := $(word 4,$(DEPS_DIRS))
DEPS_STAMP := $(word 5,$(DEPS_DIRS))

NEWLIB_INCLUDE := $(NEWLIB_DIR)/include
NEWLIB_LIBS := $(NEWLIB_DIR)/lib/libc.a $(NEWLIB_DIR)/lib/libm.a
LWIP_INCLUDES := -isystem $(LWIP_DIR)/include -Isrc/net/lwip
LWIP_LIB := $(LWIP_DIR)/lib/liblwip.a
LWIP_HOST_LIB := $(LWIP_DIR)/lib/liblwip-host.a   # the same lwIP for host unit tests (ASan)
MBEDTLS_INCLUDES := -isystem $(MBEDTLS_DIR)/include -DMBEDTLS_CONFIG_FILE='"mbedtls_config.h"' -Isrc/net/tls
MBEDTLS_LIBS := $(MBEDTLS_DIR)/lib/libmbedtls.a $(MBEDTLS_DIR)/lib/libmbedx509.a $(MBEDTLS_DIR)/lib/libmbedcrypto.a
# the same mbedTLS and mbedtls_config.h for host unit tests (ASan; tests/unit/http_stack.mk)
MBEDTLS_HOST_LIBS := $(MBEDTLS_DIR)/lib/libmbedtls-host.a $(MBEDTLS_DIR)/lib/libmbedx509-host.a \
                     $(MBEDTLS_DIR)/lib/libmbedcrypto-host.a
CJSON_INCLUDES := -isystem $(CJSON_DIR)/include
CJSON_LIB := $(CJSON_DIR)/lib/libcjson.a
CJSON_HOST_LIB := $(CJSON_DIR)/lib/libcjson-host.a   # the same cJSON for host unit tests (ASan)

# The stamp exists once all four are built for the current keys. If a library directory vanished from
# the cache behind our back, force the (idempotent) build step.
DEPS_DONE := $(NEWLIB_DIR)/.done $(LWIP_DIR)/.done $(MBEDTLS_DIR)/.done $(CJSON_DIR)/.done
$(DEPS_STAMP): $(if $(filter-out $(wildcard $(DEPS_DONE)),$(DEPS_DONE)),deps-force)
	$(Q)bash scripts/setup.sh
	$(Q)$(DEPS_ENV) bash $(DEPS_SH) build
	$(Q)mkdir -p $(dir $@) && touch $@

.PHONY: setup deps deps-force deps-link deps-clean deps-prune
deps-force:
deps: $(DEPS_STAMP)
setup: $(DEPS_STAMP)
	$(Q)bash scripts/setup.sh
deps-clean:
	$(Q)bash $(DEPS_SH) clean
deps-prune:
	$(Q)$(DEPS_ENV) bash $(DEPS_SH) prune

# Our configuration headers. gcc -MMD does not list them for code that includes lwIP/mbedTLS headers
# (they are reached through -isystem headers, which -MMD skips with everything they include), so objects
# that use lwIP or mbedTLS should name these as prerequisites.
DEPS_CONFIG_HEADERS := src/net/lwip/lwipopts.h $(wildcard src/net/lwip/arch/*.h) src/net/tls/mbedtls_config.h

# ---------------------------------------------------------------------------------------------------
# Link proof: tests/link/deps_link.c calls into lwIP and mbedTLS from _start; tests/link/deps_stubs.cpp
# defines, in C++ like the kernel will, exactly the symbols the kernel provides (newlib system calls of
# src/kernel/syscalls.cpp, stack protector, lwIP/mbedTLS hooks). Any other unresolved symbol fails.
DEPS_LINK_CHECK := build/deps-link.elf
DEPS_LINK_OBJS := build/deps-link/deps_link.o build/deps-link/deps_stubs.o
DEPS_GCC_INCLUDE := $(shell $(CC_K) -print-file-name=include)
DEPS_LIBGCC := $(shell $(CC_K) -print-libgcc-file-name)
DEPS_C_INCLUDES = -nostdinc -isystem $(NEWLIB_INCLUDE) -isystem $(DEPS_GCC_INCLUDE) $(LWIP_INCLUDES) $(MBEDTLS_INCLUDES)

build/deps-link/%.o: tests/link/%.c $(DEPS_CONFIG_HEADERS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC_K) $(KERNEL_CFLAGS) $(KERNEL_WARN_FLAGS) $(DEPS_C_INCLUDES) -MMD -MP -c $< -o $@

build/deps-link/%.o: tests/link/%.cpp $(DEPS_CONFIG_HEADERS) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CXX     $<"
	$(Q)$(CXX_K) $(KERNEL_CXXFLAGS) $(KERNEL_WARN_FLAGS) $(DEPS_C_INCLUDES) -MMD -MP -c $< -o $@

$(DEPS_LINK_CHECK): $(DEPS_LINK_OBJS) $(DEPS_STAMP)
	@echo "  LD      $@ (lwIP + mbedTLS + newlib link check)"
	$(Q)$(CC_K) -nostdlib -static -no-pie -Wl,-e,_start -Wl,--gc-sections -Wl,--unresolved-symbols=report-all \
	  -Wl,--no-warn-rwx-segments -Wl,-z,noexecstack -o $@ $(DEPS_LINK_OBJS) \
	  -Wl,--start-group $(MBEDTLS_LIBS) $(LWIP_LIB) $(NEWLIB_LIBS) $(DEPS_LIBGCC) -Wl,--end-group

deps-link: $(DEPS_LINK_CHECK)

-include $(DEPS_LINK_OBJS:.o=.d)
