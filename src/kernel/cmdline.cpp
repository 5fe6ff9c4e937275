// Kernel command line: tokenizer, value parsers and messages. No heap, no printf: messages are built with
// a small bounded appender so nothing depends on the C library's formatting support.
#include "kernel/cmdline.hpp"

#include <string.h>

#include "kernel/text_out.hpp"

namespace skerry::cmdline {
namespace {

// The command line's own formats on the shared bounded builder.
class Out : public TextOut<Out> {
public:
    using TextOut::TextOut;
    Out& size_value(uint64_t v) {
        static const char kSuffix[] = {'T', 'G', 'M', 'K'};
        for (int i = 0; i < 4; i++) {
            const int shift = 40 - 10 * i;
            if (v != 0 && (v & ((1ull << shift) - 1)) == 0) return u64(v >> shift).chr(kSuffix[i]);
        }
        return u64(v);
    }
    Out& ipv4(uint32_t v) {
        return u64(v >> 24).chr('.').u64((v >> 16) & 255).chr('.').u64((v >> 8) & 255).chr('.').u64(v & 255);
    }
    // 'key=value' cut to a readable length.
    Out& token(const char* key, const char* value) {
        constexpr size_t kMax = 80;
        const size_t total = strlen(key) + (value ? 1 + strlen(value) : 0);
        size_t n = 0;
        chr('\'');
        for (const char* p = key; *p && n < kMax; p++, n++) chr(*p);
        if (value && n < kMax) {
            chr('=');
            n++;
            for (const char* p = value; *p && n < kMax; p++, n++) chr(*p);
        }
        if (total > kMax) str("...");
        chr('\'');
        return *this;
    }
};

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequal(const char* a, const char* b) {
    for (; *a && *b; a++, b++)
        if (lower(*a) != lower(*b)) return false;
    return *a == *b;
}

bool name_equal(const char* a, const char* b) {
    for (; *a && *b; a++, b++) {
        const char x = *a == '-' ? '_' : *a, y = *b == '-' ? '_' : *b;
        if (x != y) return false;
    }
    return *a == *b;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c = lower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

// Unsigned number (decimal or 0x hex) at *p; advances p. False on no digits or overflow.
bool parse_u64_prefix(const char*& p, uint64_t* out) {
    uint64_t v = 0;
    int base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    }
    const char* start = p;
    for (;; p++) {
        const int d = base == 16 ? hex_digit(*p) : ((*p >= '0' && *p <= '9') ? *p - '0' : -1);
        if (d < 0) break;
        if (v > (~0ull - static_cast<uint64_t>(d)) / static_cast<uint64_t>(base)) return false;
        v = v * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
    }
    if (p == start) return false;
    *out = v;
    return true;
}

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

// ---------------------------------------------------------------------------------------- value parsers
bool parse_bool(const char* s, bool* out) {
    static const char* const kTrue[] = {"1", "on", "yes", "true"};
    static const char* const kFalse[] = {"0", "off", "no", "false"};
    for (size_t i = 0; i < 4; i++) {
        if (iequal(s, kTrue[i]) || iequal(s, kFalse[i])) {
            *out = iequal(s, kTrue[i]);
            return true;
        }
    }
    return false;
}

bool parse_int(const char* s, int64_t* out) {
    bool neg = false;
    if (*s == '+' || *s == '-') neg = *s++ == '-';
    uint64_t mag;
    if (!parse_u64_prefix(s, &mag) || *s != '\0') return false;
    if (neg) {
        if (mag > (1ull << 63)) return false;
        *out = mag == (1ull << 63) ? INT64_MIN : -static_cast<int64_t>(mag);
    } else {
        if (mag > static_cast<uint64_t>(INT64_MAX)) return false;
        *out = static_cast<int64_t>(mag);
    }
    return true;
}

bool parse_size(const char* s, uint64_t* out) {
    uint64_t v;
    if (!parse_u64_prefix(s, &v)) return false;
    int shift = 0;
    switch (lower(*s)) {
    case 'k': shift = 10; break;
    case 'm': shift = 20; break;
    case 'g': shift = 30; break;
    case 't': shift = 40; break;
    default: break;
    }
    if (shift) {
        s++;
        if (lower(s[0]) == 'i' && lower(s[1]) == 'b') s += 2;
        else if (lower(s[0]) == 'b') s++;
    } else if (lower(*s) == 'b') {
        s++;  // "4096B"
    }
    if (*s != '\0') return false;
    if (shift && v > (~0ull >> shift)) return false;
    *out = v << shift;
    return true;
}

namespace {
// One decimal octet 0..255 without leading zeros; advances p.
bool parse_octet(const char*& p, uint8_t* out) {
    if (*p < '0' || *p > '9') return false;
    if (p[0] == '0' && p[1] >= '0' && p[1] <= '9') return false;
    unsigned v = 0;
    int n = 0;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + static_cast<unsigned>(*p++ - '0');
        if (++n > 3 || v > 255) return false;
    }
    *out = static_cast<uint8_t>(v);
    return true;
}

bool parse_ipv4_prefix(const char*& p, Ipv4* out) {
    Ipv4 a{};
    for (int i = 0; i < 4; i++) {
        if (i && *p++ != '.') return false;
        if (!parse_octet(p, &a.octets[i])) return false;
    }
    *out = a;
    return true;
}
}  // namespace

bool parse_ipv4(const char* s, Ipv4* out) {
    Ipv4 a;
    if (!parse_ipv4_prefix(s, &a) || *s != '\0') return false;
    *out = a;
    return true;
}

bool parse_cidr(const char* s, Cidr* out) {
    Cidr c{};
    if (!parse_ipv4_prefix(s, &c.addr) || *s++ != '/') return false;
    if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] != '\0')) return false;
    unsigned v = 0;
    int n = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + static_cast<unsigned>(*s++ - '0');
        if (++n > 2) return false;
    }
    if (*s != '\0' || v > 32) return false;
    c.prefix = static_cast<uint8_t>(v);
    *out = c;
    return true;
}

