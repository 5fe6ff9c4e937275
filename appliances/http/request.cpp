#include "appliances/http/request.hpp"

#include <string.h>

namespace http {
namespace {

bool is_tchar(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~': return true;
    default: return false;
    }
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equals_nocase(const char* a, size_t alen, const char* b) {
    const size_t blen = strlen(b);
    if (alen != blen) return false;
    for (size_t i = 0; i < alen; ++i) {
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

bool equals(const char* a, size_t alen, const char* b) { return alen == strlen(b) && memcmp(a, b, alen) == 0; }

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// A line ends at "\n" (with or without a preceding "\r"). Returns the index of the '\n', or -1.
long find_lf(const char* data, size_t from, size_t len) {
    const void* p = memchr(data + from, '\n', len - from);
    return p ? static_cast<const char*>(p) - data : -1;
}

ParseResult error(int status) { return ParseResult{Parse::Error, status}; }

bool is_ows(char c) { return c == ' ' || c == '\t'; }

// Comma-separated tokens of a Connection header.
void connection_tokens(const char* v, size_t len, bool* close, bool* keep_alive) {
    size_t i = 0;
    while (i < len) {
        while (i < len && (is_ows(v[i]) || v[i] == ',')) ++i;
        const size_t start = i;
        while (i < len && v[i] != ',' && !is_ows(v[i])) ++i;
        if (equals_nocase(v + start, i - start, "close")) *close = true;
        if (equals_nocase(v + start, i - start, "keep-alive")) *keep_alive = true;
    }
}

bool parse_u64(const char* v, size_t len, uint64_t* out) {
    if (len == 0 || len > 18) return false;
    uint64_t n = 0;
    for (size_t i = 0; i < len; ++i) {
        if (v[i] < '0' || v[i] > '9') return false;
        n = n * 10 + static_cast<uint64_t>(v[i] - '0');
    }
    *out = n;
    return true;
}

Method classify(const char* m, size_t len) {
    if (equals(m, len, "GET")) return Method::Get;
    if (equals(m, len, "HEAD")) return Method::Head;
    static const char* const kKnown[] = {"POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT"};
    for (const char* k : kKnown) {
        if (equals(m, len, k)) return Method::NotAllowed;
    }
    return Method::Unknown;
}

}  // namespace

const char* reason_phrase(int status) {
    switch (status) {
    case 200: return "OK";
    case 301: return "Moved Permanently";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

bool normalise_target(const char* target, size_t len, char* out, size_t out_size) {
    if (len == 0 || out_size < 2) return false;
    // absolute-form: http://authority/path -> /path
    if (len > 7 && (equals_nocase(target, 7, "http://") || (len > 8 && equals_nocase(target, 8, "https://")))) {
        size_t i = target[4] == ':' ? 7 : 8;
        while (i < len && target[i] != '/' && target[i] != '?') ++i;
        if (i == len || target[i] == '?') {
            // no path: the root
            target = "/";
            len = 1;
        } else {
            target += i;
            len -= i;
        }
    }
    if (target[0] != '/') return false;
    // Decode up to the query into a scratch path, then rebuild it segment by segment.
    char dec[kMaxPath + 1];
    size_t n = 0;
    for (size_t i = 0; i < len; ++i) {
        char c = target[i];
        if (c == '?' || c == '#') break;
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;  // NUL, controls, spaces
        if (c == '%') {
            if (i + 2 >= len) return false;
            const int hi = hex_value(target[i + 1]), lo = hex_value(target[i + 2]);
            if (hi < 0 || lo < 0) return false;
            c = static_cast<char>(hi * 16 + lo);
            if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;  // %00, controls
            if (c == '\\') return false;
            i += 2;
        } else if (c == '\\') {
            return false;
        }
        if (n >= kMaxPath) return false;
        dec[n++] = c;
    }
    // Segments: drop empty and "." ones, refuse "..".
    size_t o = 0;
    size_t i = 0;
    bool trailing_slash = n > 0 && dec[n - 1] == '/';
    while (i < n) {
        while (i < n && dec[i] == '/') ++i;
        const size_t start = i;
        while (i < n && dec[i] != '/') ++i;
        const size_t seg = i - start;
        if (seg == 0) break;
        if (seg == 1 && dec[start] == '.') {
            if (i == n) trailing_slash = true;  // "/a/." means the directory
            continue;
        }
        if (seg == 2 && dec[start] == '.' && dec[start + 1] == '.') return false;
        if (o + 1 + seg + 1 > out_size) return false;
        out[o++] = '/';
        memcpy(out + o, dec + start, seg);
        o += seg;
    }
    if (o == 0 || trailing_slash) {
        if (o + 2 > out_size) return false;
        out[o++] = '/';
    }
    out[o] = '\0';
    return true;
}

bool etag_matches(const char* inm, const char* etag) {
    const size_t elen = strlen(etag);
    const size_t len = strlen(inm);
    size_t i = 0;
    while (i < len) {
        while (i < len && (is_ows(inm[i]) || inm[i] == ',')) ++i;
        if (i >= len) break;
        if (inm[i] == '*') return true;
        if (i + 1 < len && inm[i] == 'W' && inm[i + 1] == '/') i += 2;  // weak comparison
        const size_t start = i;
        if (i < len && inm[i] == '"') {
            ++i;
            while (i < len && inm[i] != '"') ++i;
            if (i < len) ++i;
        } else {
            while (i < len && inm[i] != ',' && !is_ows(inm[i])) ++i;
        }
        if (i - start == elen && memcmp(inm + start, etag, elen) == 0) return true;
    }
    return false;
}

ParseResult parse_request(const char* data, size_t len, const Limits& limits, Request* out) {
    // Empty lines before the request line are ignored (RFC 9112 2.2); the caller drops them via
    // header_bytes when nothing else is there.
    size_t pos = 0;
    while (pos < len && (data[pos] == '\r' || data[pos] == '\n')) {
        if (data[pos] == '\r' && (pos + 1 >= len || data[pos + 1] != '\n')) break;
        pos += data[pos] == '\r' ? 2 : 1;
    }
    const size_t start = pos;

    // ---- request line
    const long lf = find_lf(data, start, len);
    if (lf < 0) {
        if (len - start > limits.max_request_line) return error(414);
        // Early rejection of obvious garbage keeps a binary flood from waiting for a line end.
        for (size_t i = start; i < len && i < start + 16; ++i) {
            if (data[i] == ' ') break;
            if (!is_tchar(data[i])) return error(400);
        }
        return ParseResult{};
    }
    size_t line_end = static_cast<size_t>(lf);
    if (line_end - start > limits.max_request_line) return error(414);
    if (line_end > start && data[line_end - 1] == '\r') --line_end;
    const char* line = data + start;
    const size_t line_len = line_end - start;

    const char* sp1 = static_cast<const char*>(memchr(line, ' ', line_len));
    if (!sp1 || sp1 == line) return error(400);
    const size_t mlen = static_cast<size_t>(sp1 - line);
    for (size_t i = 0; i < mlen; ++i) {
        if (!is_tchar(line[i])) return error(400);
    }
    const char* tgt = sp1 + 1;
    const char* line_stop = line + line_len;
    const char* sp2 = static_cast<const char*>(memchr(tgt, ' ', static_cast<size_t>(line_stop - tgt)));
    if (!sp2 || sp2 == tgt) return error(400);
    const char* ver = sp2 + 1;
    const size_t vlen = static_cast<size_t>(line_stop - ver);
    if (vlen != 8 || memcmp(ver, "HTTP/", 5) != 0 || ver[6] != '.' || ver[5] < '0' || ver[5] > '9' || ver[7] < '0' ||
        ver[7] > '9') {
        return error(400);
    }
    if (ver[5] != '1') return error(ver[5] == '0' ? 400 : 505);

    Request r;
    r.method = classify(line, mlen);
    const size_t mcopy = mlen < sizeof r.method_text - 1 ? mlen : sizeof r.method_text - 1;
    memcpy(r.method_text, line, mcopy);
    r.method_text[mcopy] = '\0';
    r.version_minor = static_cast<uint8_t>(ver[7] - '0');
    const size_t tlen = static_cast<size_t>(sp2 - tgt);
    for (size_t i = 0; i < tlen; ++i) {
        if (static_cast<unsigned char>(tgt[i]) <= 0x20 || tgt[i] == 0x7f) return error(400);
    }

    // ---- header fields: find the end of the section first (limits apply before anything is parsed)
    size_t p = static_cast<size_t>(lf) + 1;
    size_t end = 0;  // index just after the empty line
    size_t fields = 0;
    for (;;) {
        const long l = find_lf(data, p, len);
        if (l < 0) {
            if (len - start > limits.max_header_bytes) return error(431);
            return ParseResult{};
        }
        const size_t le = static_cast<size_t>(l);
        if (le + 1 - start > limits.max_header_bytes) return error(431);
        const bool empty = le == p || (le == p + 1 && data[p] == '\r');
        p = le + 1;
        if (empty) {
            end = p;
            break;
        }
        if (++fields > limits.max_headers) return error(431);
    }

    // ---- the request is complete: judge it
    bool conn_close = false, conn_keep_alive = false, have_host = false, have_cl = false, have_te = false;
    uint64_t content_length = 0;
    p = static_cast<size_t>(lf) + 1;
    while (p < end) {
        size_t le = static_cast<size_t>(find_lf(data, p, len));
        const size_t next = le + 1;
        if (le > p && data[le - 1] == '\r') --le;
        if (le == p) break;  // the empty line
        const char* h = data + p;
        const size_t hlen = le - p;
        p = next;
        if (is_ows(h[0])) return error(400);  // obs-fold
        const char* colon = static_cast<const char*>(memchr(h, ':', hlen));
        if (!colon || colon == h) return error(400);
        const size_t nlen = static_cast<size_t>(colon - h);
        for (size_t i = 0; i < nlen; ++i) {
            if (!is_tchar(h[i])) return error(400);  // also whitespace before the colon
        }
        const char* v = colon + 1;
        size_t vl = hlen - nlen - 1;
        while (vl > 0 && is_ows(*v)) ++v, --vl;
        while (vl > 0 && is_ows(v[vl - 1])) --vl;
        for (size_t i = 0; i < vl; ++i) {
            const unsigned char c = static_cast<unsigned char>(v[i]);
            if ((c < 0x20 && c != '\t') || c == 0x7f) return error(400);
        }
        if (equals_nocase(h, nlen, "host")) {
            if (have_host) return error(400);
            have_host = true;
        } else if (equals_nocase(h, nlen, "connection")) {
            connection_tokens(v, vl, &conn_close, &conn_keep_alive);
        } else if (equals_nocase(h, nlen, "content-length")) {
            uint64_t n;
            if (!parse_u64(v, vl, &n)) return error(400);
            if (have_cl && n != content_length) return error(400);
            have_cl = true;
            content_length = n;
        } else if (equals_nocase(h, nlen, "transfer-encoding")) {
            have_te = true;
        } else if (equals_nocase(h, nlen, "if-none-match")) {
            if (vl > kMaxEtag) return error(431);
            memcpy(r.if_none_match, v, vl);
            r.if_none_match[vl] = '\0';
            r.has_if_none_match = true;
        }
    }
    if (have_te && have_cl) return error(400);
    if (have_te) return error(501);
    if (r.version_minor >= 1 && !have_host) return error(400);
    if (!normalise_target(tgt, tlen, r.path, sizeof r.path)) {
        return error(tlen > kMaxPath ? 414 : 400);
    }
    if (content_length > limits.max_body) return error(413);

    r.keep_alive = r.version_minor >= 1 ? !conn_close : (conn_keep_alive && !conn_close);
    r.header_bytes = end;
    r.body_bytes = content_length;
    *out = r;
    return ParseResult{Parse::Ok, 0};
}

}  // namespace http
