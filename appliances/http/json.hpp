// A tiny JSON writer into a fixed buffer: objects, arrays, strings (escaped), numbers, booleans. Commas are
// placed by the writer. When the buffer is too small the output is cut and ok() turns false. Pure (host
// tests use it as is).
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace http {

class JsonWriter {
public:
    JsonWriter(char* buf, size_t cap) : buf_(buf), cap_(cap) {
        if (cap_ > 0) buf_[0] = '\0';
    }

    void begin_object() { open('{'); }
    void end_object() { close('}'); }
    void begin_array() { open('['); }
    void end_array() { close(']'); }

    void key(const char* k);  // then one value or a nested object/array
    void string(const char* s);
    void string(const char* s, size_t len);
    void number(uint64_t v);
    void number_signed(int64_t v);
    void fixed3(uint64_t thousandths);  // 12.345
    void boolean(bool b);
    void null();

    // Shorthands: "k": value
    void field(const char* k, const char* s) { key(k), string(s); }
    void field(const char* k, uint64_t v) { key(k), number(v); }
    void field_bool(const char* k, bool b) { key(k), boolean(b); }

    size_t length() const { return len_; }
    bool ok() const { return ok_; }

private:
    void open(char c);
    void close(char c);
    void value_prefix();
    void put(char c);
    void puts(const char* s, size_t n);

    char* buf_;
    size_t cap_;
    size_t len_ = 0;
    bool ok_ = true;
    bool need_comma_ = false;
    bool after_key_ = false;
};

}  // namespace http
