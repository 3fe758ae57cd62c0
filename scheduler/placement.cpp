// Placement in O(agents + instances) to index the view, then per bundle O(agents / 64) to
// intersect its eligibility bitsets, O(eligible) to collect the candidates that fit, and
// O(placements x log(placements)) on a heap ordered by the rules. Names are interned to indices
// once, so the inner loops compare integers only; amounts are integers (cpus in millionths).
#include "scheduler/placement.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace baton::scheduler {

namespace {

// Resources in integers: cpus in millionths, so sums of fractions are exact.
using Amount = std::int64_t;
constexpr double kCpuUnit = 1e6;
constexpr Amount kHuge = std::numeric_limits<Amount>::max() / 4;

Amount cpu_amount(double cpus) {
  if (!(cpus > 0)) return 0;  // negative, zero and NaN
  if (cpus >= static_cast<double>(kHuge) / kCpuUnit) return kHuge;
  return static_cast<Amount>(std::llround(cpus * kCpuUnit));
}

Amount byte_amount(std::int64_t bytes) {
  return std::clamp<std::int64_t>(bytes, 0, kHuge);
}

constexpr int kNone = -1;     // no affinity; a role or runtime no agent offers
constexpr int kUnknown = -2;  // an affinity naming a bundle absent from the view

// A set of agents, one bit per agent index.
class AgentSet {
 public:
  AgentSet() = default;
  explicit AgentSet(std::size_t agents) : words_((agents + 63) / 64, 0) {}

  void set(int agent) { words_[word(agent)] |= bit(agent); }
  void reset(int agent) { words_[word(agent)] &= ~bit(agent); }
  bool test(int agent) const { return (words_[word(agent)] & bit(agent)) != 0; }
  void intersect(const AgentSet& other) {
    for (std::size_t i = 0; i < words_.size(); ++i)
      words_[i] &= other.words_[i];
  }
  void clear() { std::fill(words_.begin(), words_.end(), 0); }
  int count() const {
    int total = 0;
    for (auto word : words_)
      total += std::popcount(word);
    return total;
  }
  template <class F>
  void for_each(F&& visit) const {
    for (std::size_t i = 0; i < words_.size(); ++i) {
      for (std::uint64_t bits = words_[i]; bits != 0; bits &= bits - 1) {
        visit(static_cast<int>(i * 64 + static_cast<std::size_t>(std::countr_zero(bits))));
      }
    }
  }

 private:
  static std::size_t word(int agent) { return static_cast<std::size_t>(agent) >> 6; }
  static std::uint64_t bit(int agent) { return std::uint64_t{1} << (agent & 63); }
  std::vector<std::uint64_t> words_;
};

// Names to dense indices, so the inner loops compare integers only.
class Names {
 public:
  int find(std::string_view name) const {
    auto it = ids_.find(name);
    return it == ids_.end() ? kNone : it->second;
  }
  // The index of name, and whether it is new.
  std::pair<int, bool> add(std::string_view name) {
    auto [it, added] = ids_.emplace(name, static_cast<int>(ids_.size()));
    return {it->second, added};
  }
  void reserve(std::size_t count) { ids_.reserve(count); }

 private:
  std::unordered_map<std::string_view, int> ids_;
};

struct Agent {
  const AgentView* view = nullptr;
  Amount cpus = 0;  // free, after the reservations of the instances on it
  Amount memory = 0;
  Amount disk = 0;
};

struct Bundle {
  const BundleView* view = nullptr;
  Amount cpus = 0;
  Amount memory = 0;
  Amount disk = 0;
  int scale = 0;
  int digest = kNone;      // index into digest_holders_
  std::vector<int> roles;  // sorted by name; kNone when no agent offers it
  std::vector<std::string_view> role_names;
  std::vector<int> runtimes;  // likewise
  std::vector<std::string_view> runtime_names;
  int affinity = kNone;        // bundle index, kNone or kUnknown
  int presence = kNone;        // index into presence_ when some bundle names it as affinity
  std::vector<int> instances;  // indices into instances_ of the counted ones
};

struct Instance {
  const InstanceView* view = nullptr;
  int agent = 0;
  bool removed = false;
};

// One agent in a bundle's placement heap; the best candidate sits at the top.
struct Candidate {
  int count;      // instances of the bundle on the agent
  bool holds;     // the agent holds the bundle file
  Amount memory;  // free memory
  int agent;      // index = rank of the name

