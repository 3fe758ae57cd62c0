#include "runtimes/docker/log_sink.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

namespace baton::runtimes::docker {

namespace {

struct Line {
  std::int64_t time_us = 0;
  logs::Stream stream = logs::Stream::out;
  std::string text;
};

// The complete lines within the last `max_bytes` of `file`.
std::vector<Line> tail_lines(const stdfs::path& file, std::size_t max_bytes) {
  std::vector<Line> lines;
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return lines;
  struct stat info {};
  if (::fstat(fd, &info) != 0 || info.st_size <= 0) {
    ::close(fd);
    return lines;
  }
  const auto size = static_cast<std::uint64_t>(info.st_size);
  const std::uint64_t start = size > max_bytes ? size - max_bytes : 0;
  std::string content(size - start, '\0');
  std::size_t got = 0;
  while (got < content.size()) {
    ssize_t n =
        ::pread(fd, content.data() + got, content.size() - got, static_cast<off_t>(start + got));
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  content.resize(got);
  std::string_view rest = content;
  if (start > 0) {  // began mid-line
    std::size_t newline = rest.find('\n');
    rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
  }
  while (!rest.empty()) {
    std::size_t newline = rest.find('\n');
    if (newline == std::string_view::npos) break;  // still being written
    auto parsed = logs::parse_line(rest.substr(0, newline));
    rest.remove_prefix(newline + 1);
    if (!parsed) continue;
    auto micros = logs::parse_time(parsed->time);
    if (!micros) continue;
    lines.push_back(Line{*micros, parsed->stream, std::string(parsed->text)});
  }
  return lines;
}

}  // namespace

LogCursor read_cursor(const stdfs::path& log_dir, std::string_view component,
                      std::chrono::milliseconds window, std::size_t max_bytes) {
  auto lines = tail_lines(log_dir / logs::file_name(component), max_bytes);
  if (lines.empty()) lines = tail_lines(log_dir / logs::file_name(component, 1), max_bytes);
  LogCursor cursor;
  if (lines.empty()) return cursor;
  std::int64_t last = lines.front().time_us;
  for (const auto& line : lines)
    last = std::max(last, line.time_us);
  std::int64_t since =
      std::max(last - static_cast<std::int64_t>(window.count()) * 1000, lines.front().time_us);
  cursor.last_us = last;
  cursor.since_ns = since * 1000;
  for (auto& line : lines) {
    if (line.time_us >= since) {
      cursor.written.emplace(line.time_us, line.stream, std::move(line.text));
    }
  }
  return cursor;
}

LogSink::LogSink(const stdfs::path& log_dir, std::string_view component, logs::Rotation rotation)
    : writer_((log_dir / logs::file_name(component)).string(), rotation) {}

LogSink::~LogSink() {
  close();
}

Status LogSink::open() {
  std::lock_guard lock(mutex_);
  return writer_.open();
}

void LogSink::begin(LogCursor cursor) {
  std::lock_guard lock(mutex_);
  decoder_.reset();
  cursor_ = std::move(cursor);
}

bool LogSink::feed(std::string_view data) {
  std::lock_guard lock(mutex_);
  if (closed_) return true;
  last_data_ = std::chrono::steady_clock::now();
  return decoder_.feed(
      data, [this](logs::Stream stream, std::string_view payload) { on_frame(stream, payload); });
}

void LogSink::on_frame(logs::Stream stream, std::string_view payload) {
  auto entry = parse_log_entry(payload);
  std::int64_t time_us = entry ? entry->time_ns / 1000 : logs::now_micros();
  std::string_view text = entry ? entry->text : payload;
  if (time_us <= cursor_.last_us && !cursor_.written.empty()) {
    std::string_view key = text;
    if (!key.empty() && key.back() == '\n') key.remove_suffix(1);
    auto it = cursor_.written.find(std::make_tuple(time_us, stream, std::string(key)));
    if (it != cursor_.written.end()) {
      cursor_.written.erase(it);
      ++skipped_;
      return;
    }
  }
  auto index = stream == logs::Stream::out ? 0 : 1;
  last_us_[index] = time_us;
  ++written_;
  if (auto status = writer_.write(stream, text, time_us); !status) {
    last_error_ = status.error().message;
  }
}

void LogSink::flush_idle(std::chrono::milliseconds idle) {
  std::lock_guard lock(mutex_);
  if (closed_ || std::chrono::steady_clock::now() - last_data_ < idle) return;
  for (auto stream : {logs::Stream::out, logs::Stream::err}) {
    if (!writer_.has_partial(stream)) continue;
    auto index = stream == logs::Stream::out ? 0 : 1;
    if (auto status = writer_.flush_partial(stream, last_us_[index]); !status) {
      last_error_ = status.error().message;
    }
  }
}

void LogSink::close() {
  std::lock_guard lock(mutex_);
  if (closed_) return;
  closed_ = true;
  for (auto stream : {logs::Stream::out, logs::Stream::err}) {
    auto index = stream == logs::Stream::out ? 0 : 1;
    (void)writer_.flush_partial(stream, last_us_[index]);
  }
}

std::string LogSink::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

std::uint64_t LogSink::entries_written() const {
  std::lock_guard lock(mutex_);
  return written_;
}

std::uint64_t LogSink::entries_skipped() const {
  std::lock_guard lock(mutex_);
  return skipped_;
}

}  // namespace baton::runtimes::docker
