// sd_notify datagrams (the agent's NOTIFY_SOCKET): parse_notify on any bytes, compared with a
// plain reading of the protocol: lines of KEY=VALUE (a NUL ends a line as a newline does), the
// last valid line of a key wins, READY/STOPPING only for "1", MAINPID in 1..2^30-1, ERRNO in
// 0..4095, anything else ignored.

#include "agent/notify.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz/fuzz.hpp"

namespace {

// Decimal digits (leading zeros allowed) below `limit`; "-0" is 0, other negatives are invalid.
std::optional<int> number_below(std::string_view text, long long limit) {
  bool negative = !text.empty() && text.front() == '-';
  if (negative) text.remove_prefix(1);
  if (text.empty()) return std::nullopt;
  long long value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
    if (value >= limit) return std::nullopt;
  }
  if (negative && value != 0) return std::nullopt;
  return static_cast<int>(value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view datagram(reinterpret_cast<const char*>(data), size);
  baton::agent::NotifyMessage message = baton::agent::parse_notify(datagram);

  baton::agent::NotifyMessage expected;
  std::string text(datagram);
  for (char& c : text)
    if (c == '\0') c = '\n';
  for (std::size_t start = 0; start < text.size();) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line = std::string_view(text).substr(start, end - start);
    start = end + 1;
    std::size_t equals = line.find('=');
    if (equals == std::string_view::npos) continue;
    std::string_view key = line.substr(0, equals), value = line.substr(equals + 1);
    if (key == "READY" && value == "1") expected.ready = true;
    if (key == "STOPPING" && value == "1") expected.stopping = true;
    if (key == "STATUS") expected.status = std::string(value);
    if (key == "MAINPID") {
      if (auto pid = number_below(value, 1 << 30); pid && *pid > 0) expected.main_pid = pid;
    }
    if (key == "ERRNO") {
      if (auto number = number_below(value, 4096)) expected.errno_value = number;
    }
  }
  FUZZ_CHECK(message.ready == expected.ready, "READY disagrees with the datagram");
  FUZZ_CHECK(message.stopping == expected.stopping, "STOPPING disagrees with the datagram");
  FUZZ_CHECK(message.status == expected.status, "STATUS disagrees with the datagram");
  FUZZ_CHECK(message.main_pid == expected.main_pid, "MAINPID disagrees with the datagram");
  FUZZ_CHECK(message.errno_value == expected.errno_value, "ERRNO disagrees with the datagram");
  return 0;
}
