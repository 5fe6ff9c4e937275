/* lwIP's hooks (LWIP_HOOK_FILENAME in lwipopts.h; part of lwIP's cache key like cc.h): included by lwIP's sources after their own headers, so the
 * lwIP types are known here. */
#ifndef SKERRY_LWIP_HOOKS_H
#define SKERRY_LWIP_HOOKS_H

#ifdef __cplusplus
extern "C" {
#endif
/* RFC 6528 initial sequence numbers (src/net/tcp_isn.cpp). */
u32_t skerry_lwip_tcp_isn(const ip_addr_t* local_ip, u16_t local_port, const ip_addr_t* remote_ip, u16_t remote_port);
/* Half-open connections recycled under a SYN flood (src/net/tcp_guard.cpp). */
struct tcp_pcb;
struct tcp_hdr;
err_t skerry_lwip_tcp_inpacket(struct tcp_pcb* pcb, struct tcp_hdr* hdr);
/* Retransmitted segments counted (src/net/tcp_guard.cpp). */
struct pbuf;
u32_t* skerry_lwip_tcp_out_opts(const struct pbuf* p, struct tcp_pcb* pcb, const struct tcp_hdr* hdr, u32_t* opts);
/* IPv4 routes over a netif whose link is down (src/net/netif_glue.cpp). */
struct netif;
struct netif* skerry_lwip_ip4_route_link_down(const ip4_addr_t* dest);
#ifdef __cplusplus
}
#endif

#endif
