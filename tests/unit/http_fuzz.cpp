// libFuzzer target for the http appliance's request parser (appliances/http/request.hpp) and JSON string
// escaping: no crash, no sanitizer report, and the invariants a server relies on hold for every input.
// Built and run by `make fuzz-http` (appliances/http/http.mk), seeded from appliances/http/fuzz_seeds/.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "appliances/http/json.hpp"
#include "appliances/http/request.hpp"

namespace {

void check(bool ok) {
    if (!ok) abort();
}

void check_path(const char* p) {
    check(p[0] == '/');
    for (const char* c = p; *c; ++c) check(static_cast<unsigned char>(*c) >= 0x20 && *c != 0x7f && *c != '\\');
    check(strstr(p, "/../") == nullptr && strstr(p, "/./") == nullptr && strstr(p, "//") == nullptr);
    const size_t n = strlen(p);
    check(!(n >= 3 && strcmp(p + n - 3, "/..") == 0));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const char* in = reinterpret_cast<const char*>(data);
    http::Limits small;
    small.max_request_line = 64;
    small.max_header_bytes = 256;
    small.max_headers = 4;
    small.max_body = 16;
    const http::Limits limits[] = {http::Limits{}, small};
    for (const http::Limits& l : limits) {
        http::Request r;
        const http::ParseResult pr = http::parse_request(in, size, l, &r);
        if (pr.parse == http::Parse::Ok) {
            check(r.header_bytes > 0 && r.header_bytes <= size);
            check(r.header_bytes <= l.max_header_bytes + 2 * size);  // leading empty lines are not counted
            check(r.body_bytes <= l.max_body);
            check(r.version_minor <= 9);
            check_path(r.path);
            // Every prefix of a complete request is incomplete or, for limits, an error; never Ok with more.
            http::Request again;
            check(http::parse_request(in, r.header_bytes, l, &again).parse == http::Parse::Ok);
            check(again.header_bytes == r.header_bytes);
        } else if (pr.parse == http::Parse::Error) {
            check(pr.status >= 400 && pr.status <= 505);
        }
    }
    char out[http::kMaxPath + 1];
    if (http::normalise_target(in, size, out, sizeof out)) check_path(out);
    // etag_matches and the JSON writer on NUL-terminated copies.
    char* z = static_cast<char*>(malloc(size + 1));
    memcpy(z, data, size);
    z[size] = '\0';
    http::etag_matches(z, "\"0123456789abcdef\"");
    char json[512];
    http::JsonWriter j(json, sizeof json);
    j.begin_object();
    j.field("k", z);
    j.end_object();
    for (size_t i = 0; i < j.length(); ++i) check(static_cast<unsigned char>(json[i]) >= 0x20);
    free(z);
    return 0;
}
