// Randomized checks of plan(): against a plain reference that scans every agent for every
// placement (the rules written as directly as possible), and against invariants that need no
// reference at all (capacity, eligibility, counts, maximality, spread, a greedy bound).

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string_view>

#include "scheduler/placement.hpp"

namespace baton::scheduler {
namespace {

constexpr std::int64_t kMiB = std::int64_t{1024} * 1024;
constexpr std::int64_t kGiB = 1024 * kMiB;

std::int64_t cpu_units(double cpus) {
  return cpus > 0 ? std::llround(cpus * 1e6) : 0;
}

bool contains_all(const std::vector<std::string>& offered, const std::vector<std::string>& wanted) {
  return std::all_of(wanted.begin(), wanted.end(), [&](const std::string& name) {
    return std::find(offered.begin(), offered.end(), name) != offered.end();
  });
}

struct Free {
  std::int64_t cpus = 0;
  std::int64_t memory = 0;
  std::int64_t disk = 0;

  void take(const Requirements& r, int sign) {
    cpus -= sign * cpu_units(r.cpus);
    memory -= sign * r.memory;
    disk -= sign * r.disk;
  }
  bool fits(const Requirements& r) const {
    return (cpu_units(r.cpus) == 0 || cpus >= cpu_units(r.cpus)) &&
           (r.memory == 0 || memory >= r.memory) && (r.disk == 0 || disk >= r.disk);
  }
};

struct Outcome {
  std::vector<std::pair<std::string, std::string>> place;  // bundle, agent
  std::vector<std::string> remove;
  std::map<std::string, int> missing;
};

Outcome outcome_of(const Plan& plan) {
  Outcome outcome;
  for (const auto& p : plan.place)
    outcome.place.emplace_back(p.bundle_id, p.agent);
  outcome.remove = plan.remove;
  for (const auto& s : plan.shortfalls)
    outcome.missing[s.bundle_id] = s.missing;
  return outcome;
}

// The rules, one agent scan per placement. Assumes unique names and ids, and affinities that
// only name bundles with smaller ids (so id order is the processing order).
Outcome reference_plan(const ClusterView& view) {
  std::map<std::string, const AgentView*> agents;  // name order
  for (const auto& a : view.agents)
    agents.emplace(a.name, &a);
  std::map<std::string, const BundleView*> bundles;  // id order
  for (const auto& b : view.bundles)
    bundles.emplace(b.bundle_id, &b);

  std::map<std::string, Free> free;
  for (const auto& [name, a] : agents)
    free[name] = Free{cpu_units(a->cpus), a->memory, a->disk};
  struct Live {
    const InstanceView* view;
    bool removed = false;
  };
  std::vector<Live> live;
  std::map<std::pair<std::string, std::string>, int> count;  // (bundle, agent) -> instances
  for (const auto& i : view.instances) {
    auto a = agents.find(i.agent);
    if (a == agents.end() || !a->second->up || !bundles.count(i.bundle_id)) continue;
    live.push_back({&i});
    free[i.agent].take(bundles[i.bundle_id]->requirements, +1);
    ++count[{i.bundle_id, i.agent}];
  }

  Outcome outcome;
  for (const auto& [id, b] : bundles) {
    int alive = 0;
    for (const auto& l : live)
      alive += l.view->bundle_id == id;
    for (int excess = alive - std::max(b->scale, 0); excess > 0; --excess) {
      bool any_not_started = false;
      for (const auto& l : live) {
        any_not_started |= !l.removed && l.view->bundle_id == id && !l.view->started;
      }
      Live* pick = nullptr;
      for (auto& l : live) {
        if (l.removed || l.view->bundle_id != id || (any_not_started && l.view->started)) continue;
        if (pick == nullptr) {
          pick = &l;
          continue;
        }
        int c = count[{id, l.view->agent}];
        int best = count[{id, pick->view->agent}];
        if (c > best || (c == best && l.view->instance_id > pick->view->instance_id)) pick = &l;
      }
      pick->removed = true;
      outcome.remove.push_back(pick->view->instance_id);
      free[pick->view->agent].take(b->requirements, -1);
      --count[{id, pick->view->agent}];
    }
  }

  for (const auto& entry : bundles) {
    // Named copies: clang before 16 cannot capture structured bindings in lambdas.
    const std::string& id = entry.first;
    const BundleView* b = entry.second;
    int alive = 0;
    for (const auto& l : live)
      alive += !l.removed && l.view->bundle_id == id;
    const int need = std::max(b->scale, 0) - alive;
    for (int k = 0; k < need; ++k) {
      const AgentView* best = nullptr;
      for (const auto& [name, a] : agents) {
        if (!a->up || !contains_all(a->runtimes, b->requirements.runtimes) ||
            !contains_all(a->roles, b->requirements.roles) || !free[name].fits(b->requirements)) {
          continue;
        }
        if (!b->affinity.empty() && b->affinity != id && count[{b->affinity, name}] == 0) continue;
        if (best == nullptr) {
          best = a;
          continue;
        }
        auto key = [&](const AgentView* x) {
          bool holds = std::find(x->bundle_digests.begin(), x->bundle_digests.end(),
                                 b->bundle_digest) != x->bundle_digests.end();
          return std::make_tuple(count[{id, x->name}], !holds, -free[x->name].memory);
        };
        if (key(a) < key(best)) best = a;  // equal keys: the earlier name stays
      }
      if (best == nullptr) {
        outcome.missing[id] = need - k;
        break;
      }
      outcome.place.emplace_back(id, best->name);
      free[best->name].take(b->requirements, +1);
      ++count[{id, best->name}];
    }
  }
  return outcome;
}

constexpr std::array<std::string_view, 4> kRoles = {"web", "backend", "batch", "gpu"};
constexpr std::array<std::string_view, 3> kRuntimes = {"universal", "docker", "rpm"};

template <std::size_t N>
std::vector<std::string> some_of(const std::array<std::string_view, N>& names, std::mt19937& random,
                                 int percent) {
  std::vector<std::string> chosen;
  for (auto name : names) {
    if (static_cast<int>(random() % 100) < percent) chosen.emplace_back(name);
  }
  return chosen;
}

ClusterView random_view(std::mt19937& random, int max_agents, int max_bundles, int max_scale) {
  auto pick = [&](auto... values) {
    const std::int64_t options[] = {static_cast<std::int64_t>(values)...};
    return options[random() % sizeof...(values)];
  };
  ClusterView view;
  const int agents = 1 + static_cast<int>(random() % static_cast<unsigned>(max_agents));
  const int bundles = 1 + static_cast<int>(random() % static_cast<unsigned>(max_bundles));
  for (int b = 0; b < bundles; ++b) {
    BundleView bundle;
    char id[32];
    std::snprintf(id, sizeof id, "bundle-%03d", b);
    bundle.bundle_id = id;
    bundle.bundle_digest = std::string("digest-") + id;
    bundle.scale = static_cast<int>(random() % static_cast<unsigned>(max_scale + 1));
    const double cpus[] = {0, 0.1, 0.25, 0.3, 1, 1.7};
    bundle.requirements.cpus = cpus[random() % 6];
    bundle.requirements.memory = pick(0, 64 * kMiB, 200 * kMiB, kGiB, 3 * kGiB);
    bundle.requirements.disk = pick(0, 10 * kMiB, kGiB, 20 * kGiB);
    bundle.requirements.roles = some_of(kRoles, random, 25);
    bundle.requirements.runtimes = some_of(kRuntimes, random, 30);
    const unsigned affinity = random() % 100;
    if (affinity < 15 && b > 0) {
      bundle.affinity = view.bundles[random() % static_cast<unsigned>(b)].bundle_id;
    } else if (affinity < 18) {
      bundle.affinity = "bundle-unloaded";
    }
    view.bundles.push_back(bundle);
  }
  for (int a = 0; a < agents; ++a) {
    AgentView agent;
    char name[32];
    std::snprintf(name, sizeof name, "agent-%04d", static_cast<int>(random() % 100000));
    agent.name = name + std::string("-") + std::to_string(a);
    agent.up = random() % 10 != 0;
    const double cpus[] = {0.5, 1, 2, 3.3, 8, 16};
    agent.cpus = cpus[random() % 6];
    agent.memory = pick(0, kGiB, 4 * kGiB, 16 * kGiB, 64 * kGiB) + pick(0, 100 * kMiB);
    agent.disk = pick(2 * kGiB, 50 * kGiB, 500 * kGiB);
    agent.roles = some_of(kRoles, random, 60);
    agent.runtimes = some_of(kRuntimes, random, 75);
    for (const auto& bundle : view.bundles) {
      if (random() % 4 == 0) agent.bundle_digests.push_back(bundle.bundle_digest);
    }
    view.agents.push_back(agent);
  }
  const int instances = static_cast<int>(random() % static_cast<unsigned>(bundles * max_scale + 1));
  std::set<std::string> ids;
  for (int i = 0; i < instances; ++i) {
    InstanceView instance;
    char id[32];
    std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(random()) << 20);
    instance.instance_id = id + std::to_string(i);
    instance.bundle_id = view.bundles[random() % view.bundles.size()].bundle_id;
    instance.agent =
        random() % 20 == 0 ? "agent-unknown" : view.agents[random() % view.agents.size()].name;
    instance.started = random() % 10 < 7;
    view.instances.push_back(instance);
  }
  return view;
}

// Checks that need no reference.
void check_invariants(const ClusterView& view, const Plan& plan) {
  std::map<std::string, const AgentView*> agents;
  for (const auto& a : view.agents)
    agents.emplace(a.name, &a);
  std::map<std::string, const BundleView*> bundles;
  for (const auto& b : view.bundles)
    bundles.emplace(b.bundle_id, &b);
  std::set<std::string> removed(plan.remove.begin(), plan.remove.end());
  ASSERT_EQ(removed.size(), plan.remove.size()) << "an instance removed twice";

  std::map<std::string, Free> before;
  std::map<std::string, Free> after;
  for (const auto& [name, a] : agents) {
    before[name] = after[name] = Free{cpu_units(a->cpus), a->memory, a->disk};
  }
  std::map<std::string, int> alive_before;
  std::map<std::string, int> alive_after;
  std::map<std::pair<std::string, std::string>, int> runs;  // (bundle, agent), after the plan
  for (const auto& i : view.instances) {
    auto a = agents.find(i.agent);
    bool counted = a != agents.end() && a->second->up && bundles.count(i.bundle_id);
    if (!counted) {
      EXPECT_FALSE(removed.count(i.instance_id)) << "removed an instance that does not count";
      continue;
    }
    before[i.agent].take(bundles[i.bundle_id]->requirements, +1);
    ++alive_before[i.bundle_id];
    if (removed.count(i.instance_id)) continue;
    after[i.agent].take(bundles[i.bundle_id]->requirements, +1);
    ++alive_after[i.bundle_id];
    ++runs[{i.bundle_id, i.agent}];
  }
  std::map<std::string, int> placed;
  for (const auto& p : plan.place) {
    ASSERT_TRUE(bundles.count(p.bundle_id));
    ASSERT_TRUE(agents.count(p.agent));
    const AgentView& a = *agents[p.agent];
    const Requirements& r = bundles[p.bundle_id]->requirements;
    EXPECT_TRUE(a.up);
    EXPECT_TRUE(contains_all(a.runtimes, r.runtimes)) << p.bundle_id << " on " << p.agent;
    EXPECT_TRUE(contains_all(a.roles, r.roles)) << p.bundle_id << " on " << p.agent;
    after[p.agent].take(r, +1);
    ++placed[p.bundle_id];
    ++alive_after[p.bundle_id];
    ++runs[{p.bundle_id, p.agent}];
  }
  for (const auto& p : plan.place) {
    const std::string& affinity = bundles[p.bundle_id]->affinity;
    if (affinity.empty() || affinity == p.bundle_id) continue;
    EXPECT_GT((runs[{affinity, p.agent}]), 0) << p.bundle_id << " away from " << affinity;
  }
  // No agent over capacity (an agent already over stays no further over).
  for (const auto& [name, free] : after) {
    EXPECT_GE(free.cpus, std::min<std::int64_t>(0, before[name].cpus)) << name;
    EXPECT_GE(free.memory, std::min<std::int64_t>(0, before[name].memory)) << name;
    EXPECT_GE(free.disk, std::min<std::int64_t>(0, before[name].disk)) << name;
  }
  std::map<std::string, int> missing;
  for (const auto& s : plan.shortfalls) {
    missing[s.bundle_id] = s.missing;
    EXPECT_GT(s.missing, 0);
    EXPECT_EQ(s.reason.rfind(std::to_string(s.missing) + " of " +
                                 std::to_string(bundles[s.bundle_id]->scale) + " instance",
                             0),
              0u)
        << s.reason;
  }
  for (const auto& [id, b] : bundles) {
    const int scale = std::max(b->scale, 0);
    if (alive_before[id] >= scale) {
      EXPECT_EQ(alive_after[id], scale) << id;
      EXPECT_EQ(placed[id], 0) << id;
      EXPECT_EQ(missing[id], 0) << id;
    } else {
      EXPECT_EQ(alive_after[id] + missing[id], scale) << id;
    }
    if (missing[id] == 0) continue;
    // Maximal: no agent could take one more instance at the end.
    for (const auto& [name, a] : agents) {
      bool affinity_ok = b->affinity.empty() || b->affinity == id || runs[{b->affinity, name}] > 0;
      bool could = a->up && contains_all(a->runtimes, b->requirements.runtimes) &&
                   contains_all(a->roles, b->requirements.roles) && affinity_ok &&
                   after[name].fits(b->requirements);
      EXPECT_FALSE(could) << id << " is short, yet " << name << " has room";
    }
  }
}

void expect_same(const Outcome& actual, const Outcome& expected) {
  ASSERT_EQ(actual.place.size(), expected.place.size());
  for (std::size_t i = 0; i < expected.place.size(); ++i) {
    ASSERT_EQ(actual.place[i], expected.place[i]) << "placement " << i;
  }
  EXPECT_EQ(actual.remove, expected.remove);
  EXPECT_EQ(actual.missing, expected.missing);
}

TEST(PlacementProperty, MatchesTheReferenceOnSmallClusters) {
  for (unsigned seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 random(seed);
    const ClusterView view = random_view(random, 12, 6, 12);
    const Plan plan = scheduler::plan(view);
    ASSERT_NO_FATAL_FAILURE(expect_same(outcome_of(plan), reference_plan(view)));
    ASSERT_NO_FATAL_FAILURE(check_invariants(view, plan));
  }
}

TEST(PlacementProperty, MatchesTheReferenceOnLargeClusters) {
  for (unsigned seed = 1000; seed < 1004; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 random(seed);
    const ClusterView view = random_view(random, 400, 60, 150);
    const Plan plan = scheduler::plan(view);
    ASSERT_NO_FATAL_FAILURE(expect_same(outcome_of(plan), reference_plan(view)));
    ASSERT_NO_FATAL_FAILURE(check_invariants(view, plan));
  }
}

TEST(PlacementProperty, EquivalentAgentsSpreadWithinOne) {
  for (unsigned seed = 1; seed <= 50; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 random(seed);
    ClusterView view;
    const int agents = 1 + static_cast<int>(random() % 40);
    for (int a = 0; a < agents; ++a) {
      view.agents.push_back(AgentView{"agent-" + std::to_string(a),
                                      true,
                                      1000,
                                      10000 * kGiB,
                                      1000 * kGiB,
                                      {"web"},
                                      {"universal"},
                                      {}});
    }
    const int bundles = 1 + static_cast<int>(random() % 8);
    for (int b = 0; b < bundles; ++b) {
      BundleView bundle{"b" + std::to_string(b), "d" + std::to_string(b),
                        static_cast<int>(random() % 300),
                        Requirements{0.25,
                                     static_cast<std::int64_t>(random() % 5) * kGiB / 4,
                                     kMiB,
                                     {"web"},
                                     {"universal"}},
                        ""};
      view.bundles.push_back(bundle);
    }
    const Plan plan = scheduler::plan(view);
    EXPECT_TRUE(plan.shortfalls.empty());
    for (const auto& bundle : view.bundles) {
      std::map<std::string, int> per_agent;
      for (const auto& a : view.agents)
        per_agent[a.name] = 0;
      for (const auto& p : plan.place)
        per_agent[p.agent] += p.bundle_id == bundle.bundle_id;
      auto [low, high] =
          std::minmax_element(per_agent.begin(), per_agent.end(),
                              [](const auto& x, const auto& y) { return x.second < y.second; });
      EXPECT_LE(high->second - low->second, 1) << bundle.bundle_id;
    }
  }
}

// One bundle from empty: every agent takes as many instances as its tightest resource allows.
TEST(PlacementProperty, OneBundleMeetsTheGreedyBound) {
  for (unsigned seed = 1; seed <= 100; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 random(seed);
    ClusterView view = random_view(random, 50, 1, 400);
    view.instances.clear();
    BundleView& bundle = view.bundles[0];
    bundle.affinity.clear();
    bundle.requirements = Requirements{0.1 * static_cast<double>(1 + random() % 10),
                                       static_cast<std::int64_t>(1 + random() % 8) * 256 * kMiB,
                                       static_cast<std::int64_t>(random() % 3) * kGiB,
                                       {},
                                       {}};
    std::int64_t capacity = 0;
    for (const auto& a : view.agents) {
      if (!a.up) continue;
      const Requirements& r = bundle.requirements;
      std::int64_t fit = cpu_units(a.cpus) / cpu_units(r.cpus);
      fit = std::min(fit, a.memory / r.memory);
      if (r.disk > 0) fit = std::min(fit, a.disk / r.disk);
      capacity += fit;
    }
    const Plan plan = scheduler::plan(view);
    EXPECT_EQ(static_cast<std::int64_t>(plan.place.size()),
              std::min<std::int64_t>(bundle.scale, capacity));
    ASSERT_NO_FATAL_FAILURE(check_invariants(view, plan));
  }
}

}  // namespace
}  // namespace baton::scheduler
