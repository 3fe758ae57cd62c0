#include "agent/restart_policy.hpp"

#include <algorithm>

namespace baton::agent {

int RestartBudget::recent(std::int64_t now_ms) const {
  return static_cast<int>(std::count_if(failures_.begin(), failures_.end(), [&](std::int64_t t) {
    return t > now_ms - policy_.window.count();
  }));
}

std::optional<std::chrono::milliseconds> RestartBudget::on_failure(std::int64_t now_ms,
                                                                   double jitter) {
  std::erase_if(failures_, [&](std::int64_t t) { return t <= now_ms - policy_.window.count(); });
  failures_.push_back(now_ms);
  const int count = static_cast<int>(failures_.size());
  if (count > policy_.limit) return std::nullopt;
  double nominal = static_cast<double>(policy_.first_delay.count());
  for (int i = 1; i < count && nominal < static_cast<double>(policy_.max_delay.count()); ++i) {
    nominal *= 2;
  }
  nominal = std::min(nominal, static_cast<double>(policy_.max_delay.count()));
  double spread = nominal * (0.75 + 0.5 * std::clamp(jitter, 0.0, 1.0));
  spread = std::min(spread, static_cast<double>(policy_.max_delay.count()));
  return std::chrono::milliseconds(static_cast<std::int64_t>(spread));
}

}  // namespace baton::agent