  bool better_than(const Candidate& other) const {
    if (count != other.count) return count < other.count;
    if (holds != other.holds) return holds;
    if (memory != other.memory) return memory > other.memory;
    return agent < other.agent;
  }
};

void sift_down(std::vector<Candidate>& heap, std::size_t at) {
  const std::size_t size = heap.size();
  Candidate moving = heap[at];
  for (;;) {
    std::size_t child = 2 * at + 1;
    if (child >= size) break;
    if (child + 1 < size && heap[child + 1].better_than(heap[child])) ++child;
    if (!heap[child].better_than(moving)) break;
    heap[at] = heap[child];
    at = child;
  }
  heap[at] = moving;
}

void make_heap(std::vector<Candidate>& heap) {
  for (std::size_t i = heap.size() / 2; i-- > 0;)
    sift_down(heap, i);
}

// One decimal at most: "512 MiB", "1.5 GiB".
std::string format_bytes(Amount bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return std::to_string(std::max<Amount>(bytes, 0)) + " B";
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  // 1023.95 and up would print as "1024.0": take the next unit instead.
  while (value >= 1023.95 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", value);
  std::string result = text;
  if (result.size() > 2 && result.compare(result.size() - 2, 2, ".0") == 0) {
    result.resize(result.size() - 2);
  }
  return result + " " + kUnits[unit];
}

// Exact: cpus are whole millionths.
std::string format_cpus(Amount amount) {
  char text[48];
  std::snprintf(text, sizeof text, "%.6f",
                static_cast<double>(std::max<Amount>(amount, 0)) / kCpuUnit);
  std::string result = text;
  while (result.back() == '0')
    result.pop_back();
  if (result.back() == '.') result.pop_back();
  return result;
}

class Planner {
 public:
  explicit Planner(const ClusterView& view) : view_(view) {}

  Plan run() {
    index_agents();
    index_bundles();
    index_instances();
    count_.assign(agents_.size(), 0);
    const std::vector<int> order = processing_order();
    std::size_t wanted = 0;
    for (const auto& bundle : bundles_) {
      wanted += static_cast<std::size_t>(
          std::max(0, bundle.scale - static_cast<int>(bundle.instances.size())));
    }
    plan_.place.reserve(wanted);
    for (int bundle : order)
      scale_down(bundle);
    for (int bundle : order)
      scale_up(bundle);
    return std::move(plan_);
  }

 private:
  void index_agents() {
    std::vector<const AgentView*> sorted;
    sorted.reserve(view_.agents.size());
    for (const auto& agent : view_.agents)
      sorted.push_back(&agent);
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const AgentView* a, const AgentView* b) { return a->name < b->name; });
    sorted.erase(
        std::unique(sorted.begin(), sorted.end(),
                    [](const AgentView* a, const AgentView* b) { return a->name == b->name; }),
        sorted.end());

    const std::size_t count = sorted.size();
    agents_.reserve(count);
    up_ = AgentSet(count);
    agent_index_.reserve(count);
    for (const AgentView* view : sorted) {
      const int index = static_cast<int>(agents_.size());
      agents_.push_back(
          Agent{view, cpu_amount(view->cpus), byte_amount(view->memory), byte_amount(view->disk)});
      agent_index_.add(view->name);
      if (view->up) up_.set(index);
      for (const auto& role : view->roles)
        add_member(roles_, role_sets_, role, index, count);
      for (const auto& runtime : view->runtimes) {
        add_member(runtimes_, runtime_sets_, runtime, index, count);
      }
    }
    eligible_ = AgentSet(count);
  }

