#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/files.hpp"
#include "logs/format.hpp"
#include "logs/reader.hpp"
#include "logs/writer.hpp"

namespace baton::logs {
namespace {

namespace stdfs = std::filesystem;

// 2026-11-22T00:35:30.582123Z
constexpr std::int64_t kSample = 1795307730582123;

files::TempFolder temp() {
  auto folder = files::TempFolder::create(stdfs::temp_directory_path(), "baton-logs-");
  EXPECT_TRUE(folder.ok());
  return std::move(folder).value();
}

std::vector<std::string> lines_of(const stdfs::path& file) {
  auto content = files::read(file);
  EXPECT_TRUE(content.ok()) << file;
  std::vector<std::string> lines;
  std::string whole = content ? *content : std::string();
  std::string_view text = whole;
  while (!text.empty()) {
    auto newline = text.find('\n');
    EXPECT_NE(newline, std::string_view::npos) << "a line without its newline in " << file;
    lines.emplace_back(text.substr(0, newline));
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
  }
  return lines;
}

std::vector<std::string> texts(const std::vector<Entry>& entries) {
  std::vector<std::string> out;
  for (const auto& entry : entries)
    out.push_back(entry.text);
  return out;
}

TEST(LogFormat, TimeIsUtcWithMicroseconds) {
  EXPECT_EQ(format_time(kSample), "2026-11-22T00:35:30.582123Z");
  EXPECT_EQ(format_time(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(format_time(951782400000001), "2000-02-29T00:00:00.000001Z");
  EXPECT_EQ(parse_time("2026-11-22T00:35:30.582123Z"), kSample);
  for (std::int64_t micros : {std::int64_t{0}, kSample, std::int64_t{4102444799999999}}) {
    EXPECT_EQ(parse_time(format_time(micros)), micros);
  }
  EXPECT_FALSE(parse_time("2026-11-22 00:35:30.582123Z"));
  EXPECT_FALSE(parse_time("2026-11-22T00:35:30.582Z"));
  EXPECT_FALSE(parse_time("2026-13-22T00:35:30.582123Z"));
}

TEST(LogFormat, LinesAndFileNames) {
  auto line = parse_line("2026-11-22T00:35:30.582123Z stderr oh no: disk full");
  ASSERT_TRUE(line);
  EXPECT_EQ(line->time, "2026-11-22T00:35:30.582123Z");
  EXPECT_EQ(line->stream, Stream::err);
  EXPECT_EQ(line->text, "oh no: disk full");
  auto empty = parse_line("2026-11-22T00:35:30.582123Z stdout ");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->text, "");
  EXPECT_FALSE(parse_line("2026-11-22T00:35:30.582123Z stdin x"));
  EXPECT_FALSE(parse_line("garbage"));

  EXPECT_EQ(file_name("web"), "web.log");
  EXPECT_EQ(file_name("web", 3), "web.log.3");
  auto rotated = parse_file_name("my.web.log.12");
  ASSERT_TRUE(rotated);
  EXPECT_EQ(rotated->component, "my.web");
  EXPECT_EQ(rotated->index, 12);
  EXPECT_EQ(parse_file_name("web.log")->index, 0);
  EXPECT_FALSE(parse_file_name("web.log.0"));
  EXPECT_FALSE(parse_file_name("web.txt"));
  EXPECT_FALSE(parse_file_name(".log"));
}

TEST(LogWriter, SplitsChunksIntoStampedLines) {
  auto folder = temp();
  stdfs::path file = folder.path() / "web.log";
  {
    Writer writer(file.string());
    ASSERT_TRUE(writer.open().ok());
    ASSERT_TRUE(writer.write(Stream::out, "one\ntw", kSample).ok());
    ASSERT_TRUE(writer.write(Stream::err, "err", kSample + 1).ok());
    EXPECT_TRUE(writer.has_partial(Stream::out));
    ASSERT_TRUE(writer.write(Stream::out, "o\n\nthree\n", kSample + 2).ok());
    ASSERT_TRUE(writer.write(Stream::err, "or\n", kSample + 3).ok());
    ASSERT_TRUE(writer.write(Stream::out, "no newline", kSample + 4).ok());
    ASSERT_TRUE(writer.flush_partial(Stream::out, kSample + 5).ok());
    EXPECT_FALSE(writer.has_partial(Stream::out));
    ASSERT_TRUE(writer.write(Stream::err, "left at the end", kSample + 6).ok());
  }  // the destructor writes what is left
  auto lines = lines_of(file);
  std::vector<std::string> expected = {
      "2026-11-22T00:35:30.582125Z stdout two",        "2026-11-22T00:35:30.582125Z stdout ",
      "2026-11-22T00:35:30.582125Z stdout three",      "2026-11-22T00:35:30.582126Z stderr error",
      "2026-11-22T00:35:30.582128Z stdout no newline",
  };
  ASSERT_EQ(lines.size(), 7u);
  EXPECT_EQ(lines[0], "2026-11-22T00:35:30.582123Z stdout one");
  EXPECT_EQ(std::vector<std::string>(lines.begin() + 1, lines.begin() + 6), expected);
  EXPECT_TRUE(lines[6].ends_with(" stderr left at the end"));
}

TEST(LogWriter, SplitsOverlongLinesAtTheLimit) {
  auto folder = temp();
  stdfs::path file = folder.path() / "web.log";
  {
    Writer writer(file.string());
    ASSERT_TRUE(writer.open().ok());
    std::string exact(kMaxLineBytes, 'a');
    ASSERT_TRUE(writer.write(Stream::out, exact + "\n").ok());
    std::string longer(kMaxLineBytes * 2 + 10, 'b');
    // In pieces, as a pipe delivers it.
    for (std::size_t at = 0; at < longer.size(); at += 5000)
      ASSERT_TRUE(writer.write(Stream::out, longer.substr(at, 5000)).ok());
    ASSERT_TRUE(writer.write(Stream::out, "\n").ok());
  }
  auto lines = lines_of(file);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(parse_line(lines[0])->text.size(), kMaxLineBytes);
  EXPECT_EQ(parse_line(lines[1])->text, std::string(kMaxLineBytes, 'b'));
  EXPECT_EQ(parse_line(lines[2])->text, std::string(kMaxLineBytes, 'b'));
  EXPECT_EQ(parse_line(lines[3])->text, std::string(10, 'b'));
}

TEST(LogWriter, RotatesBySizeAndCount) {
  auto folder = temp();
  stdfs::path file = folder.path() / "web.log";
  const std::uint64_t max_bytes = 1000;
  Writer writer(file.string(), Rotation{max_bytes, 3});
  ASSERT_TRUE(writer.open().ok());
  // 50-byte lines: 20 per file; 200 lines = 10 files' worth, 4 kept (current + 3 rotated).
  for (int i = 0; i < 200; ++i) {
    char text[32];
    std::snprintf(text, sizeof text, "line %06d\n", i);
    ASSERT_TRUE(writer.write(Stream::out, text, kSample + i).ok());
  }
  EXPECT_TRUE(stdfs::exists(folder.path() / "web.log.3"));
  EXPECT_FALSE(stdfs::exists(folder.path() / "web.log.4"));
  // Oldest to newest: .3, .2, .1, current; each within the size, lines continuous.
  std::vector<std::string> all;
  for (const char* name : {"web.log.3", "web.log.2", "web.log.1", "web.log"}) {
    EXPECT_LE(stdfs::file_size(folder.path() / name), max_bytes) << name;
    for (auto& line : lines_of(folder.path() / name))
      all.push_back(std::string(parse_line(line)->text));
  }
  ASSERT_FALSE(all.empty());
  EXPECT_EQ(all.back(), "line 000199");
  int first = std::stoi(all.front().substr(5));
  for (std::size_t i = 0; i < all.size(); ++i) {
    char expected[32];
    std::snprintf(expected, sizeof expected, "line %06d", first + static_cast<int>(i));
    ASSERT_EQ(all[i], expected);
  }
  EXPECT_EQ(all.size(), 11u + 3 * 21);  // 47-byte lines: 21 per file
}

TEST(LogWriter, ZeroRotatedFilesTruncates) {
  auto folder = temp();
  stdfs::path file = folder.path() / "web.log";
  Writer writer(file.string(), Rotation{200, 0});
  ASSERT_TRUE(writer.open().ok());
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(writer.write(Stream::out, "0123456789\n").ok());
  EXPECT_LE(stdfs::file_size(file), 200u);
  EXPECT_FALSE(stdfs::exists(folder.path() / "web.log.1"));
}

TEST(LogReader, TailMergesComponentsAndRotatedFilesByTime) {
  auto folder = temp();
  Writer web((folder.path() / "web.log").string(), Rotation{400, 5});
  Writer worker((folder.path() / "worker.log").string(), Rotation{400, 5});
  ASSERT_TRUE(web.open().ok());
  ASSERT_TRUE(worker.open().ok());
  for (int i = 0; i < 60; ++i) {
    Writer& writer = i % 3 == 0 ? worker : web;
    ASSERT_TRUE(writer
                    .write(i % 2 ? Stream::err : Stream::out, "event " + std::to_string(i) + "\n",
                           kSample + i * 10)
                    .ok());
  }
  ASSERT_TRUE(stdfs::exists(folder.path() / "web.log.2"));  // the tail crosses rotated files

  auto last = tail(folder.path(), 25);
  ASSERT_TRUE(last.ok()) << last.error().message;
  ASSERT_EQ(last->size(), 25u);
  for (int i = 0; i < 25; ++i) {
    const Entry& entry = (*last)[static_cast<std::size_t>(i)];
    int event = 35 + i;
    EXPECT_EQ(entry.text, "event " + std::to_string(event));
    EXPECT_EQ(entry.component, event % 3 == 0 ? "worker" : "web");
    EXPECT_EQ(entry.stream, event % 2 ? Stream::err : Stream::out);
    EXPECT_EQ(entry.time, format_time(kSample + event * 10));
  }
  // More than there is: everything that is kept, in order.
  auto everything = tail(folder.path(), 1000);
  ASSERT_TRUE(everything.ok());
  EXPECT_EQ(everything->back().text, "event 59");
  EXPECT_TRUE(std::is_sorted(everything->begin(), everything->end(),
                             [](const Entry& a, const Entry& b) { return a.time < b.time; }));
  EXPECT_TRUE(tail(folder.path() / "missing", 10)->empty());
  EXPECT_TRUE(tail(folder.path(), 0)->empty());
}

TEST(LogReader, FollowerReturnsNewLinesAcrossRotations) {
  auto folder = temp();
  Writer web((folder.path() / "web.log").string(), Rotation{300, 5});
  ASSERT_TRUE(web.open().ok());
  ASSERT_TRUE(web.write(Stream::out, "before 1\nbefore 2\n", kSample).ok());

  Follower follower(folder.path());
  auto backlog = follower.backlog(10);
  ASSERT_TRUE(backlog.ok());
  EXPECT_EQ(texts(*backlog), (std::vector<std::string>{"before 1", "before 2"}));
  EXPECT_TRUE(follower.poll()->empty());

  // Several rotations between two polls: nothing lost, nothing repeated.
  std::vector<std::string> expected;
  for (int i = 0; i < 20; ++i) {
    expected.push_back("after " + std::to_string(i));
    ASSERT_TRUE(web.write(Stream::out, expected.back() + "\n", kSample + 1 + i).ok());
  }
  ASSERT_TRUE(stdfs::exists(folder.path() / "web.log.2"));
  auto polled = follower.poll();
  ASSERT_TRUE(polled.ok()) << polled.error().message;
  EXPECT_EQ(texts(*polled), expected);
  EXPECT_TRUE(follower.poll()->empty());

  // A partial line waits for its newline (the writer never leaves one, but a reader can see a
  // write half done); a component that appears later is followed from its start.
  {
    int fd = ::open((folder.path() / "web.log").c_str(), O_WRONLY | O_APPEND);
    ASSERT_GE(fd, 0);
    std::string head = format_time(kSample + 100) + " stdout half";
    ASSERT_EQ(::write(fd, head.data(), head.size()), static_cast<ssize_t>(head.size()));
    EXPECT_TRUE(follower.poll()->empty());
    ASSERT_EQ(::write(fd, " done\n", 6), 6);
    ::close(fd);
  }
  Writer worker((folder.path() / "worker.log").string());
  ASSERT_TRUE(worker.open().ok());
  ASSERT_TRUE(worker.write(Stream::err, "worker up\n", kSample + 200).ok());
  polled = follower.poll();
  ASSERT_TRUE(polled.ok());
  ASSERT_EQ(polled->size(), 2u);
  EXPECT_EQ((*polled)[0].text, "half done");
  EXPECT_EQ((*polled)[1].component, "worker");
  EXPECT_EQ((*polled)[1].text, "worker up");
}

TEST(LogReader, FollowerPollsInBoundedSteps) {
  auto folder = temp();
  Writer web((folder.path() / "web.log").string());
  ASSERT_TRUE(web.open().ok());
  Follower follower(folder.path());
  std::string chunk;
  for (int i = 0; i < 5000; ++i)
    chunk += "line " + std::to_string(i) + "\n";
  ASSERT_TRUE(web.write(Stream::out, chunk, kSample).ok());
  std::size_t total = 0;
  int polls = 0;
  for (;;) {
    auto polled = follower.poll(16 * 1024);
    ASSERT_TRUE(polled.ok());
    if (polled->empty()) break;
    for (const auto& entry : *polled)
      ASSERT_EQ(entry.text, "line " + std::to_string(total++));
    ++polls;
  }
  EXPECT_EQ(total, 5000u);
  EXPECT_GT(polls, 5);
}

}  // namespace
}  // namespace baton::logs
