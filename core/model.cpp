#include "core/model.hpp"

#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

namespace baton::core {

using nlohmann::json;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string iso_time(std::int64_t ms) {
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char out[64];
  std::snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", parts.tm_year + 1900,
                parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
                static_cast<int>(ms % 1000));
  return out;
}

std::string bundle_key(const std::string& bundle_id) {
  return "bundles/" + bundle_id;
}
std::string instance_key(const std::string& instance_id) {
  return "instances/" + instance_id;
}
std::string agent_key(const std::string& name) {
  return "agents/" + name;
}
std::string file_key(const std::string& digest) {
  return "files/" + digest;
}
std::string history_key(std::int64_t sequence) {
  // Zero-padded so that key order is sequence order.
  char out[32];
  std::snprintf(out, sizeof out, "history/%012" PRId64, sequence);
  return out;
}

namespace {

template <class T>
Result<T> decode_with(const std::string& key, const std::string& value,
                      void (*read)(const json&, T&)) {
  try {
    T out;
    read(json::parse(value), out);
    return out;
  } catch (const json::exception& e) {
    return make_error(Errc::internal, "store entry " + key + ": " + e.what());
  }
}

template <class T>
T optional_field(const json& j, const char* key, T fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  return it->get<T>();
}

}  // namespace

std::string encode(const BundleRecord& r) {
  json j{{"bundleId", r.bundle_id},
         {"bundleDigest", r.bundle_digest},
         {"configurationDigest", r.configuration_digest},
         {"bundleFileName", r.bundle_file_name},
         {"configurationFileName", r.configuration_file_name},
         {"bundleConf", r.bundle_conf},
         {"overlayConf", r.overlay_conf},
         {"scale", r.scale},
         {"affinity", r.affinity},
         {"hasError", r.has_error},
         {"error", r.error},
         {"loadedAt", r.loaded_at},
         {"loadedBy", r.loaded_by}};
  return j.dump();
}

Result<BundleRecord> decode_bundle(const std::string& key, const std::string& value) {
  return decode_with<BundleRecord>(key, value, [](const json& j, BundleRecord& r) {
    j.at("bundleId").get_to(r.bundle_id);
    j.at("bundleDigest").get_to(r.bundle_digest);
    r.configuration_digest = optional_field<std::string>(j, "configurationDigest", "");
    j.at("bundleFileName").get_to(r.bundle_file_name);
    r.configuration_file_name = optional_field<std::string>(j, "configurationFileName", "");
    j.at("bundleConf").get_to(r.bundle_conf);
    r.overlay_conf = optional_field<std::string>(j, "overlayConf", "");
    r.scale = optional_field<int>(j, "scale", 0);
    r.affinity = optional_field<std::string>(j, "affinity", "");
    r.has_error = optional_field<bool>(j, "hasError", false);
    r.error = optional_field<std::string>(j, "error", "");
    r.loaded_at = optional_field<std::int64_t>(j, "loadedAt", 0);
    r.loaded_by = optional_field<std::string>(j, "loadedBy", "");
  });
}

std::string encode(const InstanceRecord& r) {
  json j{{"instanceId", r.instance_id},
         {"bundleId", r.bundle_id},
         {"agent", r.agent},
         {"createdAt", r.created_at},
         {"sequence", r.sequence}};
  return j.dump();
}

Result<InstanceRecord> decode_instance(const std::string& key, const std::string& value) {
  return decode_with<InstanceRecord>(key, value, [](const json& j, InstanceRecord& r) {
    j.at("instanceId").get_to(r.instance_id);
    j.at("bundleId").get_to(r.bundle_id);
    j.at("agent").get_to(r.agent);
    r.created_at = optional_field<std::int64_t>(j, "createdAt", 0);
    r.sequence = optional_field<std::uint64_t>(j, "sequence", 0);
  });
}

std::string encode_agent(const protocol::Registration& registration) {
  protocol::Registration durable = registration;
  durable.instances.clear();
  durable.bundles.clear();
  json j = durable;
  return j.dump();
}

Result<protocol::Registration> decode_agent(const std::string& key, const std::string& value) {
  return decode_with<protocol::Registration>(
      key, value, [](const json& j, protocol::Registration& r) { j.get_to(r); });
}

std::string encode(const HistoryRecord& r) {
  json j{{"sequence", r.sequence},
         {"bundleId", r.bundle_id},
         {"bundleName", r.bundle_name},
         {"bundleDigest", r.bundle_digest},
         {"configurationDigest", r.configuration_digest},
         {"bundleFileName", r.bundle_file_name},
         {"configurationFileName", r.configuration_file_name},
         {"bundleConf", r.bundle_conf},
         {"overlayConf", r.overlay_conf},
         {"loadedAt", r.loaded_at},
         {"loadedBy", r.loaded_by}};
  return j.dump();
}

Result<HistoryRecord> decode_history(const std::string& key, const std::string& value) {
  return decode_with<HistoryRecord>(key, value, [](const json& j, HistoryRecord& r) {
    j.at("sequence").get_to(r.sequence);
    j.at("bundleId").get_to(r.bundle_id);
    r.bundle_name = optional_field<std::string>(j, "bundleName", "");
    j.at("bundleDigest").get_to(r.bundle_digest);
    r.configuration_digest = optional_field<std::string>(j, "configurationDigest", "");
    j.at("bundleFileName").get_to(r.bundle_file_name);
    r.configuration_file_name = optional_field<std::string>(j, "configurationFileName", "");
    j.at("bundleConf").get_to(r.bundle_conf);
    r.overlay_conf = optional_field<std::string>(j, "overlayConf", "");
    r.loaded_at = optional_field<std::int64_t>(j, "loadedAt", 0);
    r.loaded_by = optional_field<std::string>(j, "loadedBy", "");
  });
}

std::string encode(const FileRecord& r) {
  json j{{"digest", r.digest},
         {"fileName", r.file_name},
         {"bytes", r.bytes},
         {"lastUsed", r.last_used}};
  return j.dump();
}

Result<FileRecord> decode_file(const std::string& key, const std::string& value) {
  return decode_with<FileRecord>(key, value, [](const json& j, FileRecord& r) {
    j.at("digest").get_to(r.digest);
    r.file_name = optional_field<std::string>(j, "fileName", "");
    r.bytes = optional_field<std::uint64_t>(j, "bytes", 0);
    r.last_used = optional_field<std::int64_t>(j, "lastUsed", 0);
  });
}

std::vector<std::string> service_names(const bundle::Endpoint& endpoint) {
  if (!endpoint.service_name.empty()) return {endpoint.service_name};
  std::vector<std::string> out;
  for (const std::string& uri : endpoint.services) {
    // "http://:9000/path/more" -> "path"
    std::string_view rest = uri;
    if (auto scheme = rest.find("://"); scheme != std::string_view::npos) {
      rest.remove_prefix(scheme + 3);
      auto slash = rest.find('/');
      rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    }
    while (!rest.empty() && rest.front() == '/')
      rest.remove_prefix(1);
    std::string_view segment = rest.substr(0, rest.find_first_of("/?#"));
    if (segment.empty()) continue;
    std::string name(segment);
    bool seen = false;
    for (const auto& existing : out)
      seen = seen || existing == name;
    if (!seen) out.push_back(std::move(name));
  }
  if (out.empty()) out.push_back(endpoint.name);
  return out;
}

}  // namespace baton::core
