// The Engine API stream parsers: JSON lines, multiplexed log frames (split at every offset), log
// entry times, build and load progress, events.

#include "runtimes/docker/streams.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace baton::runtimes::docker {
namespace {

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

struct Frame {
  logs::Stream stream;
  std::string payload;
  bool operator==(const Frame&) const = default;
};

std::vector<Frame> decode(FrameDecoder& decoder, const std::vector<std::string_view>& chunks,
                          bool* ok = nullptr) {
  std::vector<Frame> frames;
  bool all = true;
  for (auto chunk : chunks) {
    all = decoder.feed(chunk, [&](logs::Stream stream, std::string_view payload) {
      frames.push_back(Frame{stream, std::string(payload)});
    }) && all;
  }
  if (ok != nullptr) *ok = all;
  return frames;
}

TEST(LineSplitter, JoinsLinesAcrossChunksAndDropsCarriageReturns) {
  LineSplitter splitter;
  std::vector<std::string> lines;
  auto collect = [&](std::string_view line) { lines.emplace_back(line); };
  EXPECT_TRUE(splitter.feed("{\"a\":", collect));
  EXPECT_TRUE(splitter.feed("1}\r\n{\"b\":2}\n{\"c\"", collect));
  EXPECT_EQ(lines, (std::vector<std::string>{"{\"a\":1}", "{\"b\":2}"}));
  EXPECT_EQ(splitter.rest(), "{\"c\"");
  EXPECT_TRUE(splitter.feed(":3}\n", collect));
  EXPECT_EQ(lines.back(), "{\"c\":3}");
  EXPECT_TRUE(splitter.rest().empty());
}

TEST(LineSplitter, RefusesALineLongerThanItsLimit) {
  LineSplitter splitter(16);
  EXPECT_FALSE(splitter.feed(std::string(17, 'x'), [](std::string_view) {}));
  LineSplitter split_later(16);
  EXPECT_TRUE(split_later.feed(std::string(10, 'x'), [](std::string_view) {}));
  EXPECT_FALSE(split_later.feed(std::string(10, 'x') + "\n", [](std::string_view) {}));
}

TEST(FrameDecoder, DecodesStdoutAndStderrFrames) {
  FrameDecoder decoder;
  std::string stream = frame(1, "out line\n") + frame(2, "err line\n") + frame(3, "daemon\n");
  auto frames = decode(decoder, {stream});
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0], (Frame{logs::Stream::out, "out line\n"}));
  EXPECT_EQ(frames[1], (Frame{logs::Stream::err, "err line\n"}));
  EXPECT_EQ(frames[2], (Frame{logs::Stream::err, "daemon\n"}));
  EXPECT_TRUE(decoder.idle());
}

TEST(FrameDecoder, FramesSplitAtEveryOffsetDecodeTheSame) {
  const std::string stream = frame(1, "2026-11-22T02:38:10.996419908Z hello\n") + frame(2, "") +
                             frame(2, std::string(300, 'e')) + frame(1, "x");
  FrameDecoder reference_decoder;
  const auto expected = decode(reference_decoder, {stream});
  ASSERT_EQ(expected.size(), 4u);
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    FrameDecoder decoder;
    std::string_view all = stream;
    EXPECT_EQ(decode(decoder, {all.substr(0, cut), all.substr(cut)}), expected) << "cut " << cut;
  }
  for (std::size_t first = 0; first < stream.size(); first += 7) {
    for (std::size_t second = first; second <= stream.size(); second += 5) {
      FrameDecoder decoder;
      std::string_view all = stream;
      EXPECT_EQ(decode(decoder, {all.substr(0, first), all.substr(first, second - first),
                                 all.substr(second)}),
                expected)
          << "cuts " << first << ", " << second;
    }
  }
  // Byte by byte.
  FrameDecoder decoder;
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < stream.size(); ++i)
    bytes.push_back(std::string_view(stream).substr(i, 1));
  EXPECT_EQ(decode(decoder, bytes), expected);
}