  static void add_member(Names& names, std::vector<AgentSet>& sets, std::string_view name,
                         int agent, std::size_t agents) {
    auto [id, added] = names.add(name);
    if (added) sets.emplace_back(agents);
    sets[static_cast<std::size_t>(id)].set(agent);
  }

  void index_bundles() {
    std::vector<const BundleView*> sorted;
    sorted.reserve(view_.bundles.size());
    for (const auto& bundle : view_.bundles)
      sorted.push_back(&bundle);
    std::stable_sort(sorted.begin(), sorted.end(), [](const BundleView* a, const BundleView* b) {
      return a->bundle_id < b->bundle_id;
    });
    sorted.erase(std::unique(sorted.begin(), sorted.end(),
                             [](const BundleView* a, const BundleView* b) {
                               return a->bundle_id == b->bundle_id;
                             }),
                 sorted.end());

    bundles_.reserve(sorted.size());
    for (const BundleView* view : sorted) {
      bundle_index_.add(view->bundle_id);
      Bundle bundle;
      bundle.view = view;
      bundle.cpus = cpu_amount(view->requirements.cpus);
      bundle.memory = byte_amount(view->requirements.memory);
      bundle.disk = byte_amount(view->requirements.disk);
      bundle.scale = std::max(view->scale, 0);
      if (!view->bundle_digest.empty()) {
        auto [id, added] = digests_.add(view->bundle_digest);
        if (added) digest_holders_.emplace_back(agents_.size());
        bundle.digest = id;
      }
      resolve(view->requirements.roles, roles_, bundle.role_names, bundle.roles);
      resolve(view->requirements.runtimes, runtimes_, bundle.runtime_names, bundle.runtimes);
      bundles_.push_back(std::move(bundle));
    }

    for (auto& bundle : bundles_) {
      const std::string& affinity = bundle.view->affinity;
      if (affinity.empty() || affinity == bundle.view->bundle_id) continue;
      const int target = bundle_index_.find(affinity);
      bundle.affinity = target == kNone ? kUnknown : target;
      if (target != kNone && bundles_[static_cast<std::size_t>(target)].presence == kNone) {
        bundles_[static_cast<std::size_t>(target)].presence = static_cast<int>(presence_.size());
        presence_.emplace_back(agents_.size());
      }
    }

    for (std::size_t agent = 0; agent < agents_.size(); ++agent) {
      for (const auto& digest : agents_[agent].view->bundle_digests) {
        const int id = digests_.find(digest);
        if (id != kNone) digest_holders_[static_cast<std::size_t>(id)].set(static_cast<int>(agent));
      }
    }
  }

  // Sorted, without duplicates, so results do not depend on the order of the lists.
  static void resolve(const std::vector<std::string>& wanted, const Names& names,
                      std::vector<std::string_view>& sorted_names, std::vector<int>& ids) {
    sorted_names.assign(wanted.begin(), wanted.end());
    std::sort(sorted_names.begin(), sorted_names.end());
    sorted_names.erase(std::unique(sorted_names.begin(), sorted_names.end()), sorted_names.end());
    ids.clear();
    for (auto name : sorted_names)
      ids.push_back(names.find(name));
  }

  void index_instances() {
    instances_.reserve(view_.instances.size());
    for (const auto& view : view_.instances) {
      const int bundle = bundle_index_.find(view.bundle_id);
      if (bundle == kNone) continue;
      const int agent = agent_index_.find(view.agent);
      if (agent == kNone || !up_.test(agent)) continue;
      Bundle& owner = bundles_[static_cast<std::size_t>(bundle)];
      owner.instances.push_back(static_cast<int>(instances_.size()));
      instances_.push_back(Instance{&view, agent, false});
      reserve(agent, owner, +1);
      if (owner.presence != kNone) presence_[static_cast<std::size_t>(owner.presence)].set(agent);
    }
  }

