// Start latency: what starting an instance costs over a bare posix_spawn of the same program
// (baton-testcomponent --sleep), interleaved one against the other in the same run, median of N.
//   ninja -C build start_latency_bench && build/bench/start_latency_bench [--count 200]
//       [--modes agent,cgroups,plain,unified]
// Modes:
// - `agent` (the goal's figure): the agent library in-process with the real universal runtime,
//   registered with the agent tests' core double (tests/agent/support). Timed from the core's
//   assignment (TestCore::assign answers the agent's long poll) to the agent's own "started"
//   (AgentOptions::on_ready): delivery of the assignment, bundle cache lookup, bundle.conf parse,
//   instance folder, a dynamic port (bind-checked), the notify socket, the environment, the
//   instance record, baton-shim spawned and the component exec'd. The bundle declares
//   `readiness.check = none` (no readiness wait). The bundle is extracted by a warm-up start.
//   Goal: median at most 2 ms over the bare posix_spawn median.
// Every mode times two Baton variants against the same bare spawns, rotating who goes first: a
// baton-shim spawned per start (`spare_shims = 0`) and a pre-started spare shim (the default).
// - `cgroups`, `plain`, `unified`: the universal runtime's start() alone (until the Handle
//   returns, i.e. the component has exec'd) - with cgroups detected as the agent would, without
//   cgroups, and cgroup v2 on a hybrid host's /sys/fs/cgroup/unified.
// A posix_spawn returns once the child has exec'd (glibc waits for the exec), as both Baton
// paths do. Exit status 0 when the agent mode meets its goal (or was not run), 1 otherwise.

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/files.hpp"
#include "runtimes/universal/universal.hpp"
#include "tests/agent/support/fixtures.hpp"

extern char** environ;

namespace {

namespace stdfs = std::filesystem;
using namespace baton;
using Clock = std::chrono::steady_clock;

constexpr double kGoalMicros = 2000;

class Host : public runtimes::RuntimeHost {
 public:
  void exited(const std::string&, runtimes::ExitStatus) override {}
  void log(runtimes::LogLevel, std::string_view message) override {
    std::fprintf(stderr, "runtime: %.*s\n", static_cast<int>(message.size()), message.data());
  }
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  std::size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<std::size_t>(p * values.size()))];
}

// "1.23 0.98 0.70": the load averages, stated beside every figure.
std::string load_average() {
  auto text = files::read("/proc/loadavg", 256);
  if (!text) return "?";
  std::size_t end = 0;
  for (int fields = 0; fields < 3 && end != std::string::npos; ++fields)
    end = text->find(' ', end + (fields > 0 ? 1 : 0));
  return text->substr(0, end);
}

