#include "cli/views.hpp"

#include <algorithm>
#include <cstdio>
#include <set>

#include "cli/format.hpp"
#include "common/text.hpp"

namespace baton::cli {

using nlohmann::json;

namespace {

const json kEmptyList = json::array();

const json kNull;

// The value at `key`, or null.
const json& json_at(const json& object, const char* key) {
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

std::string join_sorted(std::vector<std::string> items, std::string_view separator) {
  std::sort(items.begin(), items.end());
  return text::join(items, separator);
}

std::vector<std::string> string_list(const json& value) {
  std::vector<std::string> out;
  if (!value.is_array()) return out;
  for (const auto& item : value) {
    if (item.is_string()) out.push_back(item.get<std::string>());
  }
  return out;
}

// "baton-agent://agent-1" -> "agent-1".
std::string agent_name(const std::string& address) {
  std::size_t scheme = address.find("://");
  return scheme == std::string::npos ? address : address.substr(scheme + 3);
}

std::string number_text(const json& value) {
  if (value.is_number_integer()) return std::to_string(value.get<std::int64_t>());
  if (value.is_number()) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", value.get<double>());
    return text;
  }
  if (value.is_string()) return value.get<std::string>();
  return "-";
}

std::string bytes_text(const json& value) {
  if (value.is_number() && value.get<double>() >= 0) {
    return format_bytes(static_cast<std::uint64_t>(value.get<double>()));
  }
  return "-";
}

// "web:10001, admin:10002" (host ports; "web:10001->8080" when the bind port differs).
std::string ports_text(const json& endpoints) {
  std::vector<std::string> parts;
  if (!endpoints.is_object()) return "-";
  for (const auto& [name, binding] : endpoints.items()) {
    std::int64_t host_port = json_int(binding, "hostPort");
    std::int64_t bind_port = json_int(binding, "bindPort", host_port);
    std::string part = name + ":" + std::to_string(host_port);
    if (bind_port != host_port) part += "->" + std::to_string(bind_port);
    parts.push_back(std::move(part));
  }
  return parts.empty() ? "-" : text::join(parts, ", ");
}

std::string string_or_dash(const json& value) {
  if (value.is_string() && !value.get<std::string>().empty()) return value.get<std::string>();
  if (value.is_number()) return number_text(value);
  return "-";
}

void field(std::string& out, std::string_view label, const std::string& value) {
  std::string padded(label);
  padded += ':';
  padded.resize(std::max<std::size_t>(padded.size() + 1, 16), ' ');
  out += padded + value + "\n";
}

}  // namespace

std::string json_string(const json& object, const char* key, std::string fallback) {
  if (!object.is_object()) return fallback;
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return fallback;
  return it->get<std::string>();
}

std::int64_t json_int(const json& object, const char* key, std::int64_t fallback) {
  if (!object.is_object()) return fallback;
  auto it = object.find(key);
  if (it == object.end() || !it->is_number()) return fallback;
  if (it->is_number_float()) return static_cast<std::int64_t>(it->get<double>());
  return it->get<std::int64_t>();
}

bool json_bool(const json& object, const char* key, bool fallback) {
  if (!object.is_object()) return fallback;
  auto it = object.find(key);
  if (it == object.end() || !it->is_boolean()) return fallback;
  return it->get<bool>();
}

const json& json_list(const json& object, const char* key) {
  if (!object.is_object()) return kEmptyList;
  auto it = object.find(key);
  if (it == object.end() || !(it->is_array() || it->is_object())) return kEmptyList;
  return *it;
}

BundleCounts bundle_counts(const json& bundle) {
  BundleCounts counts;
  counts.installations = static_cast<int>(json_list(bundle, "bundleInstallations").size());
  for (const auto& execution : json_list(bundle, "bundleExecutions")) {
    if (json_bool(execution, "isStarted")) {
      ++counts.started;
    } else {
      ++counts.starting;
    }
  }
  if (bundle.is_object() && bundle.contains("bundleScale")) {
    counts.scale = static_cast<int>(json_int(bundle["bundleScale"], "scale"));
  }
  return counts;
}

std::string bundle_name(const json& bundle) {
  const json& attributes = json_list(bundle, "attributes");
  std::string name = json_string(attributes, "bundleName");
  if (name.empty()) name = json_string(attributes, "system");
  return name.empty() ? "?" : name;
}

std::string bundles_table(const json& bundles, const ViewOptions& options) {
  Table table({{"ID"},
               {"NAME"},
               {"VER", Align::right},
               {"#REP", Align::right},
               {"#STR", Align::right},
               {"#RUN", Align::right},
               {"ROLES"}});
  bool has_error = false;
  for (const auto& bundle : bundles) {
    bool error = json_bool(bundle, "hasError");
    has_error = has_error || error;
    const json& attributes = json_list(bundle, "attributes");
    std::string version = json_string(attributes, "compatibilityVersion");
    BundleCounts counts = bundle_counts(bundle);
    table.add_row(
        {(error ? "! " : "") + display_id(json_string(bundle, "bundleId"), options.long_ids),
         bundle_name(bundle), version.empty() ? "" : "v" + version,
         std::to_string(counts.installations), std::to_string(counts.starting),
         std::to_string(counts.started),
         join_sorted(string_list(json_list(attributes, "roles")), ", ")});
  }
  std::string out = table.render();
  if (has_error) {
    out +=
        "There are errors: use `baton info ID`, `baton events ID` or `baton logs ID` for "
        "further information\n";
  }
  return out;
}

std::string bundle_ids(const json& bundles, const ViewOptions& options) {
  std::string out;
  for (const auto& bundle : bundles) {
    out += display_id(json_string(bundle, "bundleId"), options.long_ids) + "\n";
  }
  return out;
}

std::string bundle_detail(const json& bundle, const ViewOptions& options) {
  const json& attributes = json_list(bundle, "attributes");
  std::string out;
  std::string id = json_string(bundle, "bundleId");
  field(out, "ID", id);
  field(out, "Name", bundle_name(bundle));
  std::string version = json_string(attributes, "compatibilityVersion");
  field(out, "Version", version.empty() ? "-" : "v" + version);
  std::string system = json_string(attributes, "system");
  std::string system_version = json_string(attributes, "systemVersion");
  field(out, "System",
        system.empty() ? "-" : system + (system_version.empty() ? "" : " v" + system_version));
  auto tags = string_list(json_list(attributes, "tags"));
  if (!tags.empty()) field(out, "Tags", text::join(tags, ", "));
  field(out, "Roles", join_sorted(string_list(json_list(attributes, "roles")), ", "));
  std::string resources = number_text(json_at(attributes, "nrOfCpus")) + " CPUs, " +
                          bytes_text(json_at(attributes, "memory")) + " memory, " +
                          bytes_text(json_at(attributes, "diskSpace")) + " disk";
  field(out, "Resources", resources);
  field(out, "Bundle digest", string_or_dash(json_at(bundle, "bundleDigest")));
  std::string configuration = json_string(bundle, "configurationDigest");
  field(out, "Configuration", configuration.empty() ? "none" : configuration);
  std::int64_t loaded_at = json_int(bundle, "loadedAt");
  if (loaded_at > 0) {
    field(out, "Loaded",
          format_time(loaded_at) + " (" + format_age(loaded_at, options.now_ms) + ")");
  }

  const json& scale = json_list(bundle, "bundleScale");
  BundleCounts counts = bundle_counts(bundle);
  std::string scale_text = std::to_string(counts.scale) + " (" + std::to_string(counts.started) +
                           " started, " + std::to_string(counts.starting) + " starting)";
  std::string affinity = json_string(scale, "affinity");
  if (!affinity.empty()) scale_text += ", affinity " + display_id(affinity, options.long_ids);
  field(out, "Scale", scale_text);
  if (scale.is_object() && scale.contains("shortfall") && !scale["shortfall"].is_null()) {
    const json& shortfall = scale["shortfall"];
    field(out, "Shortfall",
          shortfall.is_string() ? shortfall.get<std::string>() : shortfall.dump());
  }
  if (json_bool(bundle, "hasError")) {
    field(out, "Error", string_or_dash(json_at(bundle, "error")));
  }

  const json& endpoints = json_list(json_list(bundle, "bundleConfig"), "endpoints");
  if (!endpoints.empty()) {
    Table table({{"ENDPOINT"}, {"PROTOCOL"}, {"SERVICE"}, {"ACLS", Align::right}});
    for (const auto& [name, config] : endpoints.items()) {
      table.add_row({name, json_string(config, "bindProtocol", "-"), service_name(name, config),
                     std::to_string(json_list(config, "acls").size())});
    }
    out += "\n" + table.render();
  }

  const json& executions = json_list(bundle, "bundleExecutions");
  out += "\n";
  if (executions.empty()) {
    out += "No instances.\n";
  } else {
    Table table({{"INSTANCE"},
                 {"HOST"},
                 {"AGENT"},
                 {"PID", Align::right},
                 {"STATE"},
                 {"PORTS"},
                 {"STARTED"},
                 {"RESTARTS", Align::right},
                 {"ERROR"}});
    for (const auto& execution : executions) {
      std::string state = json_string(execution, "state");
      if (state.empty()) state = json_bool(execution, "isStarted") ? "started" : "starting";
      std::int64_t pid = json_int(execution, "pid");
      table.add_row({json_string(execution, "instanceId", "-"), json_string(execution, "host", "-"),
                     json_string(execution, "agent", "-"), pid > 0 ? std::to_string(pid) : "-",
                     state, ports_text(json_list(execution, "endpoints")),
                     format_age(json_int(execution, "startedAt"), options.now_ms),
                     std::to_string(json_int(execution, "restarts")),
                     json_string(execution, "error")});
    }
    out += table.render();
  }

  const json& installations = json_list(bundle, "bundleInstallations");
  std::vector<std::string> agents;
  for (const auto& installation : installations) {
    const json& address = json_list(installation, "uniqueAddress");
    std::string where = json_string(address, "address");
    // The core holds every loaded bundle; agents are named by their uid.
    std::string name = where.starts_with("baton-core://") ? "core" : json_string(address, "uid");
    if (name.empty()) name = agent_name(where.empty() ? "?" : where);
    agents.push_back(name);
  }
  out += "\n";
  field(out, "Installed on", agents.empty() ? "no agent yet" : join_sorted(agents, ", "));
  return out;
}

std::string service_name(const std::string& endpoint, const json& endpoint_config) {
  std::string name = json_string(endpoint_config, "serviceName");
  if (!name.empty()) return name;
  for (const auto& uri : json_list(endpoint_config, "services")) {
    if (!uri.is_string()) continue;
    std::string text = uri.get<std::string>();
    std::size_t scheme = text.find("://");
    std::size_t path = text.find('/', scheme == std::string::npos ? 0 : scheme + 3);
    if (path == std::string::npos) continue;
    std::string segment = text.substr(path + 1, text.find_first_of("/?#", path + 1) - path - 1);
    if (!segment.empty()) return segment;
  }
  return endpoint;
}

std::vector<ServiceRow> service_rows(const json& bundles) {
  std::vector<ServiceRow> rows;
  for (const auto& bundle : bundles) {
    const json& endpoints = json_list(json_list(bundle, "bundleConfig"), "endpoints");
    for (const auto& [name, config] : endpoints.items()) {
      ServiceRow row{service_name(name, config),
                     name,
                     json_string(config, "bindProtocol", "-"),
                     json_string(bundle, "bundleId"),
                     bundle_name(bundle),
                     {}};
      for (const auto& execution : json_list(bundle, "bundleExecutions")) {
        if (!json_bool(execution, "isStarted")) continue;
        const json& binding = json_list(json_list(execution, "endpoints"), name.c_str());
        std::int64_t port = json_int(binding, "hostPort", json_int(binding, "bindPort"));
        if (port <= 0) continue;
        std::string host = json_string(execution, "host", "?");
        if (host.find(':') != std::string::npos) host = "[" + host + "]";
        row.hosts.push_back(host + ":" + std::to_string(port));
      }
      std::sort(row.hosts.begin(), row.hosts.end());
      rows.push_back(std::move(row));
    }
  }
  std::sort(rows.begin(), rows.end(), [](const ServiceRow& a, const ServiceRow& b) {
    return std::tie(a.service, a.bundle_name, a.bundle_id, a.endpoint) <
           std::tie(b.service, b.bundle_name, b.bundle_id, b.endpoint);
  });
  return rows;
}

std::string services_table(const json& bundles, const ViewOptions& options) {
  Table table({{"SERVICE"}, {"ENDPOINT"}, {"PROTO"}, {"BUNDLE"}, {"NAME"}, {"HOSTS"}});
  for (const auto& row : service_rows(bundles)) {
    table.add_row({row.service, row.endpoint, row.protocol,
                   display_id(row.bundle_id, options.long_ids), row.bundle_name,
                   row.hosts.empty() ? "-" : text::join(row.hosts, ", ")});
  }
  return table.render();
}

std::string timestamp_text(const json& value) {
  if (value.is_number()) {
    return format_time(value.is_number_float() ? static_cast<std::int64_t>(value.get<double>())
                                               : value.get<std::int64_t>());
  }
  if (value.is_string()) return value.get<std::string>();
  return "-";
}

std::string events_table(const json& events) {
  Table table({{"TIME"}, {"EVENT"}, {"DESCRIPTION"}});
  for (const auto& event : events) {
    table.add_row({timestamp_text(json_at(event, "timestamp")), json_string(event, "event", "-"),
                   json_string(event, "description")});
  }
  return table.render();
}

std::string logs_table(const json& lines) {
  Table table({{"TIME"}, {"HOST"}, {"LOG"}});
  for (const auto& line : lines) {
    table.add_row({timestamp_text(json_at(line, "timestamp")), json_string(line, "host", "-"),
                   json_string(line, "message")});
  }
  return table.render();
}

std::string log_line(const json& line) {
  return timestamp_text(json_at(line, "timestamp")) + "  " + json_string(line, "host", "-") + "  " +
         json_string(line, "message");
}

std::string members_table(const json& members) {
  Table table({{"UID"}, {"ADDRESS"}, {"ROLES"}, {"STATUS"}, {"REACHABLE"}});
  std::set<std::string> unreachable;
  for (const auto& entry : json_list(members, "unreachable")) {
    const json& node = entry.contains("node") ? json_at(entry, "node") : entry;
    unreachable.insert(json_string(node, "address"));
  }
  for (const auto& member : json_list(members, "members")) {
    const json& node = json_list(member, "node");
    std::string address = json_string(node, "address", "-");
    table.add_row({string_or_dash(json_at(node, "uid")), address,
                   join_sorted(string_list(json_list(member, "roles")), ", "),
                   json_string(member, "status", "-"),
                   unreachable.count(address) > 0 ? "No" : "Yes"});
  }
  return table.render();
}

std::string agents_table(const json& agents) {
  Table table({{"NAME"},
               {"ADDRESS"},
               {"ROLES"},
               {"UP"},
               {"RUNTIMES"},
               {"CPUS", Align::right},
               {"MEMORY", Align::right},
               {"DISK", Align::right},
               {"OBSERVED BY"}});
  for (const auto& agent : agents) {
    std::string address = json_string(agent, "address", "-");
    std::vector<std::string> runtimes;
    for (const auto& [name, info] : json_list(agent, "runtimes").items()) {
      if (json_bool(info, "available", true)) runtimes.push_back(name);
    }
    std::vector<std::string> observers;
    for (const auto& observer : json_list(agent, "observedBy")) {
      observers.push_back(json_string(json_list(observer, "node"), "address", "?"));
    }
    const json& resources = json_list(agent, "resourceAvailable");
    bool up = json_bool(agent, "up", true);
    table.add_row(
        {agent_name(address), address, join_sorted(string_list(json_list(agent, "roles")), ", "),
         up ? "yes" : "no", runtimes.empty() ? "-" : join_sorted(runtimes, ", "),
         number_text(json_at(resources, "nrOfCpus")), bytes_text(json_at(resources, "memory")),
         bytes_text(json_at(resources, "diskSpace")),
         observers.empty() ? "-" : text::join(observers, ", ")});
  }
  return table.render();
}

std::string history_table(const json& history, const ViewOptions& options) {
  Table table({{"SEQ", Align::right}, {"ID"}, {"NAME"}, {"LOADED"}, {"BY"}, {"AVAILABLE"}});
  for (const auto& entry : history) {
    std::int64_t loaded_at = json_int(entry, "loadedAt");
    table.add_row(
        {std::to_string(json_int(entry, "sequence")),
         display_id(json_string(entry, "bundleId"), options.long_ids),
         json_string(entry, "bundleName", "-"), loaded_at > 0 ? format_time(loaded_at) : "-",
         json_string(entry, "loadedBy", "-"), json_bool(entry, "available") ? "yes" : "no"});
  }
  return table.render();
}

}  // namespace baton::cli
