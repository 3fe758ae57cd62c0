#pragma once
// The control protocol's JSON (docs/control-protocol.md) as the text `baton` prints. Pure
// functions of the JSON and the options, tolerant of missing fields (an older or newer core).

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace baton::cli {

struct ViewOptions {
  bool long_ids = false;
  std::int64_t now_ms = 0;  // for ages ("3m ago")
};

// Counts from one bundle object of GET /v2/bundles.
struct BundleCounts {
  int installations = 0;  // #REP
  int starting = 0;       // #STR: executions not started yet
  int started = 0;        // #RUN
  int scale = 0;          // bundleScale.scale
};
BundleCounts bundle_counts(const nlohmann::json& bundle);

// Accessors that never throw: the value at `key` when it has the type, else the fallback.
std::string json_string(const nlohmann::json& object, const char* key, std::string fallback = {});
std::int64_t json_int(const nlohmann::json& object, const char* key, std::int64_t fallback = 0);
bool json_bool(const nlohmann::json& object, const char* key, bool fallback = false);
// The array (or object) at `key`, or an empty array.
const nlohmann::json& json_list(const nlohmann::json& object, const char* key);

// attributes.bundleName, else attributes.system, else "?".
std::string bundle_name(const nlohmann::json& bundle);

// `baton info`: ID NAME VER #REP #STR #RUN ROLES; an ID of a bundle with an error is marked
// "! " and a note follows the table (ConductR's layout).
std::string bundles_table(const nlohmann::json& bundles, const ViewOptions& options);
// `baton info -q`: one id per line.
std::string bundle_ids(const nlohmann::json& bundles, const ViewOptions& options);
// `baton info ID`: attributes, endpoints, instances, installations, scale, shortfall, error.
std::string bundle_detail(const nlohmann::json& bundle, const ViewOptions& options);

// A bundle endpoint's service name: serviceName, else the first path segment of its first
// `services` URI ("http://:9000/visualizer" -> "visualizer"), else the endpoint name.
std::string service_name(const std::string& endpoint, const nlohmann::json& endpoint_config);

struct ServiceRow {
  std::string service;
  std::string endpoint;
  std::string protocol;
  std::string bundle_id;
  std::string bundle_name;
  std::vector<std::string> hosts;  // "host:port" of started instances
};
std::vector<ServiceRow> service_rows(const nlohmann::json& bundles);
// `baton services`: SERVICE ENDPOINT PROTO BUNDLE NAME HOSTS.
std::string services_table(const nlohmann::json& bundles, const ViewOptions& options);

// `baton events ID`: TIME EVENT DESCRIPTION.
std::string events_table(const nlohmann::json& events);
// `baton logs ID`: TIME HOST LOG.
std::string logs_table(const nlohmann::json& lines);
// One log object as "<time>  <host>  <message>" (the follow form).
std::string log_line(const nlohmann::json& line);
// A "timestamp" that may be milliseconds or already text.
std::string timestamp_text(const nlohmann::json& value);

// `baton members`: UID ADDRESS ROLES STATUS REACHABLE.
std::string members_table(const nlohmann::json& members);
// `baton agents`: NAME ADDRESS ROLES UP RUNTIMES CPUS MEMORY DISK OBSERVED BY.
std::string agents_table(const nlohmann::json& agents);
// `baton history`: SEQ ID NAME LOADED BY AVAILABLE.
std::string history_table(const nlohmann::json& history, const ViewOptions& options);

}  // namespace baton::cli
