#include "agent/runtime_watch.hpp"

namespace baton::agent {

bool probe_changed(const runtimes::ProbeResult& before, const runtimes::ProbeResult& now) {
  return before.available != now.available || before.attributes != now.attributes;
}

RuntimeWatch::RuntimeWatch(runtimes::Registry& registry, std::chrono::milliseconds interval,
                           Changed changed)
    : registry_(registry), interval_(interval), changed_(std::move(changed)) {}

RuntimeWatch::~RuntimeWatch() {
  stop();
}

Probes RuntimeWatch::probe_all() {
  Probes probes;
  for (const auto& name : registry_.names()) {
    if (auto* runtime = registry_.find(name)) probes[name] = runtime->probe();
  }
  return probes;
}

void RuntimeWatch::probe_now() {
  Probes probes = probe_all();
  std::lock_guard lock(mutex_);
  latest_ = std::move(probes);
}

void RuntimeWatch::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { run(); });
}

void RuntimeWatch::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Probes RuntimeWatch::latest() const {
  std::lock_guard lock(mutex_);
  return latest_;
}

void RuntimeWatch::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait_for(lock, interval_, [&] { return stopping_; });
    if (stopping_) return;
    lock.unlock();
    Probes now = probe_all();
    lock.lock();
    if (stopping_) return;
    Probes before = std::exchange(latest_, now);
    bool changed = now.size() != before.size();
    for (const auto& [name, result] : now) {
      auto it = before.find(name);
      changed = changed || it == before.end() || probe_changed(it->second, result);
    }
    if (!changed) continue;
    lock.unlock();
    changed_(now, before);
    lock.lock();
  }
}

}  // namespace baton::agent
