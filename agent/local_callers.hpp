#pragma once
// Who may call the agent's local router (readiness signals, service locator): processes of this
// machine only. It listens on loopback and, for containers, on a container bridge's address; a
// bridge address can be routed to from other hosts once the machine forwards packets (dockerd
// turns that on), so callers are checked, not just the bound address.

#include <string>
#include <string_view>
#include <vector>

namespace baton::agent {

// True for a loopback caller (127.0.0.0/8, ::1, ::ffff:127.x.y.z), for one of `own` (the
// machine's addresses: the host calling its bridge address may come from one after dockerd's
// masquerading, and Linux drops packets from outside that carry a local source), and, when
// `subnet` is an IPv4 CIDR ("172.17.0.0/16"), for a caller inside it (IPv4 or IPv4-mapped IPv6).
bool is_local_caller(std::string_view peer_ip, std::string_view subnet,
                     const std::vector<std::string>& own = {});

// The IPv4 addresses of this machine's interfaces.
std::vector<std::string> own_ipv4_addresses();

// "caller 10.0.0.9 is not local (loopback or the container bridge 172.17.0.0/16 only)"
std::string not_local_message(std::string_view peer_ip, std::string_view subnet);

}  // namespace baton::agent