bool parse_mac(const char* s, Mac* out) {
    Mac m{};
    char sep = 0;
    for (int i = 0; i < 6; i++) {
        if (i) {
            if (*s != ':' && *s != '-') return false;
            if (sep && *s != sep) return false;  // no mixing of separators
            sep = *s++;
        }
        const int hi = hex_digit(s[0]);
        const int lo = hi < 0 ? -1 : hex_digit(s[1]);
        if (lo < 0) return false;
        m.octets[i] = static_cast<uint8_t>(hi * 16 + lo);
        s += 2;
    }
    if (*s != '\0') return false;
    *out = m;
    return true;
}

// ------------------------------------------------------------------------------------------------ Option
const char* Option::as_enum_name() const {
    if (type_ != Type::Enum || cur_.u >= count_) return "";
    return names_[cur_.u];
}

Mac Option::as_mac() const {
    Mac m{};
    if (type_ == Type::Mac) memcpy(m.octets, cur_.mac, 6);
    return m;
}

bool Option::set_from_text(const char* text) {
    Value v = cur_;
    switch (type_) {
    case Type::Bool: {
        bool b = true;
        if (text && !parse_bool(text, &b)) return false;
        v.u = b ? 1 : 0;
        break;
    }
    case Type::Int: {
        int64_t i;
        if (!text || !parse_int(text, &i) || i < min_i_ || i > max_i_) return false;
        v.i = i;
        break;
    }
    case Type::Size: {
        uint64_t u;
        if (!text || !parse_size(text, &u) || u < min_u_ || u > max_u_) return false;
        v.u = u;
        break;
    }
    case Type::String: {
        if (!text || storage_ == nullptr || storage_size_ == 0) return false;
        const size_t len = strlen(text);
        if (len + 1 > storage_size_) return false;
        memcpy(storage_, text, len + 1);
        v.s = storage_;
        break;
    }
    case Type::Enum: {
        if (!text) return false;
        size_t idx = count_;
        for (size_t i = 0; i < count_; i++) {
            if (names_[i] && iequal(text, names_[i])) {
                idx = i;
                break;
            }
        }
        if (idx == count_) return false;
        v.u = idx;
        break;
    }
    case Type::Ipv4: {
        Ipv4 a;
        if (!text || !parse_ipv4(text, &a)) return false;
        v.u = a.to_u32();
        break;
    }
    case Type::Cidr: {
        Cidr c;
        if (!text || !parse_cidr(text, &c)) return false;
        v.u = c.addr.to_u32();
        v.prefix = c.prefix;
        break;
    }
    case Type::Mac: {
        Mac m;
        if (!text || !parse_mac(text, &m)) return false;
        memcpy(v.mac, m.octets, 6);
        break;
    }
    }
    cur_ = v;
    set_ = true;
    return true;
}

