# The http appliance's server (server.cpp, status.cpp, tls.cpp with request.cpp, files.cpp and the generated
# file table of tests/unit/http.mk) under the whole stack on the host: over netvsc through the VMBus host
# simulator, and between two FakeNic nodes (tests/unit/http_stack_test.cpp). TLS runs on mbedTLS built for
# the host from the same source and mbedtls_config.h (libmbed*-host.a, scripts/deps_mbedtls.sh) with the
# getrandom entropy hook (src/net/tls/entropy_host.cpp); tests/unit/status_host.cpp stands in for the kernel
# services /status reads. The peer parses /status with cJSON's host build (tests/unit/iperf.mk links it).
HTTP_STACK_SRCS := appliances/http/server.cpp appliances/http/status.cpp appliances/http/tls.cpp \
                   src/net/tls/entropy_host.cpp
HTTP_STACK_TESTS := tests/unit/status_host.cpp tests/unit/http_stack_test.cpp
UNIT_SRCS += $(HTTP_STACK_SRCS)
UNIT_TESTS += $(HTTP_STACK_TESTS)
UNIT_LIBS += $(MBEDTLS_HOST_LIBS) $(CJSON_HOST_LIB)

HTTP_STACK_OBJS := $(patsubst %.cpp,build/host/%.o,$(HTTP_STACK_SRCS) $(HTTP_STACK_TESTS))
$(HTTP_STACK_OBJS): HOST_CXXFLAGS += $(LWIP_INCLUDES) $(MBEDTLS_INCLUDES) $(CJSON_INCLUDES) -I.
$(HTTP_STACK_OBJS): $(DEPS_CONFIG_HEADERS) | $(DEPS_STAMP)
$(MBEDTLS_HOST_LIBS): | $(DEPS_STAMP)
