# The vsock stream protocol engine (src/net/vsock/) against a scripted host peer, and the socket layer's vsock family
# (the echo appliance over it; socket.cpp and lwIP come from net.mk).
UNIT_SRCS += src/net/vsock/engine.cpp src/kernel/event_loop.cpp src/kernel/timer_queue.cpp
UNIT_SRCS += src/drivers/vsock/virtio_vsock/virtio_vsock.cpp
UNIT_TESTS += tests/unit/vsock_engine_test.cpp tests/unit/vsock_socket_test.cpp tests/unit/virtio_vsock_test.cpp
build/host/tests/unit/vsock_socket_test.o: HOST_CXXFLAGS += $(LWIP_INCLUDES) -I.
build/host/tests/unit/vsock_socket_test.o: $(DEPS_CONFIG_HEADERS) | $(DEPS_STAMP)

# libFuzzer on device-supplied vsock packets and events, mixed with application calls, for FUZZ_SECONDS (clang with
# libFuzzer; skipped with a note without it).
VSOCK_FUZZ_SRCS := src/net/vsock/engine.cpp src/kernel/event_loop.cpp src/kernel/timer_queue.cpp src/kernel/log.cpp \
                   src/hw/hw_host.cpp
VSOCK_FUZZ_BIN := build/fuzz/vsock_fuzz
$(VSOCK_FUZZ_BIN): tests/unit/vsock_fuzz.cpp $(VSOCK_FUZZ_SRCS) src/net/vsock/engine.hpp
	@mkdir -p $(dir $@)
	$(Q)clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	    -DSKERRY_HOST_TEST=1 -Isrc -I. tests/unit/vsock_fuzz.cpp $(VSOCK_FUZZ_SRCS) -o $@

.PHONY: fuzz-vsock
fuzz-vsock:
	@if ! command -v clang++ >/dev/null 2>&1; then echo "fuzz-vsock: skipped (no clang++; apt-get install clang)"; \
	 else $(MAKE) --no-print-directory $(VSOCK_FUZZ_BIN) && mkdir -p build/fuzz/vsock-corpus && \
	   echo "== fuzzing the vsock engine with device packets for $(FUZZ_SECONDS) s" && \
	   $(VSOCK_FUZZ_BIN) -max_total_time=$(FUZZ_SECONDS) -max_len=16384 -timeout=10 -artifact_prefix=build/fuzz/vsock- \
	     build/fuzz/vsock-corpus > build/fuzz/vsock_fuzz.log 2>&1 \
	     || { tail -40 build/fuzz/vsock_fuzz.log; echo "fuzz-vsock: FAILED (input in build/fuzz/vsock-*)"; exit 1; }; \
	   grep -E "^Done [0-9]+ runs" build/fuzz/vsock_fuzz.log; fi
