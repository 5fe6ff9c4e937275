// Kernel command line: typed key=value options.
//
// Syntax: tokens separated by blanks (space, tab, newline). A token is `key`, `key=value` or `key="value with
// spaces"` (double quotes may appear anywhere in a token and are removed; there are no backslash escapes).
// In option names '-' and '_' are the same. A bare `--` ends the options: the text after it is left to
// the appliance (CommandLine::rest()).
//
// Options are declared by the code that owns them, as objects that are also the typed handle to read:
//
//   cmdline::Option opt_loglevel = cmdline::Option::integer("loglevel", 6, 0, 7, "log level");
//   cmdline::Option* const kMyOptions[] = {&opt_loglevel, ...};
//   ...
//   static cmdline::CommandLine cl;
//   cl.load(boot_info.args(), sink, ctx);    // once, early: tokenize everything
//   cl.apply(kMyOptions);                    // each module, whenever it starts
//   cl.report_unknown();                     // after every module applied its options
//   int level = opt_loglevel.as_int();
//
// Every problem becomes one line to the sink, naming the token and what is used instead, e.g.
//   cmdline: unknown option 'foo=bar' ignored
//   cmdline: bad value 'abc' for 'loglevel' (expected an integer 0..7); using default 6
// A key given several times: the last one wins (with a note). A bad last value falls back to the default.
// No heap: the command line is copied into the CommandLine object (kMaxLength bytes) and tokenized there.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <span>

namespace skerry::cmdline {

inline constexpr size_t kMaxLength = 4096;  // bytes of command line kept, including the NUL
inline constexpr size_t kMaxTokens = 128;   // tokens (options) considered; the rest are reported and ignored

enum class Type : uint8_t { Bool, Int, Size, String, Enum, Ipv4, Cidr, Mac };

struct Ipv4 {
    uint8_t octets[4];
    constexpr uint32_t to_u32() const {  // a.b.c.d -> 0xaabbccdd (host order)
        return (static_cast<uint32_t>(octets[0]) << 24) | (static_cast<uint32_t>(octets[1]) << 16) |
               (static_cast<uint32_t>(octets[2]) << 8) | octets[3];
    }
    static constexpr Ipv4 from_u32(uint32_t v) {
        return Ipv4{{static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8),
                     static_cast<uint8_t>(v)}};
    }
    constexpr bool operator==(const Ipv4&) const = default;
};

struct Cidr {
    Ipv4 addr;       // as written (host bits may be set: "10.0.2.15/24" is an address and its subnet)
    uint8_t prefix;  // 0..32
    constexpr Ipv4 netmask() const {
        return Ipv4::from_u32(prefix == 0 ? 0 : static_cast<uint32_t>(0xFFFFFFFFull << (32 - prefix)));
    }
    constexpr bool operator==(const Cidr&) const = default;
};

struct Mac {
    uint8_t octets[6];
    constexpr bool operator==(const Mac&) const = default;
};

// Value parsers (exposed for reuse and tests). All reject empty input and trailing garbage.
bool parse_bool(const char* s, bool* out);      // 1/0, on/off, yes/no, true/false (any case)
bool parse_int(const char* s, int64_t* out);    // [+-] decimal or 0x hex, overflow checked
bool parse_size(const char* s, uint64_t* out);  // decimal or 0x hex, optional K/M/G/T (+ "B" or "iB"), x1024
bool parse_ipv4(const char* s, Ipv4* out);      // a.b.c.d, decimal 0..255, no leading zeros
bool parse_cidr(const char* s, Cidr* out);      // a.b.c.d/n, n 0..32
bool parse_mac(const char* s, Mac* out);        // xx:xx:xx:xx:xx:xx (or '-'), hex, any case

class Option {
public:
    static constexpr Option boolean(const char* name, bool def, const char* help) {
        Option o(name, Type::Bool, help);
        o.def_.u = def ? 1 : 0;
        o.cur_ = o.def_;
        return o;
    }
    static constexpr Option integer(const char* name, int64_t def, int64_t min, int64_t max, const char* help) {
        Option o(name, Type::Int, help);
        o.def_.i = def;
        o.min_i_ = min;
        o.max_i_ = max;
        o.cur_ = o.def_;
        return o;
    }
    static constexpr Option size(const char* name, uint64_t def, uint64_t min, uint64_t max, const char* help) {
        Option o(name, Type::Size, help);
        o.def_.u = def;
        o.min_u_ = min;
        o.max_u_ = max;
        o.cur_ = o.def_;
        return o;
    }
    // The value is copied into caller-provided storage (static, storage_size >= 1); the longest accepted
    // value is storage_size - 1 characters. `def` is returned as is while no value was set.
    static constexpr Option string(const char* name, const char* def, char* storage, size_t storage_size,
                                   const char* help) {
        Option o(name, Type::String, help);
        o.def_.s = def ? def : "";
        o.storage_ = storage;
        o.storage_size_ = storage_size;
        o.cur_ = o.def_;
        return o;
    }
    static constexpr Option enumeration(const char* name, size_t def, const char* const* names, size_t count,
                                        const char* help) {
        Option o(name, Type::Enum, help);
        o.def_.u = def < count ? def : 0;
        o.names_ = names;
        o.count_ = count;
        o.cur_ = o.def_;
        return o;
    }
    static constexpr Option ipv4(const char* name, Ipv4 def, const char* help) {
        Option o(name, Type::Ipv4, help);
        o.def_.u = def.to_u32();
        o.cur_ = o.def_;
        return o;
    }
    static constexpr Option cidr(const char* name, Cidr def, const char* help) {
        Option o(name, Type::Cidr, help);
        o.def_.u = def.addr.to_u32();
        o.def_.prefix = def.prefix;
        o.cur_ = o.def_;
        return o;
    }
    static constexpr Option mac(const char* name, Mac def, const char* help) {
        Option o(name, Type::Mac, help);
        for (int i = 0; i < 6; i++) o.def_.mac[i] = def.octets[i];
        o.cur_ = o.def_;
        return o;
    }