size_t Option::format_value(char* buf, size_t size, bool default_value) const {
    const Value& v = default_value ? def_ : cur_;
    Out o(buf, size);
    switch (type_) {
    case Type::Bool: o.str(v.u ? "on" : "off"); break;
    case Type::Int: o.i64(v.i); break;
    case Type::Size: o.size_value(v.u); break;
    case Type::String: o.chr('\'').str(v.s).chr('\''); break;
    case Type::Enum: o.str(v.u < count_ && names_[v.u] ? names_[v.u] : "?"); break;
    case Type::Ipv4: o.ipv4(static_cast<uint32_t>(v.u)); break;
    case Type::Cidr: o.ipv4(static_cast<uint32_t>(v.u)).chr('/').u64(v.prefix); break;
    case Type::Mac:
        for (int i = 0; i < 6; i++) {
            if (i) o.chr(':');
            o.hex2(v.mac[i]);
        }
        break;
    }
    return o.len();
}

size_t Option::format_expected(char* buf, size_t size) const {
    Out o(buf, size);
    switch (type_) {
    case Type::Bool: o.str("on/off, yes/no, true/false or 1/0"); break;
    case Type::Int: o.str("an integer ").i64(min_i_).str("..").i64(max_i_); break;
    case Type::Size: o.str("a size ").size_value(min_u_).str("..").size_value(max_u_).str(" (K/M/G/T suffixes)"); break;
    case Type::String:
        o.str("a string of at most ").u64(storage_size_ ? storage_size_ - 1 : 0).str(" characters");
        break;
    case Type::Enum:
        o.str("one of ");
        for (size_t i = 0; i < count_; i++) {
            if (i) o.chr('|');
            o.str(names_[i]);
        }
        break;
    case Type::Ipv4: o.str("an IPv4 address a.b.c.d"); break;
    case Type::Cidr: o.str("an IPv4 address/prefix a.b.c.d/n"); break;
    case Type::Mac: o.str("a MAC address xx:xx:xx:xx:xx:xx"); break;
    }
    return o.len();
}

size_t format_help(const Option& opt, char* buf, size_t size) {
    char expected[160], def[96];
    opt.format_expected(expected, sizeof expected);
    opt.format_value(def, sizeof def, true);
    Out o(buf, size);
    o.str(opt.name()).str("=<").str(expected).str("> (default ").str(def).str(")");
    if (opt.help() && *opt.help()) o.str(": ").str(opt.help());
    return o.len();
}

Option* find(std::span<Option* const> options, const char* name) {
    for (Option* o : options)
        if (o && name_equal(o->name(), name)) return o;
    return nullptr;
}

// ------------------------------------------------------------------------------------------- CommandLine
void CommandLine::emit(const char* line) {
    if (sink_) sink_(ctx_, line);
}

