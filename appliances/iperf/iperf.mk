# The iperf appliance (included by the Makefile through appliances/*/*.mk).
IPERF_DEPS_OBJS := $(patsubst %.cpp,build/kernel/%.o,$(wildcard appliances/iperf/*.cpp))
$(IPERF_DEPS_OBJS): $(DEPS_CONFIG_HEADERS)

.PHONY: test-iperf
test-iperf: build/appliances/iperf.elf
	@echo "== QEMU iperf tests (iperf appliance, stock iperf3 3.12 and iperf 2.1.8 clients)"
	$(Q)$(PYTHON) tests/qemu/iperf_test.py --kernel build/appliances/iperf.elf
