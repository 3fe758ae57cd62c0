#pragma once
// One instance's state machine: fetch -> ports, environment, notify socket -> runtime-config.sh ->
// start every component's launch -> readiness -> started; exits restart it (backoff, budget) or
// leave it stopped/failed; removal stops, destroys and deletes it. Every method runs on the io
// thread; blocking steps go to workers one at a time per instance (never two runtime calls for one
// launch at once) and come back by posting.

#include <chrono>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/agent.hpp"
#include "agent/bundle_cache.hpp"
#include "agent/instance_record.hpp"
#include "agent/ports.hpp"
#include "agent/readiness.hpp"
#include "agent/restart_policy.hpp"
#include "bundle/descriptor.hpp"
#include "protocol/agent_messages.hpp"
#include "runtimes/registry.hpp"

namespace boost::asio {
class io_context;
}

namespace baton::agent {

class NotifySocket;
class StateWriter;
class Instance;

// What the agent offers its instances. io thread unless noted.
class InstanceServices {
 public:
  virtual ~InstanceServices() = default;
  virtual boost::asio::io_context& io() = 0;
  // Runs `task` on a worker; the Completion it returns then runs on the io thread.
  using Completion = std::function<void()>;
  virtual void run_blocking(std::function<Completion()> task) = 0;
  virtual runtimes::Registry& runtimes() = 0;
  virtual PortAllocator& ports() = 0;
  virtual BundleCache& cache() = 0;
  virtual StateWriter& writer() = 0;
  virtual const AgentOptions& options() const = 0;
  virtual std::string core_url() const = 0;     // any thread
  virtual std::string status_base() const = 0;  // http://127.0.0.1:19007
  virtual std::string locator_url() const = 0;  // http://127.0.0.1:19008/services
  // The same two as seen from launches of `runtime` when it runs them behind a container bridge
  // (its probe reports `bridge-ip` and the agent listens there): e.g. http://172.17.0.1:19007.
  struct BridgeUrls {
    std::string status_base;
    std::string locator_url;
  };
  virtual std::optional<BridgeUrls> bridge_urls(const std::string& runtime) const = 0;
  // Runtime `prepare` once per runtime and bundle digest (single flight). Worker threads.
  virtual Status prepare(runtimes::Runtime& runtime, const runtimes::BundleContent& content) = 0;
  virtual void token_added(const std::string& token, Instance* instance) = 0;
  virtual void token_removed(const std::string& token) = 0;
  virtual void changed() = 0;  // something reported changed: publish (coalesced)
  virtual void ready(const std::string& instance_id) = 0;
  // Gone: the agent drops it (any thread).
  virtual void removed(const std::string& instance_id) = 0;
  virtual double jitter() = 0;  // [0, 1)
  virtual void log(bool warning, const std::string& message) = 0;
};

class Instance {
 public:
  // A new instance the core assigned.
  Instance(InstanceServices& services, std::filesystem::path folder,
           protocol::AssignedInstance assigned);
  // From instance.json after an agent restart: ports and token are taken back at once.
  Instance(InstanceServices& services, std::filesystem::path folder, InstanceRecord record);
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  void begin();    // fetch and start
  void recover();  // re-adopt the launches of a restored record
  // Absent from the assignment: stop, destroy, delete the folder, then services.removed().
  void remove();
  // The agent stops: timers and sockets end, launches keep running.
  void shutdown();

  void on_exit(const std::string& component, runtimes::ExitStatus status);
  // A readiness signal ($CONDUCTR_STATUS or READY=1).
  void on_signal(std::string_view source);

