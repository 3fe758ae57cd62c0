#pragma once
// The core side of docs/protocol.md for agent tests: registrations, assignments (long poll),
// status reports, bundle files by digest and service lookups, on 127.0.0.1:0 with its own
// io thread. The real core is written elsewhere; this double implements only the wire contract.

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "protocol/agent_messages.hpp"

namespace baton::agent::testing {

class TestCore {
 public:
  TestCore();
  ~TestCore();
  TestCore(const TestCore&) = delete;
  TestCore& operator=(const TestCore&) = delete;

  std::string url() const;
  unsigned short port() const;

  // Serves `zip` under /v2/bundles/files/<digest> and /v2/configurations/files/<digest>.
  void add_file(const std::string& digest, const std::filesystem::path& zip);
  // Serves these bytes under the digest instead (a tampered file).
  void add_bytes(const std::string& digest, std::string bytes);
  int downloads(const std::string& digest) const;

  // Replaces the agent's assignment (index + 1) and answers its pending poll.
  void assign(const std::string& agent, std::vector<protocol::AssignedInstance> instances,
              std::vector<std::string> prefetch = {});
  // Sets the assignment's discard list (index + 1): bundle files of unloaded bundles.
  void discard(const std::string& agent, std::vector<std::string> digests);
  std::uint64_t index(const std::string& agent) const;
  // The bundle files the agent reported holding last.
  std::vector<std::string> bundles(const std::string& agent) const;

  // The last status the agent reported for an instance (registration or status report).
  std::optional<protocol::InstanceStatus> status(const std::string& agent,
                                                 const std::string& instance_id) const;
  std::vector<protocol::InstanceStatus> statuses(const std::string& agent) const;
  std::optional<protocol::Registration> registration(const std::string& agent) const;
  int registrations(const std::string& agent) const;
  int reports(const std::string& agent) const;
  // Forget the agent: its next status report gets 404.
  void forget(const std::string& agent);
  // Answer every request with 503 (a core in trouble) or drop connections.
  void set_refusing(bool refusing);

  // Service lookups: name -> "host:port" list served by /v2/service-hosts/{name}.
  void set_service(const std::string& name, std::vector<std::string> hosts);
  int service_lookups() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Polls `condition` until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace baton::agent::testing
