#include "protocol/agent_messages.hpp"

namespace baton::protocol {

using nlohmann::json;

namespace {
// Optional fields: absent keys keep the default, present keys must have the right type.
template <class T>
void read(const json& j, const char* key, T& out) {
  if (auto it = j.find(key); it != j.end() && !it->is_null()) it->get_to(out);
}
}  // namespace

const char* to_string(InstanceState state) {
  switch (state) {
    case InstanceState::fetching:
      return "fetching";
    case InstanceState::starting:
      return "starting";
    case InstanceState::started:
      return "started";
    case InstanceState::stopping:
      return "stopping";
    case InstanceState::stopped:
      return "stopped";
    case InstanceState::failed:
      return "failed";
  }
  return "failed";
}

std::optional<InstanceState> instance_state_from(std::string_view text) {
  for (auto state : {InstanceState::fetching, InstanceState::starting, InstanceState::started,
                     InstanceState::stopping, InstanceState::stopped, InstanceState::failed}) {
    if (text == to_string(state)) return state;
  }
  return std::nullopt;
}

void to_json(json& j, const RuntimeInfo& v) {
  j = json{{"available", v.available}, {"attributes", v.attributes}};
  if (!v.reason.empty()) j["reason"] = v.reason;
}
void from_json(const json& j, RuntimeInfo& v) {
  j.at("available").get_to(v.available);
  read(j, "reason", v.reason);
  read(j, "attributes", v.attributes);
}

void to_json(json& j, const Resources& v) {
  j = json{{"cpus", v.cpus}, {"memory", v.memory}, {"disk", v.disk}};
}
void from_json(const json& j, Resources& v) {
  read(j, "cpus", v.cpus);
  read(j, "memory", v.memory);
  read(j, "disk", v.disk);
}

void to_json(json& j, const EndpointBinding& v) {
  j = json{{"protocol", v.protocol}, {"bindPort", v.bind_port}, {"hostPort", v.host_port}};
}
void from_json(const json& j, EndpointBinding& v) {
  read(j, "protocol", v.protocol);
  read(j, "bindPort", v.bind_port);
  read(j, "hostPort", v.host_port);
}

void to_json(json& j, const InstanceStatus& v) {
  j = json{{"instanceId", v.instance_id}, {"bundleId", v.bundle_id},
           {"state", to_string(v.state)}, {"pid", v.pid},
           {"endpoints", v.endpoints},    {"startedAt", v.started_at},
           {"restarts", v.restarts}};
  if (!v.error.empty()) j["error"] = v.error;
}
void from_json(const json& j, InstanceStatus& v) {
  j.at("instanceId").get_to(v.instance_id);
  read(j, "bundleId", v.bundle_id);
  auto state = instance_state_from(j.at("state").get<std::string>());
  if (!state) {
    throw json::other_error::create(501, "unknown instance state " + j.at("state").dump(), &j);
  }
  v.state = *state;
  read(j, "pid", v.pid);
  read(j, "endpoints", v.endpoints);
  read(j, "startedAt", v.started_at);
  read(j, "restarts", v.restarts);
  read(j, "error", v.error);
}

void to_json(json& j, const Registration& v) {
  j = json{{"name", v.name},       {"address", v.address},     {"apiUrl", v.api_url},
           {"roles", v.roles},     {"resources", v.resources}, {"runtimes", v.runtimes},
           {"bundles", v.bundles}, {"instances", v.instances}};
}
void from_json(const json& j, Registration& v) {
  j.at("name").get_to(v.name);
  j.at("address").get_to(v.address);
  read(j, "apiUrl", v.api_url);
  read(j, "roles", v.roles);
  read(j, "resources", v.resources);
  read(j, "runtimes", v.runtimes);
  read(j, "bundles", v.bundles);
  read(j, "instances", v.instances);
}

void to_json(json& j, const RegistrationReply& v) {
  j = json{{"agentId", v.agent_id},
           {"heartbeatIntervalMs", v.heartbeat_interval_ms},
           {"downAfterMs", v.down_after_ms}};
}
void from_json(const json& j, RegistrationReply& v) {
  j.at("agentId").get_to(v.agent_id);
  read(j, "heartbeatIntervalMs", v.heartbeat_interval_ms);
  read(j, "downAfterMs", v.down_after_ms);
}

void to_json(json& j, const Peer& v) {
  j = json{{"protocol", v.protocol}, {"ip", v.ip}, {"port", v.port}};
}
void from_json(const json& j, Peer& v) {
  read(j, "protocol", v.protocol);
  j.at("ip").get_to(v.ip);
  j.at("port").get_to(v.port);
}

void to_json(json& j, const AssignedInstance& v) {
  j = json{{"instanceId", v.instance_id}, {"bundleId", v.bundle_id},
           {"bundleName", v.bundle_name}, {"bundleDigest", v.bundle_digest},
           {"bundleFile", v.bundle_file}, {"peers", v.peers}};
  if (!v.configuration_digest.empty()) {
    j["configurationDigest"] = v.configuration_digest;
    j["configurationFile"] = v.configuration_file;
  }
}
void from_json(const json& j, AssignedInstance& v) {
  j.at("instanceId").get_to(v.instance_id);
  j.at("bundleId").get_to(v.bundle_id);
  read(j, "bundleName", v.bundle_name);
  j.at("bundleDigest").get_to(v.bundle_digest);
  j.at("bundleFile").get_to(v.bundle_file);
  read(j, "configurationDigest", v.configuration_digest);
  read(j, "configurationFile", v.configuration_file);
  read(j, "peers", v.peers);
}

void to_json(json& j, const Assignment& v) {
  j = json{{"index", v.index}, {"instances", v.instances}, {"prefetch", v.prefetch}};
  if (!v.discard.empty()) j["discard"] = v.discard;
}
void from_json(const json& j, Assignment& v) {
  j.at("index").get_to(v.index);
  read(j, "instances", v.instances);
  read(j, "prefetch", v.prefetch);
  read(j, "discard", v.discard);
}

void to_json(json& j, const StatusReport& v) {
  j = json{{"instances", v.instances},
           {"bundles", v.bundles},
           {"resourcesAvailable", v.resources_available}};
}
void from_json(const json& j, StatusReport& v) {
  read(j, "instances", v.instances);
  read(j, "bundles", v.bundles);
  read(j, "resourcesAvailable", v.resources_available);
}

void to_json(json& j, const StatusReply& v) {
  j = json{{"index", v.index}};
}
void from_json(const json& j, StatusReply& v) {
  read(j, "index", v.index);
}

}  // namespace baton::protocol
