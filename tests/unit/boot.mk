# Boot information parsers (Multiboot1, Multiboot2, PVH) and the kernel command line.
UNIT_SRCS += src/boot/bootinfo.cpp src/boot/multiboot1.cpp src/boot/multiboot2.cpp src/boot/pvh.cpp \
             src/kernel/cmdline.cpp
UNIT_TESTS += tests/unit/bootinfo_test.cpp tests/unit/cmdline_test.cpp
