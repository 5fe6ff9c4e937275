#include "appliances/http/json.hpp"

#include <stdio.h>
#include <string.h>

namespace http {

void JsonWriter::put(char c) {
    if (len_ + 1 >= cap_) {
        ok_ = false;
        return;
    }
    buf_[len_++] = c;
    buf_[len_] = '\0';
}

void JsonWriter::puts(const char* s, size_t n) {
    for (size_t i = 0; i < n; ++i) put(s[i]);
}

void JsonWriter::value_prefix() {
    if (after_key_) {
        after_key_ = false;
    } else if (need_comma_) {
        put(',');
    }
    need_comma_ = true;
}

void JsonWriter::open(char c) {
    value_prefix();
    put(c);
    need_comma_ = false;
}

void JsonWriter::close(char c) {
    put(c);
    need_comma_ = true;
    after_key_ = false;
}

void JsonWriter::key(const char* k) {
    string(k);
    put(':');
    after_key_ = true;
}

void JsonWriter::string(const char* s) { string(s, strlen(s)); }

void JsonWriter::string(const char* s, size_t len) {
    value_prefix();
    put('"');
    for (size_t i = 0; i < len; ++i) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        switch (c) {
        case '"': puts("\\\"", 2); break;
        case '\\': puts("\\\\", 2); break;
        case '\n': puts("\\n", 2); break;
        case '\r': puts("\\r", 2); break;
        case '\t': puts("\\t", 2); break;
        default:
            if (c < 0x20 || c == 0x7f) {
                char esc[8];
                snprintf(esc, sizeof esc, "\\u%04x", c);
                puts(esc, 6);
            } else {
                put(static_cast<char>(c));
            }
        }
    }
    put('"');
}

void JsonWriter::number(uint64_t v) {
    value_prefix();
    char t[24];
    const int n = snprintf(t, sizeof t, "%llu", static_cast<unsigned long long>(v));
    puts(t, static_cast<size_t>(n));
}

void JsonWriter::number_signed(int64_t v) {
    value_prefix();
    char t[24];
    const int n = snprintf(t, sizeof t, "%lld", static_cast<long long>(v));
    puts(t, static_cast<size_t>(n));
}

void JsonWriter::fixed3(uint64_t thousandths) {
    value_prefix();
    char t[32];
    const int n = snprintf(t, sizeof t, "%llu.%03llu", static_cast<unsigned long long>(thousandths / 1000),
                           static_cast<unsigned long long>(thousandths % 1000));
    puts(t, static_cast<size_t>(n));
}

void JsonWriter::boolean(bool b) {
    value_prefix();
    if (b) {
        puts("true", 4);
    } else {
        puts("false", 5);
    }
}

void JsonWriter::null() {
    value_prefix();
    puts("null", 4);
}

}  // namespace http
