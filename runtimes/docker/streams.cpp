#include "runtimes/docker/streams.hpp"

#include <cmath>
#include <ctime>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/text.hpp"

namespace baton::runtimes::docker {

using nlohmann::json;

bool LineSplitter::feed(std::string_view data,
                        const std::function<void(std::string_view)>& on_line) {
  while (!data.empty()) {
    std::size_t newline = data.find('\n');
    if (newline == std::string_view::npos) {
      if (pending_.size() + data.size() > max_line_) return false;
      pending_.append(data);
      return true;
    }
    std::string_view piece = data.substr(0, newline);
    data.remove_prefix(newline + 1);
    std::string_view line = piece;
    if (!pending_.empty()) {
      if (pending_.size() + piece.size() > max_line_) return false;
      pending_.append(piece);
      line = pending_;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    on_line(line);
    pending_.clear();
  }
  return true;
}

void FrameDecoder::reset() {
  header_used_ = 0;
  in_payload_ = false;
  broken_ = false;
  remaining_ = 0;
  payload_.clear();
}

bool FrameDecoder::feed(std::string_view data, const OnFrame& on_frame) {
  if (broken_) return false;
  while (!data.empty()) {
    if (!in_payload_) {
      std::size_t take = std::min(kHeaderSize - header_used_, data.size());
      for (std::size_t i = 0; i < take; ++i)
        header_[header_used_ + i] = data[i];
      header_used_ += take;
      data.remove_prefix(take);
      if (header_used_ < kHeaderSize) return true;
      header_used_ = 0;
      if (header_[0] > 3 || header_[1] != 0 || header_[2] != 0 || header_[3] != 0) {
        broken_ = true;
        return false;
      }
      stream_ = header_[0] >= 2 ? logs::Stream::err : logs::Stream::out;
      remaining_ = (std::size_t{header_[4]} << 24) | (std::size_t{header_[5]} << 16) |
                   (std::size_t{header_[6]} << 8) | std::size_t{header_[7]};
      if (remaining_ > kMaxFrame) {
        broken_ = true;
        return false;
      }
      if (remaining_ == 0) {
        on_frame(stream_, {});
        continue;
      }
      in_payload_ = true;
      payload_.clear();
    }
    // A frame wholly inside this chunk goes out without a copy.
    if (payload_.empty() && data.size() >= remaining_) {
      std::string_view frame = data.substr(0, remaining_);
      data.remove_prefix(remaining_);
      in_payload_ = false;
      remaining_ = 0;
      on_frame(stream_, frame);
      continue;
    }
    std::size_t take = std::min(remaining_, data.size());
    payload_.append(data.substr(0, take));
    data.remove_prefix(take);
    remaining_ -= take;
    if (remaining_ == 0) {
      in_payload_ = false;
      std::string frame = std::move(payload_);
      payload_.clear();
      on_frame(stream_, frame);
    }
  }
  return true;
}

namespace {

std::optional<int> digits(std::string_view text, std::size_t at, std::size_t count) {
  if (at + count > text.size()) return std::nullopt;
  int value = 0;
  for (std::size_t i = at; i < at + count; ++i) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

}  // namespace

std::optional<std::int64_t> parse_time_ns(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)
  auto year = digits(text, 0, 4), month = digits(text, 5, 2), day = digits(text, 8, 2);
  auto hour = digits(text, 11, 2), minute = digits(text, 14, 2), second = digits(text, 17, 2);
  if (!year || !month || !day || !hour || !minute || !second || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != 't') || text[13] != ':' || text[16] != ':') {
    return std::nullopt;
  }
  std::size_t at = 19;
  std::int64_t fraction = 0;
  if (at < text.size() && text[at] == '.') {
    ++at;
    int count = 0;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
      if (count < 9) {
        fraction = fraction * 10 + (text[at] - '0');
        ++count;
      }
      ++at;
    }
    if (count == 0) return std::nullopt;
    for (; count < 9; ++count)
      fraction *= 10;
  }
  if (at >= text.size()) return std::nullopt;
  std::int64_t offset_seconds = 0;
  if (text[at] == 'Z' || text[at] == 'z') {
    ++at;
  } else if (text[at] == '+' || text[at] == '-') {
    auto offset_hour = digits(text, at + 1, 2), offset_minute = digits(text, at + 4, 2);
    if (!offset_hour || !offset_minute || at + 3 >= text.size() || text[at + 3] != ':') {
      return std::nullopt;
    }
    offset_seconds = (*offset_hour * 3600 + *offset_minute * 60) * (text[at] == '+' ? 1 : -1);
    at += 6;
  } else {
    return std::nullopt;
  }
  if (at != text.size()) return std::nullopt;
  std::tm parts{};
  parts.tm_year = *year - 1900;
  parts.tm_mon = *month - 1;
  parts.tm_mday = *day;
  parts.tm_hour = *hour;
  parts.tm_min = *minute;
  parts.tm_sec = *second;
  std::int64_t seconds = static_cast<std::int64_t>(timegm(&parts)) - offset_seconds;
  // Nanoseconds in 64 bits reach from 1677 to 2262; other years are no time the daemon sends.
  constexpr std::int64_t kMaxSeconds = std::numeric_limits<std::int64_t>::max() / 1'000'000'000 - 1;
  if (seconds < -kMaxSeconds || seconds > kMaxSeconds) return std::nullopt;
  return seconds * 1'000'000'000 + fraction;
}

