#pragma once
// baton-shim's wire format (shim/README.md), shared by the shim and the universal runtime. Header
// only and free of Baton's libraries: the static shim and the agent compile the same text.
//
// Lines of ASCII ending in '\n', over fd 3 (a socketpair from the spawner) and over connections
// to `<state_dir>/shim.sock`.
//   shim -> agent:  started <pid> | failed <errno> <message> | exited <code> <signal> <oom 0|1>
//                   | error <message>
//   agent -> shim:  stop <signal> <timeout_ms> | kill | ack | status
// A spare shim (`baton-shim --spare`) first waits on fd 3 for one launch message:
//   launch <argc> <envc> <bytes>\n, then <bytes> of NUL-terminated strings: argc arguments (the
//   command line a fresh shim would get, argv[0] included), then envc environment entries.

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace baton::shim {

constexpr int kControlFd = 3;
constexpr std::string_view kSocketName = "shim.sock";
constexpr std::string_view kExitFileName = "exit";  // "<code> <signal> <oom>\n"
constexpr std::size_t kMaxLine = 512;               // longer lines are refused

// A spare shim's launch message: limits (a larger launch starts a fresh shim instead).
constexpr std::string_view kSpareOption = "--spare";
constexpr std::string_view kLaunchWord = "launch";
constexpr std::size_t kMaxLaunchBytes = 1 << 20;
constexpr std::size_t kMaxLaunchArgs = 1024;
constexpr std::size_t kMaxLaunchEnv = 8192;

// Command-line options of baton-shim (the runtime builds argv from these).
namespace option {
constexpr std::string_view kStateDir = "--state-dir";  // folder: shim.sock, exit
constexpr std::string_view kLogFile = "--log-file";    // <log_dir>/<component>.log
constexpr std::string_view kLogMaxBytes = "--log-max-bytes";
constexpr std::string_view kLogMaxFiles = "--log-max-files";
constexpr std::string_view kCwd = "--cwd";                   // the component's working folder
constexpr std::string_view kCgroupProcs = "--cgroup-procs";  // repeatable: cgroup.procs to join
constexpr std::string_view kCgroupClone = "--cgroup-clone";  // v2 leaf: clone the child into it
constexpr std::string_view kOomCounter = "--oom-counter";    // memory.oom_control / memory.events
constexpr std::string_view kStopSignal = "--stop-signal";    // for SIGTERM sent to the shim
constexpr std::string_view kStopTimeoutMs = "--stop-timeout-ms";
constexpr std::string_view kExec = "--exec";  // the resolved program; `--` then its argv
}  // namespace option

struct ExitInfo {
  int code = -1;  // exit code, -1 when killed by a signal
  int signal = 0;
  bool oom = false;
};

struct Event {
  enum class Kind { started, failed, exited, error };
  Kind kind = Kind::error;
  int pid = 0;               // started
  int error = 0;             // failed: errno
  ExitInfo exit;             // exited
  std::string_view message;  // failed, error: view into the parsed line
};

namespace detail {
inline bool next_int(std::string_view& text, long long& value) {
  while (!text.empty() && text.front() == ' ')
    text.remove_prefix(1);
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || (end != text.data() + text.size() && *end != ' ')) return false;
  text.remove_prefix(static_cast<std::size_t>(end - text.data()));
  return true;
}
}  // namespace detail

// "<code> <signal> <oom>" (the exit file and the tail of an `exited` event).
inline std::optional<ExitInfo> parse_exit(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' '))
    text.remove_suffix(1);
  long long code = 0;
  long long signal = 0;
  long long oom = 0;
  if (!detail::next_int(text, code) || !detail::next_int(text, signal) ||
      !detail::next_int(text, oom) || !text.empty() || signal < 0 || signal > 128 || oom < 0 ||
      oom > 1 || code < -1 || code > 255) {
    return std::nullopt;
  }
  return ExitInfo{static_cast<int>(code), static_cast<int>(signal), oom == 1};
}

// One event line without its newline.
inline std::optional<Event> parse_event(std::string_view line) {
  auto space = line.find(' ');
  std::string_view word = line.substr(0, space);
  std::string_view rest = space == std::string_view::npos ? std::string_view() : line.substr(space);
  Event event;
  long long number = 0;
  if (word == "started") {
    if (!detail::next_int(rest, number) || !rest.empty() || number <= 0) return std::nullopt;
    event.kind = Event::Kind::started;
    event.pid = static_cast<int>(number);
  } else if (word == "failed") {
    if (!detail::next_int(rest, number)) return std::nullopt;
    event.kind = Event::Kind::failed;
    event.error = static_cast<int>(number);
    event.message = rest.empty() ? rest : rest.substr(1);
  } else if (word == "exited") {
    auto exit = parse_exit(rest);
    if (!exit) return std::nullopt;
    event.kind = Event::Kind::exited;
    event.exit = *exit;
  } else if (word == "error") {
    event.kind = Event::Kind::error;
    event.message = rest.empty() ? rest : rest.substr(1);
  } else {
    return std::nullopt;
  }
  return event;
}

}  // namespace baton::shim
