# Hyper-V guest support (src/drivers/hyperv/): hypercalls, SynIC, VMBus rings, channel messages, the connection
# state machine, channels and the NVSP/RNDIS wire formats, tested against a fake hypervisor (hv_fake.hpp) and a
# VMBus host simulator (hv_host_sim.*). dma_host.cpp gives memory whose "physical" address is the host address.
UNIT_SRCS += src/drivers/hyperv/hv.cpp src/drivers/hyperv/synic.cpp src/drivers/hyperv/ring.cpp \
             src/drivers/hyperv/vmbus_msg.cpp src/drivers/hyperv/vmbus.cpp src/drivers/hyperv/channel.cpp \
             src/drivers/hyperv/nvsp.cpp src/drivers/hyperv/netvsc.cpp src/kernel/dma_host.cpp
UNIT_TESTS += tests/unit/hv_hypercall_test.cpp tests/unit/hv_synic_test.cpp tests/unit/hv_ring_test.cpp \
              tests/unit/hv_vmbus_msg_test.cpp tests/unit/hv_host_sim.cpp tests/unit/hv_vmbus_test.cpp \
              tests/unit/hv_nvsp_test.cpp tests/unit/hv_netvsp_sim.cpp tests/unit/hv_netvsp_sim_test.cpp \
              tests/unit/hv_netvsc_test.cpp

# The netvsc driver under the whole stack (lwIP, glue, echo) in forked children, as tests/unit/net.mk does.
UNIT_TESTS += tests/unit/hv_netvsc_stack_test.cpp
build/host/tests/unit/hv_netvsc_stack_test.o: HOST_CXXFLAGS += $(LWIP_INCLUDES) -I.
build/host/tests/unit/hv_netvsc_stack_test.o: $(DEPS_CONFIG_HEADERS) | $(DEPS_STAMP)
