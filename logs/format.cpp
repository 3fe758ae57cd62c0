#include "logs/format.hpp"

#include <time.h>

#include <charconv>

namespace baton::logs {

namespace {

void put_digits(char* out, unsigned value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
}

std::optional<unsigned> digits(std::string_view text, std::size_t at, std::size_t width) {
  unsigned value = 0;
  for (std::size_t i = at; i < at + width; ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(text[i] - '0');
  }
  return value;
}

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm): no time zone files needed,
// which keeps the static shim independent of the host's /etc/localtime.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

}  // namespace

std::string_view stream_name(Stream stream) {
  return stream == Stream::out ? "stdout" : "stderr";
}

std::optional<Stream> parse_stream(std::string_view name) {
  if (name == "stdout") return Stream::out;
  if (name == "stderr") return Stream::err;
  return std::nullopt;
}

std::int64_t now_micros() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

void format_time(std::int64_t micros, char* out) {
  std::int64_t seconds = micros / 1000000;
  std::int64_t fraction = micros % 1000000;
  if (fraction < 0) {
    fraction += 1000000;
    --seconds;
  }
  std::int64_t days = seconds / 86400;
  std::int64_t rest = seconds % 86400;
  if (rest < 0) {
    rest += 86400;
    --days;
  }
  // civil_from_days (Howard Hinnant).
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const auto doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned day = doy - (153 * mp + 2) / 5 + 1;
  const unsigned month = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t year = static_cast<std::int64_t>(yoe) + era * 400 + (month <= 2);

  put_digits(out, static_cast<unsigned>(year), 4);
  out[4] = '-';
  put_digits(out + 5, month, 2);
  out[7] = '-';
  put_digits(out + 8, day, 2);
  out[10] = 'T';
  put_digits(out + 11, static_cast<unsigned>(rest / 3600), 2);
  out[13] = ':';
  put_digits(out + 14, static_cast<unsigned>(rest / 60 % 60), 2);
  out[16] = ':';
  put_digits(out + 17, static_cast<unsigned>(rest % 60), 2);
  out[19] = '.';
  put_digits(out + 20, static_cast<unsigned>(fraction), 6);
  out[26] = 'Z';
}

std::string format_time(std::int64_t micros) {
  std::string text(kTimeLength, '\0');
  format_time(micros, text.data());
  return text;
}

std::optional<std::int64_t> parse_time(std::string_view text) {
  if (text.size() != kTimeLength || text[4] != '-' || text[7] != '-' || text[10] != 'T' ||
      text[13] != ':' || text[16] != ':' || text[19] != '.' || text[26] != 'Z') {
    return std::nullopt;
  }
  auto year = digits(text, 0, 4);
  auto month = digits(text, 5, 2);
  auto day = digits(text, 8, 2);
  auto hour = digits(text, 11, 2);
  auto minute = digits(text, 14, 2);
  auto second = digits(text, 17, 2);
  auto fraction = digits(text, 20, 6);
  if (!year || !month || !day || !hour || !minute || !second || !fraction) return std::nullopt;
  if (*month < 1 || *month > 12 || *day < 1 || *day > 31 || *hour > 23 || *minute > 59 ||
      *second > 60) {
    return std::nullopt;
  }
  std::int64_t days = days_from_civil(*year, *month, *day);
  std::int64_t seconds = days * 86400 + *hour * 3600 + *minute * 60 + *second;
  return seconds * 1000000 + *fraction;
}

std::string file_name(std::string_view component, int index) {
  std::string name(component);
  name += ".log";
  if (index > 0) {
    name += '.';
    name += std::to_string(index);
  }
  return name;
}

std::optional<FileName> parse_file_name(std::string_view name) {
  constexpr std::string_view kSuffix = ".log";
  int index = 0;
  if (auto dot = name.rfind('.');
      dot != std::string_view::npos && dot + 1 < name.size() &&
      name.substr(dot + 1).find_first_not_of("0123456789") == std::string_view::npos) {
    auto [end, ec] = std::from_chars(name.data() + dot + 1, name.data() + name.size(), index);
    if (ec != std::errc() || end != name.data() + name.size() || index < 1) return std::nullopt;
    name = name.substr(0, dot);
  }
  if (name.size() <= kSuffix.size() || !name.ends_with(kSuffix)) return std::nullopt;
  return FileName{std::string(name.substr(0, name.size() - kSuffix.size())), index};
}

std::optional<LineView> parse_line(std::string_view line) {
  // "<time> stdout <text>": the text may be empty ("<time> stdout ").
  if (line.size() < kTimeLength + 8 || line[10] != 'T' || line[kTimeLength - 1] != 'Z' ||
      line[kTimeLength] != ' ' || line[kTimeLength + 7] != ' ') {
    return std::nullopt;
  }
  auto stream = parse_stream(line.substr(kTimeLength + 1, 6));
  if (!stream) return std::nullopt;
  return LineView{line.substr(0, kTimeLength), *stream, line.substr(kTimeLength + 8)};
}

}  // namespace baton::logs
