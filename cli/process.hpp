#pragma once
// Processes as the sandbox sees them: starting daemons (setsid'd, output to a log file), telling
// whether a recorded pid is still the same process (start time from /proc, so a reused pid is
// not mistaken for it), and finding processes by what /proc says about them.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.hpp"

namespace baton::cli {

namespace stdfs = std::filesystem;

// A pid and its start time (clock ticks after boot, /proc/<pid>/stat field 22).
struct ProcessId {
  pid_t pid = 0;
  std::uint64_t start_time = 0;
};

// The start time of a live (not zombie) process; nullopt when there is none with this pid.
std::optional<std::uint64_t> process_start_time(pid_t pid);
// True while `id.pid` is alive and started at `id.start_time`.
bool process_alive(const ProcessId& id);

// Every pid in /proc.
std::vector<pid_t> list_processes();
// /proc/<pid>/cmdline split at NULs; empty when unreadable.
std::vector<std::string> process_arguments(pid_t pid);
// /proc/<pid>/environ as NAME=value strings; empty when unreadable (another user's process).
std::vector<std::string> process_environment(pid_t pid);
// readlink /proc/<pid>/cwd and /proc/<pid>/exe; empty when unreadable.
stdfs::path process_cwd(pid_t pid);
stdfs::path process_exe(pid_t pid);
// The parent pid; 0 when unknown.
pid_t process_parent(pid_t pid);
// Owner's uid; nullopt when unknown.
std::optional<uid_t> process_uid(pid_t pid);

// True when `path` is `folder` or lies below it (lexically, both made absolute).
bool is_within(const stdfs::path& path, const stdfs::path& folder);

struct DaemonSpec {
  std::vector<std::string> argv;  // argv[0] is the program's path
  stdfs::path cwd;
  stdfs::path log_file;                                          // stdout and stderr, appended
  std::vector<std::pair<std::string, std::string>> environment;  // added to ours
};

// fork, setsid, redirect, exec. Returns once the exec happened (or failed: the error names the
// program and the reason). The daemon stays our child until we exit: reap_child() tells whether
// it already ended.
Result<ProcessId> spawn_daemon(const DaemonSpec& spec);

// When our child `pid` has ended: "exited with 1" / "killed by SIGKILL"; nullopt while it runs.
std::optional<std::string> reap_child(pid_t pid);

// Sends `signal` to the process if it is still `id`. False when it was gone.
bool signal_process(const ProcessId& id, int signal);

// Polls until every process of `ids` is gone or `timeout` passes; the ones still alive.
std::vector<ProcessId> wait_gone(const std::vector<ProcessId>& ids,
                                 std::chrono::milliseconds timeout);

}  // namespace baton::cli
