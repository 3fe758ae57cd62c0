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
// The order in which placed instances *start* (the first of a system alone, then the rest
// together) is not placement's concern: the core holds back assignments until the system allows
// them.
//
// Exactly:
// - an instance counts (towards its bundle's scale, and as a reservation on its agent) when its
//   agent is in the view and up and its bundle is in the view; instances on down or unknown
//   agents are neither counted nor removed (the core decides what becomes of them), instances of
//   bundles absent from the view are left alone and reserve nothing;
// - every removal happens before any placement, so capacity freed by one bundle's scale down is
//   available to the others in the same plan;
// - bundles are handled one at a time in bundle id order, except that an affinity target comes
//   before the bundles that name it (so they see where it was just placed); an affinity naming the
//   bundle itself is ignored; an affinity naming a bundle absent from the view matches no agent;
// - ties after "most free memory" go to the agent whose name sorts first; among removal candidates
//   of equal rank (started or not, instances of the bundle on their agent) the greater instance
//   id goes first (ids are random, so "newest" cannot be told: this is only deterministic);
// - cpus are counted in millionths, so 10 x 0.1 fits into 1; negative amounts and scales count
//   as 0; of several agents (or bundles) with one name (id), the first in the view counts.
// Equal views give equal plans, and the order of the view's vectors (and of the names in them)
// does not matter, except which of two duplicates counts.

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
  std::vector<std::string> runtimes;        // available ones
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
  int missing = 0;  // instances that could not be placed
  // "<missing> of <scale> instances cannot be placed: <why>", the why naming the one rule that
  // excluded the most agents, e.g. "no up agent offers runtime docker", "only 2 of 9 up agents
  // offer role 'gpu'", "agent-3 has 512 MiB memory free (needs 1 GiB)".
  std::string reason;
};

struct Plan {
  std::vector<Placement> place;     // new instances (the core assigns their ids), bundle by bundle
  std::vector<std::string> remove;  // instance ids to stop (scale down)
  std::vector<Shortfall> shortfalls;  // scales that cannot be met now, and why
};

// Fast enough to run on every change: 100,000 placements over 1,000 agents take tens of
// milliseconds (bench/placement).
Plan plan(const ClusterView& view);

}  // namespace baton::scheduler
