#pragma once
// Parsers for what the Docker Engine API streams: JSON lines (build and load progress, events) and
// the multiplexed log stream of a container without a TTY. All are fed arbitrary chunks (as curl
// delivers them) and keep what straddles two chunks. Pure functions and small classes, no I/O.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "logs/format.hpp"

namespace baton::runtimes::docker {

// Splits a byte stream into '\n'-terminated lines (a trailing '\r' is dropped).
class LineSplitter {
 public:
  explicit LineSplitter(std::size_t max_line = std::size_t{1} << 20) : max_line_(max_line) {}

  // Calls `on_line` for every complete line. False once a line grew past max_line (the stream is
  // not what was expected; the caller stops reading it).
  bool feed(std::string_view data, const std::function<void(std::string_view)>& on_line);
  // What is left without a newline (at the end of a stream).
  std::string_view rest() const { return pending_; }

 private:
  std::size_t max_line_;
  std::string pending_;
};

// The frames of a container's output (`Tty=false`): an 8-byte header [stream, 0, 0, 0, length as
// 32-bit big-endian] then `length` bytes. Stream 1 is stdout; 2 (and 3, the daemon's own errors)
// stderr.
class FrameDecoder {
 public:
  static constexpr std::size_t kHeaderSize = 8;
  static constexpr std::size_t kMaxFrame = std::size_t{8} << 20;

  using OnFrame = std::function<void(logs::Stream, std::string_view payload)>;
  // False on a malformed header (unknown stream byte, absurd length); the decoder then refuses
  // everything after.
  bool feed(std::string_view data, const OnFrame& on_frame);
  // No frame is half received.
  bool idle() const { return header_used_ == 0 && !in_payload_; }
  void reset();

 private:
  unsigned char header_[kHeaderSize] = {};
  std::size_t header_used_ = 0;
  bool in_payload_ = false;
  bool broken_ = false;
  logs::Stream stream_ = logs::Stream::out;
  std::size_t remaining_ = 0;
  std::string payload_;
};

// One frame of a `timestamps=1` log stream: "<RFC 3339 time> <text>".
struct LogEntry {
  std::int64_t time_ns = 0;
  std::string_view text;  // as written, '\n' included when the line was complete
};
std::optional<LogEntry> parse_log_entry(std::string_view payload);

// "2026-11-22T02:38:10.996419908Z" (or with a +hh:mm offset) -> nanoseconds since the epoch.
std::optional<std::int64_t> parse_time_ns(std::string_view text);
// The `since=`/`until=` form the API takes: "<seconds>.<9 digits>".
std::string api_time(std::int64_t ns);

// The JSON-lines answer of `POST /build` and `POST /images/load`: text, an image id, loaded
// references, and errors. Both answer HTTP 200 before they know whether they will fail, so a
// failure is only ever an `error`/`errorDetail` line (or a stream that ends early).
class Progress {
 public:
  explicit Progress(std::size_t keep_lines = 20) : keep_lines_(keep_lines) {}

  void feed_line(std::string_view line);
  // The end of the stream: pending text becomes the last line.
  void finish();

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  // Build: `{"aux":{"ID":...}}`, else "Successfully built <id>".
  const std::string& image_id() const { return image_id_; }
  // Load: "Loaded image: <reference>" and "Loaded image ID: <id>" lines.
  const std::vector<std::string>& loaded_references() const { return loaded_references_; }
  const std::vector<std::string>& loaded_ids() const { return loaded_ids_; }
  // The last `keep_lines` lines of text (the error included), joined with '\n'.
  std::string tail() const;

 private:
  void add_text(std::string_view text);
  void add_line(std::string line);

  std::size_t keep_lines_;
  std::string partial_;
  std::deque<std::string> lines_;
  std::string error_;
  std::string image_id_;
  std::vector<std::string> loaded_references_;
  std::vector<std::string> loaded_ids_;
};

// One line of `GET /events`.
struct Event {
  std::string type;    // "container", "image", ...
  std::string action;  // "create", "start", "die", "oom", "destroy", ... (text after ':' dropped)
  std::string id;      // the container id for container events
  std::map<std::string, std::string> attributes;  // labels, "name", "image", "exitCode"
  std::int64_t time_ns = 0;
};
std::optional<Event> parse_event(std::string_view line);

}  // namespace baton::runtimes::docker
