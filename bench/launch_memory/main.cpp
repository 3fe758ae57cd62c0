// What N running instances cost on one agent: a real baton-agent process, registered with the
// agent tests' core double (tests/agent/support), runs N instances of an idle component
// (baton-testcomponent --listen-env WEB --sleep: it serves its endpoint and does nothing else).
//   ninja -C build launch_memory_bench && build/bench/launch_memory_bench [--count 500]
//       [--idle-seconds 10]
// Measured in the same run: the agent with no instance (the baseline), then with N started
// instances after they settled: the agent's resident memory (VmRSS) and PSS, every shim's PSS
// (/proc/<pid>/smaps_rollup), the components' PSS (for scale, not overhead), and the CPU time the
// agent and the shims use over --idle-seconds (3 s after the last instance started; the memory is
// read after these windows). Goals (issue 3): agent RSS under 40 MB; overhead per
// instance - the agent's whole RSS divided by N (stricter than its growth), plus the mean shim PSS
// - under 1.5 MB; the agent's idle CPU under 1% of a core. Exit status 0 when all are met.

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/agent/support/fixtures.hpp"
#include "tests/cli/support/port_slot.hpp"

namespace {

namespace stdfs = std::filesystem;
namespace at = baton::agent::testing;
using Clock = std::chrono::steady_clock;

constexpr double kAgentRssGoalKiB = 40 * 1024;
constexpr double kPerInstanceGoalKiB = 1.5 * 1024;
constexpr double kIdleCpuGoalPercent = 1.0;

// KiB from /proc/<pid>/smaps_rollup ("Pss:", "Rss:").
struct Memory {
  long pss = 0;
  long rss = 0;
};
Memory memory_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  Memory memory;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    long value = 0;
    if (!(fields >> key >> value)) continue;
    if (key == "Pss:") memory.pss = value;
    if (key == "Rss:") memory.rss = value;
  }
  return memory;
}

struct Stat {
  pid_t ppid = 0;
  std::string comm;
  long ticks = 0;  // utime + stime
};
Stat stat_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  Stat stat;
  auto open = text.find('(');
  auto close = text.rfind(')');
  if (open == std::string::npos || close == std::string::npos) return stat;
  stat.comm = text.substr(open + 1, close - open - 1);
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  std::vector<std::string> fields;
  while (rest >> field)
    fields.push_back(field);
  // Fields from 3 (state) on: ppid is 4, utime 14, stime 15.
  if (fields.size() > 13) {
    stat.ppid = std::atoi(fields[1].c_str());
    stat.ticks = std::atol(fields[11].c_str()) + std::atol(fields[12].c_str());
  }
  return stat;
}

std::vector<pid_t> children_of(pid_t parent, const std::string& comm) {
  std::vector<pid_t> found;
  for (const auto& entry : stdfs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = std::atoi(name.c_str());
    Stat stat = stat_of(pid);
    if (stat.ppid == parent && (comm.empty() || stat.comm == comm)) found.push_back(pid);
  }
  return found;
}

long ticks_of(const std::vector<pid_t>& pids) {
  long total = 0;
  for (pid_t pid : pids)
    total += stat_of(pid).ticks;
  return total;
}

// Percent of one core used by `pids` over `seconds`.
double idle_cpu(const std::vector<pid_t>& pids, double seconds) {
  long before = ticks_of(pids);
  auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  long after = ticks_of(pids);
  return 100.0 * static_cast<double>(after - before) / static_cast<double>(::sysconf(_SC_CLK_TCK)) /
         elapsed;
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

}  // namespace

