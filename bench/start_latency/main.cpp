// Start latency of the universal runtime: start() of a trivial launch (until the Handle returns,
// i.e. the component has exec'd) against a bare posix_spawn of the same program, interleaved,
// median of N each. Run: build/bench/start_latency_bench [program] [count] [modes]
// (default /bin/true 200 cgroups,plain,unified): `cgroups` detected as the agent would, `plain`
// without cgroups, `unified` cgroup v2 on a hybrid host's /sys/fs/cgroup/unified (no controllers,
// but the same clone-into-cgroup path as on a pure v2 host).

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/files.hpp"
#include "runtimes/universal/universal.hpp"

extern char** environ;

namespace {

namespace stdfs = std::filesystem;
using namespace baton;
using Clock = std::chrono::steady_clock;

class Host : public runtimes::RuntimeHost {
 public:
  void exited(const std::string&, runtimes::ExitStatus) override {}
  void log(runtimes::LogLevel, std::string_view message) override {
    std::fprintf(stderr, "runtime: %.*s\n", static_cast<int>(message.size()), message.data());
  }
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

double micros_since(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

int run(const std::string& program, int count, const std::string& mode) {
  Host host;
  runtimes::universal::Options options;
  options.shim =
      stdfs::read_symlink("/proc/self/exe").parent_path().parent_path() / "bin" / "baton-shim";
  options.use_cgroups = mode != "plain";
  if (mode == "unified") {
    if (!stdfs::exists("/sys/fs/cgroup/unified/cgroup.procs")) return 0;  // not a hybrid host
    options.cgroup_layout = runtimes::universal::CgroupLayout{2, {}, "/sys/fs/cgroup/unified"};
  }
  auto runtime = runtimes::universal::make_runtime(host, options);
  auto probe = runtime->probe();
  if (!probe.available) {
    std::fprintf(stderr, "universal runtime unavailable: %s\n", probe.reason.c_str());
    return 1;
  }
  auto root = files::TempFolder::create(stdfs::temp_directory_path(), "baton-bench-");
  if (!root) return 1;
  std::vector<double> bare;
  std::vector<double> universal;
  char* argv[] = {const_cast<char*>(program.c_str()), nullptr};
  for (int i = 0; i < count; ++i) {
    auto start = Clock::now();
    pid_t pid = 0;
    if (::posix_spawn(&pid, program.c_str(), nullptr, nullptr, argv, environ) != 0) {
      std::fprintf(stderr, "posix_spawn %s failed\n", program.c_str());
      return 1;
    }
    bare.push_back(micros_since(start));
    ::waitpid(pid, nullptr, 0);

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
    launch.command = {program};
    launch.environment = {{"PATH", "/usr/bin:/bin"}};
    start = Clock::now();
    auto handle = runtime->start(launch);
    double elapsed = micros_since(start);
    if (!handle) {
      std::fprintf(stderr, "start failed: %s\n", handle.error().message.c_str());
      return 1;
    }
    universal.push_back(elapsed);
    (void)runtime->destroy(launch.id);
  }
  double bare_median = median(bare);
  double universal_median = median(universal);
  std::printf(
      "%-9s cgroup=%-4s  bare posix_spawn median %7.0f us | universal start median %7.0f us"
      " | difference %7.0f us (%d each, %s)\n",
      mode.c_str(), probe.attributes["cgroup"].c_str(), bare_median, universal_median,
      universal_median - bare_median, count, program.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string program = argc > 1 ? argv[1] : "/bin/true";
  int count = argc > 2 ? std::atoi(argv[2]) : 200;
  std::string modes = argc > 3 ? argv[3] : "cgroups,plain,unified";
  int failed = 0;
  for (const std::string mode : {"cgroups", "plain", "unified"}) {
    if (modes.find(mode) != std::string::npos) failed |= run(program, count, mode);
  }
  return failed;
}
