// A fixed buffer that formatted pieces are appended to, for building one log line from parts. Output
// past the end is truncated, never overflowing; the buffer is always NUL-terminated.
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "kernel/log.hpp"

namespace skerry {

struct LineBuffer {
    char* buf;
    size_t size;
    size_t len = 0;

    LineBuffer(char* b, size_t s) : buf(b), size(s) {
        if (size) buf[0] = 0;
    }
    void add(const char* fmt, ...) SKERRY_PRINTF(2, 3) {
        if (len + 1 >= size) return;
        va_list ap;
        va_start(ap, fmt);
        int r = vsnprintf(buf + len, size - len, fmt, ap);
        va_end(ap);
        if (r > 0) len = (len + static_cast<size_t>(r) < size) ? len + static_cast<size_t>(r) : size - 1;
    }
};

}  // namespace skerry
