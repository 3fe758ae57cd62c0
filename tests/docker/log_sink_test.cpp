// Container output into the logs/ format, and resuming after a gap without losing or repeating
// a line.

#include "runtimes/docker/log_sink.hpp"

#include <gtest/gtest.h>

#include "tests/docker/support.hpp"

namespace baton::runtimes::docker {
namespace {

using docker_testing::log_texts;
using docker_testing::read_text;
using docker_testing::TempDir;

constexpr std::int64_t kBase = 1795315090'000000000LL;  // ns

std::string frame(int stream, std::string_view payload) {
  std::string out(8, '\0');
  out[0] = static_cast<char>(stream);
  auto size = static_cast<std::uint32_t>(payload.size());
  out[4] = static_cast<char>((size >> 24) & 0xff);
  out[5] = static_cast<char>((size >> 16) & 0xff);
  out[6] = static_cast<char>((size >> 8) & 0xff);
  out[7] = static_cast<char>(size & 0xff);
  return out + std::string(payload);
}

// What the daemon sends for entry `i`: a line at kBase + i ms (+ extra ns).
std::string entry(int stream, int i, std::string_view text, std::int64_t extra_ns = 0) {
  std::int64_t ns = kBase + std::int64_t{i} * 1'000'000 + extra_ns;
  std::string time = logs::format_time(ns / 1000);  // microseconds, 'Z'
  time.pop_back();
  char nanos[8];
  std::snprintf(nanos, sizeof nanos, "%03lld", static_cast<long long>(ns % 1000));
  return frame(stream, time + nanos + "Z " + std::string(text));
}

TEST(LogSink, WritesLinesWithTheDaemonsTimes) {
  TempDir dir;
  LogSink sink(dir.path(), "web", {});
  ASSERT_TRUE(sink.open());
  sink.begin({});
  ASSERT_TRUE(sink.feed(entry(1, 0, "hello\n") + entry(2, 1, "oops\n")));
  sink.close();
  auto content = read_text(dir.path() / "web.log");
  EXPECT_EQ(content, logs::format_time(kBase / 1000) + " stdout hello\n" +
                         logs::format_time(kBase / 1000 + 1000) + " stderr oops\n");
}

TEST(LogSink, PartialOutputJoinsTheNextEntryAndIsFlushedAtClose) {
  TempDir dir;
  LogSink sink(dir.path(), "web", {});
  ASSERT_TRUE(sink.open());
  sink.begin({});
  ASSERT_TRUE(sink.feed(entry(1, 0, "abc") + entry(1, 1, "def\n") + entry(1, 2, "tail")));
  EXPECT_EQ(log_texts(dir.path(), "web"), std::vector<std::string>{"abcdef"});
  sink.close();
  EXPECT_EQ(log_texts(dir.path(), "web"), (std::vector<std::string>{"abcdef", "tail"}));
}

TEST(LogSink, IdlePartialLinesAreFlushed) {
  TempDir dir;
  LogSink sink(dir.path(), "web", {});
  ASSERT_TRUE(sink.open());
  sink.begin({});
  ASSERT_TRUE(sink.feed(entry(1, 0, "prompt> ")));
  sink.flush_idle(std::chrono::hours(1));
  EXPECT_TRUE(log_texts(dir.path(), "web").empty());
  sink.flush_idle(std::chrono::milliseconds(0));
  EXPECT_EQ(log_texts(dir.path(), "web"), std::vector<std::string>{"prompt> "});
}

TEST(LogSink, ResumingSkipsExactlyWhatWasWritten) {
  TempDir dir;
  // Before the gap: entries 0..9, the last two in the same microsecond.
  {
    LogSink sink(dir.path(), "web", {});
    ASSERT_TRUE(sink.open());
    sink.begin({});
    for (int i = 0; i < 8; ++i)
      ASSERT_TRUE(sink.feed(entry(1, i, "line " + std::to_string(i) + "\n")));
    ASSERT_TRUE(sink.feed(entry(2, 8, "same us a\n", 100)));
    ASSERT_TRUE(sink.feed(entry(2, 8, "same us b\n", 200)));
    sink.close();
  }
  auto cursor = read_cursor(dir.path(), "web", std::chrono::milliseconds(5));
  EXPECT_EQ(cursor.last_us, (kBase + 8'000'000) / 1000);
  EXPECT_EQ(cursor.since_ns, kBase + 3'000'000);
  // The daemon answers from `since` on: 3..8 again (in a slightly different order: the stdout and
  // stderr copiers race), plus entries the gap hid (one in the last written microsecond).
  LogSink sink(dir.path(), "web", {});
  ASSERT_TRUE(sink.open());
  sink.begin(cursor);
  std::string replay;
  for (int i = 3; i < 8; ++i)
    replay += entry(1, i, "line " + std::to_string(i) + "\n");
  replay += entry(2, 8, "same us b\n", 200);
  replay += entry(2, 8, "same us a\n", 100);
  replay += entry(2, 8, "same us c\n", 300);
  replay += entry(1, 9, "line 9\n");
  ASSERT_TRUE(sink.feed(replay));
  sink.close();
  EXPECT_EQ(sink.entries_skipped(), 7u);
  EXPECT_EQ(log_texts(dir.path(), "web"),
            (std::vector<std::string>{"line 0", "line 1", "line 2", "line 3", "line 4", "line 5",
                                      "line 6", "line 7", "same us a", "same us b", "same us c",
                                      "line 9"}));
}

TEST(LogSink, RepeatedIdenticalLinesAreCountedNotCollapsed) {
  TempDir dir;
  {
    LogSink sink(dir.path(), "web", {});
    ASSERT_TRUE(sink.open());
    sink.begin({});
    ASSERT_TRUE(sink.feed(entry(1, 0, "tick\n") + entry(1, 0, "tick\n", 1)));
    sink.close();
  }
  auto cursor = read_cursor(dir.path(), "web");
  LogSink sink(dir.path(), "web", {});
  ASSERT_TRUE(sink.open());
  sink.begin(cursor);
  // Three ticks in that microsecond: two were written, one is new.
  ASSERT_TRUE(
      sink.feed(entry(1, 0, "tick\n") + entry(1, 0, "tick\n", 1) + entry(1, 0, "tick\n", 2)));
  sink.close();
  EXPECT_EQ(log_texts(dir.path(), "web").size(), 3u);
}

TEST(LogSink, CursorOfAMissingOrRotatedLog) {
  TempDir dir;
  auto empty = read_cursor(dir.path(), "web");
  EXPECT_EQ(empty.since_ns, 0);
  EXPECT_EQ(empty.last_us, -1);
  // Just rotated: the current file is empty, the newest rotated one has the lines.
  docker_testing::write_text(dir.path() / "web.log.1",
                             logs::format_time(kBase / 1000) + " stdout before rotation\n");
  docker_testing::write_text(dir.path() / "web.log", "");
  auto rotated = read_cursor(dir.path(), "web");
  EXPECT_EQ(rotated.last_us, kBase / 1000);
  EXPECT_EQ(rotated.written.size(), 1u);
}

TEST(LogSink, ALineWithoutItsNewlineAtTheEndIsNotInTheCursor) {
  TempDir dir;
  docker_testing::write_text(dir.path() / "web.log",
                             logs::format_time(kBase / 1000) + " stdout done\n" +
                                 logs::format_time(kBase / 1000 + 5) + " stdout half");
  auto cursor = read_cursor(dir.path(), "web");
  EXPECT_EQ(cursor.last_us, kBase / 1000);
  EXPECT_EQ(cursor.written.size(), 1u);
}

TEST(LogSink, RefusesAStreamThatIsNotMultiplexed) {
  TempDir dir;
  LogSink sink(dir.path(), "web", {});
  ASSERT_TRUE(sink.open());
  sink.begin({});
  EXPECT_FALSE(sink.feed("plain text\n"));
}

}  // namespace
}  // namespace baton::runtimes::docker
