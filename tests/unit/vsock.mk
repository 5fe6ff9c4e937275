# The vsock stream protocol engine (src/net/vsock/) against a scripted host peer, and the socket layer's vsock family
# (the echo appliance over it; socket.cpp and lwIP come from net.mk).
UNIT_SRCS += src/net/vsock/engine.cpp src/kernel/event_loop.cpp src/kernel/timer_queue.cpp
UNIT_TESTS += tests/unit/vsock_engine_test.cpp tests/unit/vsock_socket_test.cpp
build/host/tests/unit/vsock_socket_test.o: HOST_CXXFLAGS += $(LWIP_INCLUDES) -I.
build/host/tests/unit/vsock_socket_test.o: $(DEPS_CONFIG_HEADERS) | $(DEPS_STAMP)