void CommandLine::load(const char* text, Sink sink, void* ctx) {
    sink_ = sink;
    ctx_ = ctx;
    count_ = 0;
    rest_ = nullptr;
    problems_ = 0;
    if (!text) text = "";

    size_t len = 0;
    while (len < kMaxLength && text[len] != '\0') len++;
    const bool too_long = len >= kMaxLength;
    if (too_long) len = kMaxLength - 1;
    memcpy(buf_, text, len);
    buf_[len] = '\0';
    // A cut in the middle of a token would turn its tail into nonsense: drop the partial token.
    size_t cut = len;
    if (too_long && !is_blank(text[len])) {
        while (cut > 0 && !is_blank(buf_[cut - 1])) cut--;
    }

    char line[256];
    if (too_long) {
        Out o(line, sizeof line);
        o.str("cmdline: command line longer than ").u64(kMaxLength - 1).str(" bytes; ignoring from ");
        o.token(buf_ + cut, nullptr);
        emit(line);
        problems_++;
        buf_[cut] = '\0';
    }

    size_t r = 0;
    for (;;) {
        while (is_blank(buf_[r])) r++;
        if (buf_[r] == '\0') break;
        if (buf_[r] == '-' && buf_[r + 1] == '-' && (buf_[r + 2] == '\0' || is_blank(buf_[r + 2]))) {
            r += 2;
            while (is_blank(buf_[r])) r++;
            rest_ = buf_ + r;
            break;
        }
        // Tokenize in place: quotes are removed, the first '=' becomes the key's NUL.
        const size_t start = r;
        size_t w = r;
        char* value = nullptr;
        bool quoted = false;
        while (buf_[r] != '\0' && (quoted || !is_blank(buf_[r]))) {
            const char c = buf_[r++];
            if (c == '"') {
                quoted = !quoted;
            } else if (c == '=' && value == nullptr) {
                buf_[w++] = '\0';
                value = buf_ + w;
            } else {
                buf_[w++] = c;
            }
        }
        const bool at_end = buf_[r] == '\0';
        buf_[w] = '\0';  // w < r unless at the end of the buffer, where buf_[r] is already the NUL
        if (!at_end) r++;
        const char* key = buf_ + start;

        Out o(line, sizeof line);
        if (quoted) {
            o.str("cmdline: unterminated quote in ").token(key, value).str(" ignored");
            emit(line);
            problems_++;
            continue;
        }
        if (*key == '\0') {
            o.str("cmdline: option without a name ").token(key, value).str(" ignored");
            emit(line);
            problems_++;
            continue;
        }
        if (count_ == kMaxTokens) {
            o.str("cmdline: more than ")
                .u64(kMaxTokens)
                .str(" options; ignoring ")
                .token(key, value)
                .str(" and the rest");
            emit(line);
            problems_++;
            break;
        }
        tokens_[count_++] = Token{key, value, false, false};
        if (at_end) break;
    }
}

size_t CommandLine::claim_each(const char* name, void (*fn)(void* ctx, const char* value), void* ctx) {
    size_t n = 0;
    for (size_t i = 0; i < count_; i++) {
        if (!name_equal(tokens_[i].key, name)) continue;
        tokens_[i].claimed = true;
        n++;
        if (fn) fn(ctx, tokens_[i].value);
    }
    return n;
}

size_t CommandLine::apply(std::span<Option* const> options) {
    size_t bad = 0;
    char line[400], expected[160], def[96];
    for (Option* opt : options) {
        if (!opt) continue;
        opt->reset();
        size_t n = 0, last = 0;
        for (size_t i = 0; i < count_; i++) {
            if (name_equal(tokens_[i].key, opt->name())) {
                tokens_[i].claimed = true;
                n++;
                last = i;
            }
        }
        if (n == 0) continue;
        const Token& t = tokens_[last];
        if (n > 1) {
            Out o(line, sizeof line);
            o.str("cmdline: '")
                .str(opt->name())
                .str("' given ")
                .u64(n)
                .str(" times; using the last one ")
                .token(t.key, t.value);
            emit(line);
        }
        if (!opt->set_from_text(t.value)) {
            opt->format_expected(expected, sizeof expected);
            opt->format_value(def, sizeof def, true);
            Out o(line, sizeof line);
            if (t.value) {
                o.str("cmdline: bad value ").token(t.value, nullptr);
            } else {
                o.str("cmdline: missing value");
            }
            o.str(" for '").str(opt->name()).str("' (expected ").str(expected).str("); using default ").str(def);
            emit(line);
            problems_++;
            bad++;
        }
    }
    return bad;
}

size_t CommandLine::report_unknown() {
    size_t n = 0;
    char line[256];
    for (size_t i = 0; i < count_; i++) {
        Token& t = tokens_[i];
        if (t.claimed || t.reported) continue;
        t.reported = true;
        Out o(line, sizeof line);
        o.str("cmdline: unknown option ").token(t.key, t.value).str(" ignored");
        emit(line);
        problems_++;
        n++;
    }
    return n;
}

size_t parse(CommandLine& cl, const char* text, std::span<Option* const> options, Sink sink, void* ctx) {
    cl.load(text, sink, ctx);
    cl.apply(options);
    cl.report_unknown();
    return cl.problems();
}

}  // namespace skerry::cmdline
