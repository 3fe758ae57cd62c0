#pragma once
// Where containers on Docker's default bridge network reach the host: the bridge's address (the
// agent's local router listens there too, for readiness signals and service lookups) and its
// subnet (the callers the agent accepts there). Reported by the runtime's probe as `bridge-ip`
// and `bridge-subnet` (docs/runtimes.md).

#include <string>
#include <string_view>

namespace baton::runtimes::docker {

struct Bridge {
  std::string ip;      // e.g. 172.17.0.1; empty when unknown
  std::string subnet;  // e.g. 172.17.0.0/16
};

// From the body of `GET /networks/bridge`: IPAM's IPv4 Gateway and Subnet. dockerd often leaves
// the Gateway out for the default bridge: then the IPv4 address of the bridge's interface
// (Options' com.docker.network.bridge.name, else docker0), else the subnet's first address.
Bridge bridge_of_network(std::string_view network_json);

}  // namespace baton::runtimes::docker
