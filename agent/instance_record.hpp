#pragma once
// instance.json: everything the agent needs to find an instance again after a restart (ports,
// token, environment, every launch's runtime handle). Written atomically on every change.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "agent/environment.hpp"
#include "common/result.hpp"
#include "protocol/agent_messages.hpp"
#include "runtimes/runtime.hpp"

namespace baton::agent {

inline constexpr std::string_view kRecordFileName = "instance.json";
inline constexpr int kRecordVersion = 1;

struct LaunchRecord {
  std::string component;
  std::string runtime;  // file-system-type
  bool active = false;  // started (or being started) and its exit not seen yet
  runtimes::Handle handle;
};

struct InstanceRecord {
  protocol::AssignedInstance assigned;  // as the core assigned it
  std::string token;                    // CONDUCTR_STATUS path token
  std::string notify_socket;            // NOTIFY_SOCKET
  std::string control_url;              // CONDUCTR_CONTROL when it started
  std::map<std::string, int> ports;     // endpoint -> host port
  protocol::InstanceState state = protocol::InstanceState::fetching;
  int restarts = 0;
  std::vector<std::int64_t> failures;  // restart budget (ms since the epoch)
  std::int64_t started_at = 0;
  std::string error;
  Environment environment;  // what the launches got
  std::vector<LaunchRecord> launches;
};

nlohmann::json to_json(const InstanceRecord& record);
// Errors name `source` and the field.
Result<InstanceRecord> parse_record(std::string_view text, std::string_view source);

Status save_record(const std::filesystem::path& file, const InstanceRecord& record);
Result<InstanceRecord> load_record(const std::filesystem::path& file);

}  // namespace baton::agent
