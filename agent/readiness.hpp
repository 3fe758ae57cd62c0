#pragma once
// When an instance counts as ready (bundle::Readiness): a signal (HTTP or notify), polling its
// endpoints (TCP connect or HTTP GET), or as soon as it runs. The poller runs on the agent's
// io_context with Asio timers and sockets: no thread blocks while an instance starts.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bundle/descriptor.hpp"

namespace boost::asio {
class io_context;
}

namespace baton::agent {

struct PollTarget {
  enum class Kind { tcp, http };
  Kind kind = Kind::tcp;
  std::string endpoint;  // for messages
  std::string host;
  int port = 0;
  std::string path = "/";  // http
};

struct ReadinessPlan {
  bool accepts_signal = true;       // $CONDUCTR_STATUS or READY=1 make it ready
  bool ready_when_running = false;  // ready as soon as every launch runs
  std::vector<PollTarget> targets;  // all must answer (empty: no polling)
  std::chrono::milliseconds initial_delay{0};
  std::chrono::milliseconds interval{100};
  std::chrono::milliseconds timeout{1000};  // per try
};

// The plan for a descriptor whose endpoints got `ports` (endpoint -> host port) on `host`.
// automatic: a signal or every TCP/HTTP endpoint accepting connections (no such endpoint: ready
// when running); signal: only a signal; http/tcp: poll the chosen endpoint (a signal also counts);
// none: ready when running.
ReadinessPlan plan_readiness(const bundle::Descriptor& descriptor,
                             const std::map<std::string, int>& ports, const std::string& host);

// Polls every target until each has answered once, then calls `on_ready` (once, on the io
// thread). Dropping the poller or calling cancel() stops it; `on_ready` is never called after.
class ReadinessPoller {
 public:
  static std::unique_ptr<ReadinessPoller> start(boost::asio::io_context& io,
                                                const ReadinessPlan& plan,
                                                std::function<void()> on_ready);
  virtual ~ReadinessPoller() = default;
  virtual void cancel() = 0;
  // Targets that have answered so far.
  virtual std::size_t answered() const = 0;
};

}  // namespace baton::agent
