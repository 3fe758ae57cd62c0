#pragma once
// The runtimes' availability over time. Every runtime of the registry is probed at start and then
// every `interval` on a thread of its own (a probe may block for seconds: a dockerd that accepts
// connections but does not answer), and a change of a runtime's availability or attributes goes
// to `changed`. The agent then registers again, so the core places bundles only where their
// runtimes are available (docs/protocol.md).

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "runtimes/registry.hpp"

namespace baton::agent {

using Probes = std::map<std::string, runtimes::ProbeResult>;

// Availability or attributes differ; a different reason alone does not count (its text varies
// from one failed attempt to the next).
bool probe_changed(const runtimes::ProbeResult& before, const runtimes::ProbeResult& now);

class RuntimeWatch {
 public:
  // Probe thread; `before` is what the previous round saw.
  using Changed = std::function<void(const Probes& now, const Probes& before)>;

  RuntimeWatch(runtimes::Registry& registry, std::chrono::milliseconds interval, Changed changed);
  ~RuntimeWatch();  // stop()
  RuntimeWatch(const RuntimeWatch&) = delete;
  RuntimeWatch& operator=(const RuntimeWatch&) = delete;

  // Probes every runtime once on the calling thread, without calling `changed`.
  void probe_now();
  // The probe thread: one round every `interval`.
  void start();
  void stop();
  // The last round's results. Any thread.
  Probes latest() const;

 private:
  Probes probe_all();
  void run();

  runtimes::Registry& registry_;
  std::chrono::milliseconds interval_;
  Changed changed_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  Probes latest_;
  std::thread thread_;
};

}  // namespace baton::agent
