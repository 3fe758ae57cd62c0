#include "cli/format.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "bundle/bundle_name.hpp"

namespace baton::cli {

Table::Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

void Table::add_row(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::render() const {
  std::vector<std::size_t> widths(columns_.size(), 0);
  for (std::size_t c = 0; c < columns_.size(); ++c) {
    widths[c] = display_width(columns_[c].title);
    for (const auto& row : rows_)
      widths[c] = std::max(widths[c], display_width(row[c]));
  }
  auto line = [&](auto cell_at) {
    std::string out;
    for (std::size_t c = 0; c < columns_.size(); ++c) {
      const std::string& cell = cell_at(c);
      std::string pad(widths[c] - display_width(cell), ' ');
      if (c > 0) out += "  ";
      out += columns_[c].align == Align::right ? pad + cell : cell + pad;
    }
    while (!out.empty() && out.back() == ' ')
      out.pop_back();
    return out + "\n";
  };
  std::string out = line([&](std::size_t c) -> const std::string& { return columns_[c].title; });
  for (const auto& row : rows_) {
    out += line([&](std::size_t c) -> const std::string& { return row[c]; });
  }
  return out;
}

std::size_t display_width(std::string_view text) {
  // Count bytes that start a code point (continuation bytes are 10xxxxxx).
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

std::string display_id(std::string_view id, bool long_ids) {
  if (long_ids) return std::string(id);
  return bundle::short_id(id);
}

std::string format_bytes(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  // Whole values print without a fraction ("64 MiB"), others with one digit ("1.5 KiB").
  if (value >= 100 || value == static_cast<double>(static_cast<std::uint64_t>(value))) {
    std::snprintf(text, sizeof text, "%.0f %s", value, kUnits[unit]);
  } else {
    std::snprintf(text, sizeof text, "%.1f %s", value, kUnits[unit]);
  }
  return text;
}

std::string format_duration(std::chrono::seconds duration) {
  long long total = std::max<long long>(0, duration.count());
  long long days = total / 86400;
  long long hours = total % 86400 / 3600;
  long long minutes = total % 3600 / 60;
  long long seconds = total % 60;
  auto two = [](long long a, const char* ua, long long b, const char* ub) {
    std::string out = std::to_string(a) + ua;
    if (b > 0) out += " " + std::to_string(b) + ub;
    return out;
  };
  if (days > 0) return two(days, "d", hours, "h");
  if (hours > 0) return two(hours, "h", minutes, "m");
  if (minutes > 0) return two(minutes, "m", seconds, "s");
  return std::to_string(seconds) + "s";
}

std::string format_time(std::int64_t epoch_ms) {
  if (epoch_ms <= 0) return "-";
  std::time_t seconds = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

std::string format_age(std::int64_t epoch_ms, std::int64_t now_ms) {
  if (epoch_ms <= 0) return "-";
  std::int64_t age_ms = now_ms - epoch_ms;
  if (age_ms < 1000) return "just now";
  return format_duration(std::chrono::seconds(age_ms / 1000)) + " ago";
}

std::string plural(std::int64_t count, std::string_view singular, std::string_view plural_form) {
  return std::to_string(count) + " " + std::string(count == 1 ? singular : plural_form);
}

}  // namespace baton::cli
