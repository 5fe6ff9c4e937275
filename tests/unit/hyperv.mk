# Hyper-V guest support (src/drivers/hyperv/): hypercalls, SynIC, VMBus rings and channel messages, tested
# against a fake hypervisor (tests/unit/hv_fake.hpp). dma_host.cpp gives memory with identity "physical" addresses.
UNIT_SRCS += src/drivers/hyperv/hv.cpp src/drivers/hyperv/synic.cpp src/drivers/hyperv/ring.cpp src/drivers/hyperv/vmbus_msg.cpp \
             src/kernel/dma_host.cpp
UNIT_TESTS += tests/unit/hv_hypercall_test.cpp tests/unit/hv_synic_test.cpp tests/unit/hv_ring_test.cpp \
              tests/unit/hv_vmbus_msg_test.cpp
