# The http appliance's build pieces (included from the Makefile): the web root compiled into a file table.
# WWW=<dir> replaces appliances/http/www/ (e.g. `make images WWW=~/site`); 1m.bin is generated (a 4 KiB block
# repeated) so that no large file lives in the tree.
WWW ?= appliances/http/www
HTTP_WWW_CPP := build/gen/www_http.cpp
HTTP_WWW_SYNTH := --synth 1m.bin=1048576
# TLS_CERT=<pem> TLS_KEY=<pem>: HTTPS serves this certificate instead of making a self-signed one at boot.
TLS_CERT ?=
TLS_KEY ?=
HTTP_WWW_TLS := $(if $(TLS_CERT),--tls-cert $(TLS_CERT) --tls-key $(TLS_KEY))
APP_http_EXTRA_OBJS := build/kernel/$(HTTP_WWW_CPP:.cpp=.o)

# Rebuild when the web root's path or any file in it changes (added, removed or edited).
HTTP_WWW_FILES := $(shell find $(WWW) -type f 2>/dev/null) $(TLS_CERT) $(TLS_KEY)
$(shell mkdir -p build/gen && s='$(abspath $(WWW)) $(HTTP_WWW_SYNTH) $(HTTP_WWW_TLS) $(HTTP_WWW_FILES)'; \
    [ "$$(cat build/gen/www_http.stamp 2>/dev/null)" = "$$s" ] || echo "$$s" > build/gen/www_http.stamp)

$(HTTP_WWW_CPP): scripts/gen_www.py build/gen/www_http.stamp $(HTTP_WWW_FILES)
	$(Q)$(PYTHON) scripts/gen_www.py $(WWW) -o $@ $(HTTP_WWW_SYNTH) $(HTTP_WWW_TLS)

# status.cpp reads lwIP's headers (see tests/unit/net.mk on DEPS_CONFIG_HEADERS).
build/kernel/appliances/http/status.o: $(DEPS_CONFIG_HEADERS)

.PHONY: test-http
test-http: build/appliances/http.elf
	@echo "== QEMU HTTP tests (http appliance, e1000)"
	$(Q)$(PYTHON) tests/qemu/http_test.py --kernel build/appliances/http.elf

# libFuzzer on the request parser for FUZZ_SECONDS (clang with libFuzzer; skipped with a note without it).
FUZZ_SECONDS ?= 20
HTTP_FUZZ_BIN := build/fuzz/http_fuzz
$(HTTP_FUZZ_BIN): tests/unit/http_fuzz.cpp appliances/http/request.cpp appliances/http/request.hpp \
                  appliances/http/json.cpp appliances/http/json.hpp
	@mkdir -p $(dir $@)
	$(Q)clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I. \
	    tests/unit/http_fuzz.cpp appliances/http/request.cpp appliances/http/json.cpp -o $@

.PHONY: fuzz-http
fuzz-http:
	@if ! command -v clang++ >/dev/null 2>&1; then echo "fuzz-http: skipped (no clang++; apt-get install clang)"; \
	 else $(MAKE) --no-print-directory $(HTTP_FUZZ_BIN) && mkdir -p build/fuzz/http-corpus && \
	   echo "== fuzzing the HTTP request parser for $(FUZZ_SECONDS) s" && \
	   $(HTTP_FUZZ_BIN) -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -artifact_prefix=build/fuzz/ \
	     build/fuzz/http-corpus appliances/http/fuzz_seeds > build/fuzz/http_fuzz.log 2>&1 \
	     || { tail -40 build/fuzz/http_fuzz.log; echo "fuzz-http: FAILED (input in build/fuzz/)"; exit 1; }; \
	   grep -E "^Done [0-9]+ runs" build/fuzz/http_fuzz.log; fi