int main(int argc, char** argv) {
  int count = 500;
  double idle_seconds = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--count") count = std::atoi(argv[i + 1]);
    if (flag == "--idle-seconds") idle_seconds = std::atof(argv[i + 1]);
  }
  rlimit files_limit{};
  ::getrlimit(RLIMIT_NOFILE, &files_limit);
  files_limit.rlim_cur = files_limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &files_limit);

  at::TestCore core;
  at::Scratch scratch;
  std::string name = at::unique_agent_name("memory-bench");
  int first_port = baton::testing::reserved_port_slot();
  at::AgentProcess agent({"--name",
                          name,
                          "--core",
                          core.url(),
                          "--data",
                          (scratch.path() / "data").string(),
                          "--address",
                          "127.0.0.1",
                          "--api-bind",
                          "127.0.0.1",
                          "--api-port",
                          "0",
                          "--status-port",
                          "0",
                          "--locator-port",
                          "0",
                          "--roles",
                          "web",
                          "--ports",
                          std::to_string(first_port) + "-" +
                              std::to_string(first_port + baton::testing::kPortSlotSize - 1),
                          "--cpus",
                          std::to_string(count),
                          "--memory",
                          std::to_string(count) + "G",
                          "--log-level",
                          "warn"},
                         scratch.path() / "agent.log");
  if (!at::eventually([&] { return core.registration(name).has_value(); })) {
    std::fprintf(stderr, "baton-agent did not register:\n%s\n", agent.log().c_str());
    return 2;
  }
  // The baseline: the agent with nothing to run, settled.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  Memory agent_empty = memory_of(agent.pid());
  double agent_empty_cpu = idle_cpu({agent.pid()}, idle_seconds);

  std::string conf = at::testcomponent_conf("idle", {"--listen-env", "WEB", "--sleep"},
                                            "web { bind-protocol = \"http\", bind-port = 0 }");
  at::TestBundle bundle = at::make_bundle(scratch.path(), "idle", conf);
  core.add_file(bundle.digest, bundle.zip);
  std::vector<baton::protocol::AssignedInstance> instances;
  for (int i = 0; i < count; ++i)
    instances.push_back(at::assigned("idle" + std::to_string(i), bundle));
  auto start = Clock::now();
  core.assign(name, instances);
  auto started = [&] {
    int n = 0;
    for (const auto& status : core.statuses(name))
      n += status.state == baton::protocol::InstanceState::started;
    return n;
  };
  if (!at::eventually([&] { return started() == count; }, std::chrono::seconds(600))) {
    std::fprintf(stderr, "only %d of %d instances started\n", started(), count);
    return 2;
  }
  double start_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::this_thread::sleep_for(std::chrono::seconds(3));  // settle: readiness polls, reports

  std::vector<pid_t> shims = children_of(agent.pid(), "baton-shim");
  double agent_cpu = idle_cpu({agent.pid()}, idle_seconds);
  double shims_cpu = idle_cpu(shims, idle_seconds);
  // Memory once idle (after the CPU windows): what 500 running instances cost for as long as
  // they run, not the transient of their start.
  Memory agent_full = memory_of(agent.pid());
  long shim_pss = 0;
  long component_pss = 0;
  for (pid_t shim : shims) {
    shim_pss += memory_of(shim).pss;
    for (pid_t component : children_of(shim, ""))
      component_pss += memory_of(component).pss;
  }
  double per_instance_growth = static_cast<double>(agent_full.rss - agent_empty.rss) / count +
                               static_cast<double>(shim_pss) / static_cast<double>(shims.size());
  double per_instance = static_cast<double>(agent_full.rss) / count +
                        static_cast<double>(shim_pss) / static_cast<double>(shims.size());
  bool rss_met = agent_full.rss < kAgentRssGoalKiB;
  bool per_instance_met = per_instance < kPerInstanceGoalKiB;
  bool cpu_met = agent_cpu < kIdleCpuGoalPercent;

  std::printf(
      "baton-agent with %d started instances (%zu shims; all started in %.1f s), "
      "load average %s\n",
      count, shims.size(), start_seconds, load_average().c_str());
  std::printf(
      "  agent RSS:      %6.1f MiB with none (baseline) -> %6.1f MiB with %d | goal < 40 MiB: "
      "%s (%.2fx the goal)\n",
      agent_empty.rss / 1024.0, agent_full.rss / 1024.0, count, rss_met ? "met" : "NOT met",
      agent_full.rss / kAgentRssGoalKiB);
  std::printf("  agent PSS:      %6.1f MiB -> %6.1f MiB\n", agent_empty.pss / 1024.0,
              agent_full.pss / 1024.0);
  std::printf("  shims:          PSS %.1f KiB each on average (%.1f MiB in all)\n",
              static_cast<double>(shim_pss) / static_cast<double>(shims.size()), shim_pss / 1024.0);
  std::printf("  components:     PSS %.1f KiB each on average (not overhead, for scale)\n",
              static_cast<double>(component_pss) / static_cast<double>(shims.size()));
  std::printf(
      "  per instance:   %.1f KiB (agent RSS / %d + shim PSS) | growth only %.1f KiB |"
      " goal < 1536 KiB: %s (%.2fx the goal)\n",
      per_instance, count, per_instance_growth, per_instance_met ? "met" : "NOT met",
      per_instance / kPerInstanceGoalKiB);
  std::printf(
      "  idle CPU:       agent %.2f%% of a core with none (baseline) -> %.2f%% with %d"
      " | goal < 1%%: %s; all shims together %.2f%% (over %.0f s each)\n",
      agent_empty_cpu, agent_cpu, count, cpu_met ? "met" : "NOT met", shims_cpu, idle_seconds);

  core.assign(name, {});
  at::eventually([&] { return core.statuses(name).empty(); }, std::chrono::seconds(300));
  return rss_met && per_instance_met && cpu_met ? 0 : 1;
}
