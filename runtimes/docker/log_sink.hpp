#pragma once
// A container's output into `<log_dir>/<component>.log` (logs/ format), from the daemon's
// multiplexed `timestamps=1` log stream. Each line is stamped with the daemon's own time for it,
// so after a gap (agent restart, dockerd reconnect) the runtime asks for the log again from a
// little before the last line it wrote (`since=`) and skips the entries it finds already written:
// no line is lost and none is written twice.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <tuple>

#include "common/result.hpp"
#include "logs/format.hpp"
#include "logs/writer.hpp"
#include "runtimes/docker/streams.hpp"

namespace baton::runtimes::docker {

namespace stdfs = std::filesystem;

struct LogCursor {
  std::int64_t since_ns = 0;  // ask for entries from this time on (inclusive)
  std::int64_t last_us = -1;  // entries up to this time may be written already
  // Lines already in the file at or after since_ns: (time in microseconds, stream, text).
  std::multiset<std::tuple<std::int64_t, logs::Stream, std::string>> written;
};

// The cursor after what `<log_dir>/<component>.log` (or its newest rotated file, when the
// current one holds no line yet) ends with: at most `window` before its last line, within the last
// `max_bytes` of the file. A missing file gives the cursor of an empty log (everything is new).
LogCursor read_cursor(const stdfs::path& log_dir, std::string_view component,
                      std::chrono::milliseconds window = std::chrono::seconds(1),
                      std::size_t max_bytes = std::size_t{1} << 20);

// Thread-safe: the loop's thread feeds it, a worker drains the rest at the end.
class LogSink {
 public:
  LogSink(const stdfs::path& log_dir, std::string_view component, logs::Rotation rotation);
  ~LogSink();
  LogSink(const LogSink&) = delete;
  LogSink& operator=(const LogSink&) = delete;

  Status open();
  // A new stream starts: a fresh frame decoder, skipping what `cursor` says is written.
  void begin(LogCursor cursor);
  // Bytes of the stream. False when they are not a multiplexed `timestamps=1` stream (the caller
  // ends it); write errors are remembered (last_error()) but never stop the stream.
  bool feed(std::string_view data);
  // Output without a newline is written as a line of its own after `idle` without more output.
  void flush_idle(std::chrono::milliseconds idle);
  // Writes partial lines and closes the file; later feeds are ignored.
  void close();

  std::string last_error() const;
  std::uint64_t entries_written() const;
  std::uint64_t entries_skipped() const;

 private:
  void on_frame(logs::Stream stream, std::string_view payload);

  mutable std::mutex mutex_;
  logs::Writer writer_;
  FrameDecoder decoder_;
  LogCursor cursor_;
  bool closed_ = false;
  std::int64_t last_us_[2] = {0, 0};
  std::chrono::steady_clock::time_point last_data_{};
  std::string last_error_;
  std::uint64_t written_ = 0;
  std::uint64_t skipped_ = 0;
};

}  // namespace baton::runtimes::docker
