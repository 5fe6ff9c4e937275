/* lwIP 2.1 options for Skerry. Used to build liblwip.a (scripts/deps_lwip.sh) and by kernel code that
 * includes lwIP headers (-Isrc/net/lwip, see LWIP_INCLUDES in mk/deps.mk).
 *
 * Model: NO_SYS=1, raw/altcp API only, driven from the kernel's run-to-completion event loop. lwIP is
 * never entered from interrupt handlers, so no lightweight protection (SYS_LIGHTWEIGHT_PROT=0).
 * The kernel provides: u32_t sys_now(void) (milliseconds), uint32_t skerry_lwip_rand(void),
 * uint16_t skerry_lwip_chksum(const void*, int), and the diagnostics hooks declared in arch/cc.h.
 *
 * Editing this file changes the lwIP cache key: the next build rebuilds liblwip.a. */
#ifndef SKERRY_LWIPOPTS_H
#define SKERRY_LWIPOPTS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
/* Random numbers for TCP/UDP local ports, DNS transaction ids and DHCP xids (kernel: RDRAND/DRBG). */
uint32_t skerry_lwip_rand(void);
/* The Internet checksum, 8 bytes a step (src/net/checksum.cpp): lwIP's own takes 2, and it is what receiving
 * costs most when the NIC does not verify checksums (QEMU's e1000 does not). */
uint16_t skerry_lwip_chksum(const void* data, int len);
/* lwIP's heap is malloc's, through a budget the memory plan sets at boot (src/net/net_memory.cpp). */
void* skerry_net_mem_malloc(size_t size);
void* skerry_net_mem_calloc(size_t count, size_t size);
void skerry_net_mem_free(void* p);
/* The TCP send buffer per connection, from the memory plan (src/kernel/mem_plan.hpp). */
extern uint32_t skerry_lwip_tcp_snd_buf;
#ifdef __cplusplus
}
#endif
#define LWIP_RAND() ((u32_t)skerry_lwip_rand())
/* Hooks (src/net/lwip/arch/lwip_hooks.h): RFC 6528 TCP initial sequence numbers (src/net/tcp_isn.cpp), half-open
 * connections recycled under a SYN flood (src/net/tcp_guard.cpp), routes kept while a link is down (netif_glue.cpp). */
#define LWIP_HOOK_FILENAME "arch/lwip_hooks.h"
#define LWIP_HOOK_TCP_ISN skerry_lwip_tcp_isn
#define LWIP_HOOK_TCP_INPACKET_PCB(pcb, hdr, optlen, opt1len, opt2, p) skerry_lwip_tcp_inpacket(pcb, hdr)
#define LWIP_HOOK_IP4_ROUTE(dest) skerry_lwip_ip4_route_link_down(dest)
#define LWIP_HOOK_TCP_OUT_ADD_TCPOPTS(p, hdr, pcb, opts) skerry_lwip_tcp_out_opts(p, pcb, hdr, opts)
/* The first ephemeral port is random too (then lwIP counts up from it). */
#define LWIP_RANDOMIZE_INITIAL_LOCAL_PORTS 1
#define LWIP_CHKSUM skerry_lwip_chksum

/* ---- System model ---------------------------------------------------------------------------------- */
#define NO_SYS                      1
#define SYS_LIGHTWEIGHT_PROT        0
#define LWIP_TIMERS                 1   /* sys_check_timeouts() from the event loop; needs sys_now() */
#define LWIP_SOCKET                 0
#define LWIP_NETCONN                0
#define LWIP_NETIF_API              0
#define LWIP_ALTCP                  1
#define LWIP_ALTCP_TLS              0   /* the mbedTLS adapter comes later */

/* ---- Memory ---------------------------------------------------------------------------------------- */
#define MEM_ALIGNMENT               8
#define MEM_LIBC_MALLOC             1   /* PBUF_RAM (copied TCP send data, copied frames) from malloc's heap, */
#define mem_clib_malloc             skerry_net_mem_malloc   /* within a budget sized from memory at boot */
#define mem_clib_calloc             skerry_net_mem_calloc
#define mem_clib_free               skerry_net_mem_free
#define MEMP_MEM_MALLOC             0
#define MEMP_NUM_PBUF               1024                /* PBUF_REF/ROM (zero-copy writes) */
#define MEMP_NUM_TCP_PCB            512
#define MEMP_NUM_TCP_PCB_LISTEN     32
#define MEMP_NUM_UDP_PCB            32
#define MEMP_NUM_RAW_PCB            8
#define MEMP_NUM_TCP_SEG            4096                /* >= TCP_SND_QUEUELEN */
#define MEMP_NUM_REASSDATA          16                  /* <= IP_REASS_MAX_PBUFS */
#define MEMP_NUM_FRAG_PBUF          64
#define MEMP_NUM_ARP_QUEUE          64
#define MEMP_NUM_SYS_TIMEOUT        (LWIP_NUM_SYS_TIMEOUT_INTERNAL + 16)
#define PBUF_POOL_SIZE              8                   /* unused: copied frames are PBUF_RAM */

