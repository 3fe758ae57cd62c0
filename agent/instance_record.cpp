#include "agent/instance_record.hpp"

#include "common/files.hpp"

namespace baton::agent {

using nlohmann::json;

json to_json(const InstanceRecord& r) {
  json launches = json::array();
  for (const auto& launch : r.launches) {
    launches.push_back({{"component", launch.component},
                        {"runtime", launch.runtime},
                        {"active", launch.active},
                        {"pid", launch.handle.pid},
                        {"handle", launch.handle.state}});
  }
  json environment = json::array();
  for (const auto& [key, value] : r.environment)
    environment.push_back(json::array({key, value}));
  json assigned;
  protocol::to_json(assigned, r.assigned);
  return json{{"version", kRecordVersion},
              {"assigned", assigned},
              {"token", r.token},
              {"notifySocket", r.notify_socket},
              {"controlUrl", r.control_url},
              {"ports", r.ports},
              {"state", protocol::to_string(r.state)},
              {"restarts", r.restarts},
              {"failures", r.failures},
              {"startedAt", r.started_at},
              {"error", r.error},
              {"environment", environment},
              {"launches", launches}};
}

Result<InstanceRecord> parse_record(std::string_view text, std::string_view source) {
  try {
    json j = json::parse(text);
    if (j.value("version", 0) != kRecordVersion) {
      return make_error(Errc::invalid, std::string(source) + ": unknown version " +
                                           j.value("version", json()).dump());
    }
    InstanceRecord r;
    protocol::from_json(j.at("assigned"), r.assigned);
    if (r.assigned.instance_id.empty()) {
      return make_error(Errc::invalid, std::string(source) + ": assigned.instanceId is empty");
    }
    r.token = j.at("token").get<std::string>();
    r.notify_socket = j.value("notifySocket", "");
    r.control_url = j.value("controlUrl", "");
    r.ports = j.at("ports").get<std::map<std::string, int>>();
    auto state = protocol::instance_state_from(j.at("state").get<std::string>());
    if (!state) return make_error(Errc::invalid, std::string(source) + ": bad state");
    r.state = *state;
    r.restarts = j.value("restarts", 0);
    r.failures = j.value("failures", std::vector<std::int64_t>{});
    r.started_at = j.value("startedAt", std::int64_t{0});
    r.error = j.value("error", "");
    for (const auto& pair : j.at("environment")) {
      r.environment.emplace_back(pair.at(0).get<std::string>(), pair.at(1).get<std::string>());
    }
    for (const auto& l : j.at("launches")) {
      LaunchRecord launch;
      launch.component = l.at("component").get<std::string>();
      launch.runtime = l.at("runtime").get<std::string>();
      launch.active = l.value("active", false);
      launch.handle.pid = l.value("pid", 0);
      launch.handle.state = l.value("handle", "");
      r.launches.push_back(std::move(launch));
    }
    return r;
  } catch (const json::exception& e) {
    return make_error(Errc::invalid, std::string(source) + ": " + e.what());
  }
}

Status save_record(const std::filesystem::path& file, const InstanceRecord& record) {
  return files::write_atomic(file, to_json(record).dump(2) + "\n", std::filesystem::perms(0600));
}

Result<InstanceRecord> load_record(const std::filesystem::path& file) {
  BATON_ASSIGN_OR_RETURN(auto text, files::read(file, 16u << 20));
  return parse_record(text, file.string());
}

}  // namespace baton::agent
