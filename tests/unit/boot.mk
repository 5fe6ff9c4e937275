# Boot information parsers (Multiboot1, Multiboot2, PVH).
UNIT_SRCS += src/boot/bootinfo.cpp src/boot/multiboot1.cpp src/boot/multiboot2.cpp src/boot/pvh.cpp
UNIT_TESTS += tests/unit/bootinfo_test.cpp