double micros_since(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

// posix_spawn of `argv` (until it returns: the child has exec'd), then SIGKILL and reap (untimed).
double bare_spawn(std::vector<std::string> arguments) {
  std::vector<char*> argv;
  for (auto& argument : arguments)
    argv.push_back(argument.data());
  argv.push_back(nullptr);
  auto start = Clock::now();
  pid_t pid = 0;
  if (::posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) {
    std::fprintf(stderr, "posix_spawn %s failed\n", argv[0]);
    std::exit(2);
  }
  double elapsed = micros_since(start);
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  return elapsed;
}

void report(const char* mode, const std::string& detail, const std::vector<double>& bare,
            const std::vector<double>& baton) {
  double bare_median = median(bare);
  double baton_median = median(baton);
  std::printf(
      "%-8s %s\n  bare posix_spawn median %6.0f us | baton median %6.0f us (p90 %6.0f) | "
      "difference %6.0f us | ratio %.2f (%zu each)\n",
      mode, detail.c_str(), bare_median, baton_median, percentile(baton, 0.9),
      baton_median - bare_median, baton_median / bare_median, baton.size());
}

// The universal runtime's start() alone, a runtime with a spare shim and one without, alternating.
int run_runtime(const stdfs::path& component, int count, const std::string& mode) {
  Host host;
  auto make = [&](std::size_t spares) {
    runtimes::universal::Options options;
    options.shim = component.parent_path() / "baton-shim";
    options.use_cgroups = mode != "plain";
    options.spare_shims = spares;
    if (mode == "unified") {
      options.cgroup_layout = runtimes::universal::CgroupLayout{2, {}, "/sys/fs/cgroup/unified"};
    }
    return runtimes::universal::make_runtime(host, options);
  };
  if (mode == "unified" && !stdfs::exists("/sys/fs/cgroup/unified/cgroup.procs")) return 0;
  auto spawned = make(0);
  auto spare = make(1);
  auto probe = spare->probe();
  if (!probe.available) {
    std::fprintf(stderr, "universal runtime unavailable: %s\n", probe.reason.c_str());
    return 2;
  }
  auto root = files::TempFolder::create(stdfs::temp_directory_path(), "baton-bench-");
  if (!root) return 2;
  auto start_one = [&](runtimes::Runtime& runtime, int i) -> double {
    runtimes::Launch launch;
    launch.instance_id = std::to_string(1000000 + i);
    launch.component = "web";
    launch.id = launch.instance_id + ".web";
    launch.agent_name = "bench-" + std::to_string(::getpid());
    launch.bundle_root = root->path();
    stdfs::path folder = root->path() / launch.instance_id;
    launch.work_dir = folder / "work";
    launch.log_dir = folder / "logs";
    launch.state_dir = folder / "state";
    launch.command = {component.string(), "--sleep"};
    launch.environment = {{"PATH", "/usr/bin:/bin"}};
    auto start = Clock::now();
    auto handle = runtime.start(launch);
    double elapsed = micros_since(start);
    if (!handle) {
      std::fprintf(stderr, "start failed: %s\n", handle.error().message.c_str());
      std::exit(2);
    }
    (void)runtime.destroy(launch.id);
    // The spare is replaced in the background: let that finish (untimed), as between starts.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return elapsed;
  };
  std::vector<double> bare;
  std::vector<double> with_spawn;
  std::vector<double> with_spare;
  for (int i = 0; i < count; ++i) {
    // Rotate who goes first.
    for (int turn = 0; turn < 3; ++turn) {
      switch ((i + turn) % 3) {
        case 0:
          bare.push_back(bare_spawn({component.string(), "--sleep"}));
          break;
        case 1:
          with_spawn.push_back(start_one(*spawned, 2 * i));
          break;
        default:
          with_spare.push_back(start_one(*spare, 2 * i + 1));
          break;
      }
    }
  }
  std::string cgroup = "cgroup=" + probe.attributes["cgroup"];
  report(mode.c_str(), "runtime start() only, shim spawned per start, " + cgroup, bare, with_spawn);
  report(mode.c_str(), "runtime start() only, spare shim, " + cgroup, bare, with_spare);
  return 0;
}

// The agent's whole instance start path, from the core's assignment to "started": two agents
// on one test core, one spawning a shim per start and one with a spare shim, alternating.
int run_agent(const stdfs::path& component, int count) {
  namespace at = agent::testing;
  at::TestCore core;
  at::Scratch scratch;
  std::mutex mutex;
  std::condition_variable ready_changed;
  std::map<std::string, Clock::time_point> ready_at;
  auto on_ready = [&](agent::AgentOptions& options) {
    options.on_ready = [&](const std::string& id) {
      auto now = Clock::now();
      std::lock_guard lock(mutex);
      ready_at[id] = now;
      ready_changed.notify_all();
    };
  };
  auto spares = [](std::size_t count) {
    return [count](runtimes::universal::Options& options) { options.spare_shims = count; };
  };
  at::InProcessAgent spawning(core, scratch.path() / "spawning",
                              at::unique_agent_name("start-bench"), on_ready, spares(0));
  at::InProcessAgent spare(core, scratch.path() / "spare", at::unique_agent_name("start-bench"),
                           on_ready, spares(1));
  for (auto* agent : {&spawning, &spare}) {
    if (auto started = agent->start(); !started) {
      std::fprintf(stderr, "agent: %s\n", started.error().message.c_str());
      return 2;
    }
    if (!at::eventually([&] { return agent->agent().registered(); })) {
      std::fprintf(stderr, "the agent did not register\n");
      return 2;
    }
  }
  std::string conf = at::testcomponent_conf("trivial", {"--sleep"},
                                            "web { bind-protocol = \"http\", bind-port = 0 }",
                                            "readiness { check = none }");
  at::TestBundle bundle = at::make_bundle(scratch.path(), "trivial", conf);
  core.add_file(bundle.digest, bundle.zip);

  auto start_one = [&](at::InProcessAgent& agent, const std::string& id) -> double {
    auto start = Clock::now();
    core.assign(agent.name(), {at::assigned(id, bundle)});
    std::unique_lock lock(mutex);
    if (!ready_changed.wait_for(lock, std::chrono::seconds(30),
                                [&] { return ready_at.count(id) > 0; })) {
      std::fprintf(stderr, "instance %s did not start\n", id.c_str());
      std::exit(2);
    }
    double elapsed = std::chrono::duration<double, std::micro>(ready_at[id] - start).count();
    lock.unlock();
    // Removed before the next one (untimed): the agent stops, destroys and deletes it.
    core.assign(agent.name(), {});
    if (!at::eventually([&] { return agent.agent().instances().empty(); })) {
      std::fprintf(stderr, "instance %s was not removed\n", id.c_str());
      std::exit(2);
    }
    return elapsed;
  };
  for (int i = 0; i < 5; ++i) {  // warm-up: extraction, first allocations
    start_one(spawning, "warm" + std::to_string(2 * i));
    start_one(spare, "warm" + std::to_string(2 * i + 1));
  }
  std::vector<double> bare;
  std::vector<double> with_spawn;
  std::vector<double> with_spare;
  for (int i = 0; i < count; ++i) {
    // Rotate who goes first, so none always follows another's clean-up.
    for (int turn = 0; turn < 3; ++turn) {
      switch ((i + turn) % 3) {
        case 0:
          bare.push_back(bare_spawn({component.string(), "--sleep"}));
          break;
        case 1:
          with_spawn.push_back(start_one(spawning, "bench" + std::to_string(2 * i)));
          break;
        default:
          with_spare.push_back(start_one(spare, "bench" + std::to_string(2 * i + 1)));
          break;
      }
    }
  }
  spawning.stop();
  spare.stop();
  report("agent", "assignment -> started (whole agent path, readiness none), shim spawned", bare,
         with_spawn);
  report("agent", "assignment -> started (whole agent path, readiness none), spare shim", bare,
         with_spare);
  double difference = median(with_spare) - median(bare);
  bool met = difference <= kGoalMicros;
  std::printf(
      "  goal (spare shim, the default): at most %.0f us over bare posix_spawn: %s "
      "(%.2fx the allowance)\n",
      kGoalMicros, met ? "met" : "NOT met", difference / kGoalMicros);
  return met ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  int count = 200;
  std::string modes = "agent,cgroups,plain,unified";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--count") count = std::atoi(argv[i + 1]);
    if (flag == "--modes") modes = argv[i + 1];
  }
  ::signal(SIGPIPE, SIG_IGN);
  stdfs::path component = agent::testing::testcomponent();
  std::printf("component %s --sleep, %d starts each, load average %s\n", component.c_str(), count,
              load_average().c_str());
  int status = 0;
  if (modes.find("agent") != std::string::npos)
    status = std::max(status, run_agent(component, count));
  for (const std::string mode : {"cgroups", "plain", "unified"}) {
    if (modes.find(mode) != std::string::npos)
      status = std::max(status, run_runtime(component, count, mode));
  }
  return status;
}
