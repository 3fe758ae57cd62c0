#pragma once
// The core's live model: bundles, instances, agents, history and stored files. The durable part
// of each record is written to the store as JSON under its key (docs/scheduling.md, "State");
// the rest (what agents report, timers) lives only in memory and is rebuilt from the agents.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "bundle/descriptor.hpp"
#include "common/result.hpp"
#include "protocol/agent_messages.hpp"

namespace baton::core {

using SteadyTime = std::chrono::steady_clock::time_point;

// Milliseconds since the Unix epoch, now.
std::int64_t now_ms();
// "2026-11-22T00:35:30.582Z" for milliseconds since the epoch.
std::string iso_time(std::int64_t ms);

// Store keys.
std::string bundle_key(const std::string& bundle_id);
std::string instance_key(const std::string& instance_id);
std::string agent_key(const std::string& name);
std::string history_key(std::int64_t sequence);
std::string file_key(const std::string& digest);
inline constexpr const char* kMetaKey = "meta/core";

struct BundleRecord {
  // Durable.
  std::string bundle_id;
  std::string bundle_digest;
  std::string configuration_digest;  // empty without a configuration
  std::string bundle_file_name;
  std::string configuration_file_name;
  std::string bundle_conf;   // bundle.conf from inside the bundle zip
  std::string overlay_conf;  // the configuration's bundle.conf; empty when none
  int scale = 0;
  std::string affinity;  // full bundle id, or empty
  bool has_error = false;
  std::string error;
  std::int64_t loaded_at = 0;
  std::string loaded_by;
  std::int64_t revision = 0;  // the store revision of bundles/<id>

  // Derived or soft.
  bundle::Descriptor descriptor;     // effective (overlay applied)
  int failures = 0;                  // consecutive failed starts
  SteadyTime retry_at{};             // backoff: no replacement before this
  std::string shortfall;             // why the scale cannot be met now; empty when it can
  std::set<std::string> prefetched;  // agents told to prefetch it that reported it once
};

struct InstanceRecord {
  // Durable.
  std::string instance_id;
  std::string bundle_id;
  std::string agent;
  std::int64_t created_at = 0;
  std::uint64_t sequence = 0;  // creation order (start gate fairness)

  // Soft: what the agent reports.
  bool reported = false;   // the agent reported it since it was (re)released
  bool recovered = false;  // loaded from the store at start, not reported yet
  bool released = false;   // in the agent's assignment (the start gate let it go)
  bool removing = false;   // no longer wanted: kept until the agent reports it gone
  protocol::InstanceState state = protocol::InstanceState::fetching;
  int pid = 0;
  std::map<std::string, protocol::EndpointBinding> endpoints;
  std::int64_t started_at = 0;
  int restarts = 0;
  std::string error;
  std::map<std::string, std::vector<protocol::Peer>> peers;  // frozen when released
};

struct AgentRecord {
  protocol::Registration registration;  // durable without its instances and bundles
  bool registered = false;              // registered with this run of the core (else: recovering)
  bool up = true;
  SteadyTime last_seen{};
  std::uint64_t index = 0;      // assignment index
  std::string assignment_body;  // the serialized assignment without its index
  std::string assignment_json;  // as sent: with the index
  std::set<std::string> holds;  // digests of the files it reports
  protocol::Resources available;
  std::vector<std::string> prefetch;  // digests it should fetch now
};

struct HistoryRecord {
  std::int64_t sequence = 0;
  std::string bundle_id;
  std::string bundle_name;
  std::string bundle_digest;
  std::string configuration_digest;
  std::string bundle_file_name;
  std::string configuration_file_name;
  std::string bundle_conf;
  std::string overlay_conf;
  std::int64_t loaded_at = 0;
  std::string loaded_by;
};

struct FileRecord {
  std::string digest;
  std::string file_name;
  std::uint64_t bytes = 0;
  std::int64_t last_used = 0;  // ms: last load or unload that involved it
};

// Store encodings. The decoders name the key on errors.
std::string encode(const BundleRecord& record);
Result<BundleRecord> decode_bundle(const std::string& key, const std::string& value);
std::string encode(const InstanceRecord& record);
Result<InstanceRecord> decode_instance(const std::string& key, const std::string& value);
std::string encode_agent(const protocol::Registration& registration);
Result<protocol::Registration> decode_agent(const std::string& key, const std::string& value);
std::string encode(const HistoryRecord& record);
Result<HistoryRecord> decode_history(const std::string& key, const std::string& value);
std::string encode(const FileRecord& record);
Result<FileRecord> decode_file(const std::string& key, const std::string& value);

// The service names an endpoint answers to: its service-name, the first path segment of each
// `services` URI, and (when it has neither) its own name.
std::vector<std::string> service_names(const bundle::Endpoint& endpoint);

}  // namespace baton::core
