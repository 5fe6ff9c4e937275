// The HTTP/1.1 request parser (RFC 9110/9112 subset for a static file server). Pure: no lwIP, no kernel, so
// host unit tests run it as is.
//
// parse_request() looks at the bytes received so far on a connection and says: more bytes are needed
// (Incomplete), here is a request whose header section takes `header_bytes` bytes (Ok), or the request is
// bad and must be answered with `status` and the connection closed (Error). The caller then skips
// `body_bytes` of request body (Content-Length on GET/HEAD is read and thrown away, up to a limit).
//
// Decisions:
//   request line longer than max_request_line        414
//   header section larger than max_header_bytes      431
//   more than max_headers header fields              431
//   Content-Length larger than max_body              413
//   Transfer-Encoding (chunked or any other)         501 (we cannot frame the body: the connection closes)
//   both or conflicting Content-Length               400
//   GET/HEAD                                         served
//   POST PUT DELETE OPTIONS PATCH TRACE CONNECT      405 (Allow: GET, HEAD)
//   any other well-formed method                     501
//   HTTP/2+ in an HTTP/1 request line                505
//   missing or repeated Host in HTTP/1.1, bad syntax, bad percent escapes, NUL or control bytes in the
//   target, a ".." segment (also as %2e%2e), obs-fold, whitespace before a colon        400
// The target is decoded and normalised ("//" and "." segments go) into `path`; the query is dropped.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace http {

enum class Method : uint8_t { Get, Head, NotAllowed, Unknown };

struct Limits {
    size_t max_request_line = 2048;
    size_t max_header_bytes = 8192;  // request line and headers, with the final empty line
    size_t max_headers = 64;
    uint64_t max_body = 64 * 1024;  // a body on GET/HEAD we are willing to read and drop
};

inline constexpr size_t kMaxPath = 1024;
inline constexpr size_t kMaxEtag = 256;

struct Request {
    Method method = Method::Unknown;
    char method_text[16] = {};     // as sent (truncated), for the access log
    char path[kMaxPath + 1] = {};  // decoded, normalised, always starts with '/'
    uint8_t version_minor = 1;     // HTTP/1.x
    bool keep_alive = true;        // after this request (version default, Connection header)
    bool has_if_none_match = false;
    char if_none_match[kMaxEtag + 1] = {};
    size_t header_bytes = 0;  // request line + headers + empty line
    uint64_t body_bytes = 0;  // Content-Length to skip
};

enum class Parse : uint8_t { Incomplete, Ok, Error };

struct ParseResult {
    Parse parse = Parse::Incomplete;
    int status = 0;  // the HTTP status to answer with on Error
};

ParseResult parse_request(const char* data, size_t len, const Limits& limits, Request* out);

// Target (origin-form or absolute-form) to a clean path: false for anything that must be refused (400).
bool normalise_target(const char* target, size_t len, char* out, size_t out_size);

// Does an If-None-Match value match this entity tag ("\"abc\"")? Handles lists, "*" and weak tags.
bool etag_matches(const char* if_none_match, const char* etag);

const char* reason_phrase(int status);

}  // namespace http
