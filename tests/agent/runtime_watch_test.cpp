// The runtimes' availability is probed again and again; only real changes are handed on.
#include "agent/runtime_watch.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <vector>

#include "tests/agent/support/test_core.hpp"

namespace baton::agent {
namespace {

using namespace std::chrono_literals;

// A runtime whose probe the test sets; everything else is unused.
class ProbedRuntime final : public runtimes::Runtime {
 public:
  std::string name() const override { return "probed"; }
  runtimes::ProbeResult probe() override {
    std::lock_guard lock(mutex_);
    ++probes_;
    return result_;
  }
  void set(runtimes::ProbeResult result) {
    std::lock_guard lock(mutex_);
    result_ = std::move(result);
  }
  int probes() {
    std::lock_guard lock(mutex_);
    return probes_;
  }
  Status prepare(const runtimes::BundleContent&) override { return {}; }
  Result<runtimes::Handle> start(const runtimes::Launch&) override { return runtimes::Handle{}; }
  Status stop(const std::string&, int, std::chrono::milliseconds) override { return {}; }
  Status destroy(const std::string&) override { return {}; }
  Result<runtimes::Handle> recover(const runtimes::Launch&, const runtimes::Handle&) override {
    return runtimes::Handle{};
  }
  Result<runtimes::Stats> stats(const std::string&) override { return runtimes::Stats{}; }
  Status release(const std::string&) override { return {}; }

 private:
  std::mutex mutex_;
  runtimes::ProbeResult result_;
  int probes_ = 0;
};

runtimes::ProbeResult probe(bool available, std::string reason = {},
                            std::map<std::string, std::string> attributes = {}) {
  return runtimes::ProbeResult{available, std::move(reason), std::move(attributes)};
}

TEST(RuntimeWatch, OnlyAvailabilityAndAttributesCount) {
  EXPECT_FALSE(probe_changed(probe(false, "refused"), probe(false, "timed out")));
  EXPECT_TRUE(probe_changed(probe(false, "refused"), probe(true)));
  EXPECT_TRUE(probe_changed(probe(true, {}, {{"bridge-ip", "172.17.0.1"}}), probe(true)));
}

TEST(RuntimeWatch, ReportsEachChangeOnceWithWhatItWasBefore) {
  auto owned = std::make_unique<ProbedRuntime>();
  ProbedRuntime* runtime = owned.get();
  runtimes::Registry registry;
  ASSERT_TRUE(registry.add(std::move(owned)));
  runtime->set(probe(true, {}, {{"version", "1"}}));

  std::mutex mutex;
  std::vector<std::pair<bool, bool>> changes;  // (before, now) availability
  RuntimeWatch watch(registry, 10ms, [&](const Probes& now, const Probes& before) {
    std::lock_guard lock(mutex);
    changes.emplace_back(before.at("probed").available, now.at("probed").available);
  });
  watch.probe_now();
  EXPECT_TRUE(watch.latest().at("probed").available);
  watch.start();
  auto count = [&] {
    std::lock_guard lock(mutex);
    return changes.size();
  };
  // Many rounds with nothing new: nothing handed on.
  int seen = runtime->probes();
  ASSERT_TRUE(testing::eventually([&] { return runtime->probes() >= seen + 5; }, 10s));
  EXPECT_EQ(count(), 0u);

  runtime->set(probe(false, "dockerd does not answer"));
  ASSERT_TRUE(testing::eventually([&] { return count() == 1; }, 10s));
  runtime->set(probe(false, "no socket"));  // another reason, still unavailable
  seen = runtime->probes();
  ASSERT_TRUE(testing::eventually([&] { return runtime->probes() >= seen + 5; }, 10s));
  EXPECT_EQ(count(), 1u);
  runtime->set(probe(true, {}, {{"version", "1"}}));
  ASSERT_TRUE(testing::eventually([&] { return count() == 2; }, 10s));
  watch.stop();
  std::lock_guard lock(mutex);
  EXPECT_EQ(changes[0], std::make_pair(true, false));
  EXPECT_EQ(changes[1], std::make_pair(false, true));
}

}  // namespace
}  // namespace baton::agent
