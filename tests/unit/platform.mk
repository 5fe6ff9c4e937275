# The microVM / Firecracker platform: the MP table parser, kvmclock (pvclock page) against a modelled KVM, the PIT
# measurement against a modelled 8254, and the clock decision.
UNIT_SRCS += src/kernel/mptable.cpp src/kernel/kvmclock.cpp src/kernel/pit.cpp src/kernel/clock_plan.cpp \
             src/kernel/cpu_info.cpp
UNIT_TESTS += tests/unit/mptable_test.cpp tests/unit/kvmclock_test.cpp tests/unit/pit_test.cpp \
              tests/unit/clock_plan_test.cpp
