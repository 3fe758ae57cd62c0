// plan() at cluster scale: 1,000 agents of mixed roles, runtimes and sizes.
//   ninja -C build placement_bench && build/bench/placement_bench
// Counters: placements/s (placements made per second of plan()'s CPU time, one core), and
// x_vs_1500 / x_vs_3750, that rate divided by Nomad's published 1,500 and 3,750 placements/s
// (their figures for their scheduler across a cluster, quoted, not measured here).

#include <benchmark/benchmark.h>
#include <time.h>

#include <cstdio>
#include <random>

#include "scheduler/placement.hpp"

namespace baton::scheduler {
namespace {

constexpr std::int64_t kMiB = std::int64_t{1024} * 1024;
constexpr std::int64_t kGiB = 1024 * kMiB;
constexpr double kNomadLow = 1500;
constexpr double kNomadHigh = 3750;

std::string bundle_id(int index) {
  char id[80];
  // The shape of a real id: 32 hex, '-', 32 hex.
  std::snprintf(id, sizeof id, "%032x-%032x", index * 2654435761u, index);
  return id;
}

std::string digest_of(int index) {
  char digest[80];
  std::snprintf(digest, sizeof digest, "%032x%032x", index, index * 2654435761u);
  return digest;
}

ClusterView cluster(int agents, int bundles, int scale) {
  std::mt19937 random(42);
  ClusterView view;
  for (int a = 0; a < agents; ++a) {
    AgentView agent;
    char name[32];
    std::snprintf(name, sizeof name, "agent-%04d", a);
    agent.name = name;
    agent.cpus = 16.0 * (1 + random() % 4);
    agent.memory = 64 * kGiB * static_cast<std::int64_t>(1 + random() % 4);
    agent.disk = 512 * kGiB * static_cast<std::int64_t>(1 + random() % 4);
    agent.roles = {"web"};
    if (random() % 10 < 3) agent.roles.push_back("backend");
    if (random() % 10 < 2) agent.roles.push_back("batch");
    if (random() % 20 == 0) agent.roles.push_back("gpu");
    agent.runtimes = {"universal"};
    if (random() % 2 == 0) agent.runtimes.push_back("docker");
    for (int d = 0; d < 20 && bundles > 0; ++d) {
      agent.bundle_digests.push_back(digest_of(static_cast<int>(random() % bundles)));
    }
    view.agents.push_back(std::move(agent));
  }
  const double cpus[] = {0.05, 0.1, 0.2, 0.25};
  const std::int64_t memory[] = {32 * kMiB, 64 * kMiB, 128 * kMiB, 256 * kMiB};
  const std::int64_t disk[] = {10 * kMiB, 100 * kMiB, kGiB};
  for (int b = 0; b < bundles; ++b) {
    BundleView bundle;
    bundle.bundle_id = bundle_id(b);
    bundle.bundle_digest = digest_of(b);
    bundle.scale = scale;
    bundle.requirements.cpus = cpus[random() % 4];
    bundle.requirements.memory = memory[random() % 4];
    bundle.requirements.disk = disk[random() % 3];
    const unsigned kind = random() % 100;
    if (kind < 60) {
      bundle.requirements.roles = {"web"};
    } else if (kind < 80) {
      bundle.requirements.roles = {"backend"};
    } else if (kind < 95) {
      bundle.requirements.roles = {"batch", "web"};
    }  // else: no role
    bundle.requirements.runtimes = {random() % 5 == 0 ? "docker" : "universal"};
    view.bundles.push_back(std::move(bundle));
  }
  return view;
}

double thread_seconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

// Runs plan() once per iteration; the rates use the CPU time of plan() alone (one core), so other
// load on the machine does not lower them.
void run(benchmark::State& state, const ClusterView& view) {
  Plan plan;
  double seconds = 0;
  for ([[maybe_unused]] auto _ : state) {
    const double start = thread_seconds();
    Plan fresh = scheduler::plan(view);
    seconds += thread_seconds() - start;
    benchmark::DoNotOptimize(fresh);
    plan = std::move(fresh);
  }
  const double placements = static_cast<double>(plan.place.size());
  const double per_second = placements * static_cast<double>(state.iterations()) / seconds;
  state.counters["placements"] = placements;
  state.counters["removals"] = static_cast<double>(plan.remove.size());
  state.counters["shortfalls"] = static_cast<double>(plan.shortfalls.size());
  state.counters["plan_ms"] = 1000 * seconds / static_cast<double>(state.iterations());
  if (placements > 0) {
    state.counters["placements/s"] = per_second;
    state.counters["x_vs_1500"] = per_second / kNomadLow;
    state.counters["x_vs_3750"] = per_second / kNomadHigh;
  }
}

// 1,000 bundles x 100 instances = 100,000 placements in one plan, from empty.
void BM_Place100kFromEmpty(benchmark::State& state) {
  run(state, cluster(1000, 1000, 100));
}
BENCHMARK(BM_Place100kFromEmpty)->Unit(benchmark::kMillisecond);

// One bundle from 0 to 100,000 instances over 1,000 agents.
void BM_ScaleOneBundleTo100k(benchmark::State& state) {
  ClusterView view = cluster(1000, 1, 100000);
  // 100 instances per agent fit the smallest agent (16 cpus, 64 GiB, 512 GiB).
  view.bundles[0].requirements = Requirements{0.1, 128 * kMiB, 100 * kMiB, {"web"}, {"universal"}};
  run(state, view);
}
BENCHMARK(BM_ScaleOneBundleTo100k)->Unit(benchmark::kMillisecond);

// The view after the first benchmark's plan: 100,000 instances running.
ClusterView converged() {
  ClusterView view = cluster(1000, 1000, 100);
  const Plan plan = scheduler::plan(view);
  int next = 0;
  for (const auto& placement : plan.place) {
    char id[24];
    std::snprintf(id, sizeof id, "%016x", next++ * 2654435761u);
    view.instances.push_back(InstanceView{id, placement.bundle_id, placement.agent, true});
  }
  return view;
}

// Nothing to do: the cost of planning a converged cluster of 100,000 instances.
void BM_Replan100kConverged(benchmark::State& state) {
  const ClusterView view = converged();
  run(state, view);
  state.counters["instances"] = static_cast<double>(view.instances.size());
}
BENCHMARK(BM_Replan100kConverged)->Unit(benchmark::kMillisecond);

// 50 of the 1,000 agents go down: their instances are placed elsewhere.
void BM_Replace5PercentAgentsDown(benchmark::State& state) {
  ClusterView view = converged();
  for (int a = 0; a < 1000; a += 20) {
    view.agents[static_cast<std::size_t>(a)].up = false;
  }
  run(state, view);
}
BENCHMARK(BM_Replace5PercentAgentsDown)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace baton::scheduler

int main(int argc, char** argv) {
  std::printf(
      "Nomad's published figures (theirs, not measured here): about %.0f to %.0f placements/s "
      "across a cluster.\nx_vs_1500 and x_vs_3750 are this run's placements/s divided by "
      "them.\n\n",
      baton::scheduler::kNomadLow, baton::scheduler::kNomadHigh);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
