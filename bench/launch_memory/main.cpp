// Memory per idle launch of the universal runtime: N launches of an idle component (it prints a
// line, then sleeps), then the PSS of every shim (/proc/<pid>/smaps_rollup) and the growth of
// this process (the runtime's share, as in the agent). Run: build/bench/launch_memory_bench [N]
// (default 500).

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/files.hpp"
#include "runtimes/universal/universal.hpp"

namespace {

namespace stdfs = std::filesystem;
using namespace baton;

class Host : public runtimes::RuntimeHost {
 public:
  void exited(const std::string&, runtimes::ExitStatus) override { ++exits; }
  void log(runtimes::LogLevel, std::string_view message) override {
    std::fprintf(stderr, "runtime: %.*s\n", static_cast<int>(message.size()), message.data());
  }
  std::atomic<int> exits{0};
};

// "Pss:" and "Rss:" of /proc/<pid>/smaps_rollup in KiB.
struct Memory {
  long pss = 0;
  long rss = 0;
};
Memory memory_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
  Memory memory;
  std::string key;
  long value = 0;
  std::string unit;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    if (!(fields >> key >> value >> unit)) continue;
    if (key == "Pss:") memory.pss = value;
    if (key == "Rss:") memory.rss = value;
  }
  return memory;
}

}  // namespace

int main(int argc, char** argv) {
  int count = argc > 1 ? std::atoi(argv[1]) : 500;
  rlimit files_limit{};
  ::getrlimit(RLIMIT_NOFILE, &files_limit);
  files_limit.rlim_cur = files_limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &files_limit);

  stdfs::path bin = stdfs::read_symlink("/proc/self/exe").parent_path().parent_path() / "bin";
  stdfs::path component = bin / "baton-testcomponent";
  Host host;
  runtimes::universal::Options options;
  options.shim = bin / "baton-shim";
  auto runtime = runtimes::universal::make_runtime(host, options);
  auto root = files::TempFolder::create(stdfs::temp_directory_path(), "baton-bench-");
  if (!root) return 1;
  // One launch first, so one-time allocations (thread stack, maps) do not count as growth.
  std::vector<runtimes::Launch> launches;
  for (int i = 0; i <= count; ++i) {
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
    launches.push_back(std::move(launch));
  }
  std::vector<pid_t> shims;
  auto start = [&](const runtimes::Launch& launch) {
    auto handle = runtime->start(launch);
    if (!handle) {
      std::fprintf(stderr, "start failed: %s\n", handle.error().message.c_str());
      std::exit(1);
    }
    shims.push_back(nlohmann::json::parse(handle->state).at("shimPid").get<pid_t>());
  };
  start(launches.front());
  Memory before = memory_of(::getpid());
  for (int i = 1; i <= count; ++i)
    start(launches[static_cast<std::size_t>(i)]);
  // Idle means set up: every component has written its first line through its shim.
  for (const auto& launch : launches) {
    stdfs::path log = launch.log_dir / "web.log";
    for (int tries = 0; tries < 2000; ++tries) {
      std::error_code error;
      if (stdfs::file_size(log, error) > 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  Memory after = memory_of(::getpid());
  long shim_pss = 0;
  long shim_rss = 0;
  for (std::size_t i = 1; i < shims.size(); ++i) {
    Memory shim = memory_of(shims[i]);
    shim_pss += shim.pss;
    shim_rss += shim.rss;
  }
  Memory one = memory_of(shims.back());
  double per_shim = static_cast<double>(shim_pss) / count;
  double runtime_growth = static_cast<double>(after.pss - before.pss) / count;
  std::printf("idle launches:          %d (cgroup=%s)\n", count,
              runtime->probe().attributes["cgroup"].c_str());
  std::printf("one idle shim:          Rss %ld KiB, Pss %ld KiB\n", one.rss, one.pss);
  std::printf("all shims:              Pss %ld KiB total, %.1f KiB per launch (Rss %.1f KiB)\n",
              shim_pss, per_shim, static_cast<double>(shim_rss) / count);
  std::printf("runtime (this process): Pss %ld -> %ld KiB, %.1f KiB per launch\n", before.pss,
              after.pss, runtime_growth);
  std::printf("per-instance overhead:  %.1f KiB (goal < 1536 KiB)\n", per_shim + runtime_growth);

  for (const auto& launch : launches)
    (void)runtime->destroy(launch.id);
  return 0;
}
