# The host vsock test backend's packet and credit logic (tools/vsock-backend/vsock_proto.hpp).
UNIT_TESTS += tests/unit/vsock_backend_test.cpp
