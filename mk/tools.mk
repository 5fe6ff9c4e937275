# Host tools (built by `make`, for this machine, no sanitizers):
#   build/tools/skerry-vsock          the users' tool: a local TCP port -> a guest vsock port (hybrid UDS or AF_VSOCK)
#   build/tools/skerry-vsock-backend  vhost-user vsock device for the tests (Firecracker's hybrid vsock on the host side)
TOOLS_CXXFLAGS := -std=c++20 -O2 -g -Wall -Wextra -Werror
TOOL_BINS := build/tools/skerry-vsock build/tools/skerry-vsock-backend

build/tools/skerry-vsock-backend: tools/vsock-backend/vsock_backend.cpp tools/vsock-backend/vsock_proto.hpp mk/tools.mk
	@mkdir -p $(dir $@)
	@echo "  HOSTCXX $@"
	$(Q)$(HOSTCXX) $(TOOLS_CXXFLAGS) -o $@ $<

build/tools/skerry-vsock: tools/skerry-vsock/skerry-vsock.py
	@mkdir -p $(dir $@)
	$(Q)$(PYTHON) -m py_compile $< && install -m 755 $< $@

.PHONY: tools test-vsock-linux test-vsock
tools: $(TOOL_BINS)

# The vsock backend and skerry-vsock against a driver we did not write: Debian's Linux guest (its
# vmw_vsock_virtio_transport) on q35 (virtio PCI; microvm: see the test's docstring). VSOCK_FULL=1: 50 x 20 MiB.
test-vsock-linux: $(TOOL_BINS)
	$(Q)bash scripts/bench/linux_guest.sh build/linux-guest
	@echo "== vsock: backend and skerry-vsock against the Linux guest's virtio-vsock driver"
	$(Q)$(PYTHON) tests/qemu/vsock_linux_test.py --linux build/linux-guest --tools build/tools $(if $(VSOCK_FULL),--full)

# Skerry's virtio-vsock driver, vsock socket family and appliances (echo, http, iperf3) through the same backend and
# skerry-vsock, on q35 and microvm, with no NIC (tests/qemu/vsock_test.py).
test-vsock: $(TOOL_BINS) build/appliances/echo.elf build/appliances/http.elf build/appliances/iperf.elf
	@echo "== vsock: Skerry's appliances over virtio-vsock (q35 PCI, microvm MMIO) through the backend and skerry-vsock"
	$(Q)$(PYTHON) tests/qemu/vsock_test.py --echo build/appliances/echo.elf --http build/appliances/http.elf \
	    --iperf build/appliances/iperf.elf --tools build/tools
