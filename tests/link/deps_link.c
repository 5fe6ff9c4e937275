/* Link proof for the third-party libraries (make deps-link, part of make all): _start reaches the lwIP and
 * mbedTLS entry points the kernel will use, so the static link with --gc-sections pulls in their whole
 * dependency closure (and newlib's stdio/malloc/time). The only symbols supplied from outside the libraries
 * are those in deps_stubs.cpp, which mirror what the kernel provides; anything else fails the link.
 * Never run: it only has to link. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lwip/altcp.h"
#include "lwip/altcp_tcp.h"
#include "lwip/dhcp.h"
#include "lwip/dns.h"
#include "lwip/etharp.h"
#include "lwip/ethip6.h"
#include "lwip/init.h"
#include "lwip/ip_addr.h"
#include "lwip/netif.h"
#include "lwip/stats.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "lwip/udp.h"
#include "netif/ethernet.h"

#include "mbedtls/ctr_drbg.h"
#include "mbedtls/ecp.h"
#include "mbedtls/entropy.h"
#include "mbedtls/error.h"
#include "mbedtls/pk.h"
#include "mbedtls/ssl.h"
#include "mbedtls/x509_crt.h"

void _start(void);
void _exit(int status);

static err_t netif_init_cb(struct netif* n) {
    n->output = etharp_output;
    n->output_ip6 = ethip6_output;
    n->mtu = 1500;
    n->hwaddr_len = 6;
    n->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_MLD6;
    return ERR_OK;
}

static err_t accept_cb(void* arg, struct altcp_pcb* pcb, err_t err) {
    (void)arg;
    (void)err;
    altcp_write(pcb, "hi", 2, TCP_WRITE_FLAG_COPY);
    return altcp_output(pcb);
}

static void dns_cb(const char* name, const ip_addr_t* addr, void* arg) {
    (void)name;
    (void)addr;
    (void)arg;
}

static int lwip_part(void) {
    static struct netif nif;
    ip4_addr_t ip, mask, gw;
    lwip_init();
    IP4_ADDR(&ip, 10, 0, 2, 15);
    IP4_ADDR(&mask, 255, 255, 255, 0);
    IP4_ADDR(&gw, 10, 0, 2, 2);
    netif_add(&nif, &ip, &mask, &gw, NULL, netif_init_cb, ethernet_input);
    netif_set_default(&nif);
    netif_set_up(&nif);
    netif_create_ip6_linklocal_address(&nif, 1);
    dhcp_start(&nif);

    struct tcp_pcb* pcb = tcp_new();
    tcp_bind(pcb, IP_ANY_TYPE, 80);
    struct altcp_pcb* l = altcp_tcp_new_ip_type(IPADDR_TYPE_ANY);
    altcp_bind(l, IP_ANY_TYPE, 443);
    l = altcp_listen(l);
    altcp_accept(l, accept_cb);
    struct udp_pcb* u = udp_new();
    udp_bind(u, IP_ANY_TYPE, 7);

    ip_addr_t resolved;
    dns_gethostbyname("example.org", &resolved, dns_cb, NULL);
    sys_check_timeouts();
    stats_display();
    struct pbuf* p = pbuf_alloc(PBUF_RAW, 1514, PBUF_POOL);
    if (p) nif.input(p, &nif);
    return 0;
}

static int mbedtls_part(void) {
    static mbedtls_entropy_context entropy;
    static mbedtls_ctr_drbg_context drbg;
    static mbedtls_ssl_context ssl;
    static mbedtls_ssl_config conf;
    static mbedtls_pk_context key;
    static mbedtls_x509write_cert crt;
    static mbedtls_x509_crt parsed;
    static unsigned char der[2048];
    char err[128];

    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    int rc = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, (const unsigned char*)"skerry", 6);

    mbedtls_pk_init(&key);
    rc |= mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
    rc |= mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key), mbedtls_ctr_drbg_random, &drbg);

    mbedtls_x509write_crt_init(&crt);
    mbedtls_x509write_crt_set_subject_key(&crt, &key);
    mbedtls_x509write_crt_set_issuer_key(&crt, &key);
    rc |= mbedtls_x509write_crt_set_subject_name(&crt, "CN=skerry");
    rc |= mbedtls_x509write_crt_set_issuer_name(&crt, "CN=skerry");
    mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
    rc |= mbedtls_x509write_crt_set_validity(&crt, "20250101000000", "20350101000000");
    mbedtls_mpi serial;
    mbedtls_mpi_init(&serial);
    mbedtls_mpi_lset(&serial, 1);
    rc |= mbedtls_x509write_crt_set_serial(&crt, &serial);
    rc |= mbedtls_x509write_crt_set_basic_constraints(&crt, 1, 0);
    rc |= mbedtls_x509write_crt_set_subject_key_identifier(&crt);
    int len = mbedtls_x509write_crt_der(&crt, der, sizeof der, mbedtls_ctr_drbg_random, &drbg);
    unsigned char pem[4096];
    rc |= mbedtls_x509write_crt_pem(&crt, pem, sizeof pem, mbedtls_ctr_drbg_random, &drbg);

    mbedtls_x509_crt_init(&parsed);
    if (len > 0) rc |= mbedtls_x509_crt_parse_der(&parsed, der + sizeof der - len, (size_t)len);

    mbedtls_ssl_init(&ssl);
    mbedtls_ssl_config_init(&conf);
    rc |= mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                      MBEDTLS_SSL_PRESET_DEFAULT);
    mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
    rc |= mbedtls_ssl_conf_own_cert(&conf, &parsed, &key);
    rc |= mbedtls_ssl_setup(&ssl, &conf);
    rc |= mbedtls_ssl_handshake(&ssl);
    unsigned char buf[64];
    rc |= mbedtls_ssl_read(&ssl, buf, sizeof buf);
    rc |= mbedtls_ssl_write(&ssl, buf, sizeof buf);
    mbedtls_ssl_close_notify(&ssl);

    /* The client side too. */
    static mbedtls_ssl_context cssl;
    static mbedtls_ssl_config cconf;
    mbedtls_ssl_init(&cssl);
    mbedtls_ssl_config_init(&cconf);
    rc |= mbedtls_ssl_config_defaults(&cconf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                      MBEDTLS_SSL_PRESET_DEFAULT);
    mbedtls_ssl_conf_ca_chain(&cconf, &parsed, NULL);
    rc |= mbedtls_ssl_setup(&cssl, &cconf);
    rc |= mbedtls_ssl_set_hostname(&cssl, "skerry");
    rc |= mbedtls_ssl_handshake(&cssl);

    mbedtls_strerror(rc, err, sizeof err);
    mbedtls_ssl_free(&ssl);
    mbedtls_ssl_config_free(&conf);
    mbedtls_x509write_crt_free(&crt);
    mbedtls_pk_free(&key);
    return rc;
}

void _start(void) {
    /* newlib: stdio, malloc, time. */
    char* p = malloc(64);
    snprintf(p, 64, "%lld %s", (long long)time(NULL), "x");
    printf("%s\n", p);
    free(p);
    int rc = lwip_part() | mbedtls_part();
    _exit(rc);
}
