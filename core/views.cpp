// The JSON the control protocol answers with (ConductR's shapes, docs/control-protocol.md), and
// the service table behind /services. Both are rebuilt only when the model changed.

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/core.hpp"

namespace baton::core {

using nlohmann::json;
using protocol::InstanceState;

struct Core::ServiceTable {
  struct Entry {
    std::vector<std::string> addresses;  // "http://10.0.0.5:10001"
    std::vector<std::string> hosts;      // "10.0.0.5:10001"
    mutable std::atomic<std::uint64_t> next{0};
  };
  std::map<std::string, std::unique_ptr<Entry>, std::less<>> by_name;
};

namespace {

json acl_json(const bundle::Acl& acl) {
  json requests = json::array();
  if (acl.protocol == bundle::Protocol::http) {
    for (const auto& rule : acl.http_requests) {
      // ConductR's spelling: path, pathBeg, pathRegex.
      std::string key = rule.match == "path-beg"     ? "pathBeg"
                        : rule.match == "path-regex" ? "pathRegex"
                                                     : "path";
      json r{{key, rule.value}};
      if (rule.method) r["method"] = *rule.method;
      if (rule.rewrite) r["rewrite"] = *rule.rewrite;
      requests.push_back(std::move(r));
    }
  } else {
    for (int port : acl.ports)
      requests.push_back(port);
  }
  return json{{bundle::to_string(acl.protocol), json{{"requests", std::move(requests)}}}};
}

json nullable(const std::string& text) {
  return text.empty() ? json(nullptr) : json(text);
}

}  // namespace

std::string Core::bundle_object_locked(const BundleRecord& b) const {
  const bundle::Descriptor& d = b.descriptor;
  json attributes{{"system", d.system},
                  {"nrOfCpus", d.nr_of_cpus},
                  {"memory", d.memory},
                  {"diskSpace", d.disk_space},
                  {"roles", d.roles},
                  {"bundleName", d.name},
                  {"compatibilityVersion", d.compatibility_version},
                  {"systemVersion", d.system_version},
                  {"tags", d.tags},
                  {"annotations", d.annotations}};
  json endpoints = json::object();
  for (const bundle::Endpoint* e : d.endpoints()) {
    json acls = json::array();
    for (const auto& acl : e->acls)
      acls.push_back(acl_json(acl));
    json endpoint{{"bindProtocol", bundle::to_string(e->protocol)},
                  {"services", e->services},
                  {"acls", std::move(acls)}};
    if (!e->service_name.empty()) endpoint["serviceName"] = e->service_name;
    endpoints[e->name] = std::move(endpoint);
  }
  json executions = json::array();
  for (const auto& [id, rec] : instances_) {
    if (rec.bundle_id != b.bundle_id || !agent_up(rec.agent)) continue;
    const AgentRecord& agent = agents_.at(rec.agent);
    bool started = rec.reported && rec.state == InstanceState::started;
    std::string state = rec.reported    ? protocol::to_string(rec.state)
                        : rec.recovered ? "unknown"
                        : rec.released  ? "assigned"
                                        : "waiting";
    if (rec.removing && !rec.reported) state = "stopping";
    if (rec.removing &&
        (rec.state == InstanceState::started || rec.state == InstanceState::starting ||
         rec.state == InstanceState::fetching)) {
      state = "stopping";
    }
    json bound = json::object();
    for (const auto& [name, binding] : rec.endpoints) {
      bound[name] = {{"bindPort", binding.bind_port}, {"hostPort", binding.host_port}};
    }
    json execution{{"host", agent.registration.address},
                   {"pid", rec.pid},
                   {"isStarted", started && !rec.removing},
                   {"endpoints", std::move(bound)},
                   {"instanceId", id},
                   {"agent", rec.agent},
                   {"state", state},
                   {"startedAt", rec.started_at},
                   {"restarts", rec.restarts}};
    if (!rec.error.empty()) execution["error"] = rec.error;
    executions.push_back(std::move(execution));
  }
  auto file_uri = [&](const std::string& digest) -> json {
    if (digest.empty()) return nullptr;
    return "file://" + files_.path_of(digest).string();
  };
  json installations = json::array();
  installations.push_back({{"uniqueAddress", {{"address", self_address_}, {"uid", core_uid_}}},
                           {"bundleFile", file_uri(b.bundle_digest)},
                           {"configurationFile", file_uri(b.configuration_digest)}});
  for (const auto& [name, agent] : agents_) {
    if (!agent.up || !agent.holds.count(b.bundle_digest)) continue;
    json configuration = nullptr;
    if (!b.configuration_digest.empty() && agent.holds.count(b.configuration_digest)) {
      configuration = "baton-agent://" + name + "/" + b.configuration_file_name;
    }
    installations.push_back(
        {{"uniqueAddress", {{"address", "baton-agent://" + name}, {"uid", name}}},
         {"bundleFile", "baton-agent://" + name + "/" + b.bundle_file_name},
         {"configurationFile", std::move(configuration)}});
  }
  json out{{"bundleId", b.bundle_id}, {"bundleDigest", b.bundle_digest}};
  if (!b.configuration_digest.empty()) out["configurationDigest"] = b.configuration_digest;
  out["attributes"] = std::move(attributes);
  out["bundleConfig"] = {{"endpoints", std::move(endpoints)}};
  out["bundleScale"] = {{"scale", b.scale},
                        {"affinity", nullable(b.affinity)},
                        {"shortfall", nullable(b.has_error ? std::string() : b.shortfall)}};
  out["bundleExecutions"] = std::move(executions);
  out["bundleInstallations"] = std::move(installations);
  out["hasError"] = b.has_error;
  out["error"] = nullable(b.error);
  out["loadedAt"] = b.loaded_at;
  out["loadedBy"] = b.loaded_by;
  return out.dump();
}

std::shared_ptr<const std::string> Core::bundles_json() {
  std::uint64_t version = version_.load(std::memory_order_acquire);
  {
    std::lock_guard cache(cache_mutex_);
    if (listing_ && listing_version_ == version) return listing_;
  }
  std::lock_guard lock(mutex_);
  version = version_.load(std::memory_order_acquire);  // exact under the model's lock
  {
    std::lock_guard cache(cache_mutex_);
    if (listing_ && listing_version_ == version) return listing_;
  }
  auto body = std::make_shared<std::string>("[");
  bool first = true;
  for (const auto& [id, b] : bundles_) {
    if (!first) *body += ',';
    first = false;
    *body += bundle_object_locked(b);
  }
  *body += ']';
  std::lock_guard cache(cache_mutex_);
  listing_ = std::move(body);
  listing_version_ = version;
  return listing_;
}

std::string Core::history_json(const std::optional<std::string>& name) {
  std::lock_guard lock(mutex_);
  json out = json::array();
  for (auto it = history_.rbegin(); it != history_.rend(); ++it) {
    const HistoryRecord& h = it->second;
    if (name && h.bundle_name != *name) continue;
    auto kept = [&](const std::string& digest) {
      return digest.empty() || file_records_.count(digest) > 0;
    };
    out.push_back({{"sequence", h.sequence},
                   {"bundleId", h.bundle_id},
                   {"bundleName", h.bundle_name},
                   {"bundleDigest", h.bundle_digest},
                   {"configurationDigest", nullable(h.configuration_digest)},
                   {"bundleFileName", h.bundle_file_name},
                   {"configurationFileName", nullable(h.configuration_file_name)},
                   {"loadedAt", h.loaded_at},
                   {"loadedBy", h.loaded_by},
                   {"loaded", bundles_.count(h.bundle_id) > 0},
                   {"available", kept(h.bundle_digest) && kept(h.configuration_digest)}});
  }
  return out.dump();
}

std::string Core::members_json() {
  std::lock_guard lock(mutex_);
  json node{{"address", self_address_}, {"uid", core_uid_}};
  json out{{"selfNode", node},
           {"members", json::array({{{"node", node}, {"status", "Up"}, {"roles", json::array()}}})},
           {"unreachable", json::array()}};
  return out.dump();
}

std::string Core::agents_json() {
  std::lock_guard lock(mutex_);
  json node{{"address", self_address_}, {"uid", core_uid_}};
  json out = json::array();
  for (const auto& [name, agent] : agents_) {
    const auto& reg = agent.registration;
    int instances = 0;
    for (const auto& [id, rec] : instances_)
      instances += rec.agent == name && !rec.removing;
    json runtimes = json::object();
    for (const auto& [runtime, info] : reg.runtimes)
      runtimes[runtime] = info;
    out.push_back({{"address", "baton-agent://" + name},
                   {"name", name},
                   {"host", reg.address},
                   {"apiUrl", reg.api_url},
                   {"roles", reg.roles},
                   {"observedBy", json::array({{{"node", node}}})},
                   {"resourceAvailable",
                    {{"nrOfCpus", agent.available.cpus},
                     {"memory", agent.available.memory},
                     {"diskSpace", agent.available.disk}}},
                   {"resources",
                    {{"nrOfCpus", reg.resources.cpus},
                     {"memory", reg.resources.memory},
                     {"diskSpace", reg.resources.disk}}},
                   {"runtimes", std::move(runtimes)},
                   {"up", agent.up},
                   {"registered", agent.registered},
                   {"instances", instances},
                   {"bundles", std::vector<std::string>(agent.holds.begin(), agent.holds.end())}});
  }
  return out.dump();
}

std::shared_ptr<const Core::ServiceTable> Core::services() {
  std::uint64_t version = version_.load(std::memory_order_acquire);
  {
    std::lock_guard cache(cache_mutex_);
    if (services_ && services_version_ == version) return services_;
  }
  std::lock_guard lock(mutex_);
  version = version_.load(std::memory_order_acquire);
  auto table = std::make_shared<ServiceTable>();
  for (const auto& [id, rec] : instances_) {
    if (rec.removing || !rec.reported || rec.state != InstanceState::started ||
        !agent_usable(rec.agent)) {
      continue;
    }
    auto b = bundles_.find(rec.bundle_id);
    if (b == bundles_.end()) continue;
    const std::string& address = agents_.at(rec.agent).registration.address;
    for (const bundle::Endpoint* endpoint : b->second.descriptor.endpoints()) {
      auto binding = rec.endpoints.find(endpoint->name);
      if (binding == rec.endpoints.end()) continue;
      std::string host = address + ":" + std::to_string(binding->second.host_port);
      for (const std::string& name : service_names(*endpoint)) {
        auto& entry = table->by_name[name];
        if (!entry) entry = std::make_unique<ServiceTable::Entry>();
        entry->addresses.push_back(std::string(bundle::to_string(endpoint->protocol)) + "://" +
                                   host);
        entry->hosts.push_back(host);
      }
    }
  }
  std::lock_guard cache(cache_mutex_);
  services_ = std::move(table);
  services_version_ = version;
  return services_;
}

std::optional<std::string> Core::service_address(std::string_view name) {
  auto table = services();
  auto it = table->by_name.find(name);
  if (it == table->by_name.end() || it->second->addresses.empty()) return std::nullopt;
  const auto& entry = *it->second;
  std::uint64_t turn = entry.next.fetch_add(1, std::memory_order_relaxed);
  return entry.addresses[turn % entry.addresses.size()];
}

std::vector<std::string> Core::service_hosts(std::string_view name) {
  auto table = services();
  auto it = table->by_name.find(name);
  if (it == table->by_name.end()) return {};
  return it->second->hosts;
}

}  // namespace baton::core