  // Amounts are at most kHuge and free stays within +-2 kHuge, so nothing overflows even when
  // absurd reservations pile up on one agent.
  void reserve(int agent, const Bundle& bundle, int sign) {
    Agent& target = agents_[static_cast<std::size_t>(agent)];
    auto take = [sign](Amount& free, Amount amount) {
      free = std::clamp<Amount>(free - sign * amount, -2 * kHuge, 2 * kHuge);
    };
    take(target.cpus, bundle.cpus);
    take(target.memory, bundle.memory);
    take(target.disk, bundle.disk);
  }

  // Bundle id order, an affinity target before the bundles naming it. A bundle has at most one
  // target, so following targets walks a chain; a cycle ends the chain where it closes.
  std::vector<int> processing_order() const {
    enum : char { kUnvisited, kVisiting, kDone };
    std::vector<char> state(bundles_.size(), kUnvisited);
    std::vector<int> order;
    order.reserve(bundles_.size());
    std::vector<int> chain;
    for (int start = 0; start < static_cast<int>(bundles_.size()); ++start) {
      chain.clear();
      for (int at = start; at >= 0 && state[static_cast<std::size_t>(at)] == kUnvisited;
           at = bundles_[static_cast<std::size_t>(at)].affinity) {
        state[static_cast<std::size_t>(at)] = kVisiting;
        chain.push_back(at);
      }
      for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        state[static_cast<std::size_t>(*it)] = kDone;
        order.push_back(*it);
      }
    }
    return order;
  }

  bool fits(const Agent& agent, const Bundle& bundle) const {
    return (bundle.cpus == 0 || agent.cpus >= bundle.cpus) &&
           (bundle.memory == 0 || agent.memory >= bundle.memory) &&
           (bundle.disk == 0 || agent.disk >= bundle.disk);
  }

  int live_instances(const Bundle& bundle) const {
    int live = 0;
    for (int instance : bundle.instances) {
      if (!instances_[static_cast<std::size_t>(instance)].removed) ++live;
    }
    return live;
  }

  // count_[agent] = live instances of bundle on it; undone by clear_counts.
  void fill_counts(const Bundle& bundle) {
    for (int instance : bundle.instances) {
      const Instance& it = instances_[static_cast<std::size_t>(instance)];
      if (!it.removed) ++count_[static_cast<std::size_t>(it.agent)];
    }
  }

  void clear_counts(const Bundle& bundle) {
    for (int instance : bundle.instances) {
      count_[static_cast<std::size_t>(instances_[static_cast<std::size_t>(instance)].agent)] = 0;
    }
    for (int agent : touched_)
      count_[static_cast<std::size_t>(agent)] = 0;
    touched_.clear();
  }

  void scale_down(int index) {
    Bundle& bundle = bundles_[static_cast<std::size_t>(index)];
    int excess = static_cast<int>(bundle.instances.size()) - bundle.scale;
    if (excess <= 0) return;
    fill_counts(bundle);

    // Not started ones first; within each group, from the agent with the most instances of the
    // bundle, the greater instance id first.
    struct Group {
      int agent;
      std::size_t next;
      std::size_t end;
    };
    std::vector<int> candidates;
    for (const bool started : {false, true}) {
      candidates.clear();
      for (int instance : bundle.instances) {
        if (instances_[static_cast<std::size_t>(instance)].view->started == started) {
          candidates.push_back(instance);
        }
      }
      std::sort(candidates.begin(), candidates.end(), [this](int a, int b) {
        const Instance& x = instances_[static_cast<std::size_t>(a)];
        const Instance& y = instances_[static_cast<std::size_t>(b)];
        if (x.agent != y.agent) return x.agent < y.agent;
        return x.view->instance_id > y.view->instance_id;
      });
      auto id_of = [&](const Group& group) -> const std::string& {
        return instances_[static_cast<std::size_t>(candidates[group.next])].view->instance_id;
      };
      auto worse = [&](const Group& a, const Group& b) {  // std heaps put the greatest first
        const int count_a = count_[static_cast<std::size_t>(a.agent)];
        const int count_b = count_[static_cast<std::size_t>(b.agent)];
        if (count_a != count_b) return count_a < count_b;
        const int order = id_of(a).compare(id_of(b));
        if (order != 0) return order < 0;
        return a.agent > b.agent;
      };
      std::vector<Group> heap;
      for (std::size_t begin = 0; begin < candidates.size();) {
        const int agent = instances_[static_cast<std::size_t>(candidates[begin])].agent;
        std::size_t end = begin;
        while (end < candidates.size() &&
               instances_[static_cast<std::size_t>(candidates[end])].agent == agent) {
          ++end;
        }
        heap.push_back(Group{agent, begin, end});
        begin = end;
      }
      std::make_heap(heap.begin(), heap.end(), worse);
      while (excess > 0 && !heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), worse);
        Group& group = heap.back();
        Instance& removed = instances_[static_cast<std::size_t>(candidates[group.next])];
        removed.removed = true;
        plan_.remove.push_back(removed.view->instance_id);
        reserve(group.agent, bundle, -1);
        if (--count_[static_cast<std::size_t>(group.agent)] == 0 && bundle.presence != kNone) {
          presence_[static_cast<std::size_t>(bundle.presence)].reset(group.agent);
        }
        --excess;
        if (++group.next < group.end) {
          std::push_heap(heap.begin(), heap.end(), worse);
        } else {
          heap.pop_back();
        }
      }
    }
    clear_counts(bundle);
  }

  // The agents that pass every rule but capacity, into eligible_.
  void find_eligible(const Bundle& bundle) {
    AgentSet& result = eligible_;
    result = up_;
    auto restrict = [&](const std::vector<int>& ids, const std::vector<AgentSet>& sets) {
      for (int id : ids) {
        if (id == kNone) {
          result.clear();
        } else {
          result.intersect(sets[static_cast<std::size_t>(id)]);
        }
      }
    };
    restrict(bundle.runtimes, runtime_sets_);
    restrict(bundle.roles, role_sets_);
    if (bundle.affinity == kUnknown) result.clear();
    if (bundle.affinity >= 0) {
      const Bundle& target = bundles_[static_cast<std::size_t>(bundle.affinity)];
      result.intersect(presence_[static_cast<std::size_t>(target.presence)]);
    }
  }

  void scale_up(int index) {
    Bundle& bundle = bundles_[static_cast<std::size_t>(index)];
    const int need = bundle.scale - live_instances(bundle);
    if (need <= 0) return;
    fill_counts(bundle);

    heap_.clear();
    const AgentSet* holders = bundle.digest == kNone
                                  ? nullptr
                                  : &digest_holders_[static_cast<std::size_t>(bundle.digest)];
    find_eligible(bundle);
    eligible_.for_each([&](int agent) {
      const Agent& candidate = agents_[static_cast<std::size_t>(agent)];
      if (!fits(candidate, bundle)) return;
      heap_.push_back(Candidate{count_[static_cast<std::size_t>(agent)],
                                holders != nullptr && holders->test(agent), candidate.memory,
                                agent});
    });
    // Only the `need` best can receive a placement: a candidate's key only worsens when it
    // receives one, so a worse candidate could come first only after all `need` had one each.
    if (heap_.size() > static_cast<std::size_t>(need)) {
      std::nth_element(heap_.begin(), heap_.begin() + need, heap_.end(),
                       [](const Candidate& a, const Candidate& b) { return a.better_than(b); });
      heap_.resize(static_cast<std::size_t>(need));
    }
    make_heap(heap_);

    AgentSet* presence =
        bundle.presence == kNone ? nullptr : &presence_[static_cast<std::size_t>(bundle.presence)];
    int placed = 0;
    while (placed < need && !heap_.empty()) {
      Candidate& best = heap_.front();
      const int agent = best.agent;
      Agent& target = agents_[static_cast<std::size_t>(agent)];
      plan_.place.push_back(Placement{bundle.view->bundle_id, target.view->name});
      reserve(agent, bundle, +1);
      if (count_[static_cast<std::size_t>(agent)]++ == 0) touched_.push_back(agent);
      if (presence != nullptr) presence->set(agent);
      ++placed;
      if (fits(target, bundle)) {
        ++best.count;
        best.memory = target.memory;
      } else {
        best = heap_.back();
        heap_.pop_back();
      }
      if (!heap_.empty()) sift_down(heap_, 0);
    }
    if (placed < need) {
      plan_.shortfalls.push_back(Shortfall{bundle.view->bundle_id, need - placed,
                                           shortfall_reason(bundle, need - placed)});
    }
    clear_counts(bundle);
  }

  std::string shortfall_reason(const Bundle& bundle, int missing) const;

  const ClusterView& view_;
  std::vector<Agent> agents_;
  Names agent_index_;
  AgentSet up_;
  Names roles_;
  std::vector<AgentSet> role_sets_;
  Names runtimes_;
  std::vector<AgentSet> runtime_sets_;
  Names digests_;
  std::vector<AgentSet> digest_holders_;
  std::vector<Bundle> bundles_;
  Names bundle_index_;
  std::vector<AgentSet> presence_;  // agents running a bundle named as an affinity
  std::vector<Instance> instances_;
  // Scratch for the bundle at hand: its instances per agent, the agents whose count was 0 before a
  // placement, the agents passing every rule but capacity, and its placement heap.
  std::vector<int> count_;
  std::vector<int> touched_;
  AgentSet eligible_;
  std::vector<Candidate> heap_;
  Plan plan_;
};