/* ---- Link, IPv4, IPv6 ------------------------------------------------------------------------------ */
#define LWIP_ETHERNET               1
#define LWIP_ARP                    1
#define ARP_TABLE_SIZE              64
#define ARP_QUEUEING                1
#define ETHARP_SUPPORT_STATIC_ENTRIES 1
#define LWIP_IPV4                   1
#define LWIP_ICMP                   1
#define IP_REASSEMBLY               1
#define IP_REASS_MAX_PBUFS          64
#define IP_FRAG                     1
#define LWIP_DHCP                   1
/* No ARP probe of the offered address before using it (busybox udhcpc does none either): the probe and
 * lwIP's 500 ms timer granularity add up to a second to every boot. */
#define DHCP_DOES_ARP_CHECK         0
#define LWIP_IPV6                   1
#define LWIP_IPV6_AUTOCONFIG        1
#define LWIP_IPV6_MLD               1
#define LWIP_IPV6_DHCP6             0
#define IPV6_FRAG_COPYHEADER        1   /* 64-bit pointers: the reassembly helper does not fit in the fragment header */
#define LWIP_ICMP6                  1
#define LWIP_NETIF_HOSTNAME         1   /* DHCP option 12 */
#define LWIP_NETIF_STATUS_CALLBACK  1
#define LWIP_NETIF_LINK_CALLBACK    1
#define LWIP_NETIF_LOOPBACK         0
#define LWIP_IGMP                   1   /* the netif's IPv4 multicast MAC filter callback (all-systems group) */
#define LWIP_CHECKSUM_CTRL_PER_NETIF 1  /* checksum offload: per-netif NETIF_CHECKSUM_GEN_* / CHECK_* flags */
#define LWIP_HAVE_LOOPIF            0

/* ---- UDP, DNS -------------------------------------------------------------------------------------- */
#define LWIP_UDP                    1
#define LWIP_DNS                    1
#define DNS_TABLE_SIZE              16
#define DNS_MAX_SERVERS             2

/* ---- TCP ------------------------------------------------------------------------------------------- */
#define LWIP_TCP                    1
/* lwIP's small fixed-size copies (addresses, header fields) as moves, not memcpy calls (-ffreestanding). */
#define SMEMCPY(dst, src, len)      __builtin_memcpy(dst, src, len)

#define TCP_MSS                     1460
#define LWIP_WND_SCALE              1
#define TCP_RCV_SCALE               4                   /* windows up to 0xFFFF << 4 = 1 MiB */
#define TCP_WND                     (512 * 1024)
/* The TCP send buffer per connection is chosen at boot from memory (64..512 KiB). In the preprocessor's #if
 * tests (lwIP's init.c) the variable reads as 0, so the expression gives TCP_SND_BUF_MAX there; at run time the
 * variable is never 0. net_memory.cpp checks lwIP's sanity rules with static_assert for every size allowed. */
#define TCP_SND_BUF_MAX             (512 * 1024)
#define TCP_SND_BUF                 (skerry_lwip_tcp_snd_buf ? skerry_lwip_tcp_snd_buf : TCP_SND_BUF_MAX)
#define LWIP_DISABLE_TCP_SANITY_CHECKS 1
#define TCP_SNDLOWAT                (32 * 1024)         /* lwIP requires < 0xFFFF - 4 * TCP_MSS */
#define TCP_QUEUE_OOSEQ             1
#define TCP_TMR_INTERVAL            50  /* ms; the retransmission clock ticks every 2 of these (lwIP: 250) */
#define TCP_LISTEN_BACKLOG          1
#define LWIP_TCP_KEEPALIVE          1
#define SO_REUSE                    1
#define LWIP_CHECKSUM_ON_COPY       0                   /* every NIC offloads TCP checksums */

/* ---- Statistics and debugging ---------------------------------------------------------------------- */
#define LWIP_STATS                  1
#define LWIP_STATS_DISPLAY          1   /* stats_display() prints through LWIP_PLATFORM_DIAG */
#define LWIP_STATS_LARGE            1   /* 32-bit counters: 16-bit ones wrap within a second under load */
#define MIB2_STATS                  0
/* LWIP_DEBUG stays undefined (no LWIP_DEBUGF output); LWIP_ASSERT is active (see arch/cc.h). */

#endif /* SKERRY_LWIPOPTS_H */
