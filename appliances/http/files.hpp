// The in-image web root: a read-only table generated at build time by scripts/gen_www.py from
// appliances/http/www/ (or WWW=<dir>), with each file's 200-response headers precomputed.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace http {

struct File {
    const char* path;           // "/index.html"
    const unsigned char* data;  // size bytes, or (period != 0) one block of `period` bytes repeated
    uint32_t size;
    uint32_t period;
    const char* content_type;
    const char* etag;     // with quotes
    const char* headers;  // Content-Type .. Cache-Control, each ending in "\r\n"
    uint32_t headers_len;

    // Up to `max` contiguous bytes of the body from `offset`; returns how many (0 at the end).
    size_t chunk(size_t offset, size_t max, const unsigned char** out) const {
        if (offset >= size) return 0;
        size_t n = size - offset;
        if (period != 0) {
            const size_t in_block = offset % period;
            *out = data + in_block;
            if (n > period - in_block) n = period - in_block;
        } else {
            *out = data + offset;
        }
        return n < max ? n : max;
    }
};

extern const File kFiles[];
extern const size_t kFileCount;
extern const char kLastModified[];  // the build time, HTTP-date
extern const char kTlsCertPem[];    // TLS_CERT= at build time ("" when not given)
extern const char kTlsKeyPem[];     // TLS_KEY=

// The file for a normalised path: "/" and "/dir/" mean their index.html. nullptr if none.
const File* find_file(const char* path);
// As find_file, over another table (tests).
const File* find_file_in(const File* files, size_t count, const char* path);

}  // namespace http
