/* mbedTLS 2.28 configuration for Skerry (passed as -DMBEDTLS_CONFIG_FILE="mbedtls_config.h" -Isrc/net/tls to
 * the library build in scripts/deps_mbedtls.sh and to kernel code; it replaces mbedtls/config.h).
 *
 * Scope: TLS 1.2 client and server, ECDHE-ECDSA / ECDHE-RSA key exchange with AEAD ciphers only
 * (AES-GCM, ChaCha20-Poly1305), SHA-256/384, curves secp256r1, secp384r1 and x25519, X.509 parsing and
 * certificate writing (self-signed certificates generated at boot), CTR_DRBG seeded from the kernel's
 * hardware entropy (mbedtls_hardware_poll). No file system, no sockets, no threads, no self tests.
 *
 * The kernel provides:
 *   int mbedtls_hardware_poll(void *data, unsigned char *output, size_t len, size_t *olen);
 * and newlib provides calloc/free, time() and gmtime_r() (via the kernel's _gettimeofday).
 *
 * Editing this file changes the mbedTLS cache key: the next build rebuilds the library. */
#ifndef SKERRY_MBEDTLS_CONFIG_H
#define SKERRY_MBEDTLS_CONFIG_H

/* ---- System support ------------------------------------------------------------------------------- */
#define MBEDTLS_HAVE_ASM            /* x86-64 inline assembly for bignum multiplication */
#define MBEDTLS_NO_UDBL_DIVISION    /* no 128-bit division (__udivti3) in the kernel */
#define MBEDTLS_HAVE_TIME           /* time() from newlib -> _gettimeofday */
#define MBEDTLS_HAVE_TIME_DATE      /* gmtime_r() for certificate validity checks */
#define MBEDTLS_AESNI_C             /* AES-NI and PCLMULQDQ when CPUID says so (checked at run time) */
#define MBEDTLS_DEPRECATED_REMOVED
#define MBEDTLS_ERROR_C             /* mbedtls_strerror() for log messages */

/* ---- Entropy and random numbers -------------------------------------------------------------------- */
#define MBEDTLS_ENTROPY_C
#define MBEDTLS_NO_PLATFORM_ENTROPY     /* no /dev/urandom or getrandom() */
#define MBEDTLS_ENTROPY_HARDWARE_ALT    /* kernel: mbedtls_hardware_poll() (RDSEED/RDRAND) */
#define MBEDTLS_CTR_DRBG_C
#define MBEDTLS_HMAC_DRBG_C             /* for deterministic ECDSA */

/* ---- Hashes, MAC ---------------------------------------------------------------------------------- */
#define MBEDTLS_MD_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA512_C                /* SHA-384 and SHA-512 */
#define MBEDTLS_SHA1_C                  /* X.509 subject/authority key identifiers, legacy peer certificates */

/* ---- Ciphers (AEAD only) -------------------------------------------------------------------------- */
#define MBEDTLS_CIPHER_C
#define MBEDTLS_AES_C
#define MBEDTLS_GCM_C
#define MBEDTLS_CHACHA20_C
#define MBEDTLS_POLY1305_C
#define MBEDTLS_CHACHAPOLY_C

/* ---- Public key ----------------------------------------------------------------------------------- */
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_OID_C
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_BASE64_C
#define MBEDTLS_PEM_PARSE_C
#define MBEDTLS_PEM_WRITE_C
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_PK_WRITE_C
#define MBEDTLS_RSA_C
#define MBEDTLS_PKCS1_V15
#define MBEDTLS_PKCS1_V21
#define MBEDTLS_ECP_C
#define MBEDTLS_ECP_NIST_OPTIM
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
#define MBEDTLS_ECP_DP_CURVE25519_ENABLED
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ECDSA_DETERMINISTIC

/* ---- X.509 ---------------------------------------------------------------------------------------- */
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
#define MBEDTLS_X509_CREATE_C
#define MBEDTLS_X509_CRT_WRITE_C

/* ---- TLS 1.2 -------------------------------------------------------------------------------------- */
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_SRV_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_RSA_ENABLED
#define MBEDTLS_SSL_SERVER_NAME_INDICATION
#define MBEDTLS_SSL_ALPN
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
#define MBEDTLS_SSL_MAX_FRAGMENT_LENGTH
#define MBEDTLS_SSL_KEEP_PEER_CERTIFICATE

/* Offer and accept only ECDHE with AEAD (preference order). */
#define MBEDTLS_SSL_CIPHERSUITES                                   \
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,               \
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,               \
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,         \
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,                 \
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,                 \
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256

/* Explicitly off (documented here so nobody turns them on by accident):
 * MBEDTLS_FS_IO, MBEDTLS_NET_C, MBEDTLS_TIMING_C, MBEDTLS_THREADING_C, MBEDTLS_SELF_TEST, MBEDTLS_DEBUG_C,
 * MBEDTLS_PSA_CRYPTO_C, MBEDTLS_PLATFORM_C (calloc/free/snprintf come straight from newlib),
 * CBC/stream/legacy ciphers, TLS 1.0/1.1, renegotiation, DTLS. */

#include "mbedtls/check_config.h"

#endif /* SKERRY_MBEDTLS_CONFIG_H */
