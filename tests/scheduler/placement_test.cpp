#include "scheduler/placement.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

namespace baton::scheduler {
namespace {

constexpr std::int64_t kMiB = std::int64_t{1024} * 1024;
constexpr std::int64_t kGiB = 1024 * kMiB;

AgentView agent(std::string name, double cpus = 8, std::int64_t memory = 16 * kGiB,
                std::int64_t disk = 100 * kGiB) {
  AgentView view;
  view.name = std::move(name);
  view.cpus = cpus;
  view.memory = memory;
  view.disk = disk;
  view.roles = {"web"};
  view.runtimes = {"universal"};
  return view;
}

BundleView bundle(std::string id, int scale, double cpus = 0.1, std::int64_t memory = 64 * kMiB,
                  std::int64_t disk = 10 * kMiB) {
  BundleView view;
  view.bundle_id = std::move(id);
  view.bundle_digest = "digest-of-" + view.bundle_id;
  view.scale = scale;
  view.requirements.cpus = cpus;
  view.requirements.memory = memory;
  view.requirements.disk = disk;
  view.requirements.roles = {"web"};
  view.requirements.runtimes = {"universal"};
  return view;
}

InstanceView instance(std::string id, std::string bundle_id, std::string agent_name,
                      bool started = true) {
  return InstanceView{std::move(id), std::move(bundle_id), std::move(agent_name), started};
}

// Placements of one bundle per agent.
std::map<std::string, int> per_agent(const Plan& plan, const std::string& bundle_id) {
  std::map<std::string, int> counts;
  for (const auto& placement : plan.place) {
    if (placement.bundle_id == bundle_id) ++counts[placement.agent];
  }
  return counts;
}

std::vector<std::string> agents_in_order(const Plan& plan) {
  std::vector<std::string> names;
  for (const auto& placement : plan.place)
    names.push_back(placement.agent);
  return names;
}

using Counts = std::map<std::string, int>;
using Names = std::vector<std::string>;

TEST(Placement, EmptyViewGivesEmptyPlan) {
  Plan plan = scheduler::plan(ClusterView{});
  EXPECT_TRUE(plan.place.empty());
  EXPECT_TRUE(plan.remove.empty());
  EXPECT_TRUE(plan.shortfalls.empty());
}

TEST(Placement, PlacesTheScale) {
  ClusterView view;
  view.agents = {agent("agent-1")};
  view.bundles = {bundle("b", 3)};
  Plan plan = scheduler::plan(view);
  EXPECT_EQ(per_agent(plan, "b"), (Counts{{"agent-1", 3}}));
  EXPECT_TRUE(plan.shortfalls.empty());
  EXPECT_TRUE(plan.remove.empty());
}

TEST(Placement, MetScaleChangesNothing) {
  ClusterView view;
  view.agents = {agent("agent-1")};
  view.bundles = {bundle("b", 2)};
  view.instances = {instance("i1", "b", "agent-1"), instance("i2", "b", "agent-1", false)};
  Plan plan = scheduler::plan(view);
  EXPECT_TRUE(plan.place.empty());
  EXPECT_TRUE(plan.remove.empty());
  EXPECT_TRUE(plan.shortfalls.empty());
}

TEST(Placement, SpreadsEvenly) {
  ClusterView view;
  view.agents = {agent("agent-1"), agent("agent-2"), agent("agent-3")};
  view.bundles = {bundle("b", 10)};
  Plan plan = scheduler::plan(view);
  EXPECT_EQ(per_agent(plan, "b"), (Counts{{"agent-1", 4}, {"agent-2", 3}, {"agent-3", 3}}));
  // Round by round: every agent gets one before any gets a second.
  const Names order = agents_in_order(plan);
  EXPECT_EQ(Names(order.begin(), order.begin() + 3), (Names{"agent-1", "agent-2", "agent-3"}));
}

TEST(Placement, SpreadCountsInstancesAlreadyRunning) {
  ClusterView view;
  view.agents = {agent("agent-1"), agent("agent-2"), agent("agent-3")};
  view.bundles = {bundle("b", 6)};
  view.instances = {instance("i1", "b", "agent-1"), instance("i2", "b", "agent-1"),
                    instance("i3", "b", "agent-1")};
  Plan plan = scheduler::plan(view);
  EXPECT_EQ(per_agent(plan, "b"), (Counts{{"agent-2", 2}, {"agent-3", 1}}));
}

TEST(Placement, SpreadComesBeforeEverythingElse) {
  ClusterView view;
  view.agents = {agent("agent-1", 8, 64 * kGiB), agent("agent-2", 8, 4 * kGiB)};
  view.agents[0].bundle_digests = {"digest-of-b"};
  view.bundles = {bundle("b", 2)};
  Plan plan = scheduler::plan(view);
  EXPECT_EQ(per_agent(plan, "b"), (Counts{{"agent-1", 1}, {"agent-2", 1}}));
}

TEST(Placement, PrefersAgentsHoldingTheBundleFile) {
  ClusterView view;
  view.agents = {agent("agent-1", 8, 64 * kGiB), agent("agent-2"), agent("agent-3")};
  view.agents[2].bundle_digests = {"something-else", "digest-of-b"};
  view.bundles = {bundle("b", 1)};
  Plan plan = scheduler::plan(view);
  EXPECT_EQ(agents_in_order(plan), (Names{"agent-3"}));
}

TEST(Placement, ThenPrefersTheMostFreeMemory) {
  ClusterView view;
  view.agents = {agent("agent-1", 8, 8 * kGiB), agent("agent-2", 8, 32 * kGiB),
                 agent("agent-3", 8, 16 * kGiB)};
  view.bundles = {bundle("b", 3)};
  Plan plan = scheduler::plan(view);
  EXPECT_EQ(agents_in_order(plan), (Names{"agent-2", "agent-3", "agent-1"}));
}

TEST(Placement, FreeMemoryCountsReservations) {
  ClusterView view;
  view.agents = {agent("agent-1", 8, 16 * kGiB), agent("agent-2", 8, 12 * kGiB)};
  view.bundles = {bundle("big", 1, 0, 8 * kGiB), bundle("b", 1)};
  view.instances = {instance("i1", "big", "agent-1")};  // leaves 8 GiB free on agent-1
  Plan plan = scheduler::plan(view);
  EXPECT_EQ(agents_in_order(plan), (Names{"agent-2"}));
}

TEST(Placement, ThenTheNameDecides) {
  ClusterView view;
  view.agents = {agent("agent-b"), agent("agent-c"), agent("agent-a")};
  view.bundles = {bundle("b", 1)};
  EXPECT_EQ(agents_in_order(scheduler::plan(view)), (Names{"agent-a"}));
}

TEST(Placement, CapacityIsAccountedWithinOnePlan) {
  ClusterView view;
  view.agents = {agent("agent-1", 1, 10 * kGiB, 100 * kGiB)};
  // 10 x 0.1 cpus fit exactly into 1 cpu.
  view.bundles = {bundle("a", 10, 0.1, kGiB, 0), bundle("b", 1, 0, kGiB, 0)};
  Plan plan = scheduler::plan(view);
  EXPECT_EQ(per_agent(plan, "a"), (Counts{{"agent-1", 10}}));
  // a took all 10 GiB of memory, so b gets nothing.
  EXPECT_TRUE(per_agent(plan, "b").empty());
  ASSERT_EQ(plan.shortfalls.size(), 1u);
  EXPECT_EQ(plan.shortfalls[0].bundle_id, "b");
  EXPECT_EQ(plan.shortfalls[0].missing, 1);
}

TEST(Placement, CapacityCountsEveryResource) {
  ClusterView view;
  view.agents = {agent("agent-1", 2, 100 * kGiB, 100 * kGiB),
                 agent("agent-2", 100, 3 * kGiB, 100 * kGiB),
                 agent("agent-3", 100, 100 * kGiB, 4 * kGiB)};
  view.bundles = {bundle("b", 100, 1, kGiB, kGiB)};
  Plan plan = scheduler::plan(view);
  EXPECT_EQ(per_agent(plan, "b"), (Counts{{"agent-1", 2}, {"agent-2", 3}, {"agent-3", 4}}));
  ASSERT_EQ(plan.shortfalls.size(), 1u);
  EXPECT_EQ(plan.shortfalls[0].missing, 91);
}

TEST(Placement, ExistingInstancesReserveTheirResources) {
  ClusterView view;
  view.agents = {agent("agent-1", 8, 4 * kGiB)};
  view.bundles = {bundle("x", 1, 0, 3 * kGiB), bundle("y", 1, 0, 2 * kGiB)};
  view.instances = {instance("i1", "x", "agent-1")};
  Plan plan = scheduler::plan(view);
  EXPECT_TRUE(plan.place.empty());
  ASSERT_EQ(plan.shortfalls.size(), 1u);
  EXPECT_EQ(plan.shortfalls[0].bundle_id, "y");
}

TEST(Placement, ZeroRequirementsFitAnywhere) {
  ClusterView view;
  view.agents = {agent("agent-1", 0, 0, 0), agent("agent-2", 0, 0, 0)};
  BundleView free = bundle("b", 1000, 0, 0, 0);
  free.requirements.roles.clear();
  view.bundles = {free};
  Plan plan = scheduler::plan(view);
  EXPECT_EQ(per_agent(plan, "b"), (Counts{{"agent-1", 500}, {"agent-2", 500}}));
  EXPECT_TRUE(plan.shortfalls.empty());
}

TEST(Placement, DownAgentsAreIgnored) {
  ClusterView view;
  view.agents = {agent("agent-1"), agent("agent-2"), agent("agent-3")};
  view.agents[0].up = false;
  view.bundles = {bundle("b", 3)};
  // The instance on the down agent neither counts towards the scale nor is removed.
  view.instances = {instance("lost", "b", "agent-1"), instance("gone", "b", "agent-9")};
  Plan plan = scheduler::plan(view);
  EXPECT_EQ(per_agent(plan, "b"), (Counts{{"agent-2", 2}, {"agent-3", 1}}));
  EXPECT_TRUE(plan.remove.empty());
}

TEST(Placement, EveryRoleMustBeOffered) {
  ClusterView view;
  view.agents = {agent("agent-1"), agent("agent-2"), agent("agent-3")};
  view.agents[0].roles = {"web"};
  view.agents[1].roles = {"gpu", "batch", "web"};
  view.agents[2].roles = {"gpu"};
  BundleView both = bundle("b", 3);
  both.requirements.roles = {"web", "gpu"};
  view.bundles = {both};
  Plan plan = scheduler::plan(view);
  EXPECT_EQ(per_agent(plan, "b"), (Counts{{"agent-2", 3}}));
}

TEST(Placement, NoRolesMeansAnyAgent) {
  ClusterView view;
  view.agents = {agent("agent-1"), agent("agent-2")};
  view.agents[0].roles = {};
  view.agents[1].roles = {"db"};
  BundleView any = bundle("b", 2);
  any.requirements.roles = {};
  view.bundles = {any};
  EXPECT_EQ(per_agent(scheduler::plan(view), "b"), (Counts{{"agent-1", 1}, {"agent-2", 1}}));
}

TEST(Placement, EveryRuntimeMustBeAvailable) {
  ClusterView view;
  view.agents = {agent("agent-1"), agent("agent-2"), agent("agent-3")};
  view.agents[1].runtimes = {"universal", "docker"};
  view.agents[2].runtimes = {"docker"};
  BundleView mixed = bundle("b", 2);
  mixed.requirements.runtimes = {"docker", "universal"};
  view.bundles = {mixed};
  EXPECT_EQ(per_agent(scheduler::plan(view), "b"), (Counts{{"agent-2", 2}}));
}

TEST(Placement, AffinityRestrictsToAgentsRunningTheOtherBundle) {
  ClusterView view;
  view.agents = {agent("agent-1"), agent("agent-2"), agent("agent-3")};
  BundleView cache = bundle("cache", 2);
  cache.affinity = "db";
  view.bundles = {bundle("db", 1), cache};
  view.instances = {instance("i1", "db", "agent-2")};
  Plan plan = scheduler::plan(view);
  EXPECT_EQ(per_agent(plan, "cache"), (Counts{{"agent-2", 2}}));
}

TEST(Placement, AffinitySeesPlacementsOfTheSamePlan) {
  ClusterView view;
  view.agents = {agent("agent-1"), agent("agent-2"), agent("agent-3")};
  // "a-cache" sorts before "z-db", yet its target is placed first.
  BundleView cache = bundle("a-cache", 3);
  cache.affinity = "z-db";
  view.bundles = {cache, bundle("z-db", 2)};
  Plan plan = scheduler::plan(view);
  EXPECT_EQ(per_agent(plan, "z-db"), (Counts{{"agent-1", 1}, {"agent-2", 1}}));
  EXPECT_EQ(per_agent(plan, "a-cache"), (Counts{{"agent-1", 2}, {"agent-2", 1}}));
  EXPECT_EQ(plan.place.front().bundle_id, "z-db");
}

TEST(Placement, AffinitySeesRemovalsOfTheSamePlan) {
  ClusterView view;
  view.agents = {agent("agent-1"), agent("agent-2")};
  BundleView cache = bundle("cache", 1);
  cache.affinity = "db";
  view.bundles = {cache, bundle("db", 1)};
  view.instances = {instance("i1", "db", "agent-1", false), instance("i2", "db", "agent-2")};
  Plan plan = scheduler::plan(view);
  EXPECT_EQ(plan.remove, (Names{"i1"}));
  EXPECT_EQ(per_agent(plan, "cache"), (Counts{{"agent-2", 1}}));
}

TEST(Placement, AffinityToItselfIsIgnored) {
  ClusterView view;
  view.agents = {agent("agent-1")};
  BundleView self = bundle("b", 1);
  self.affinity = "b";
  view.bundles = {self};
  EXPECT_EQ(per_agent(scheduler::plan(view), "b"), (Counts{{"agent-1", 1}}));
}

TEST(Placement, AffinityCyclesStillPlan) {
  ClusterView view;
  view.agents = {agent("agent-1"), agent("agent-2")};
  BundleView a = bundle("a", 1);
  a.affinity = "b";
  BundleView b = bundle("b", 1);
  b.affinity = "a";
  view.bundles = {a, b};
  view.instances = {instance("i1", "a", "agent-2")};
  Plan plan = scheduler::plan(view);
  EXPECT_EQ(per_agent(plan, "b"), (Counts{{"agent-2", 1}}));
  EXPECT_TRUE(plan.shortfalls.empty());
}

TEST(Placement, ScaleDownRemovesNotStartedFirst) {
  ClusterView view;
  view.agents = {agent("agent-1"), agent("agent-2")};
  view.bundles = {bundle("b", 2)};
  view.instances = {instance("s1", "b", "agent-1"), instance("s2", "b", "agent-1"),
                    instance("s3", "b", "agent-1"), instance("n1", "b", "agent-2", false)};
  Plan plan = scheduler::plan(view);
  EXPECT_EQ(plan.remove, (Names{"n1", "s3"}));
  EXPECT_TRUE(plan.place.empty());
}

TEST(Placement, ScaleDownTakesFromTheAgentWithTheMost) {
  ClusterView view;
  view.agents = {agent("agent-1"), agent("agent-2"), agent("agent-3")};
  view.bundles = {bundle("b", 3)};
  view.instances = {instance("a1", "b", "agent-1"), instance("b1", "b", "agent-2"),
                    instance("b2", "b", "agent-2"), instance("b3", "b", "agent-2"),
                    instance("c1", "b", "agent-3"), instance("c2", "b", "agent-3")};
  Plan plan = scheduler::plan(view);
  // agent-2 (3) gives b3; then agent-2 and agent-3 have 2 each: the greater id, c2, goes.
  EXPECT_EQ(plan.remove, (Names{"b3", "c2", "b2"}));
}

TEST(Placement, ScaleToZeroRemovesEverything) {
  ClusterView view;
  view.agents = {agent("agent-1"), agent("agent-2")};
  view.bundles = {bundle("b", 0)};
  view.instances = {instance("i1", "b", "agent-1"), instance("i2", "b", "agent-2", false)};
  Plan plan = scheduler::plan(view);
  EXPECT_EQ(plan.remove, (Names{"i2", "i1"}));
  EXPECT_TRUE(plan.shortfalls.empty());
}

TEST(Placement, ScaleDownFreesCapacityForOtherBundles) {
  ClusterView view;
  view.agents = {agent("agent-1", 8, 4 * kGiB)};
  // "z" shrinks after "a" in id order, yet "a" gets the memory "z" frees.
  view.bundles = {bundle("a", 1, 0, 3 * kGiB), bundle("z", 0, 0, 3 * kGiB)};
  view.instances = {instance("i1", "z", "agent-1")};
  Plan plan = scheduler::plan(view);
  EXPECT_EQ(plan.remove, (Names{"i1"}));
  EXPECT_EQ(per_agent(plan, "a"), (Counts{{"agent-1", 1}}));
}

TEST(Placement, InstancesOfUnknownBundlesAreLeftAlone) {
  ClusterView view;
  view.agents = {agent("agent-1")};
  view.bundles = {bundle("b", 1)};
  view.instances = {instance("i1", "unloaded", "agent-1")};
  Plan plan = scheduler::plan(view);
  EXPECT_TRUE(plan.remove.empty());
  EXPECT_EQ(plan.place.size(), 1u);
}

TEST(Placement, FirstOfDuplicateNamesCounts) {
  ClusterView view;
  view.agents = {agent("agent-1", 8, 16 * kGiB), agent("agent-1", 8, 0)};
  view.bundles = {bundle("b", 1), bundle("b", 5)};
  Plan plan = scheduler::plan(view);
  EXPECT_EQ(per_agent(plan, "b"), (Counts{{"agent-1", 1}}));
}

// --- shortfall reasons

std::string only_reason(const ClusterView& view) {
  Plan plan = scheduler::plan(view);
  EXPECT_EQ(plan.shortfalls.size(), 1u);
  return plan.shortfalls.empty() ? "" : plan.shortfalls[0].reason;
}

TEST(Shortfall, NoAgents) {
  ClusterView view;
  view.bundles = {bundle("b", 3)};
  Plan plan = scheduler::plan(view);
  ASSERT_EQ(plan.shortfalls.size(), 1u);
  EXPECT_EQ(plan.shortfalls[0].bundle_id, "b");
  EXPECT_EQ(plan.shortfalls[0].missing, 3);
  EXPECT_EQ(plan.shortfalls[0].reason, "3 of 3 instances cannot be placed: no agent is registered");
}

TEST(Shortfall, AllAgentsDown) {
  ClusterView view;
  view.agents = {agent("agent-1"), agent("agent-2")};
  view.agents[0].up = view.agents[1].up = false;
  view.bundles = {bundle("b", 1)};
  EXPECT_EQ(only_reason(view), "1 of 1 instance cannot be placed: no agent is up (2 registered)");
}

TEST(Shortfall, MostlyDown) {
  ClusterView view;
  view.agents = {agent("agent-1"), agent("agent-2"), agent("agent-3", 8, 0)};
  view.agents[0].up = view.agents[1].up = false;
  view.bundles = {bundle("b", 1)};
  EXPECT_EQ(only_reason(view), "1 of 1 instance cannot be placed: 2 of 3 agents are down");
}

TEST(Shortfall, MissingRuntime) {
  ClusterView view;
  view.agents = {agent("agent-1"), agent("agent-2"), agent("agent-3")};
  view.agents[2].up = false;
  view.agents[2].runtimes = {"docker"};
  BundleView docker = bundle("b", 3);
  docker.requirements.runtimes = {"docker"};
  view.bundles = {docker};
  EXPECT_EQ(only_reason(view),
            "3 of 3 instances cannot be placed: no up agent offers runtime docker");
}

TEST(Shortfall, MissingRole) {
  ClusterView view;
  view.agents = {agent("agent-1"), agent("agent-2"), agent("agent-3")};
  view.agents[0].roles = {"gpu", "web"};
  view.agents[0].memory = 0;
  BundleView gpu = bundle("b", 3);
  gpu.requirements.roles = {"web", "gpu"};
  view.bundles = {gpu};
  EXPECT_EQ(only_reason(view),
            "3 of 3 instances cannot be placed: only 1 of 3 up agents offer role 'gpu'");
  view.agents[0].roles = {"web"};
  EXPECT_EQ(only_reason(view), "3 of 3 instances cannot be placed: no up agent offers role 'gpu'");
}

TEST(Shortfall, MemoryOfOneAgent) {
  ClusterView view;
  view.agents = {agent("agent-1", 8, 2 * kGiB + 512 * kMiB)};
  view.bundles = {bundle("b", 3, 0.1, kGiB)};
  Plan plan = scheduler::plan(view);
  ASSERT_EQ(plan.shortfalls.size(), 1u);
  EXPECT_EQ(plan.shortfalls[0].missing, 1);
  EXPECT_EQ(plan.shortfalls[0].reason,
            "1 of 3 instances cannot be placed: agent-1 has 512 MiB memory free (needs 1 GiB)");
}

TEST(Shortfall, MemoryOfSeveralAgents) {
  ClusterView view;
  view.agents = {agent("agent-1", 8, 512 * kMiB), agent("agent-2", 8, 768 * kMiB),
                 agent("agent-3", 8, 100 * kMiB)};
  view.bundles = {bundle("b", 2, 0, 1536 * kMiB)};
  EXPECT_EQ(only_reason(view),
            "2 of 2 instances cannot be placed: 3 agents have too little memory free, the most is "
            "768 MiB on agent-2 (needs 1.5 GiB)");
}

TEST(Shortfall, CpusAndDisk) {
  ClusterView view;
  view.agents = {agent("agent-1", 0.5)};
  view.bundles = {bundle("b", 1, 1)};
  EXPECT_EQ(only_reason(view),
            "1 of 1 instance cannot be placed: agent-1 has 0.5 cpus free (needs 1)");
  view.agents = {agent("agent-1", 8, 16 * kGiB, 1000)};
  view.bundles = {bundle("b", 1, 1, 0, 2000)};
  EXPECT_EQ(only_reason(view),
            "1 of 1 instance cannot be placed: agent-1 has 1000 B disk space free (needs 2 KiB)");
  // Amounts that would print alike print in bytes.
  view.agents = {agent("agent-1", 8, kGiB)};
  view.bundles = {bundle("b", 1, 1, kGiB + 1000)};
  EXPECT_EQ(only_reason(view),
            "1 of 1 instance cannot be placed: agent-1 has 1073741824 B memory free (needs "
            "1073742824 B)");
}

TEST(Shortfall, TheRuleExcludingTheMostAgentsWins) {
  ClusterView view;
  // One agent lacks the runtime, three lack the role, one is full.
  for (int i = 1; i <= 5; ++i)
    view.agents.push_back(agent("agent-" + std::to_string(i)));
  view.agents[0].runtimes = {};
  view.agents[1].roles = view.agents[2].roles = view.agents[3].roles = {"batch"};
  view.agents[4].memory = kMiB;
  view.bundles = {bundle("b", 1)};
  EXPECT_EQ(only_reason(view),
            "1 of 1 instance cannot be placed: only 2 of 5 up agents offer role 'web'");
}

TEST(Shortfall, Affinity) {
  ClusterView view;
  view.agents = {agent("agent-1"), agent("agent-2")};
  BundleView cache = bundle("cache", 1);
  cache.affinity = "db";
  view.bundles = {cache, bundle("db", 0)};
  EXPECT_EQ(only_reason(view),
            "1 of 1 instance cannot be placed: no up agent runs its affinity bundle db");
  view.bundles = {cache};
  EXPECT_EQ(only_reason(view),
            "1 of 1 instance cannot be placed: its affinity bundle db is not loaded");
}

TEST(Placement, OrderOfTheViewDoesNotMatter) {
  std::mt19937 random(7);
  ClusterView view;
  for (int i = 0; i < 20; ++i) {
    AgentView a = agent("agent-" + std::to_string(i), 4 + i % 3, (8 + i % 5) * kGiB);
    if (i % 4 == 0) a.bundle_digests = {"digest-of-b" + std::to_string(i % 3)};
    if (i % 3 == 0) a.roles.push_back("gpu");
    view.agents.push_back(a);
  }
  for (int b = 0; b < 6; ++b) {
    BundleView v = bundle("b" + std::to_string(b), 5 + b * 3, 0.5, kGiB);
    if (b == 4) v.requirements.roles = {"gpu", "web"};
    if (b == 5) v.affinity = "b1";
    view.bundles.push_back(v);
  }
  for (int i = 0; i < 30; ++i) {
    view.instances.push_back(instance("i" + std::to_string(100 + i), "b" + std::to_string(i % 6),
                                      "agent-" + std::to_string(i % 7), i % 2 == 0));
  }
  const Plan first = scheduler::plan(view);
  for (int round = 0; round < 5; ++round) {
    ClusterView shuffled = view;
    std::shuffle(shuffled.agents.begin(), shuffled.agents.end(), random);
    std::shuffle(shuffled.bundles.begin(), shuffled.bundles.end(), random);
    std::shuffle(shuffled.instances.begin(), shuffled.instances.end(), random);
    for (auto& a : shuffled.agents)
      std::reverse(a.roles.begin(), a.roles.end());
    const Plan again = scheduler::plan(shuffled);
    ASSERT_EQ(again.place.size(), first.place.size());
    for (std::size_t i = 0; i < first.place.size(); ++i) {
      EXPECT_EQ(again.place[i].bundle_id, first.place[i].bundle_id);
      EXPECT_EQ(again.place[i].agent, first.place[i].agent);
    }
    EXPECT_EQ(again.remove, first.remove);
    ASSERT_EQ(again.shortfalls.size(), first.shortfalls.size());
    for (std::size_t i = 0; i < first.shortfalls.size(); ++i) {
      EXPECT_EQ(again.shortfalls[i].reason, first.shortfalls[i].reason);
    }
  }
}

}  // namespace
}  // namespace baton::scheduler
