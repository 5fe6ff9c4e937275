# Host unit tests (GoogleTest). Each area adds a fragment tests/unit/<area>.mk that appends to
#   UNIT_SRCS  - the pure-logic sources under src/ that it tests (compiled for the host),
#   UNIT_TESTS - its test files under tests/unit/,
#   UNIT_LIBS  - host libraries they need (e.g. lwIP built for the host), linked after the objects.
UNIT_SRCS := src/hw/hw_host.cpp
UNIT_TESTS :=
UNIT_LIBS :=
-include $(wildcard tests/unit/*.mk)

UNIT_BIN := build/host/skerry-unit
UNIT_OBJS := $(patsubst %.cpp,build/host/%.o,$(sort $(UNIT_SRCS) $(UNIT_TESTS)))

build/host/%.o: %.cpp mk/flags.mk
	@mkdir -p $(dir $@)
	$(Q)$(HOSTCXX) $(HOST_CXXFLAGS) -Isrc -Itests -MMD -MP -c $< -o $@

$(UNIT_BIN): $(UNIT_OBJS) $(UNIT_LIBS)
	@mkdir -p $(dir $@)
	$(Q)$(HOSTCXX) $(HOST_LDFLAGS) $(UNIT_OBJS) $(UNIT_LIBS) -lgtest -lgtest_main -pthread -o $@

-include $(UNIT_OBJS:.o=.d)
