#pragma once
// Text shapes the CLI prints: aligned tables (ConductR's layout: two spaces between columns,
// numbers right-aligned, trailing blanks trimmed), ids, sizes, times and durations. Pure
// functions, so tests pin the output exactly.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace baton::cli {

enum class Align { left, right };

class Table {
 public:
  struct Column {
    std::string title;
    Align align = Align::left;
  };
  explicit Table(std::vector<Column> columns);

  // A row with fewer cells than columns is padded with empty cells; extra cells are dropped.
  void add_row(std::vector<std::string> cells);
  std::size_t rows() const { return rows_.size(); }
  // The header and every row, each line ending in '\n'.
  std::string render() const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

// Display width of UTF-8 text: code points, not bytes (names may carry accents).
std::size_t display_width(std::string_view text);

// "abf6045" / "abf6045-a53237c", or the id itself with long_ids.
std::string display_id(std::string_view id, bool long_ids);

// 1536 -> "1.5 KiB", 67108864 -> "64 MiB", 0 -> "0 B".
std::string format_bytes(std::uint64_t bytes);

// A whole number of seconds as "45s", "3m 2s", "2h 5m", "3d 4h".
std::string format_duration(std::chrono::seconds duration);

// Milliseconds since the epoch as UTC "2025-11-22T00:55:30Z"; "-" for 0 or less.
std::string format_time(std::int64_t epoch_ms);

// "3m 2s ago" relative to `now_ms`; "-" for 0 or less, "just now" under a second.
std::string format_age(std::int64_t epoch_ms, std::int64_t now_ms);

// "1 instance" / "3 instances".
std::string plural(std::int64_t count, std::string_view singular, std::string_view plural_form);

}  // namespace baton::cli
