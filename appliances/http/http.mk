# The http appliance's build pieces (included from the Makefile): the web root compiled into a file table.
# WWW=<dir> replaces appliances/http/www/ (e.g. `make images WWW=~/site`); 1m.bin is generated (a 4 KiB block
# repeated) so that no large file lives in the tree.
WWW ?= appliances/http/www
HTTP_WWW_CPP := build/gen/www_http.cpp
HTTP_WWW_SYNTH := --synth 1m.bin=1048576
APP_http_EXTRA_OBJS := build/kernel/$(HTTP_WWW_CPP:.cpp=.o)

# Rebuild when the web root's path or any file in it changes (added, removed or edited).
HTTP_WWW_FILES := $(shell find $(WWW) -type f 2>/dev/null)
$(shell mkdir -p build/gen && s='$(abspath $(WWW)) $(HTTP_WWW_SYNTH) $(HTTP_WWW_FILES)'; \
    [ "$$(cat build/gen/www_http.stamp 2>/dev/null)" = "$$s" ] || echo "$$s" > build/gen/www_http.stamp)

$(HTTP_WWW_CPP): scripts/gen_www.py build/gen/www_http.stamp $(HTTP_WWW_FILES)
	$(Q)$(PYTHON) scripts/gen_www.py $(WWW) -o $@ $(HTTP_WWW_SYNTH)

# status.cpp reads lwIP's headers (see tests/unit/net.mk on DEPS_CONFIG_HEADERS).
build/kernel/appliances/http/status.o: $(DEPS_CONFIG_HEADERS)

.PHONY: test-http
test-http: build/appliances/http.elf
	@echo "== QEMU HTTP tests (http appliance, e1000)"
	$(Q)$(PYTHON) tests/qemu/http_test.py --kernel build/appliances/http.elf