// Each agent is charged to the first rule that excludes it, in the order down, runtimes, roles,
// affinity, cpus, memory, disk; the reason names the rule charged with the most agents (the
// earlier one on a tie).
std::string Planner::shortfall_reason(const Bundle& bundle, int missing) const {
  std::string reason = std::to_string(missing) + " of " + std::to_string(bundle.scale) +
                       (bundle.scale == 1 ? " instance" : " instances") + " cannot be placed: ";
  const int total = static_cast<int>(agents_.size());
  const int up = up_.count();
  if (total == 0) return reason + "no agent is registered";
  if (up == 0) return reason + "no agent is up (" + std::to_string(total) + " registered)";

  struct Short {
    int excluded = 0;
    int best_agent = kNone;  // the excluded agent with the most free
    Amount best = 0;
  };
  std::vector<int> runtime_excluded(bundle.runtimes.size(), 0);
  std::vector<int> role_excluded(bundle.roles.size(), 0);
  int affinity_excluded = 0;
  Short cpus;
  Short memory;
  Short disk;
  const AgentSet* presence =
      bundle.affinity >= 0 ? &presence_[static_cast<std::size_t>(
                                 bundles_[static_cast<std::size_t>(bundle.affinity)].presence)]
                           : nullptr;
  // The index of the first id the agent lacks, or kNone.
  auto first_lacking = [](const std::vector<int>& ids, const std::vector<AgentSet>& sets,
                          int agent) {
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] == kNone || !sets[static_cast<std::size_t>(ids[i])].test(agent)) {
        return static_cast<int>(i);
      }
    }
    return kNone;
  };
  auto charge = [](Short& to, int agent, Amount free) {
    if (to.excluded++ == 0 || free > to.best) {
      to.best = free;
      to.best_agent = agent;
    }
  };
  for (int agent = 0; agent < total; ++agent) {
    if (!up_.test(agent)) continue;
    if (int i = first_lacking(bundle.runtimes, runtime_sets_, agent); i != kNone) {
      ++runtime_excluded[static_cast<std::size_t>(i)];
      continue;
    }
    if (int i = first_lacking(bundle.roles, role_sets_, agent); i != kNone) {
      ++role_excluded[static_cast<std::size_t>(i)];
      continue;
    }
    if (bundle.affinity == kUnknown || (presence != nullptr && !presence->test(agent))) {
      ++affinity_excluded;
      continue;
    }
    const Agent& free = agents_[static_cast<std::size_t>(agent)];
    if (bundle.cpus > 0 && free.cpus < bundle.cpus) {
      charge(cpus, agent, free.cpus);
    } else if (bundle.memory > 0 && free.memory < bundle.memory) {
      charge(memory, agent, free.memory);
    } else if (bundle.disk > 0 && free.disk < bundle.disk) {
      charge(disk, agent, free.disk);
    }
  }

  // The winner: the most agents charged, the earlier rule on a tie.
  enum class Rule { down, runtime, role, affinity, cpus, memory, disk };
  Rule rule = Rule::down;
  std::size_t item = 0;
  int most = total - up;
  auto consider = [&](Rule candidate, std::size_t index, int excluded) {
    if (excluded > most) {
      rule = candidate;
      item = index;
      most = excluded;
    }
  };
  for (std::size_t i = 0; i < runtime_excluded.size(); ++i) {
    consider(Rule::runtime, i, runtime_excluded[i]);
  }
  for (std::size_t i = 0; i < role_excluded.size(); ++i)
    consider(Rule::role, i, role_excluded[i]);
  consider(Rule::affinity, 0, affinity_excluded);
  consider(Rule::cpus, 0, cpus.excluded);
  consider(Rule::memory, 0, memory.excluded);
  consider(Rule::disk, 0, disk.excluded);

  // How many up agents are in a set (all of them for kNone ids: none).
  auto up_in = [&](const AgentSet* set) {
    int count = 0;
    if (set == nullptr) return count;
    for (int agent = 0; agent < total; ++agent) {
      if (up_.test(agent) && set->test(agent)) ++count;
    }
    return count;
  };
  auto offered = [&](int offering, const std::string& what) {
    if (offering == 0) return "no up agent offers " + what;
    return "only " + std::to_string(offering) + " of " + std::to_string(up) + " up agents offer " +
           what;
  };
  auto resource = [&](const Short& short_of, const char* what, Amount needed,
                      std::string (*format)(Amount)) {
    const std::string& name = agents_[static_cast<std::size_t>(short_of.best_agent)].view->name;
    std::string free_text = format(short_of.best);
    std::string needed_text = format(needed);
    if (free_text == needed_text) {  // rounded alike: say it exactly
      free_text = std::to_string(short_of.best) + " B";
      needed_text = std::to_string(needed) + " B";
    }
    if (short_of.excluded == 1) {
      return name + " has " + free_text + " " + what + " free (needs " + needed_text + ")";
    }
    return std::to_string(short_of.excluded) + " agents have too little " + what +
           " free, the most is " + free_text + " on " + name + " (needs " + needed_text + ")";
  };

  switch (rule) {
    case Rule::down:
      return reason + std::to_string(total - up) + " of " + std::to_string(total) +
             " agents are down";
    case Rule::runtime: {
      const int id = bundle.runtimes[item];
      const int offering = id == kNone ? 0 : up_in(&runtime_sets_[static_cast<std::size_t>(id)]);
      return reason + offered(offering, "runtime " + std::string(bundle.runtime_names[item]));
    }
    case Rule::role: {
      const int id = bundle.roles[item];
      const int offering = id == kNone ? 0 : up_in(&role_sets_[static_cast<std::size_t>(id)]);
      return reason + offered(offering, "role '" + std::string(bundle.role_names[item]) + "'");
    }
    case Rule::affinity: {
      const std::string& target = bundle.view->affinity;
      if (bundle.affinity == kUnknown) {
        return reason + "its affinity bundle " + target + " is not loaded";
      }
      const int running = up_in(presence);
      if (running == 0) return reason + "no up agent runs its affinity bundle " + target;
      return reason + "only " + std::to_string(running) + " of " + std::to_string(up) +
             " up agents run its affinity bundle " + target;
    }
    case Rule::cpus:
      return reason + resource(cpus, "cpus", bundle.cpus, format_cpus);
    case Rule::memory:
      return reason + resource(memory, "memory", bundle.memory, format_bytes);
    case Rule::disk:
      return reason + resource(disk, "disk space", bundle.disk, format_bytes);
  }
  return reason;
}

}  // namespace

Plan plan(const ClusterView& view) {
  return Planner(view).run();
}

}  // namespace baton::scheduler
