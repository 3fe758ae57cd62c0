#include "cli/wait.hpp"

#include <gtest/gtest.h>

#include <sstream>

namespace baton::cli {
namespace {

using nlohmann::json;

json bundle_with(int started, int starting) {
  json executions = json::array();
  for (int i = 0; i < started; ++i)
    executions.push_back({{"isStarted", true}});
  for (int i = 0; i < starting; ++i)
    executions.push_back({{"isStarted", false}});
  return {{"bundleId", "abf60451c6af18adcc851d67b369b7f5"},
          {"attributes", {{"bundleName", "visualizer"}}},
          {"bundleExecutions", executions},
          {"hasError", false}};
}

TEST(ScaleStep, CountsStartedInstancesTowardsTheTarget) {
  auto step = scale_step(bundle_with(1, 2), 3, "abf6045");
  ASSERT_TRUE(step);
  EXPECT_FALSE(step->done);
  EXPECT_EQ(step->status, "Waiting for 3 instances of visualizer to start: 1/3 started");
  step = scale_step(bundle_with(3, 0), 3, "abf6045");
  EXPECT_TRUE(step->done);
}

TEST(ScaleStep, ScalingDownWaitsForTheExtraOnesToGo) {
  auto step = scale_step(bundle_with(3, 0), 1, "abf6045");
  EXPECT_FALSE(step->done);
  EXPECT_EQ(step->status, "Waiting for 1 instance of visualizer to start: 1/1 started, 2 stopping");
  step = scale_step(bundle_with(0, 2), 0, "abf6045");
  EXPECT_FALSE(step->done);
  EXPECT_EQ(step->status, "Waiting for 2 instances of visualizer to stop");
  EXPECT_TRUE(scale_step(bundle_with(0, 0), 0, "abf6045")->done);
}

TEST(ScaleStep, ShowsTheShortfall) {
  json bundle = bundle_with(1, 0);
  bundle["bundleScale"] = {{"scale", 3}, {"shortfall", "2 instances: no agent has 4 CPUs free"}};
  EXPECT_EQ(scale_step(bundle, 3, "abf6045")->status,
            "Waiting for 3 instances of visualizer to start: 1/3 started (2 instances: no agent "
            "has 4 CPUs free)");
}

TEST(ScaleStep, FailsFastOnABundleError) {
  json bundle = bundle_with(0, 0);
  bundle["hasError"] = true;
  bundle["error"] = "start-command x/bin/x: no such file in the bundle";
  auto step = scale_step(bundle, 1, "abf6045");
  ASSERT_FALSE(step);
  EXPECT_EQ(step.error().message,
            "bundle abf6045 (visualizer) failed: start-command x/bin/x: no such file in the "
            "bundle");
}

TEST(ScaleStep, FailsFastWhenAnInstanceExitedCleanly) {
  json bundle = bundle_with(1, 1);
  bundle["bundleExecutions"][1]["state"] = "stopped";
  auto step = scale_step(bundle, 2, "abf6045");
  ASSERT_FALSE(step);
  EXPECT_EQ(
      step.error().message,
      "bundle abf6045 (visualizer): 1 instance exited with status 0 and will not be restarted");
  // Stopping the bundle is fine.
  EXPECT_FALSE(scale_step(bundle, 0, "abf6045")->done);
}

TEST(WaitUntil, ReturnsOnceTheCheckIsDone) {
  std::ostringstream out;
  StatusLine line(out, true, 80);
  int calls = 0;
  WaitSettings settings;
  settings.poll_without_events = std::chrono::milliseconds(1);
  auto end = wait_until(
      [&]() -> Result<WaitStep> {
        ++calls;
        return WaitStep{calls == 3, "step " + std::to_string(calls)};
      },
      nullptr, line, settings);
  ASSERT_TRUE(end);
  EXPECT_EQ(*end, WaitEnd::reached);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(out.str(), "\rstep 1\x1b[K\rstep 2\x1b[K\r\x1b[K");
}

TEST(WaitUntil, TimesOutWithTheLastStatus) {
  std::ostringstream out;
  StatusLine line(out, false);
  WaitSettings settings;
  settings.timeout = std::chrono::milliseconds(30);
  settings.poll_without_events = std::chrono::milliseconds(5);
  std::string last;
  auto end = wait_until(
      []() -> Result<WaitStep> {
        return WaitStep{false, "still 1/3"};
      },
      nullptr, line, settings, &last);
  ASSERT_TRUE(end);
  EXPECT_EQ(*end, WaitEnd::timed_out);
  EXPECT_EQ(last, "still 1/3");
}

TEST(WaitUntil, AnErrorEndsTheWait) {
  std::ostringstream out;
  StatusLine line(out, false);
  auto end = wait_until([]() -> Result<WaitStep> { return make_error(Errc::invalid, "failed"); },
                        nullptr, line, {});
  ASSERT_FALSE(end);
  EXPECT_EQ(end.error().message, "failed");
}

TEST(SseParser, SplitsEventsAcrossPieces) {
  SseParser parser;
  EXPECT_TRUE(parser.feed("event: bundleExecutionAdded\nda").empty());
  auto events = parser.feed("ta: {\"bundleId\": \"a\"}\r\n\r\n\n: comment\n\nevent: x\ndata: 1\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].name, "bundleExecutionAdded");
  EXPECT_EQ(events[0].data, "{\"bundleId\": \"a\"}");
  events = parser.feed("data: 2\n\ndata: lone\n\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].name, "x");
  EXPECT_EQ(events[0].data, "1\n2");
  EXPECT_EQ(events[1].name, "message");
}

}  // namespace
}  // namespace baton::cli
