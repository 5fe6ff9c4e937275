// The network stack as appliances see it: start it, learn when it is ready, say how to reach it.
//
// The NICs come from outside: the kernel's boot code finds them on the buses (drivers/devices.hpp) and hands each
// to the stack with net::add_nic(); host tests add their own. The stack knows no bus and no driver.
//
// net::start() initialises lwIP (src/net/lwip_port.hpp), attaches every NIC added (one lwIP netif each, in the order
// added, named e0, e1, ...; src/net/netif_glue.hpp) and configures addresses:
//   IPv4   DHCP on every NIC by default. The first NIC takes a static address instead with ip=<addr>/<prefix>
//          (and gw=<addr>); a malformed ip= is reported and DHCP is used. While DHCP waits, a line says so
//          ("net e0: DHCP: waiting for an answer (attempt 2)..."); lwIP keeps retrying with its backoff,
//          capped at one attempt a minute, so the logging stops after a few attempts.
//   IPv6   link-local and SLAAC always; ip6=<addr>/<prefix> adds a static address on the first NIC.
//   DNS    dns=<addr>, else what DHCP offers.
//   name   hostname=<name> (DHCP option 12), default "skerry".
// Every NIC is logged with its MAC and link, and every address when it becomes usable.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "net/address.hpp"

namespace skerry::net {

class NetifGlue;
class NicDriver;

inline constexpr size_t kMaxInterfaces = 8;

// Gives the stack a NIC (initialised, not started: start() starts it). Before start() only; false (and not kept)
// after it, or beyond kMaxInterfaces NICs, or for a NIC added already. The NIC must outlive the stack.
bool add_nic(NicDriver& nic);
size_t nics_added();

// Brings the network up on the NICs added (once; later calls return the first result). False when there is no
// usable NIC.
bool start();
bool started();

// fn(ctx) runs when the first NIC has an IPv4 address (with a static address: during start()); if that already
// happened, at once. It runs again whenever an interface's IPv4 address changes to another one (DHCP gave a new
// address after a NAK or a new pool), so appliances say again how to reach them. At most kMaxReadyCallbacks
// registrations; false beyond that.
inline constexpr size_t kMaxReadyCallbacks = 8;
using ReadyFn = void (*)(void* ctx);
bool on_ready(ReadyFn fn, void* ctx);
bool is_ready();

// The address to tell people: the first NIC's IPv4 address, else its first global IPv6 address, else its
// link-local one. Text without port ("10.0.2.15", "fe80::1%1"); returns the length, 0 when there is none.
size_t primary_address(char* buf, size_t size);
bool primary_address(Address* out);

// The attached NICs (e0 is interface(0)).
size_t interface_count();
NetifGlue* interface(size_t i);

// Every NIC (link, addresses, glue and driver counters) and lwIP's statistics, to the log.
void log_status();

// Frames lost since the last report (driver: bad frame, no buffer, refused; glue; lwIP's malformed or failed
// packets), one line per NIC: "net e0: dropped 12 frames in the last 10 s (totals ...)". Runs by itself
// every 10 s when something was dropped; nothing is logged when nothing was.
void report_drops();

}  // namespace skerry::net
