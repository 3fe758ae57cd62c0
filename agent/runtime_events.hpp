#pragma once
// Runtimes report exits and log lines through a RuntimeHost they get when main() builds them,
// before the agent exists. RuntimeEvents is that host's sink: the agent attaches to it while it
// runs. An exit reported while no agent is attached is dropped: the next agent learns it from
// recover().

#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "runtimes/runtime.hpp"

namespace baton::agent {

class RuntimeEvents {
 public:
  using ExitSink = std::function<void(const std::string& launch_id, runtimes::ExitStatus status)>;
  void attach(ExitSink sink);
  void detach();
  void exited(const std::string& launch_id, runtimes::ExitStatus status);

 private:
  std::mutex mutex_;
  ExitSink sink_;
};

// The RuntimeHost of one runtime: exits go to `events`, log lines to spdlog tagged with `name`.
class RuntimeHostFor final : public runtimes::RuntimeHost {
 public:
  RuntimeHostFor(RuntimeEvents& events, std::string name)
      : events_(events), name_(std::move(name)) {}
  void exited(const std::string& launch_id, runtimes::ExitStatus status) override;
  void log(runtimes::LogLevel level, std::string_view message) override;

 private:
  RuntimeEvents& events_;
  std::string name_;
};

}  // namespace baton::agent
