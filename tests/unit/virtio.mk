# The virtio core and the virtio-net driver against a host device model (rings in host memory through dma_host.cpp),
# directly and through the real virtio-MMIO and modern PCI transports; the DSDT scan and the command-line option.
UNIT_SRCS += src/drivers/bus/virtio/virtio.cpp src/drivers/bus/virtio/virtqueue.cpp \
             src/drivers/bus/virtio/mmio_transport.cpp src/drivers/bus/virtio/mmio_acpi.cpp \
             src/drivers/bus/virtio/pci_transport.cpp src/drivers/bus/pci/pci.cpp \
             src/drivers/bus/pci/pci_platform_host.cpp src/drivers/nic/virtio_net/virtio_net.cpp src/kernel/dma_host.cpp src/kernel/log.cpp \
             src/kernel/event_loop.cpp src/kernel/timer_queue.cpp
UNIT_TESTS += tests/unit/virtio_model.cpp tests/unit/virtio_test.cpp tests/unit/virtio_pci_test.cpp
