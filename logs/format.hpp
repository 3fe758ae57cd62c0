#pragma once
// The log line format (docs/logs.md): `<time> <stream> <text>\n` in `<log_dir>/<component>.log`,
// e.g. `2026-11-22T00:35:30.582123Z stdout listening on 10.0.0.5:10001`. The time is UTC with
// microseconds and has a fixed width, so text order is time order.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace baton::logs {

enum class Stream : std::uint8_t { out, err };

constexpr std::size_t kTimeLength = 27;           // "2026-11-22T00:35:30.582123Z"
constexpr std::size_t kMaxLineBytes = 16 * 1024;  // longer output lines are split
constexpr std::uint64_t kDefaultMaxBytes = 10u << 20;
constexpr int kDefaultMaxFiles = 5;

// Size-based rotation: `<component>.log` grows to max_bytes, then becomes `.log.1` (newest
// rotated) and older ones shift up to `.log.<max_files>`; the one beyond is deleted.
struct Rotation {
  std::uint64_t max_bytes = kDefaultMaxBytes;
  int max_files = kDefaultMaxFiles;  // rotated files kept; 0 = truncate instead
};

// "stdout" or "stderr".
std::string_view stream_name(Stream stream);
std::optional<Stream> parse_stream(std::string_view name);

// Microseconds since the Unix epoch, now (CLOCK_REALTIME).
std::int64_t now_micros();
// Writes exactly kTimeLength characters (no terminator) for `micros` since the epoch.
void format_time(std::int64_t micros, char* out);
std::string format_time(std::int64_t micros);
// The inverse of format_time; nullopt for anything else.
std::optional<std::int64_t> parse_time(std::string_view text);

// `<component>.log`; `<component>.log.<index>` for rotated files (index >= 1).
std::string file_name(std::string_view component, int index = 0);
// The component and rotation index of a log file name, nullopt for other files.
struct FileName {
  std::string component;
  int index = 0;
};
std::optional<FileName> parse_file_name(std::string_view name);

// One line of a log file, without its newline; views into the text it was parsed from.
struct LineView {
  std::string_view time;
  Stream stream = Stream::out;
  std::string_view text;
};
std::optional<LineView> parse_line(std::string_view line);

}  // namespace baton::logs
