#include "cli/wait.hpp"

#include <algorithm>
#include <thread>

#include "cli/format.hpp"
#include "cli/views.hpp"

namespace baton::cli {

using nlohmann::json;

Result<WaitEnd> wait_until(const WaitCheck& check, EventWatcher* watcher, StatusLine& line,
                           const WaitSettings& settings, std::string* last_status) {
  using Clock = std::chrono::steady_clock;
  auto deadline = Clock::now() + settings.timeout;
  std::uint64_t seen = watcher != nullptr ? watcher->count() : 0;
  for (;;) {
    auto step = check();
    if (!step) {
      line.clear();
      return std::move(step).error();
    }
    if (last_status != nullptr) *last_status = step->status;
    if (step->done) {
      line.clear();
      return WaitEnd::reached;
    }
    line.update(step->status);
    auto now = Clock::now();
    if (now >= deadline) {
      line.clear();
      return WaitEnd::timed_out;
    }
    bool streaming = watcher != nullptr && watcher->streaming();
    auto poll = streaming ? settings.poll_with_events : settings.poll_without_events;
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    auto pause = std::max(std::chrono::milliseconds(1), std::min(poll, remaining));
    if (watcher != nullptr) {
      seen = watcher->wait(seen, pause);
    } else {
      std::this_thread::sleep_for(pause);
    }
  }
}

Result<WaitStep> scale_step(const json& bundle, int target, const std::string& shown_id) {
  std::string name = bundle_name(bundle);
  if (json_bool(bundle, "hasError")) {
    std::string error = json_string(bundle, "error");
    return make_error(Errc::invalid, "bundle " + shown_id + " (" + name + ") failed: " +
                                         (error.empty() ? "the core reports an error" : error));
  }
  BundleCounts counts = bundle_counts(bundle);
  int stopped = 0;
  for (const auto& execution : json_list(bundle, "bundleExecutions")) {
    stopped += json_string(execution, "state") == "stopped" ? 1 : 0;
  }
  if (target > 0 && stopped > 0) {
    // ConductR's rule: a component that exits 0 is left stopped, so the target cannot be met.
    return make_error(Errc::invalid, "bundle " + shown_id + " (" + name +
                                         "): " + plural(stopped, "instance", "instances") +
                                         " exited with status 0 and will not be restarted");
  }
  int running = counts.started + counts.starting - stopped;
  WaitStep step;
  step.done = counts.started == target && running == target;
  if (target == 0) {
    step.status =
        "Waiting for " + plural(running, "instance", "instances") + " of " + name + " to stop";
  } else {
    step.status = "Waiting for " + plural(target, "instance", "instances") + " of " + name +
                  " to start: " + std::to_string(std::min(counts.started, target)) + "/" +
                  std::to_string(target) + " started";
    if (running > target) step.status += ", " + std::to_string(running - target) + " stopping";
  }
  const json& scale = json_list(bundle, "bundleScale");
  if (scale.is_object() && scale.contains("shortfall") && !scale["shortfall"].is_null()) {
    const json& shortfall = scale["shortfall"];
    step.status +=
        " (" + (shortfall.is_string() ? shortfall.get<std::string>() : shortfall.dump()) + ")";
  }
  return step;
}

}  // namespace baton::cli
