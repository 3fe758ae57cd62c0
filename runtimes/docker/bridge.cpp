#include "runtimes/docker/bridge.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <nlohmann/json.hpp>

namespace baton::runtimes::docker {

namespace {

using nlohmann::json;

std::string string_at(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string ipv4_text(in_addr address) {
  char text[INET_ADDRSTRLEN] = {};
  return ::inet_ntop(AF_INET, &address, text, sizeof text) != nullptr ? text : "";
}

// The interface's IPv4 address and its network ("172.17.0.0/16").
Bridge interface_address(const std::string& interface) {
  Bridge found;
  ifaddrs* addresses = nullptr;
  if (::getifaddrs(&addresses) != 0) return found;
  for (ifaddrs* at = addresses; at != nullptr; at = at->ifa_next) {
    if (at->ifa_addr == nullptr || at->ifa_addr->sa_family != AF_INET) continue;
    if (interface != at->ifa_name) continue;
    in_addr address = reinterpret_cast<sockaddr_in*>(at->ifa_addr)->sin_addr;
    found.ip = ipv4_text(address);
    if (at->ifa_netmask != nullptr) {
      in_addr mask = reinterpret_cast<sockaddr_in*>(at->ifa_netmask)->sin_addr;
      in_addr network{address.s_addr & mask.s_addr};
      found.subnet = ipv4_text(network) + "/" + std::to_string(__builtin_popcount(mask.s_addr));
    }
    break;
  }
  ::freeifaddrs(addresses);
  return found;
}

}  // namespace

Bridge bridge_of_network(std::string_view network_json) {
  Bridge bridge;
  json network = json::parse(network_json, nullptr, false);
  if (!network.is_object()) return bridge;
  if (auto ipam = network.find("IPAM"); ipam != network.end() && ipam->is_object()) {
    if (auto configs = ipam->find("Config"); configs != ipam->end() && configs->is_array()) {
      for (const auto& config : *configs) {
        if (!config.is_object()) continue;
        std::string subnet = string_at(config, "Subnet");
        if (subnet.empty() || subnet.find(':') != std::string::npos) continue;  // IPv6
        bridge.subnet = subnet;
        bridge.ip = string_at(config, "Gateway");
        break;
      }
    }
  }
  if (!bridge.ip.empty()) return bridge;
  std::string interface = "docker0";
  if (auto options = network.find("Options"); options != network.end() && options->is_object()) {
    if (std::string name = string_at(*options, "com.docker.network.bridge.name"); !name.empty()) {
      interface = name;
    }
  }
  if (Bridge found = interface_address(interface); !found.ip.empty()) {
    if (bridge.subnet.empty()) bridge.subnet = found.subnet;
    bridge.ip = found.ip;
    return bridge;
  }
  // Last resort: the subnet's first address, which is where dockerd puts the gateway.
  auto slash = bridge.subnet.find('/');
  in_addr address{};
  if (slash != std::string::npos &&
      ::inet_pton(AF_INET, bridge.subnet.substr(0, slash).c_str(), &address) == 1) {
    address.s_addr = htonl(ntohl(address.s_addr) + 1);
    bridge.ip = ipv4_text(address);
  }
  return bridge;
}

}  // namespace baton::runtimes::docker
