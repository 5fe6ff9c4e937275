#include "appliances/http/tls.hpp"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appliances/http/files.hpp"
#include "kernel/log.hpp"
#include "kernel/random.hpp"
#include "kernel/time.hpp"
#include "mbedtls/ctr_drbg.h"
#include "mbedtls/ecp.h"
#include "mbedtls/entropy.h"
#include "mbedtls/error.h"
#include "mbedtls/pk.h"
#include "mbedtls/sha256.h"
#include "mbedtls/ssl.h"
#include "mbedtls/x509_crt.h"
#include "net/socket.hpp"

namespace http::tls {
namespace {

using namespace skerry;

mbedtls_entropy_context entropy;
mbedtls_ctr_drbg_context drbg;
mbedtls_pk_context key;
mbedtls_x509_crt cert;
mbedtls_ssl_config conf;
bool ready_;
char fingerprint_[32 * 3 + 1];

void log_error(const char* what, int rc) {
    char text[128];
    mbedtls_strerror(rc, text, sizeof text);
    log::error("https: %s: %s (-0x%04x)", what, text, static_cast<unsigned>(-rc));
}

int bio_send(void* ctx, const unsigned char* buf, size_t len) {
    net::Stream* s = static_cast<net::Stream*>(ctx);
    if (s->state() != net::Stream::State::Open) return MBEDTLS_ERR_SSL_CONN_EOF;
    const size_t w = s->write(buf, len);
    return w == 0 ? MBEDTLS_ERR_SSL_WANT_WRITE : static_cast<int>(w);
}

int bio_recv(void* ctx, unsigned char* buf, size_t len) {
    net::Stream* s = static_cast<net::Stream*>(ctx);
    if (s->available() == 0) return s->peer_closed() ? 0 : MBEDTLS_ERR_SSL_WANT_READ;
    return static_cast<int>(s->read(buf, len));
}

// An ECDSA P-256 key and a self-signed certificate for it; *der points at the certificate's DER.
bool make_self_signed(const unsigned char** der, size_t* der_len) {
    int rc = mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
    if (rc == 0) rc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key), mbedtls_ctr_drbg_random, &drbg);
    if (rc != 0) return log_error("generating the key", rc), false;

    mbedtls_x509write_cert w;
    mbedtls_x509write_crt_init(&w);
    mbedtls_mpi serial;
    mbedtls_mpi_init(&serial);
    unsigned char serial_bytes[16];
    mbedtls_ctr_drbg_random(&drbg, serial_bytes, sizeof serial_bytes);
    serial_bytes[0] &= 0x7f;
    mbedtls_mpi_read_binary(&serial, serial_bytes, sizeof serial_bytes);
    mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&w, &key);
    mbedtls_x509write_crt_set_issuer_key(&w, &key);
    rc = mbedtls_x509write_crt_set_subject_name(&w, "CN=skerry,O=Skerry appliance");
    if (rc == 0) rc = mbedtls_x509write_crt_set_issuer_name(&w, "CN=skerry,O=Skerry appliance");
    if (rc == 0) rc = mbedtls_x509write_crt_set_serial(&w, &serial);
    if (rc == 0) rc = mbedtls_x509write_crt_set_validity(&w, "20250101000000", "20351231235959");
    if (rc == 0) rc = mbedtls_x509write_crt_set_basic_constraints(&w, 0, -1);
    static unsigned char buf[2048];
    int len = rc == 0 ? mbedtls_x509write_crt_der(&w, buf, sizeof buf, mbedtls_ctr_drbg_random, &drbg) : rc;
    mbedtls_x509write_crt_free(&w);
    mbedtls_mpi_free(&serial);
    if (len <= 0) return log_error("writing the certificate", len), false;
    *der = buf + sizeof buf - static_cast<size_t>(len);
    *der_len = static_cast<size_t>(len);
    rc = mbedtls_x509_crt_parse_der(&cert, *der, *der_len);
    if (rc != 0) return log_error("parsing our certificate", rc), false;
    return true;
}

}  // namespace

struct Session {
    mbedtls_ssl_context ssl;
    net::Stream* s;
    bool established;
};

