# Kernel runtime: ACPI tables, PCI (configuration access, enumeration, BARs, capabilities, MSI/MSI-X, driver
# matching into the device registry), the physical page allocator, the byte-order helpers and the bounded text
# builder. log.cpp is listed again because acpi.cpp and pci.cpp log (UNIT_SRCS is de-duplicated with sort).
UNIT_SRCS += src/kernel/acpi.cpp src/drivers/bus/pci/pci.cpp src/drivers/bus/pci/pci_platform_host.cpp src/drivers/bus/pci/registry.cpp src/drivers/devices.cpp \
             src/kernel/page_alloc.cpp src/kernel/log.cpp
UNIT_TESTS += tests/unit/acpi_test.cpp tests/unit/pci_test.cpp tests/unit/page_alloc_test.cpp tests/unit/bytes_test.cpp \
              tests/unit/text_out_test.cpp
