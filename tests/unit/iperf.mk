# The iperf3 control state machine (appliances/iperf/iperf3_proto.cpp), iperf2's test-request parsing
# (appliances/iperf/iperf2_proto.cpp) and the UDP jitter both report, on the host with cJSON built for the
# host (libcjson-host.a, from the same pinned Debian source as the kernel's libcjson.a).
IPERF_UNIT_SRCS := appliances/iperf/iperf3_proto.cpp appliances/iperf/iperf2_proto.cpp
IPERF_UNIT_TESTS := tests/unit/iperf3_proto_test.cpp tests/unit/iperf2_proto_test.cpp tests/unit/iperf_jitter_test.cpp
UNIT_SRCS += $(IPERF_UNIT_SRCS)
UNIT_TESTS += $(IPERF_UNIT_TESTS)
UNIT_LIBS += $(CJSON_HOST_LIB)

IPERF_UNIT_OBJS := $(patsubst %.cpp,build/host/%.o,$(IPERF_UNIT_SRCS) $(IPERF_UNIT_TESTS))
$(IPERF_UNIT_OBJS): HOST_CXXFLAGS += $(CJSON_INCLUDES) -I.
$(IPERF_UNIT_OBJS): | $(DEPS_STAMP)
$(CJSON_HOST_LIB): | $(DEPS_STAMP)
