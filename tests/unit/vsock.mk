# The vsock stream protocol engine (src/net/vsock/) against a scripted host peer.
UNIT_SRCS += src/net/vsock/engine.cpp src/kernel/event_loop.cpp src/kernel/timer_queue.cpp
UNIT_TESTS += tests/unit/vsock_engine_test.cpp
