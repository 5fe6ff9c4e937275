# The http appliance's pure parts: the request parser, the JSON writer and the file table lookup (against
# the generated table of the default web root, build/gen/www_http.cpp, made by appliances/http/http.mk).
HTTP_UNIT_SRCS := appliances/http/request.cpp appliances/http/json.cpp appliances/http/files.cpp \
                  build/gen/www_http.cpp
HTTP_UNIT_TESTS := tests/unit/http_request_test.cpp
UNIT_SRCS += $(HTTP_UNIT_SRCS)
UNIT_TESTS += $(HTTP_UNIT_TESTS)
$(patsubst %.cpp,build/host/%.o,$(HTTP_UNIT_SRCS) $(HTTP_UNIT_TESTS)): HOST_CXXFLAGS += -I.
