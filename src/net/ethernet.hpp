// Ethernet framing numbers, one copy for everything that reads or builds frames itself (the netif glue, the
// ACK coalescer, NIC drivers, tests): header length, ethertypes, IP protocol numbers and the TCP header
// offsets they use. No lwIP: drivers include this too.
#pragma once

#include <stdint.h>

namespace skerry::net {

constexpr uint16_t kEthHeader = 14;  // destination, source, ethertype
constexpr uint16_t kEthVlanTag = 4;  // an 802.1Q tag between the source and the ethertype
constexpr uint16_t kEthTypeIpv4 = 0x0800, kEthTypeArp = 0x0806, kEthTypeVlan = 0x8100, kEthTypeIpv6 = 0x86DD;

constexpr uint8_t kIpProtoTcp = 6, kIpProtoUdp = 17;

constexpr uint16_t kIpv4MinHeader = 20, kIpv4MaxHeader = 60, kIpv6Header = 40;
constexpr uint16_t kTcpMinHeader = 20, kTcpMaxHeader = 60;
constexpr uint16_t kTcpChecksumOffset = 16;  // within the TCP header
constexpr uint16_t kUdpChecksumOffset = 6;   // within the UDP header

}  // namespace skerry::net
