#pragma once
// `baton sandbox`: one baton-core and N baton-agents on this machine, as setsid'd daemons found
// next to the `baton` binary, with their state under $BATON_HOME/sandbox (default ~/.baton):
//
//   sandbox/sandbox.json        what was asked last (core port, agents, roles, extra options)
//   sandbox/lock                flock'd while a sandbox command changes things
//   sandbox/core/{pid,core.log,data/}
//   sandbox/agent-N/{pid,agent.log,data/}
//
// Agents load the runtime plugins Baton ships (<folder of baton>/../lib/baton/plugins, in the
// build tree and in an install alike) and those of any `--plugins-dir` given.
//
// A pid file holds "<pid> <start time>", so a pid reused by another program is never taken for
// ours. Every daemon gets BATON_SANDBOX=<sandbox folder> in its environment, and agents pass it on
// to their components, so `stop` can find everything the sandbox started, wherever it went.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/core_address.hpp"
#include "cli/process.hpp"
#include "common/result.hpp"

namespace baton::cli {

inline constexpr std::string_view kSandboxVariable = "BATON_SANDBOX";
inline constexpr int kMaxSandboxAgents = 20;
inline constexpr int kDefaultSandboxPortsFrom = 10000;  // ConductR's dynamic port range
inline constexpr int kSandboxPortsPerAgent = 1000;

// $BATON_HOME, else $HOME/.baton. Errors when neither is set.
Result<stdfs::path> baton_home(const EnvLookup& env);

struct SandboxSettings {
  int core_port = kDefaultCorePort;
  int agents = 1;
  int ports_from = kDefaultSandboxPortsFrom;  // agent-1's first endpoint port
  std::vector<std::string> roles{"web"};
  std::vector<std::string> core_options;   // extra baton-core arguments
  std::vector<std::string> agent_options;  // extra baton-agent arguments
  std::vector<std::string> plugin_dirs;    // absolute folders of more runtime plugins

  nlohmann::json to_json() const;
  static SandboxSettings from_json(const nlohmann::json& json);
};

// One daemon of the sandbox: "core" or "agent-N".
struct SandboxMember {
  std::string name;
  int agent_index = 0;  // 0 for the core
  stdfs::path folder;
  stdfs::path log_file;
  stdfs::path pid_file;
  bool is_core() const { return agent_index == 0; }
};

class SandboxLayout {
 public:
  explicit SandboxLayout(stdfs::path root) : root_(std::move(root)) {}
  const stdfs::path& root() const { return root_; }
  stdfs::path settings_file() const { return root_ / "sandbox.json"; }
  stdfs::path lock_file() const { return root_ / "lock"; }
  SandboxMember core() const;
  SandboxMember agent(int index) const;
  // The core and every agent folder present on disk, agents in index order.
  std::vector<SandboxMember> members() const;
  // A member by name ("core", "agent-2"); nullopt for anything else.
  std::optional<SandboxMember> member(const std::string& name) const;

 private:
  stdfs::path root_;
};

// The folder of the runtime plugins Baton ships, for a `baton` in `bin`:
// <bin>/../lib/baton/plugins.
stdfs::path shipped_plugins_dir(const stdfs::path& bin);

// Endpoint ports of agent N: from + (N-1)*1000 up to +999, so agents never share one.
struct PortSpan {
  int first = 0;
  int last = 0;
};
PortSpan agent_port_span(int index, int from = kDefaultSandboxPortsFrom);
// The highest `--ports-from` that leaves room for every agent below 65536.
inline constexpr int kMaxSandboxPortsFrom = 65536 - kMaxSandboxAgents * kSandboxPortsPerAgent;

// "<pid> <start time>\n".
Status write_pid_file(const stdfs::path& file, const ProcessId& id);
// nullopt when there is no pid file or it is unreadable junk.
std::optional<ProcessId> read_pid_file(const stdfs::path& file);

// The last `lines` lines of a file ("" when it does not exist).
std::string tail_lines(const stdfs::path& file, std::size_t lines);

// A process that belongs to the sandbox at `root`, and how that was told.
struct SandboxProcess {
  ProcessId id;
  std::string why;      // "environment", "argument", "cwd", "exe"
  std::string command;  // argv joined by spaces, cut to 200 bytes
  bool is_shim = false;
};

// Every process of our uid that carries BATON_SANDBOX=<root>, an argument or working folder
// inside `root`, or runs a program from inside it; never `self` or its ancestors.
std::vector<SandboxProcess> find_sandbox_processes(const stdfs::path& root, pid_t self);

// Holds an exclusive flock on the lock file for the object's life.
class SandboxLock {
 public:
  static Result<SandboxLock> acquire(const stdfs::path& file, std::chrono::milliseconds timeout);
  SandboxLock(SandboxLock&& other) noexcept;
  SandboxLock& operator=(SandboxLock&&) = delete;
  SandboxLock(const SandboxLock&) = delete;
  ~SandboxLock();

 private:
  explicit SandboxLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace baton::cli