TEST(FrameDecoder, RefusesAStreamThatIsNotMultiplexed) {
  FrameDecoder decoder;
  bool ok = true;
  auto frames = decode(decoder, {"2026-11-22T02:38:10Z plain text from a TTY\n"}, &ok);
  EXPECT_FALSE(ok);
  EXPECT_TRUE(frames.empty());
  EXPECT_FALSE(decoder.feed(frame(1, "later"), [](logs::Stream, std::string_view) {}));
  decoder.reset();
  EXPECT_TRUE(decoder.feed(frame(1, "after reset"), [](logs::Stream, std::string_view) {}));
}

TEST(LogEntry, ParsesTheDaemonsTimestampPrefix) {
  auto entry = parse_log_entry("2026-11-22T02:38:10.996419908Z hello world\n");
  ASSERT_TRUE(entry);
  EXPECT_EQ(entry->text, "hello world\n");
  EXPECT_EQ(entry->time_ns, 1795315090996419908LL);
  EXPECT_FALSE(parse_log_entry("no time here\n"));
  auto bare = parse_log_entry("2026-11-22T02:38:10Z");
  ASSERT_TRUE(bare);
  EXPECT_TRUE(bare->text.empty());
}

TEST(LogEntry, ParsesShortFractionsAndOffsets) {
  EXPECT_EQ(parse_time_ns("1970-01-01T00:00:01.5Z"), 1'500'000'000);
  EXPECT_EQ(parse_time_ns("1970-01-01T01:00:00+01:00"), 0);
  EXPECT_EQ(parse_time_ns("1970-01-01T00:00:00.123456789123Z"), 123456789);
  EXPECT_FALSE(parse_time_ns("1970-01-01T00:00:00"));
  EXPECT_FALSE(parse_time_ns("1970-01-01 00:00:00Z"));
  EXPECT_FALSE(parse_time_ns("1970-01-01T00:00:00.Z"));
}

TEST(LogEntry, ApiTimeHasNineFractionDigits) {
  EXPECT_EQ(api_time(1795315090996419908LL), "1795315090.996419908");
  EXPECT_EQ(api_time(1'000'000'007), "1.000000007");
  EXPECT_EQ(api_time(0), "0.000000000");
}

TEST(Progress, BuildSuccessGivesTheImageIdFromAux) {
  Progress progress;
  for (
      const char* line :
      {R"({"stream":"Step 1/2 : FROM scratch\n"})", R"({"stream":" ---\u003e \n"})",
       R"({"stream":"Step 2/2 : COPY busybox /bin/busybox\n"})",
       R"({"aux":{"ID":"sha256:05580743c3b82c0d02b93095fc191ba4fb6df5c76fa1f58594cac2a0481e9361"}})",
       R"({"stream":"Successfully built 05580743c3b8\n"})",
       R"({"stream":"Successfully tagged baton/a/b:c\n"})"}) {
    progress.feed_line(line);
  }
  progress.finish();
  EXPECT_FALSE(progress.failed());
  EXPECT_EQ(progress.image_id(),
            "sha256:05580743c3b82c0d02b93095fc191ba4fb6df5c76fa1f58594cac2a0481e9361");
  EXPECT_NE(progress.tail().find("Successfully tagged baton/a/b:c"), std::string::npos);
}

TEST(Progress, BuildIdFallsBackToSuccessfullyBuilt) {
  Progress progress;
  progress.feed_line(R"({"stream":"Successfully built 05580743c3b8\n"})");
  EXPECT_EQ(progress.image_id(), "05580743c3b8");
}

TEST(Progress, ErrorLineFailsTheBuildAndKeepsTheTail) {
  Progress progress(3);
  progress.feed_line(R"({"stream":"Step 1/3 : FROM scratch\n"})");
  progress.feed_line(R"({"stream":"Step 2/3 : RUN /bin/false\n"})");
  progress.feed_line(R"({"stream":" ---\u003e Running in 1234\n"})");
  progress.feed_line(R"({"stream":"some output without newline"})");
  progress.feed_line(
      R"({"errorDetail":{"code":1,"message":"The command '/bin/false' returned a non-zero code: 1"},"error":"The command '/bin/false' returned a non-zero code: 1"})");
  progress.finish();
  EXPECT_TRUE(progress.failed());
  EXPECT_EQ(progress.error(), "The command '/bin/false' returned a non-zero code: 1");
  EXPECT_EQ(progress.tail(),
            " ---> Running in 1234\nsome output without newline\n"
            "The command '/bin/false' returned a non-zero code: 1");
}

TEST(Progress, ErrorWithoutDetailAndErrorDetailWithoutError) {
  Progress only_error;
  only_error.feed_line(R"({"error":"no space left on device"})");
  EXPECT_TRUE(only_error.failed());
  EXPECT_EQ(only_error.error(), "no space left on device");
  Progress only_detail;
  only_detail.feed_line(R"({"errorDetail":{"message":"context canceled"}})");
  EXPECT_EQ(only_detail.error(), "context canceled");
}

TEST(Progress, TextSplitAcrossStreamMessagesJoins) {
  Progress progress;
  progress.feed_line(R"({"stream":"hel"})");
  progress.feed_line(R"({"stream":"lo\nwor"})");
  progress.feed_line(R"({"stream":"ld\n"})");
  EXPECT_EQ(progress.tail(), "hello\nworld");
}

TEST(Progress, LoadStreamGivesReferencesAndIds) {
  Progress progress;
  progress.feed_line(R"({"stream":"Loaded image: bt/test:1\n"})");
  progress.feed_line(
      R"({"stream":"Loaded image ID: sha256:05580743c3b82c0d02b93095fc191ba4fb6df5c76fa1f58594cac2a0481e9361\n"})");
  progress.feed_line(R"({"status":"Loading layer","progressDetail":{"current":1,"total":2}})");
  EXPECT_FALSE(progress.failed());
  EXPECT_EQ(progress.loaded_references(), std::vector<std::string>{"bt/test:1"});
  EXPECT_EQ(progress.loaded_ids(),
            std::vector<std::string>{
                "sha256:05580743c3b82c0d02b93095fc191ba4fb6df5c76fa1f58594cac2a0481e9361"});
}

TEST(Progress, LoadFailureIsAnErrorLineUnderStatus200) {
  Progress progress;
  progress.feed_line(
      R"({"errorDetail":{"message":"open /var/lib/docker/tmp/docker-import-1/repositories: no such file or directory"},"error":"open /var/lib/docker/tmp/docker-import-1/repositories: no such file or directory"})");
  EXPECT_TRUE(progress.failed());
  EXPECT_NE(progress.error().find("repositories"), std::string::npos);
}

TEST(Progress, NonJsonLinesAreKeptAsText) {
  Progress progress;
  progress.feed_line("this is not json");
  progress.feed_line("");
  EXPECT_FALSE(progress.failed());
  EXPECT_EQ(progress.tail(), "this is not json");
}

TEST(Event, ParsesAContainerDieEvent) {
  auto event = parse_event(
      R"({"status":"die","id":"ae56cd3b","from":"sha256:735b","Type":"container","Action":"die","Actor":{"ID":"ae56cd3b","Attributes":{"exitCode":"3","baton.launch":"9f1c2a7b4e5d6f70.web","name":"baton-a-x"}},"scope":"local","time":1795315086,"timeNano":1795315086689324379})");
  ASSERT_TRUE(event);
  EXPECT_EQ(event->type, "container");
  EXPECT_EQ(event->action, "die");
  EXPECT_EQ(event->id, "ae56cd3b");
  EXPECT_EQ(event->attributes.at("exitCode"), "3");
  EXPECT_EQ(event->attributes.at("baton.launch"), "9f1c2a7b4e5d6f70.web");
  EXPECT_EQ(event->time_ns, 1795315086689324379LL);
}

TEST(Event, ActionTextAfterAColonIsDroppedAndSecondsAreEnough) {
  auto event = parse_event(
      R"({"Type":"container","Action":"exec_start: sh -c true","Actor":{"ID":"c1","Attributes":{}},"time":12})");
  ASSERT_TRUE(event);
  EXPECT_EQ(event->action, "exec_start");
  EXPECT_EQ(event->id, "c1");
  EXPECT_EQ(event->time_ns, 12'000'000'000);
}

TEST(Event, RefusesWhatIsNotAnEvent) {
  EXPECT_FALSE(parse_event("not json"));
  EXPECT_FALSE(parse_event("[1,2]"));
  EXPECT_FALSE(parse_event(R"({"Type":"container"})"));
}

}  // namespace
}  // namespace baton::runtimes::docker