std::string api_time(std::int64_t ns) {
  if (ns < 0) ns = 0;
  std::string fraction = std::to_string(ns % 1'000'000'000);
  return std::to_string(ns / 1'000'000'000) + "." + std::string(9 - fraction.size(), '0') +
         fraction;
}

std::optional<LogEntry> parse_log_entry(std::string_view payload) {
  std::size_t space = payload.find(' ');
  if (space == std::string_view::npos) {
    // A time alone: an empty entry (the daemon never sends one, but it is well-formed).
    auto time = parse_time_ns(payload);
    if (!time) return std::nullopt;
    return LogEntry{*time, {}};
  }
  auto time = parse_time_ns(payload.substr(0, space));
  if (!time) return std::nullopt;
  return LogEntry{*time, payload.substr(space + 1)};
}

void Progress::add_line(std::string line) {
  lines_.push_back(std::move(line));
  while (lines_.size() > keep_lines_)
    lines_.pop_front();
}

void Progress::add_text(std::string_view text) {
  while (!text.empty()) {
    std::size_t newline = text.find('\n');
    if (newline == std::string_view::npos) {
      partial_.append(text);
      return;
    }
    partial_.append(text.substr(0, newline));
    text.remove_prefix(newline + 1);
    if (!partial_.empty() && partial_.back() == '\r') partial_.pop_back();
    add_line(std::move(partial_));
    partial_.clear();
  }
}

void Progress::finish() {
  if (!partial_.empty()) {
    add_line(std::move(partial_));
    partial_.clear();
  }
}

void Progress::feed_line(std::string_view line) {
  if (text::trim(line).empty()) return;
  json message = json::parse(line, nullptr, false);
  if (message.is_discarded() || !message.is_object()) {
    add_text(std::string(line) + "\n");  // not JSON: keep it as text
    return;
  }
  auto string_at = [&](const json& object, const char* key) -> std::string {
    auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::string error = string_at(message, "error");
  if (auto detail = message.find("errorDetail"); detail != message.end() && detail->is_object()) {
    if (std::string text = string_at(*detail, "message"); !text.empty()) error = text;
  }
  if (!error.empty() || message.contains("errorDetail")) {
    if (error.empty()) error = "unknown error";
    finish();
    add_line(error);
    if (error_.empty()) error_ = error;
    return;
  }
  if (auto aux = message.find("aux"); aux != message.end() && aux->is_object()) {
    if (std::string id = string_at(*aux, "ID"); !id.empty()) image_id_ = id;
  }
  std::string text = string_at(message, "stream");
  if (text.empty()) {
    std::string status = string_at(message, "status");
    if (!status.empty()) text = status + "\n";
  }
  if (text.empty()) return;
  constexpr std::string_view kLoaded = "Loaded image: ";
  constexpr std::string_view kLoadedId = "Loaded image ID: ";
  constexpr std::string_view kBuilt = "Successfully built ";
  std::string_view trimmed = text::trim(text);
  if (trimmed.starts_with(kLoadedId)) {
    loaded_ids_.emplace_back(text::trim(trimmed.substr(kLoadedId.size())));
  } else if (trimmed.starts_with(kLoaded)) {
    loaded_references_.emplace_back(text::trim(trimmed.substr(kLoaded.size())));
  } else if (trimmed.starts_with(kBuilt) && image_id_.empty()) {
    image_id_ = std::string(text::trim(trimmed.substr(kBuilt.size())));
  }
  add_text(text);
}

std::string Progress::tail() const {
  std::string out;
  for (const auto& line : lines_) {
    if (!out.empty()) out += '\n';
    out += line;
  }
  if (!partial_.empty()) {
    if (!out.empty()) out += '\n';
    out += partial_;
  }
  return out;
}

std::optional<Event> parse_event(std::string_view line) {
  json message = json::parse(line, nullptr, false);
  if (message.is_discarded() || !message.is_object()) return std::nullopt;
  Event event;
  auto string_at = [](const json& object, const char* key) -> std::string {
    auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  event.type = string_at(message, "Type");
  event.action = string_at(message, "Action");
  if (event.action.empty()) event.action = string_at(message, "status");
  // "exec_start: sh -c ..." and "health_status: healthy" carry text after the action.
  if (auto colon = event.action.find(':'); colon != std::string::npos) event.action.resize(colon);
  event.id = string_at(message, "id");
  if (auto actor = message.find("Actor"); actor != message.end() && actor->is_object()) {
    if (event.id.empty()) event.id = string_at(*actor, "ID");
    if (auto attributes = actor->find("Attributes");
        attributes != actor->end() && attributes->is_object()) {
      for (const auto& [key, value] : attributes->items()) {
        if (value.is_string()) event.attributes[key] = value.get<std::string>();
      }
    }
  }
  // A number as a count of `unit` in nanoseconds, when it fits 64 bits (the daemon sends integers;
  // a float or a huge value would overflow the conversion).
  auto nanoseconds = [](const json& value, std::int64_t unit) -> std::optional<std::int64_t> {
    double number = value.get<double>();
    constexpr double kLimit = 9.2e18;  // just under 2^63
    if (!(std::abs(number) * static_cast<double>(unit) < kLimit)) return std::nullopt;
    if (value.is_number_float())
      return static_cast<std::int64_t>(number * static_cast<double>(unit));
    std::int64_t whole = value.is_number_unsigned()
                             ? static_cast<std::int64_t>(value.get<std::uint64_t>())
                             : value.get<std::int64_t>();
    return whole * unit;
  };
  std::optional<std::int64_t> time;
  if (auto nanos = message.find("timeNano"); nanos != message.end() && nanos->is_number()) {
    time = nanoseconds(*nanos, 1);
  }
  if (auto seconds = message.find("time");
      !time && seconds != message.end() && seconds->is_number()) {
    time = nanoseconds(*seconds, 1'000'000'000);
  }
  if (time) event.time_ns = *time;
  if (event.action.empty()) return std::nullopt;
  return event;
}

}  // namespace baton::runtimes::docker