bool init() {
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_pk_init(&key);
    mbedtls_x509_crt_init(&cert);
    mbedtls_ssl_config_init(&conf);
    const uint64_t t0 = time::now_ns();
    static const char kPers[] = "skerry-https";
    int rc = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, reinterpret_cast<const unsigned char*>(kPers),
                                   sizeof kPers - 1);
    if (rc != 0) return log_error("seeding the generator", rc), false;
    const unsigned char* start = nullptr;  // the DER of our certificate, for the fingerprint
    size_t der_len = 0;
    const char* origin = "self-signed certificate (ECDSA P-256, CN=skerry) made";
    if (kTlsCertPem[0] != '\0') {
        origin = "certificate from TLS_CERT= loaded";
        rc = mbedtls_x509_crt_parse(&cert, reinterpret_cast<const unsigned char*>(kTlsCertPem),
                                    strlen(kTlsCertPem) + 1);
        if (rc != 0) return log_error("TLS_CERT", rc), false;
        rc = mbedtls_pk_parse_key(&key, reinterpret_cast<const unsigned char*>(kTlsKeyPem), strlen(kTlsKeyPem) + 1,
                                  nullptr, 0);
        if (rc != 0) return log_error("TLS_KEY", rc), false;
        start = cert.raw.p;
        der_len = cert.raw.len;
    } else if (!make_self_signed(&start, &der_len)) {
        return false;
    }

    rc = mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                     MBEDTLS_SSL_PRESET_DEFAULT);
    if (rc != 0) return log_error("TLS defaults", rc), false;
    mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
    mbedtls_ssl_conf_min_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);  // TLS 1.2
    mbedtls_ssl_conf_max_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    rc = mbedtls_ssl_conf_own_cert(&conf, &cert, &key);
    if (rc != 0) return log_error("TLS certificate", rc), false;

    unsigned char fp[32];
    mbedtls_sha256_ret(start, der_len, fp, 0);
    char* hex = fingerprint_;
    for (int i = 0; i < 32; ++i) snprintf(hex + i * 3, 4, "%02X%s", fp[i], i == 31 ? "" : ":");
    const uint64_t ms = (time::now_ns() - t0) / 1000000ull;
    log::info("https: %s in %llu ms, SHA-256 fingerprint %s", origin, static_cast<unsigned long long>(ms), hex);
    ready_ = true;
    return true;
}

bool ready() { return ready_; }
const char* fingerprint() { return fingerprint_; }

Session* open(net::Stream& s) {
    Session* t = static_cast<Session*>(calloc(1, sizeof(Session)));
    if (!t) return nullptr;
    mbedtls_ssl_init(&t->ssl);
    if (mbedtls_ssl_setup(&t->ssl, &conf) != 0) {
        mbedtls_ssl_free(&t->ssl);
        free(t);
        return nullptr;
    }
    t->s = &s;
    mbedtls_ssl_set_bio(&t->ssl, &s, bio_send, bio_recv, nullptr);
    return t;
}

void close(Session* t) {
    if (!t) return;
    if (t->established && t->s->state() == net::Stream::State::Open) mbedtls_ssl_close_notify(&t->ssl);
    mbedtls_ssl_free(&t->ssl);
    free(t);
}

long handshake(Session* t) {
    if (t->established) return 1;
    const int rc = mbedtls_ssl_handshake(&t->ssl);
    if (rc == 0) {
        t->established = true;
        return 1;
    }
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) return 0;
    char text[96];
    mbedtls_strerror(rc, text, sizeof text);
    log::debug("https: handshake failed: %s", text);
    return kClosed;
}

long read(Session* t, void* buf, size_t len) {
    const int rc = mbedtls_ssl_read(&t->ssl, static_cast<unsigned char*>(buf), len);
    if (rc > 0) return rc;
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) return kWouldBlock;
    return kClosed;  // 0 (end of stream), close_notify, errors
}

long write(Session* t, const void* buf, size_t len) {
    if (len > 16384) len = 16384;
    const int rc = mbedtls_ssl_write(&t->ssl, static_cast<const unsigned char*>(buf), len);
    if (rc > 0) return rc;
    if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) return kWouldBlock;
    return kClosed;
}

bool has_pending_input(Session* t) {
    return mbedtls_ssl_get_bytes_avail(&t->ssl) > 0 || mbedtls_ssl_check_pending(&t->ssl) || t->s->available() > 0;
}

}  // namespace http::tls
