#pragma once
// The agent-core protocol's messages (docs/protocol.md) as C++ values with JSON conversions.
// Both sides use these types, so the wire format is defined once.

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace baton::protocol {

struct RuntimeInfo {
  bool available = false;
  std::string reason;
  std::map<std::string, std::string> attributes;
};

struct Resources {
  double cpus = 0;
  std::int64_t memory = 0;  // bytes
  std::int64_t disk = 0;    // bytes
};

struct EndpointBinding {
  std::string protocol = "http";
  int bind_port = 0;
  int host_port = 0;
};

enum class InstanceState { fetching, starting, started, stopping, stopped, failed };
const char* to_string(InstanceState state);
std::optional<InstanceState> instance_state_from(std::string_view text);

struct InstanceStatus {
  std::string instance_id;
  std::string bundle_id;
  InstanceState state = InstanceState::fetching;
  int pid = 0;
  std::map<std::string, EndpointBinding> endpoints;
  std::int64_t started_at = 0;  // ms since the epoch; 0 until started
  int restarts = 0;
  std::string error;  // set when failed, or the cause of the last restart
};

struct Registration {
  std::string name;
  std::string address;
  std::string api_url;
  std::vector<std::string> roles;
  Resources resources;
  std::map<std::string, RuntimeInfo> runtimes;
  std::vector<std::string> bundles;
  std::vector<InstanceStatus> instances;
};

struct RegistrationReply {
  std::string agent_id;
  std::int64_t heartbeat_interval_ms = 2000;
  std::int64_t down_after_ms = 15000;
};

struct Peer {
  std::string protocol;
  std::string ip;
  int port = 0;
};

struct AssignedInstance {
  std::string instance_id;
  std::string bundle_id;
  std::string bundle_name;
  std::string bundle_digest;
  std::string bundle_file;           // path on the core
  std::string configuration_digest;  // empty without a configuration
  std::string configuration_file;
  std::map<std::string, std::vector<Peer>> peers;  // per endpoint: *_OTHER_* variables
};

struct Assignment {
  std::uint64_t index = 0;
  std::vector<AssignedInstance> instances;
  std::vector<std::string> prefetch;
  // Files the agent holds that no loaded bundle uses (unloaded): the agent drops them, and what
  // its runtimes made of them (images), once no instance of it uses them. Absent when empty.
  std::vector<std::string> discard;
};

struct StatusReport {
  std::vector<InstanceStatus> instances;
  std::vector<std::string> bundles;
  Resources resources_available;
};

struct StatusReply {
  std::uint64_t index = 0;
};

void to_json(nlohmann::json& j, const RuntimeInfo& v);
void from_json(const nlohmann::json& j, RuntimeInfo& v);
void to_json(nlohmann::json& j, const Resources& v);
void from_json(const nlohmann::json& j, Resources& v);
void to_json(nlohmann::json& j, const EndpointBinding& v);
void from_json(const nlohmann::json& j, EndpointBinding& v);
void to_json(nlohmann::json& j, const InstanceStatus& v);
void from_json(const nlohmann::json& j, InstanceStatus& v);
void to_json(nlohmann::json& j, const Registration& v);
void from_json(const nlohmann::json& j, Registration& v);
void to_json(nlohmann::json& j, const RegistrationReply& v);
void from_json(const nlohmann::json& j, RegistrationReply& v);
void to_json(nlohmann::json& j, const Peer& v);
void from_json(const nlohmann::json& j, Peer& v);
void to_json(nlohmann::json& j, const AssignedInstance& v);
void from_json(const nlohmann::json& j, AssignedInstance& v);
void to_json(nlohmann::json& j, const Assignment& v);
void from_json(const nlohmann::json& j, Assignment& v);
void to_json(nlohmann::json& j, const StatusReport& v);
void from_json(const nlohmann::json& j, StatusReport& v);
void to_json(nlohmann::json& j, const StatusReply& v);
void from_json(const nlohmann::json& j, StatusReply& v);

// Parse a message body; errors (Errc::invalid) name the message type and the JSON problem.
template <class T>
Result<T> parse(std::string_view body, std::string_view what) {
  try {
    return nlohmann::json::parse(body).get<T>();
  } catch (const nlohmann::json::exception& e) {
    return make_error(Errc::invalid, std::string(what) + ": " + e.what());
  }
}

}  // namespace baton::protocol
