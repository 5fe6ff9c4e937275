# Kernel runtime: ACPI tables and the physical page allocator. log.cpp is listed again because acpi.cpp
# logs (UNIT_SRCS is de-duplicated with sort).
UNIT_SRCS += src/kernel/acpi.cpp src/kernel/page_alloc.cpp src/kernel/log.cpp
UNIT_TESTS += tests/unit/acpi_test.cpp tests/unit/page_alloc_test.cpp
