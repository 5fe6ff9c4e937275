# Boot information parsers (Multiboot1, Multiboot2, PVH), the kernel command line and CPU facts.
UNIT_SRCS += src/boot/bootinfo.cpp src/boot/multiboot1.cpp src/boot/multiboot2.cpp src/boot/pvh.cpp \
             src/kernel/cmdline.cpp src/kernel/cpu_info.cpp
UNIT_TESTS += tests/unit/bootinfo_test.cpp tests/unit/cmdline_test.cpp tests/unit/cpu_info_test.cpp
