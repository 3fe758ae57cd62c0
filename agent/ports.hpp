#pragma once
// Host ports for endpoints. Dynamic ports come from the agent's range, skipping ports another
// instance holds and ports something on the host is bound to (checked by binding TCP and UDP).
// Fixed ports are honoured or refused naming their holder. Thread-safe.

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bundle/descriptor.hpp"
#include "common/result.hpp"

namespace baton::agent {

struct PortRange {
  int first = 10000;
  int last = 10999;
  std::string to_string() const;  // "10000-10999"
};
// "10000-10999" (or a single port); errors name the text.
Result<PortRange> parse_port_range(std::string_view text);

struct PortRequest {
  std::string endpoint;
  int fixed_port = 0;  // bind-port from bundle.conf; 0 = allocate from the range
};

struct PortHolder {
  std::string instance_id;
  std::string bundle_name;
  std::string endpoint;
};

// True when nothing on the host holds `port` for TCP (listening) or UDP, checked by binding the
// wildcard address for both.
bool port_free_on_host(int port);
// "pid 1234 (python3)" for the process holding `port` on the host, from /proc/net/{tcp,tcp6,udp,
// udp6} and /proc/*/fd; empty when it cannot be told (another user's process, a race).
std::string host_port_owner(int port);

class PortAllocator {
 public:
  // `host_check` decides whether the host has a port free; the default binds (port_free_on_host).
  using HostCheck = std::function<bool(int port)>;
  explicit PortAllocator(PortRange range, HostCheck host_check = port_free_on_host);

  // All ports of one instance, all or nothing: endpoint -> port. Errors (Errc::unavailable or
  // Errc::conflict) name the endpoint, the port or range and the holder.
  Result<std::map<std::string, int>> allocate(const std::string& instance_id,
                                              const std::string& bundle_name,
                                              const std::vector<PortRequest>& requests);
  // After an agent restart: take back what an instance held. Its component is bound to them, so
  // the host is not checked. A port already held by another instance is a conflict.
  Status restore(const std::string& instance_id, const std::string& bundle_name,
                 const std::map<std::string, int>& ports);
  // Every port of the instance goes back to the range.
  void release(const std::string& instance_id);

  std::optional<PortHolder> holder(int port) const;
  std::size_t held_count() const;
  const PortRange& range() const { return range_; }

 private:
  std::string describe_holder(const PortHolder& holder) const;

  PortRange range_;
  HostCheck host_check_;
  mutable std::mutex mutex_;
  std::map<int, PortHolder> held_;
  int cursor_;  // where the next search starts: recently freed ports are reused last
};

}  // namespace baton::agent
