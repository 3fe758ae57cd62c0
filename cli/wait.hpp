#pragma once
// Waiting for a target state (load, run, stop, unload): check the core's listing whenever an
// event arrives on the events stream, and at least every few seconds (every second without a
// stream), until the target is reached, the bundle fails, or the deadline passes.

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/control_client.hpp"
#include "cli/progress.hpp"
#include "common/result.hpp"

namespace baton::cli {

struct WaitStep {
  bool done = false;
  std::string
      status;  // the live line: "Waiting for 3 instances of visualizer to start: 1/3 started"
};

// Errors from a check end the wait (a failed bundle, an unreachable core).
using WaitCheck = std::function<Result<WaitStep>()>;

struct WaitSettings {
  std::chrono::milliseconds timeout{60000};
  std::chrono::milliseconds poll_with_events{5000};  // safety net while events stream
  std::chrono::milliseconds poll_without_events{1000};
};

enum class WaitEnd { reached, timed_out };

// `last_status` receives the last status text (for the timeout message).
Result<WaitEnd> wait_until(const WaitCheck& check, EventWatcher* watcher, StatusLine& line,
                           const WaitSettings& settings, std::string* last_status = nullptr);

// One look at a bundle (an object of GET /v2/bundles) while waiting for `target` started
// instances: done when exactly `target` run and all are started; an error (Errc::invalid)
// when the bundle has an error. The status names the bundle and the shortfall, if any.
Result<WaitStep> scale_step(const nlohmann::json& bundle, int target, const std::string& shown_id);

}  // namespace baton::cli
