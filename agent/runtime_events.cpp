#include "agent/runtime_events.hpp"

#include <spdlog/spdlog.h>

namespace baton::agent {

void RuntimeEvents::attach(ExitSink sink) {
  std::lock_guard lock(mutex_);
  sink_ = std::move(sink);
}

void RuntimeEvents::detach() {
  std::lock_guard lock(mutex_);
  sink_ = nullptr;
}

void RuntimeEvents::exited(const std::string& launch_id, runtimes::ExitStatus status) {
  // Called under the lock so detach() waits for a delivery in progress.
  std::lock_guard lock(mutex_);
  if (sink_) sink_(launch_id, std::move(status));
}

void RuntimeHostFor::exited(const std::string& launch_id, runtimes::ExitStatus status) {
  events_.exited(launch_id, std::move(status));
}

void RuntimeHostFor::log(runtimes::LogLevel level, std::string_view message) {
  switch (level) {
    case runtimes::LogLevel::debug:
      spdlog::debug("[{}] {}", name_, message);
      break;
    case runtimes::LogLevel::info:
      spdlog::info("[{}] {}", name_, message);
      break;
    case runtimes::LogLevel::warn:
      spdlog::warn("[{}] {}", name_, message);
      break;
    case runtimes::LogLevel::error:
      spdlog::error("[{}] {}", name_, message);
      break;
  }
}

}  // namespace baton::agent
