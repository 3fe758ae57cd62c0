#pragma once
// The agent's side of docs/protocol.md: register with a core (moving to the next core URL with
// backoff when one cannot be reached), long-poll the assignment, report status on every change
// (coalesced) and as the heartbeat, and register again when the core answers 404.
//
// Threads: registration and status reports run on the core-client thread with its own
// http::Client; the long poll runs on the agent's io_context (LongPoll), so shutdown can cut it
// short. Assignments are delivered on the io thread.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "http/tls.hpp"
#include "protocol/agent_messages.hpp"

namespace boost::asio {
class io_context;
}

namespace baton::agent {

class LongPoll;
struct CoreClientTimer;

struct CoreClientOptions {
  std::vector<std::string> cores;  // base URLs, e.g. http://10.0.0.1:9005
  std::string agent_name;
  std::chrono::milliseconds poll_wait{30000};  // waitMs of the long poll
  std::chrono::milliseconds backoff_first{200};
  std::chrono::milliseconds backoff_max{5000};
  std::chrono::milliseconds request_timeout{10000};
  std::chrono::milliseconds connect_timeout{2000};
  std::string token;            // the agent's bearer token at the cores
  http::TlsClientSettings tls;  // for https:// cores
};

class CoreClient {
 public:
  struct Callbacks {
    // The registration's fixed parts (name, address, apiUrl, roles, resources, runtimes); the
    // instances and bundles come from the last published report. Core-client thread.
    std::function<protocol::Registration()> registration;
    // A new assignment from `core_url`. io thread.
    std::function<void(protocol::Assignment assignment)> assignment;
    // Log lines. Any thread.
    std::function<void(bool warning, const std::string& message)> log;
  };

  CoreClient(boost::asio::io_context& io, CoreClientOptions options, Callbacks callbacks);
  ~CoreClient();  // stop()
  CoreClient(const CoreClient&) = delete;
  CoreClient& operator=(const CoreClient&) = delete;

  void start();
  // Joins the core-client thread and cancels the poll (posted to the io thread; call it while
  // the io thread still runs, and not from it).
  void stop();

  // The latest actual state; reported soon (coalesced with later ones) and with every heartbeat.
  // Any thread.
  void publish(protocol::StatusReport report);
  // Registers again with the current core (the registration changed: a runtime came or went).
  // Nothing happens before the first registration. Any thread.
  void register_again(const std::string& why);
  // The core currently used (for bundle downloads, service lookups and CONDUCTR_CONTROL).
  std::string current_core() const;
  bool registered() const;
  // Reports sent and registrations made (tests, benchmarks).
  std::uint64_t reports_sent() const;
  std::uint64_t registrations() const;

 private:
  void run();
  void mark_lost(std::uint64_t generation, bool unreachable, const std::string& why);
  void poll(std::uint64_t generation);  // io thread
  void wait_for(std::unique_lock<std::mutex>& lock, std::chrono::milliseconds delay);

  boost::asio::io_context& io_;
  CoreClientOptions options_;
  Callbacks callbacks_;
  std::unique_ptr<LongPoll> long_poll_;     // io thread only
  std::unique_ptr<CoreClientTimer> retry_;  // io thread only

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool registered_ = false;
  std::uint64_t generation_ = 0;  // registrations so far: tells stale poll results apart
  std::size_t core_index_ = 0;
  bool dirty_ = false;
  std::optional<protocol::StatusReport> report_;
  // report_ as JSON, made once per publish(): a heartbeat resends it without serializing again.
  std::shared_ptr<const std::string> report_body_;
  std::chrono::milliseconds heartbeat_{2000};
  std::uint64_t reports_sent_ = 0;
  std::uint64_t registrations_ = 0;
  std::uint64_t index_ = 0;            // io thread: the last assignment index seen
  std::uint64_t poll_generation_ = 0;  // io thread
  bool delivered_ = false;             // io thread
  std::thread thread_;
};

}  // namespace baton::agent
