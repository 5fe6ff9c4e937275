# The event loop's timer queue, and the wall clock.
UNIT_SRCS += src/kernel/timer_queue.cpp
UNIT_TESTS += tests/unit/timer_queue_test.cpp
# The CMOS real-time clock.
UNIT_SRCS += src/kernel/rtc.cpp
UNIT_TESTS += tests/unit/rtc_test.cpp
