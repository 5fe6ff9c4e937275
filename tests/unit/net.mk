# The network stack (lwIP port, netif glue, address configuration, socket layer) and the echo appliance,
# on the host: the same sources and lwipopts.h as the kernel, against liblwip-host.a (lwIP built for the
# host with ASan by scripts/deps_lwip.sh). Tests that need two stacks fork: lwIP is one global stack per
# process. tests/unit/net_host.cpp stands in for the kernel's clock, random numbers, panic and command line
# (the event loop is the kernel's own, src/kernel/event_loop.cpp), and hands the stack its NIC (net::add_nic)
# as the kernel's boot code does; tests/unit/net_fake_nic.cpp is a NicDriver whose wire is a socketpair.
NET_UNIT_SRCS := src/net/ack_coalescer.cpp src/net/address.cpp src/net/checksum.cpp src/net/lwip_port.cpp \
                 src/net/net_memory.cpp src/net/tcp_isn.cpp src/net/tcp_guard.cpp src/kernel/mem_plan.cpp \
                 src/net/netif_glue.cpp src/net/stack.cpp src/net/socket.cpp src/net/vsock/engine.cpp src/net/log_stream.cpp \
                 appliances/echo/echo.cpp
NET_UNIT_TESTS := tests/unit/net_host.cpp tests/unit/net_ack_coalescer_test.cpp tests/unit/net_checksum_test.cpp \
                  tests/unit/net_fake_nic.cpp tests/unit/net_address_test.cpp tests/unit/net_stack_test.cpp \
                  tests/unit/mem_plan_test.cpp tests/unit/tcp_isn_test.cpp
UNIT_SRCS += $(NET_UNIT_SRCS) src/kernel/cmdline.cpp src/kernel/timer_queue.cpp src/kernel/event_loop.cpp src/kernel/log.cpp
UNIT_TESTS += $(NET_UNIT_TESTS)
UNIT_LIBS += $(LWIP_HOST_LIB)

NET_UNIT_OBJS := $(patsubst %.cpp,build/host/%.o,$(NET_UNIT_SRCS) $(NET_UNIT_TESTS))
$(NET_UNIT_OBJS): HOST_CXXFLAGS += $(LWIP_INCLUDES) -I.
$(NET_UNIT_OBJS): $(DEPS_CONFIG_HEADERS) | $(DEPS_STAMP)
$(LWIP_HOST_LIB): | $(DEPS_STAMP)

# Kernel objects that include lwIP headers: gcc -MMD does not list lwipopts.h and arch/cc.h for them (they
# are reached through -isystem headers), so name them here, or a changed lwIP configuration would leave
# stale objects (see DEPS_CONFIG_HEADERS in mk/deps.mk).
$(patsubst %.cpp,build/kernel/%.o,$(wildcard src/net/*.cpp) $(wildcard appliances/echo/*.cpp)): $(DEPS_CONFIG_HEADERS)
