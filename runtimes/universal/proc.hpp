#pragma once
// /proc readings for launches without cgroup accounting, and for recognising a process again
// after an agent restart (its start time tells a reused pid apart).

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace baton::runtimes::universal {

struct ProcStat {
  pid_t pid = 0;
  pid_t parent = 0;
  pid_t group = 0;
  std::uint64_t cpu_ticks = 0;   // utime + stime + cutime + cstime
  std::uint64_t start_time = 0;  // clock ticks after boot
};

std::optional<ProcStat> read_proc_stat(pid_t pid);
// Resident bytes from /proc/<pid>/statm.
std::int64_t resident_bytes(pid_t pid);
// Every process below `root` (not `root` itself), found by one scan of /proc.
std::vector<ProcStat> descendants(pid_t root);

}  // namespace baton::runtimes::universal
