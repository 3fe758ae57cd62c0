#pragma once
// Supervision: a component that exits non-zero or by a signal restarts its instance after an
// exponential backoff with jitter, up to `limit` restarts within `window`; one more failure in the
// window fails the instance. Exit 0 leaves the instance stopped (ConductR's rule).

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

namespace baton::agent {

struct RestartPolicy {
  int limit = 5;
  std::chrono::milliseconds window{60000};
  std::chrono::milliseconds first_delay{200};
  std::chrono::milliseconds max_delay{30000};
};

class RestartBudget {
 public:
  explicit RestartBudget(RestartPolicy policy = {}) : policy_(policy) {}

  // A failure at `now_ms` (ms since the epoch). The delay before restarting, or nullopt when the
  // budget is spent. `jitter` in [0, 1) spreads the delay over [0.75, 1.25] of its nominal value.
  std::optional<std::chrono::milliseconds> on_failure(std::int64_t now_ms, double jitter);
  // Failures inside the window ending at `now_ms`.
  int recent(std::int64_t now_ms) const;

  const std::vector<std::int64_t>& failures() const { return failures_; }
  void restore(std::vector<std::int64_t> failures) { failures_ = std::move(failures); }
  const RestartPolicy& policy() const { return policy_; }

 private:
  RestartPolicy policy_;
  std::vector<std::int64_t> failures_;  // times within the window
};

}  // namespace baton::agent
