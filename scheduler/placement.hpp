#pragma once
// Placement: which agent runs each instance. A pure function of a cluster view - no I/O, no
// clocks - so it is unit-tested exhaustively and benchmarked alone (bench/placement).
//
// Rules (ConductR's, docs/scheduling.md):
// - an agent is eligible for a bundle when it is up, offers the runtime of every component
//   (`file-system-type`), its roles include every role of the bundle, and it has the bundle's
//   nrOfCpus, memory and diskSpace free after the reservations of the instances it runs;
// - instances of one bundle spread across agents (fewest instances of that bundle first), then
//   agents that already hold the bundle file are preferred, then the most free memory;
// - `affinity` (another bundle's id) restricts to agents that run that bundle;
// - scaling down removes instances that are not started first, then from the agents with the
//   most instances of the bundle.
// The order in which placed instances *start* (one at a time per system, the first alone) is not
// placement's concern: the core holds back assignments until the system allows them.

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace baton::scheduler {

struct Requirements {
  double cpus = 0;
  std::int64_t memory = 0;
  std::int64_t disk = 0;
  std::vector<std::string> roles;     // all must be offered by the agent
  std::vector<std::string> runtimes;  // all must be available on the agent
};

struct AgentView {
  std::string name;
  bool up = true;
  double cpus = 0;  // totals; free = total - reservations of instances placed on it
  std::int64_t memory = 0;
  std::int64_t disk = 0;
  std::vector<std::string> roles;
  std::vector<std::string> runtimes;  // available ones
  std::vector<std::string> bundle_digests;  // bundle files it holds
};

struct BundleView {
  std::string bundle_id;
  std::string bundle_digest;
  int scale = 0;  // desired
  Requirements requirements;
  std::string affinity;  // bundle id to co-locate with; empty = none
};

struct InstanceView {
  std::string instance_id;
  std::string bundle_id;
  std::string agent;
  bool started = false;
};

struct ClusterView {
  std::vector<AgentView> agents;
  std::vector<BundleView> bundles;
  std::vector<InstanceView> instances;
};

struct Placement {
  std::string bundle_id;
  std::string agent;
};

struct Shortfall {
  std::string bundle_id;
  int missing = 0;     // instances that could not be placed
  std::string reason;  // e.g. "needs 2 more agents with role 'web' and 512 MiB free memory"
};

struct Plan {
  std::vector<Placement> place;             // new instances (the core assigns their ids)
  std::vector<std::string> remove;          // instance ids to stop (scale down)
  std::vector<Shortfall> shortfalls;        // scales that cannot be met now, and why
};

Plan plan(const ClusterView& view);

}  // namespace baton::scheduler
