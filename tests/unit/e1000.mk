# The Intel e1000/e1000e NIC driver against a host device model (registers, rings in host memory, a wire).
# dma_host.cpp gives DMA memory whose physical address is the host address; pci.cpp and log.cpp are what
# the driver calls besides (UNIT_SRCS is de-duplicated with sort).
UNIT_SRCS += src/drivers/nic/e1000/e1000.cpp src/kernel/dma_host.cpp src/drivers/bus/pci/pci.cpp src/drivers/bus/pci/pci_platform_host.cpp src/kernel/log.cpp \
             src/kernel/event_loop.cpp src/kernel/timer_queue.cpp
UNIT_TESTS += tests/unit/e1000_model.cpp tests/unit/e1000_test.cpp
