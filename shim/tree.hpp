#pragma once
// Finding and signalling everything that belongs to a launch: the main child's process group, the
// cgroup's members and every process below the shim (orphans re-parent to it: it is a subreaper).
// Fixed-size buffers only; called on stop and after the main child exits, never per output chunk.

#include <sys/types.h>

#include <cstddef>

namespace baton::shim {

constexpr std::size_t kMaxCgroups = 8;

struct Targets {
  pid_t group = 0;  // the main child's process group (its pid), 0 once it is empty
  const char* cgroup_procs[kMaxCgroups] = {};
  std::size_t cgroup_count = 0;
  pid_t shim = 0;  // our own pid: never signalled, the root of the descendant walk
};

// Sends `signal` to the group, every cgroup member and every descendant of the shim, once each.
// Returns how many processes outside the group were signalled (0 with an empty group means
// nothing is left to signal).
std::size_t signal_all(Targets& targets, int signal);

}  // namespace baton::shim
