#pragma once
// The core's state machine: the live model of bundles, instances and agents, written through
// the store, with the scheduling loop that turns desired scales into per-agent assignments
// (docs/scheduling.md). Transport-free: core/api.cpp maps HTTP to these calls, and tests can
// call them directly. Thread-safe: every public call may come from any thread.
//
// Locking: one mutex guards the model; a change is committed to the store while holding it and
// applied to memory only after the commit succeeded, so what is in memory (and answered) is
// always what the store holds. GET /v2/bundles is served from a serialized copy cached per
// model version, without the mutex.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/result.hpp"
#include "core/events.hpp"
#include "core/file_store.hpp"
#include "core/model.hpp"
#include "core/options.hpp"
#include "core/upload.hpp"
#include "http/server.hpp"
#include "protocol/agent_messages.hpp"
#include "store/store.hpp"

namespace baton::scheduler {
struct Plan;
}

namespace baton::core {

// Where the logs of one instance can be read.
struct LogSource {
  std::string instance_id;
  std::string agent;
  std::string host;     // the agent's address
  std::string api_url;  // the agent's API
};

class Core {
 public:
  // Opens <data>/store.db and <data>/files, loads the state and starts the scheduling loop.
  static Result<std::unique_ptr<Core>> open(CoreOptions options);
  // The same with a given store (tests).
  static Result<std::unique_ptr<Core>> open(CoreOptions options, store::StorePtr store);
  ~Core();
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;

  // The address this core answers on, for /v2/members and bundleInstallations.
  void set_address(const std::string& host, unsigned short port);
  const CoreOptions& options() const { return options_; }
  FileStore& files() { return files_; }
  EventHub& events() { return events_; }

  // --- Control protocol. Replies are the JSON bodies of a 200 answer.
  Result<std::string> load(LoadInput input);
  Result<std::string> scale(std::string_view id, std::string_view scale,
                            std::optional<std::string> affinity);
  Result<std::string> unload(std::string_view id, bool purge);
  Result<std::string> reload_history(std::string_view sequence, const std::string& loaded_by);
  std::shared_ptr<const std::string> bundles_json();
  Result<std::string> bundle_json(std::string_view id);
  Result<std::string> bundle_events_json(std::string_view id, std::size_t count);
  // The full ids an ambiguous `id` matches (for the 300 answer).
  std::vector<std::string> candidates(std::string_view id);
  Result<std::vector<LogSource>> log_sources(std::string_view id);
  std::string history_json(const std::optional<std::string>& name);
  std::string members_json();
  std::string agents_json();

  // --- Services: a started instance's address ("http://10.0.0.5:10001"), round robin.
  std::optional<std::string> service_address(std::string_view name);
  std::vector<std::string> service_hosts(std::string_view name);

  // --- Agent protocol (docs/protocol.md).
  Result<std::string> register_agent(protocol::Registration registration);
  Result<std::string> report_status(const std::string& agent, protocol::StatusReport report);
  // Answers on `responder` now when the assignment's index differs from `index`, else when it
  // changes or after `wait`.
  void poll_assignment(const std::string& agent, std::uint64_t index,
                       std::chrono::milliseconds wait, http::ResponderPtr responder);
  // A stored bundle or configuration file; nullopt when the core does not hold it.
  std::optional<std::filesystem::path> file_path(const std::string& digest);

  // --- Introspection for tests and benchmarks.
  std::uint64_t version() const { return version_.load(); }
  // Runs the scheduling step now (instead of waiting for the debounce) and waits for it.
  void reconcile_now();

 private:
  struct ServiceTable;
  struct Poll {
    http::ResponderPtr responder;
    std::string agent;
    std::uint64_t index = 0;
    SteadyTime deadline;
  };

  Core(CoreOptions options, store::StorePtr store);
  Status recover();
  void run_loop();

  // Everything below expects mutex_ to be held.
  Result<std::string> resolve_locked(std::string_view id) const;
  // Built-in runtimes and every runtime an agent of this core (registered, down or remembered
  // from the store) has reported. A load naming another is refused.
  std::set<std::string> known_runtimes_locked() const;
  Status check_runtimes_locked(const LoadInput& in) const;
  Result<std::int64_t> commit_locked(const store::Transaction& transaction);
  void changed_locked();
  void mark_dirty_locked();
  void reconcile_locked();
  void detect_down_agents_locked(SteadyTime now);
  void place_and_remove_locked(SteadyTime now);
  void release_locked();
  void prefetch_locked();
  void refresh_assignments_locked();
  void answer_polls_locked(SteadyTime now);
  void enforce_archive_locked(const std::vector<std::string>& purge);
  void apply_status_locked(InstanceRecord& record, const protocol::InstanceStatus& status);
  void fail_instance_locked(std::string instance_id, std::string cause);
  void remove_instance_locked(const std::string& instance_id, const std::string& why);
  void update_holds_locked(AgentRecord& agent, const std::vector<std::string>& digests);
  void track_unknown_locked(const std::string& agent, const protocol::InstanceStatus& status);
  bool is_starting(const InstanceRecord& record) const;
  bool agent_up(const std::string& name) const;
  bool agent_usable(const std::string& name) const;  // up and registered with this run
  std::string new_instance_id_locked();
  std::string request_id_locked();
  std::string bundle_object_locked(const BundleRecord& bundle) const;
  std::string assignment_json_locked(const AgentRecord& agent) const;
  void publish_locked(const char* name, const std::string& bundle_id, std::string description,
                      std::string data);
  void execution_event_locked(const char* name, const InstanceRecord& record,
                              const std::string& description);
  std::shared_ptr<const ServiceTable> services();

  CoreOptions options_;
  store::StorePtr store_;
  FileStore files_;
  EventHub events_;

  mutable std::mutex mutex_;
  std::map<std::string, BundleRecord> bundles_;
  std::map<std::string, InstanceRecord> instances_;
  std::map<std::string, AgentRecord> agents_;
  std::map<std::int64_t, HistoryRecord> history_;
  std::map<std::string, FileRecord> file_records_;
  std::int64_t next_sequence_ = 1;
  std::uint64_t next_instance_sequence_ = 1;
  std::uint64_t index_base_ = 0;  // assignment indexes start here (ms at start: above any older)
  std::string core_uid_;
  std::string self_address_ = "baton-core://127.0.0.1";
  std::mt19937_64 random_;
  std::vector<Poll> polls_;

  std::atomic<std::uint64_t> version_{1};
  std::mutex cache_mutex_;
  std::uint64_t listing_version_ = 0;
  std::shared_ptr<const std::string> listing_;
  std::uint64_t services_version_ = 0;
  std::shared_ptr<const ServiceTable> services_;

  // The scheduling loop.
  std::condition_variable wake_;
  bool stopping_ = false;
  bool dirty_ = false;
  SteadyTime dirty_at_{};
  SteadyTime next_heartbeat_{};
  SteadyTime retry_commit_at_{};
  std::uint64_t reconciles_ = 0;
  std::thread loop_;
};

}  // namespace baton::core
