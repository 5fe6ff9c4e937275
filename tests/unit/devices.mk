# The bus-neutral device registry (src/drivers/devices.*). PCI matching is tested in pci_test.cpp (runtime.mk).
UNIT_SRCS += src/drivers/devices.cpp src/kernel/log.cpp
UNIT_TESTS += tests/unit/devices_test.cpp