    const char* name() const { return name_; }
    const char* help() const { return help_; }
    Type type() const { return type_; }
    bool is_set() const { return set_; }  // a valid value came from the command line

    // Typed reads (a read of the wrong type returns 0 / empty).
    bool as_bool() const { return type_ == Type::Bool && cur_.u != 0; }
    int64_t as_int() const { return type_ == Type::Int ? cur_.i : 0; }
    uint64_t as_size() const { return type_ == Type::Size ? cur_.u : 0; }
    const char* as_string() const { return type_ == Type::String ? cur_.s : ""; }
    size_t as_enum() const { return type_ == Type::Enum ? static_cast<size_t>(cur_.u) : 0; }
    const char* as_enum_name() const;
    Ipv4 as_ipv4() const { return Ipv4::from_u32(type_ == Type::Ipv4 ? static_cast<uint32_t>(cur_.u) : 0); }
    Cidr as_cidr() const {
        return type_ == Type::Cidr ? Cidr{Ipv4::from_u32(static_cast<uint32_t>(cur_.u)), cur_.prefix} : Cidr{};
    }
    Mac as_mac() const;

    // Parses text (nullptr: the bare key) and stores the value; false leaves the value unchanged.
    bool set_from_text(const char* text);
    void reset() {  // back to the default, not set
        cur_ = def_;
        set_ = false;
    }
    // Text forms for messages and help; both always NUL-terminate and return the length written.
    size_t format_value(char* buf, size_t size, bool default_value = false) const;
    size_t format_expected(char* buf, size_t size) const;  // e.g. "an integer 0..7"

private:
    struct Value {
        int64_t i;
        uint64_t u;
        const char* s;
        uint8_t mac[6];
        uint8_t prefix;
    };
    constexpr Option(const char* name, Type type, const char* help) : name_(name), help_(help), type_(type) {}

    const char* name_;
    const char* help_;
    Type type_;
    bool set_ = false;
    Value def_{};
    Value cur_{};
    int64_t min_i_ = 0, max_i_ = 0;
    uint64_t min_u_ = 0, max_u_ = 0;
    const char* const* names_ = nullptr;
    size_t count_ = 0;
    char* storage_ = nullptr;
    size_t storage_size_ = 0;
};

// Receives one complete message line (no trailing newline).
using Sink = void (*)(void* ctx, const char* line);

class CommandLine {
public:
    // Copies and tokenizes `text` (nullptr = empty). Malformed tokens (unterminated quote, missing name),
    // too many tokens and an over-long line are reported here. Any previous contents are dropped.
    void load(const char* text, Sink sink = nullptr, void* ctx = nullptr);

    // Sets each option from the tokens: the last token with its name wins; no token: the default. Claims
    // those tokens. Returns the number of problems reported (bad values; duplicates count as notes, not
    // problems). nullptr entries are skipped.
    size_t apply(std::span<Option* const> options);

    // For a key that may be given many times, each with its own meaning (virtio_mmio.device=, one per device):
    // claims every token with this name and calls fn with each one's value (nullptr for a bare key), in order.
    // Returns how many there were.
    size_t claim_each(const char* name, void (*fn)(void* ctx, const char* value), void* ctx);
    // Reports each token that no apply() claimed ("unknown option ... ignored"), each only once.
    // Returns how many were reported by this call.
    size_t report_unknown();

    size_t token_count() const { return count_; }
    const char* key(size_t i) const { return i < count_ ? tokens_[i].key : nullptr; }
    const char* value(size_t i) const { return i < count_ ? tokens_[i].value : nullptr; }  // nullptr: bare key
    bool claimed(size_t i) const { return i < count_ && tokens_[i].claimed; }
    const char* rest() const { return rest_ ? rest_ : ""; }  // after a bare "--"
    size_t problems() const { return problems_; }            // all problems reported so far

private:
    struct Token {
        const char* key;
        const char* value;
        bool claimed, reported;
    };
    void emit(const char* line);

    char buf_[kMaxLength] = {};
    Token tokens_[kMaxTokens] = {};
    size_t count_ = 0;
    const char* rest_ = nullptr;
    size_t problems_ = 0;
    Sink sink_ = nullptr;
    void* ctx_ = nullptr;
};

// load + apply + report_unknown in one call, for a single option list. Returns the number of problems.
size_t parse(CommandLine& cl, const char* text, std::span<Option* const> options, Sink sink = nullptr,
             void* ctx = nullptr);

// One help line: "loglevel=<an integer 0..7> (default 6): log level". Returns the length written.
size_t format_help(const Option& o, char* buf, size_t size);

// The option with this name in the list ('-' and '_' equal), or nullptr.
Option* find(std::span<Option* const> options, const char* name);

}  // namespace skerry::cmdline
