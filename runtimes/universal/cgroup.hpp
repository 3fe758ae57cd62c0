#pragma once
// Control groups for the universal runtime: per instance `<root>/<agent>/<instance>` carrying the
// limits, per launch a leaf `.../<component>` the component joins. cgroup v1 (one hierarchy per
// controller, as on hybrid hosts) and v2 (unified) alike; on hosts without a writable hierarchy
// (not root, read-only mount) cgroups are off and supervision relies on process groups and the
// shim's subreaper.

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "runtimes/runtime.hpp"

namespace baton::runtimes::universal {

namespace stdfs = std::filesystem;

struct CgroupLayout {
  int version = 0;  // 0: none usable, 1: v1 hierarchies, 2: unified
  // v1: the mount point of each controller we use (memory, cpu, cpuacct, pids); co-mounted
  // controllers share a path.
  std::map<std::string, stdfs::path> v1;
  stdfs::path v2;  // v2: the unified mount
};

// From /proc/self/mountinfo: v1 when the memory controller is on a v1 hierarchy (hybrid hosts),
// else v2 when a cgroup2 mount offers controllers, else none.
CgroupLayout detect_cgroup_layout();
// The same from mountinfo text (tests).
CgroupLayout parse_cgroup_layout(std::string_view mountinfo);

// Where one launch lives; no file system access needed to compute it.
struct LaunchCgroup {
  std::vector<stdfs::path> leaves;  // one per hierarchy (v2: one)
  std::vector<stdfs::path> nodes;   // the instance folders holding the limits, same order
  stdfs::path oom_counter;          // v1 memory.oom_control / v2 memory.events of the leaf
  stdfs::path memory;               // the leaf in the memory hierarchy
  stdfs::path cpu;                  // the leaf with cpuacct.usage (v1) / cpu.stat (v2)
  int version = 0;
  std::vector<stdfs::path> procs() const;  // each leaf's cgroup.procs
};

class Cgroups {
 public:
  // `root` is the top folder in each hierarchy ("baton"); pids_max 0 = no pids limit.
  Cgroups(CgroupLayout layout, std::string root, std::int64_t pids_max);

  // Root, a hierarchy, and a writable root folder in it; otherwise reason() says what is missing.
  bool usable() const { return usable_; }
  const std::string& reason() const { return reason_; }
  // "v1", "v2" or "none" (probe attribute).
  std::string version_name() const;
  // Memory and CPU limits can be set (their controllers are there).
  bool limits_enforced() const { return limits_enforced_; }

  LaunchCgroup paths(const Launch& launch) const;
  // Creates the instance node (writing the launch's limits) and the launch's leaf. On error
  // nothing new is left behind.
  Result<LaunchCgroup> create(const Launch& launch);
  // SIGKILL every member of the leaf (a launch whose shim is gone).
  void kill_members(const LaunchCgroup& cgroup);
  // Removes the leaf, then the instance node when no other launch uses it. Missing folders are
  // fine; members still inside are killed first.
  void remove(const LaunchCgroup& cgroup);
  // CPU seconds and resident bytes from the controllers' accounting.
  Result<Stats> stats(const LaunchCgroup& cgroup) const;

 private:
  Status write_limits(const Launch& launch, const LaunchCgroup& cgroup);
  void remove_locked(const LaunchCgroup& cgroup);

  CgroupLayout layout_;
  std::string root_;
  std::int64_t pids_max_;
  std::vector<stdfs::path> hierarchies_;  // unique mount points in use
  bool usable_ = false;
  bool limits_enforced_ = false;
  std::string reason_;
  std::mutex mutex_;  // creating and removing shared instance nodes
};

}  // namespace baton::runtimes::universal
