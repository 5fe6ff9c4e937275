# Hyper-V guest support (src/drivers/bus/vmbus/): hypercalls, SynIC, VMBus rings, channel messages, the connection
# state machine, channels and the NVSP/RNDIS wire formats, tested against a fake hypervisor (hv_fake.hpp) and a
# VMBus host simulator (hv_host_sim.*). dma_host.cpp gives memory whose "physical" address is the host address.
UNIT_SRCS += src/drivers/bus/vmbus/hv.cpp src/drivers/bus/vmbus/hv_host.cpp src/drivers/bus/vmbus/synic.cpp src/drivers/bus/vmbus/ring.cpp \
             src/drivers/bus/vmbus/vmbus_msg.cpp src/drivers/bus/vmbus/vmbus.cpp src/drivers/bus/vmbus/channel.cpp \
             src/drivers/nic/netvsc/nvsp.cpp src/drivers/nic/netvsc/netvsc.cpp src/drivers/bus/vmbus/platform.cpp \
             src/drivers/bus/vmbus/registry.cpp src/drivers/bus/vmbus/reftime.cpp src/kernel/clock_plan.cpp \
             src/kernel/dma_host.cpp src/kernel/log.cpp src/drivers/devices.cpp
UNIT_TESTS += tests/unit/hv_hypercall_test.cpp tests/unit/hv_synic_test.cpp tests/unit/hv_ring_test.cpp \
              tests/unit/hv_vmbus_msg_test.cpp tests/unit/hv_host_sim.cpp tests/unit/hv_vmbus_test.cpp \
              tests/unit/hv_nvsp_test.cpp tests/unit/hv_platform_test.cpp tests/unit/hv_reftime_test.cpp \
              tests/unit/hv_netvsp_sim.cpp tests/unit/hv_netvsp_sim_test.cpp tests/unit/hv_netvsc_test.cpp

# The netvsc driver under the whole stack (lwIP, glue, echo) in forked children, as tests/unit/net.mk does.
UNIT_TESTS += tests/unit/hv_netvsc_stack_test.cpp
build/host/tests/unit/hv_netvsc_stack_test.o: HOST_CXXFLAGS += $(LWIP_INCLUDES) -I.
build/host/tests/unit/hv_netvsc_stack_test.o: $(DEPS_CONFIG_HEADERS) | $(DEPS_STAMP)

# libFuzzer on the guest's parsing of host input (VMBus messages in any connection state, SynIC slots, rings,
# NVSP/RNDIS) for FUZZ_SECONDS, like fuzz-http (clang with libFuzzer; skipped with a note without it).
FUZZ_SECONDS ?= 20
HV_FUZZ_SRCS := src/drivers/bus/vmbus/hv.cpp src/drivers/bus/vmbus/hv_host.cpp src/drivers/bus/vmbus/synic.cpp src/drivers/bus/vmbus/ring.cpp \
                src/drivers/bus/vmbus/vmbus_msg.cpp src/drivers/bus/vmbus/vmbus.cpp src/drivers/nic/netvsc/nvsp.cpp \
                src/hw/hw_host.cpp
HV_FUZZ_BIN := build/fuzz/hv_fuzz
$(HV_FUZZ_BIN): tests/unit/hv_fuzz.cpp $(HV_FUZZ_SRCS) $(wildcard src/drivers/bus/vmbus/*.hpp src/drivers/nic/netvsc/*.hpp) src/hw/hw.hpp
	@mkdir -p $(dir $@)
	$(Q)clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    -DSKERRY_HOST_TEST=1 -Isrc -I. tests/unit/hv_fuzz.cpp $(HV_FUZZ_SRCS) -o $@

.PHONY: fuzz-hyperv
fuzz-hyperv:
	@if ! command -v clang++ >/dev/null 2>&1; then echo "fuzz-hyperv: skipped (no clang++; apt-get install clang)"; \
	 else $(MAKE) --no-print-directory $(HV_FUZZ_BIN) && mkdir -p build/fuzz/hv-corpus && \
	   echo "== fuzzing the Hyper-V host-input parsers for $(FUZZ_SECONDS) s" && \
	   $(HV_FUZZ_BIN) -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -timeout=10 -artifact_prefix=build/fuzz/hv- \
	     build/fuzz/hv-corpus tests/unit/hv_fuzz_seeds > build/fuzz/hv_fuzz.log 2>&1 \
	     || { tail -40 build/fuzz/hv_fuzz.log; echo "fuzz-hyperv: FAILED (input in build/fuzz/hv-*)"; exit 1; }; \
	   grep -E "^Done [0-9]+ runs" build/fuzz/hv_fuzz.log; fi
