#include "agent/local_callers.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <cstdint>
#include <optional>

#include "common/text.hpp"

namespace baton::agent {

namespace {

// The IPv4 address of `text` (host order), also inside an IPv4-mapped IPv6 address.
std::optional<std::uint32_t> ipv4_of(std::string_view text) {
  std::string address(text);
  if (address.starts_with("::ffff:") || address.starts_with("::FFFF:")) address.erase(0, 7);
  in_addr parsed{};
  if (::inet_pton(AF_INET, address.c_str(), &parsed) != 1) return std::nullopt;
  return ntohl(parsed.s_addr);
}

}  // namespace

bool is_local_caller(std::string_view peer_ip, std::string_view subnet,
                     const std::vector<std::string>& own) {
  if (peer_ip == "::1") return true;
  auto caller = ipv4_of(peer_ip);
  if (!caller) return false;
  if ((*caller >> 24) == 127) return true;
  for (const auto& address : own) {
    if (ipv4_of(address) == caller) return true;
  }
  auto slash = subnet.find('/');
  if (slash == std::string_view::npos) return false;
  auto network = ipv4_of(subnet.substr(0, slash));
  auto bits = text::parse_integer(subnet.substr(slash + 1));
  if (!network || !bits || *bits < 1 || *bits > 32) return false;
  const std::uint32_t mask = *bits == 32 ? 0xffffffffu : ~(0xffffffffu >> *bits);
  return (*caller & mask) == (*network & mask);
}

std::vector<std::string> own_ipv4_addresses() {
  std::vector<std::string> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (ifaddrs* it = list; it != nullptr; it = it->ifa_next) {
    if (it->ifa_addr == nullptr || it->ifa_addr->sa_family != AF_INET) continue;
    char text[INET_ADDRSTRLEN] = {};
    auto* address = reinterpret_cast<sockaddr_in*>(it->ifa_addr);
    if (::inet_ntop(AF_INET, &address->sin_addr, text, sizeof text) != nullptr) {
      out.emplace_back(text);
    }
  }
  ::freeifaddrs(list);
  return out;
}

std::string not_local_message(std::string_view peer_ip, std::string_view subnet) {
  std::string allowed = "loopback";
  if (!subnet.empty()) allowed += " or the container bridge " + std::string(subnet);
  return "caller " + std::string(peer_ip) + " is not local (" + allowed + " only)";
}

}  // namespace baton::agent
