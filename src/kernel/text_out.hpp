// A bounded text builder for code that formats without printf (the command line's messages, address text):
// appends into a caller's buffer, never past its size, and keeps it NUL-terminated (size > 0); what does
// not fit is dropped. Self is the class that uses it (CRTP), so a chain keeps that class's own formats:
// o.str("size ").size_value(v). TextBuf is the builder with nothing added.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry {

template <class Self>
class TextOut {
public:
    TextOut(char* buf, size_t size) : buf_(buf), size_(size) {
        if (size_) buf_[0] = '\0';
    }

    Self& chr(char c) {
        if (len_ + 1 < size_) {
            buf_[len_++] = c;
            buf_[len_] = '\0';
        }
        return self();
    }
    Self& str(const char* s) {
        while (s && *s) chr(*s++);
        return self();
    }
    Self& u64(uint64_t v) {
        char tmp[20];
        int n = 0;
        do {
            tmp[n++] = static_cast<char>('0' + v % 10);
            v /= 10;
        } while (v);
        while (n) chr(tmp[--n]);
        return self();
    }
    Self& i64(int64_t v) {
        if (v < 0) {
            chr('-');
            return u64(0 - static_cast<uint64_t>(v));
        }
        return u64(static_cast<uint64_t>(v));
    }
    Self& hex(uint64_t v) {  // lower case, no leading zeros
        char tmp[16];
        int n = 0;
        do {
            tmp[n++] = kDigits[v & 15];
            v >>= 4;
        } while (v);
        while (n) chr(tmp[--n]);
        return self();
    }
    Self& hex2(uint8_t v) { return chr(kDigits[v >> 4]).chr(kDigits[v & 15]); }

    size_t len() const { return len_; }  // characters in the buffer (at most size - 1)

private:
    static constexpr const char* kDigits = "0123456789abcdef";
    Self& self() { return static_cast<Self&>(*this); }

    char* buf_;
    size_t size_;
    size_t len_ = 0;
};

class TextBuf final : public TextOut<TextBuf> {
public:
    using TextOut::TextOut;
};

}  // namespace skerry