  protocol::InstanceStatus status() const;
  // The main processes of its running launches (those a runtime reported a pid for).
  std::vector<int> main_pids() const {
    std::vector<int> pids;
    for (const auto& [component, launch] : launches_) {
      if ((launch.active || launch.starting) && launch.handle.pid > 0) {
        pids.push_back(launch.handle.pid);
      }
    }
    return pids;
  }
  const std::string& id() const { return record_.assigned.instance_id; }
  const std::string& bundle_id() const { return record_.assigned.bundle_id; }
  const protocol::AssignedInstance& assigned() const { return record_.assigned; }
  const std::string& token() const { return record_.token; }
  protocol::InstanceState state() const { return record_.state; }
  bool removing() const { return phase_ == Phase::removing || phase_ == Phase::gone; }
  bool ready() const { return ready_; }
  const bundle::Descriptor* descriptor() const { return descriptor_ ? &*descriptor_ : nullptr; }
  const std::map<std::string, int>& ports() const { return record_.ports; }
  std::filesystem::path log_dir() const { return folder_ / "logs"; }
  const std::filesystem::path& folder() const { return folder_; }
  // True while it holds resources (cpus, memory, disk) on the agent.
  bool active() const;
  std::string restore_error() const { return restore_error_; }

 private:
  enum class Phase {
    fetching,    // bundle being fetched and extracted
    launching,   // runtime-config.sh and runtime starts in progress
    running,     // launches run; ready_ tells whether started
    restarting,  // launches stopping or backoff running before the next launch
    stopping,    // exit 0 of every launch, or a stop: ends in stopped
    failing,     // launches stopping: ends in failed
    stopped,
    failed,
    removing,  // absent from the assignment: stop, destroy, delete
    gone,
  };
  struct LaunchState {
    std::string runtime;
    bool active = false;                               // running: its exit is awaited
    bool starting = false;                             // a start/recover call is in flight
    std::optional<runtimes::ExitStatus> pending_exit;  // arrived while starting
    runtimes::Handle handle;
  };
  struct Timers;

 public:
  struct Fetched;
  struct Launched;

 private:
  void enqueue(std::function<InstanceServices::Completion()> task);
  void next_operation();
  void save();
  void set_state(protocol::InstanceState state);

  void fetched(std::shared_ptr<Fetched> result);
  void launch();
  void launched(std::shared_ptr<Launched> result);
  void recovered(std::shared_ptr<Launched> result);
  void start_readiness();
  void become_ready(std::string_view source);
  void handle_exit(const std::string& component, const runtimes::ExitStatus& status);
  void restart(std::string cause);
  void fail(std::string cause);
  void stop_launches();
  void all_exited();
  void release_resources();
  void destroy_launches(std::function<void()> then);
  void cancel_readiness();
  bool any_active() const;
  bool any_starting() const;
  Status open_notify_socket();

  InstanceServices& services_;
  std::filesystem::path folder_;
  InstanceRecord record_;
  Phase phase_ = Phase::fetching;
  bool ready_ = false;
  std::uint64_t saves_ = 0;    // records handed to the writer
  bool early_signal_ = false;  // a signal before the launches ran
  bool ended_ = false;         // all_exited() acted on the current stop
  bool shut_down_ = false;     // the agent stops: record, start nothing
  std::string cause_;          // of the restart or failure in progress
  std::string restore_error_;  // ports could not be taken back
  std::optional<bundle::Descriptor> descriptor_;
  std::shared_ptr<Lease> bundle_lease_;
  std::shared_ptr<Lease> configuration_lease_;
  std::map<std::string, LaunchState> launches_;  // by component
  RestartBudget budget_;
  std::unique_ptr<NotifySocket> notify_;
  std::unique_ptr<ReadinessPoller> poller_;
  std::unique_ptr<Timers> timers_;
  std::deque<std::function<InstanceServices::Completion()>> operations_;
  bool operation_running_ = false;
  bool token_registered_ = false;
};

// Random 32 hex characters for CONDUCTR_STATUS tokens.
std::string random_token();
// "SIGTERM" / "TERM" / "15" -> 15; unknown -> 15.
int signal_number(std::string_view name);
// "component web exited with code 3" / "component web was killed by SIGKILL".
std::string describe_exit(const std::string& component, const runtimes::ExitStatus& status);

}  // namespace baton::agent
