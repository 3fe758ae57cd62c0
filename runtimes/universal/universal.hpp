#pragma once
// The "universal" runtime: each launch is a plain process under its own baton-shim (shim/), which
// holds the process group and cgroup, writes the logs and outlives an agent restart. One thread
// watches every shim connection, so 500 launches cost one thread.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "logs/format.hpp"
#include "runtimes/runtime.hpp"
#include "runtimes/universal/cgroup.hpp"

namespace baton::runtimes::universal {

struct Options {
  // baton-shim; empty: the one next to the running program (/proc/self/exe's folder).
  stdfs::path shim;
  logs::Rotation log_rotation;
  // Use cgroups when the host allows it (root and a writable hierarchy).
  bool use_cgroups = true;
  std::string cgroup_root = "baton";  // top folder in every hierarchy
  std::int64_t pids_max = 0;          // per instance; 0 = no limit
  // The hierarchies to use instead of detecting them (tests).
  std::optional<CgroupLayout> cgroup_layout;
  // Shims started ahead of need, each waiting for its launch (`baton-shim --spare`): a start
  // then skips the shim's exec and start-up. One is replaced in the background as it is taken.
  // A spare whose agent ends sees its socket close and exits. 0: a fresh shim per start.
  std::size_t spare_shims = 1;
  // How long start() waits for the shim to report the exec, and destroy() for it to go.
  std::chrono::milliseconds shim_timeout{10000};
};

// Launches write `<log_dir>/<component>.log` (logs/format.hpp); their state folder holds the
// shim's socket and exit file. Handle::state is JSON: {"shimPid", "pid", "pidStart", "stateDir"}.
// RuntimeHost::exited always comes from the runtime's own thread, never from inside a call (the
// agent may hold its locks while calling), exactly once per start/recover, destroy included.
// The runtime waits for the shims it spawned by pid: nothing else in the process may reap them
// (no waitpid(-1), no SIGCHLD set to SIG_IGN).
RuntimePtr make_runtime(RuntimeHost& host, Options options = {});

}  // namespace baton::runtimes::universal
