# The bus-neutral device registry (src/drivers/devices.*) and the e1000 driver's PCI ID table checked against its
# model table. PCI matching is tested in pci_test.cpp (runtime.mk), VMBus offers feeding the registry in
# hv_platform_test.cpp (hyperv.mk).
UNIT_SRCS += src/drivers/devices.cpp src/drivers/bus/pci/registry.cpp src/drivers/nic/e1000/e1000.cpp \
             src/drivers/bus/pci/pci.cpp src/kernel/dma_host.cpp src/kernel/log.cpp
UNIT_TESTS += tests/unit/devices_test.cpp
