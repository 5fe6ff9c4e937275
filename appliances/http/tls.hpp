// HTTPS: TLS 1.2 (ECDHE with AEAD suites only, src/net/tls/mbedtls_config.h) over a socket-layer stream.
// The certificate and key given at build time (make TLS_CERT=<pem> TLS_KEY=<pem>, embedded by gen_www.py) are
// used; without them an ECDSA P-256 key and a self-signed certificate (CN=skerry, valid 2025-2035) are made
// at start from RDRAND-seeded entropy. The certificate's SHA-256 fingerprint is logged. Each connection gets a
// Session; reads and writes never block: they return kWouldBlock and the stream's readable/writable
// callbacks resume them.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace skerry::net {
class Stream;
}

namespace http::tls {

inline constexpr long kWouldBlock = -1;
inline constexpr long kClosed = -2;  // the peer closed (close_notify or end of stream) or a TLS error

bool init();
bool ready();
const char* fingerprint();  // SHA-256 of the certificate, "AB:CD:..." ("" before init)

struct Session;
Session* open(skerry::net::Stream& s);
void close(Session* t);  // frees; sends close_notify if it can

// 1: established, 0: would block, kClosed: failed (logged at debug level).
long handshake(Session* t);
long read(Session* t, void* buf, size_t len);         // > 0 bytes, kWouldBlock, kClosed
long write(Session* t, const void* buf, size_t len);  // > 0 bytes, kWouldBlock, kClosed
bool has_pending_input(Session* t);                   // decrypted bytes or a record waiting

}  // namespace http::tls
