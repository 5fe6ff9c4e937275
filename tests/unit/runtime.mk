# Kernel runtime: the physical page allocator.
UNIT_SRCS += src/kernel/page_alloc.cpp
UNIT_TESTS += tests/unit/page_alloc_test.cpp
