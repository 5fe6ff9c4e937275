# The event loop's timer queue.
UNIT_SRCS += src/kernel/timer_queue.cpp
UNIT_TESTS += tests/unit/timer_queue_test.cpp
