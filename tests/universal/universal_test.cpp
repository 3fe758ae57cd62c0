#include "runtimes/universal/universal.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <algorithm>
#include <atomic>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/files.hpp"
#include "common/text.hpp"
#include "runtimes/universal/cgroup.hpp"
#include "runtimes/universal/program.hpp"
#include "tests/universal/harness.hpp"

namespace baton::runtimes::universal {
namespace {

using namespace baton::testing;

struct ShimInfo {
  pid_t shim = 0;
  pid_t pid = 0;
};

ShimInfo info_of(const Handle& handle) {
  auto state = nlohmann::json::parse(handle.state);
  return ShimInfo{state.at("shimPid").get<pid_t>(), handle.pid};
}

std::vector<std::string> stdout_lines(const std::string& log) {
  std::vector<std::string> lines;
  for (const auto& line : text::split(log, '\n')) {
    if (line.size() > 35 && line.compare(28, 7, "stdout ") == 0) lines.push_back(line.substr(35));
  }
  return lines;
}

// Pids the test component printed as "<prefix> <pid>".
std::vector<pid_t> printed_pids(const std::string& log, const std::string& prefix) {
  std::vector<pid_t> pids;
  for (const auto& line : stdout_lines(log)) {
    if (line.rfind(prefix + " ", 0) == 0) pids.push_back(std::stoi(line.substr(prefix.size() + 1)));
  }
  return pids;
}

class UniversalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto folder = files::TempFolder::create(stdfs::temp_directory_path(), "baton-universal-");
    ASSERT_TRUE(folder.ok());
    root_ = std::move(folder).value();
    bundle_ = root_.path() / "bundle";
    stdfs::create_directories(bundle_ / "bin");
    stdfs::create_symlink(test_component(), bundle_ / "bin" / "component");
    ASSERT_TRUE(files::write_atomic(bundle_ / "bin" / "not-executable", "#!/bin/sh\n").ok());
    ASSERT_TRUE(files::write_atomic(bundle_ / "bin" / "garbage",
                                    "\x7f"
                                    "ELF nonsense",
                                    stdfs::perms(0755))
                    .ok());
    agent_ = "test-" + std::to_string(::getpid());
  }

  void TearDown() override {
    // Whatever a test left running goes, so no test leaks processes into the next.
    for (const auto& id : started_) {
      if (runtime_) (void)runtime_->destroy(id);
    }
    runtime_.reset();
    auto layout = detect_cgroup_layout();
    std::set<stdfs::path> hierarchies;
    for (const auto& [controller, mount] : layout.v1)
      hierarchies.insert(mount);
    if (!layout.v2.empty()) hierarchies.insert(layout.v2);
    for (const auto& hierarchy : hierarchies)
      ::rmdir((hierarchy / "baton" / agent_).c_str());
    ::rmdir("/sys/fs/cgroup/unified/baton-test");
  }

  Options options() {
    Options options;
    options.shim = shim_binary();
    return options;
  }
  Runtime& make(Options options) {
    runtime_ = make_runtime(host_, std::move(options));
    return *runtime_;
  }
  Runtime& make() { return make(options()); }

  Launch launch(const std::string& component, std::vector<std::string> args,
                std::string instance = "") {
    if (instance.empty()) instance = random_hex(16);
    Launch launch;
    launch.instance_id = instance;
    launch.component = component;
    launch.id = instance + "." + component;
    launch.bundle_id = "abf60451c6af18adcc851d67b369b7f5";
    launch.agent_name = agent_;
    launch.bundle_root = bundle_;
    stdfs::path folder = root_.path() / "instances" / instance;
    launch.work_dir = folder / "work";
    launch.log_dir = folder / "logs";
    launch.state_dir = folder / "state" / component;
    launch.command = {"bin/component"};
    launch.command.insert(launch.command.end(), args.begin(), args.end());
    launch.environment = {{"PATH", "/usr/local/bin:/usr/bin:/bin"},
                          {"BUNDLE_ID", launch.bundle_id}};
    return launch;
  }

  Handle start(const Launch& launch) {
    auto handle = runtime_->start(launch);
    EXPECT_TRUE(handle.ok()) << handle.error().message;
    if (!handle.ok()) return {};
    started_.push_back(launch.id);
    return *handle;
  }

  static std::string log_of(const Launch& launch) {
    return read_text(launch.log_dir / (launch.component + ".log"));
  }
  static bool logged(const Launch& launch, const std::string& line) {
    auto lines = stdout_lines(log_of(launch));
    return std::find(lines.begin(), lines.end(), line) != lines.end();
  }

  bool cgroups_usable(const Options& options) {
    Cgroups cgroups(options.cgroup_layout ? *options.cgroup_layout : detect_cgroup_layout(),
                    "baton", 0);
    if (!cgroups.usable()) {
      std::fprintf(stderr, "\n*** SKIPPED: cgroups are not usable here: %s ***\n\n",
                   cgroups.reason().c_str());
    }
    return cgroups.usable();
  }

  files::TempFolder root_ = files::TempFolder::create("/tmp", "baton-unused-").value();
  stdfs::path bundle_;
  std::string agent_;
  FakeHost host_;
  FakeHost restarted_host_;  // the host of a runtime made after a simulated agent crash
  RuntimePtr runtime_;
  std::vector<std::string> started_;
};

TEST_F(UniversalTest, ProbeReportsCgroupVersionAndLimits) {
  auto& runtime = make();
  EXPECT_EQ(runtime.name(), "universal");
  auto probe = runtime.probe();
  EXPECT_TRUE(probe.available) << probe.reason;
  ASSERT_TRUE(probe.attributes.contains("cgroup"));
  EXPECT_TRUE(probe.attributes["cgroup"] == "v1" || probe.attributes["cgroup"] == "v2" ||
              probe.attributes["cgroup"] == "none");
  EXPECT_TRUE(probe.attributes.contains("limits"));

  Options off = options();
  off.use_cgroups = false;
  auto& plain = make(off);
  EXPECT_EQ(plain.probe().attributes["cgroup"], "none");
  EXPECT_EQ(plain.probe().attributes["limits"], "not enforced");

  Options missing = options();
  missing.shim = root_.path() / "no-shim";
  EXPECT_FALSE(make(missing).probe().available);

  BundleContent content{"digest", bundle_, nullptr};
  EXPECT_TRUE(runtime_->prepare(content).ok());
  content.root = root_.path() / "absent";
  auto refused = runtime_->prepare(content);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("absent"), std::string::npos);
}

TEST_F(UniversalTest, ReportsExitCodesAndSignals) {
  make();
  auto code = launch("web", {"--exit", "3"});
  auto crash = launch("worker", {"--crash"});
  Handle handle = start(code);
  EXPECT_GT(handle.pid, 0);
  start(crash);
  auto exited = host_.wait_exit(code.id);
  ASSERT_TRUE(exited);
  EXPECT_EQ(exited->code, 3);
  EXPECT_EQ(exited->signal, 0);
  EXPECT_FALSE(exited->oom_killed);
  EXPECT_EQ(exited->message, "exited with code 3");
  auto crashed = host_.wait_exit(crash.id);
  ASSERT_TRUE(crashed);
  EXPECT_EQ(crashed->code, -1);
  EXPECT_EQ(crashed->signal, SIGABRT);
  EXPECT_EQ(crashed->message, "killed by SIGABRT");
  // The exit is recorded before it is reported.
  EXPECT_EQ(read_text(code.state_dir / "exit"), "3 0 0\n");
  EXPECT_TRUE(logged(code, "ready"));
  // Exactly once, also across a later destroy.
  ASSERT_TRUE(runtime_->destroy(code.id).ok());
  EXPECT_EQ(host_.exit_count(code.id), 1u);
  EXPECT_FALSE(stdfs::exists(code.state_dir));
  EXPECT_TRUE(stdfs::exists(code.log_dir / "web.log"));  // logs outlive the launch
}

TEST_F(UniversalTest, ExecFailuresNameTheProgramAndLeaveNothing) {
  make();
  auto expect_refused = [&](std::vector<std::string> command, Errc code,
                            const std::string& message) {
    auto refused = launch("web", {});
    refused.command = std::move(command);
    auto result = runtime_->start(refused);
    ASSERT_FALSE(result.ok()) << refused.command.front();
    EXPECT_EQ(result.error().code, code) << result.error().message;
    EXPECT_EQ(result.error().message, message);
    EXPECT_FALSE(stdfs::exists(refused.state_dir)) << "left " << refused.state_dir;
    auto cgroup = Cgroups(detect_cgroup_layout(), "baton", 0).paths(refused);
    for (const auto& leaf : cgroup.leaves)
      EXPECT_FALSE(stdfs::exists(leaf)) << "left " << leaf;
  };
  expect_refused({"bin/missing"}, Errc::not_found,
                 "start-command bin/missing: no such file in the bundle (" +
                     (bundle_ / "bin/missing").string() + ")");
  expect_refused({"bin/not-executable"}, Errc::invalid,
                 "start-command bin/not-executable: not executable (" +
                     (bundle_ / "bin/not-executable").string() + ")");
  expect_refused({"bin"}, Errc::not_found,
                 "start-command bin: not found in PATH (/usr/local/bin:/usr/bin:/bin)");
  expect_refused(
      {"../outside"}, Errc::invalid,
      "start-command ../outside: leaves the bundle (" + (bundle_ / "../outside").string() + ")");
  expect_refused({"bin/../../etc/passwd"}, Errc::invalid,
                 "start-command bin/../../etc/passwd: leaves the bundle (" +
                     (bundle_ / "bin/../../etc/passwd").string() + ")");
  expect_refused({"no-such-program-anywhere"}, Errc::not_found,
                 "start-command no-such-program-anywhere: not found in PATH "
                 "(/usr/local/bin:/usr/bin:/bin)");
  expect_refused({"/nonexistent/tool"}, Errc::not_found,
                 "start-command /nonexistent/tool: no such file (/nonexistent/tool)");
  // The shim's own exec failure (the file passes the checks, the kernel refuses it).
  expect_refused({"bin/garbage"}, Errc::invalid,
                 "start-command bin/garbage: exec " + (bundle_ / "bin/garbage").string() +
                     ": Exec format error");
  EXPECT_EQ(host_.total_exits(), 0u);

  // A bare name is looked up in the launch's PATH; absolute paths are the host's.
  auto shell = launch("web", {});
  shell.command = {"sh", "-c", "pwd; exit 4"};
  start(shell);
  auto exited = host_.wait_exit(shell.id);
  ASSERT_TRUE(exited);
  EXPECT_EQ(exited->code, 4);
  EXPECT_TRUE(logged(shell, shell.work_dir.string()));  // runs in its work folder
  auto absolute = launch("worker", {});
  absolute.command = {test_component().string(), "--exit", "0"};
  start(absolute);
  ASSERT_TRUE(host_.wait_exit(absolute.id));
  EXPECT_EQ(host_.wait_exit(absolute.id)->code, 0);
}

TEST_F(UniversalTest, PassesTheEnvironmentUnchanged) {
  make();
  auto env = launch("web", {"--print-env", "--exit", "0"});
  env.environment.emplace_back("SPACED", "two words = three");
  env.notify_socket = root_.path() / "notify.sock";
  start(env);
  ASSERT_TRUE(host_.wait_exit(env.id));
  auto lines = stdout_lines(log_of(env));
  auto ready = std::find(lines.begin(), lines.end(), "ready");
  std::vector<std::string> printed(lines.begin(), ready);
  std::vector<std::string> expected;
  for (const auto& [key, value] : env.environment)
    expected.push_back(key + "=" + value);
  expected.push_back("NOTIFY_SOCKET=" + env.notify_socket.string());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(printed, expected);
}

TEST_F(UniversalTest, StopSendsTheSignal) {
  make();
  auto web = launch("web", {"--sleep"});
  start(web);
  ASSERT_TRUE(wait_until([&] { return logged(web, "ready"); }));
  ASSERT_TRUE(runtime_->stop(web.id, SIGTERM, 30s).ok());
  auto exited = host_.wait_exit(web.id);
  ASSERT_TRUE(exited);
  EXPECT_EQ(exited->signal, SIGTERM);
  EXPECT_EQ(exited->message, "killed by SIGTERM");
  EXPECT_TRUE(runtime_->stop(web.id, SIGTERM, 1s).ok());  // after the exit: nothing to do
  EXPECT_TRUE(runtime_->stop("unknown.web", SIGTERM, 1s).ok());
  EXPECT_FALSE(runtime_->stop(web.id, 0, 1s).ok());
}

TEST_F(UniversalTest, IgnoredStopSignalEndsInSigkillAfterTheTimeout) {
  make();
  auto stubborn = launch("web", {"--ignore-sigterm", "--sleep"});
  start(stubborn);
  ASSERT_TRUE(wait_until([&] { return logged(stubborn, "ready"); }));
  ASSERT_TRUE(runtime_->stop(stubborn.id, SIGTERM, 200ms).ok());
  auto exited = host_.wait_exit(stubborn.id);
  ASSERT_TRUE(exited);
  EXPECT_EQ(exited->signal, SIGKILL);
}

class UniversalLeftovers : public UniversalTest, public ::testing::WithParamInterface<bool> {
 protected:
  Options with_cgroups() {
    Options chosen = options();
    chosen.use_cgroups = GetParam();
    return chosen;
  }
};

TEST_P(UniversalLeftovers, StopLeavesNothingRunning) {
  if (GetParam() && !cgroups_usable(options())) GTEST_SKIP() << "cgroups not usable";
  make(with_cgroups());
  auto web = launch("web", {"--fork-grandchildren", "3", "--daemonize", "--pid-file",
                            (root_.path() / "daemon.pid").string(), "--sleep"});
  ShimInfo info = info_of(start(web));
  ASSERT_TRUE(wait_until([&] { return logged(web, "ready"); }));
  auto pids = printed_pids(log_of(web), "grandchild");
  auto daemons = printed_pids(log_of(web), "daemon");
  ASSERT_EQ(pids.size(), 3u);
  ASSERT_EQ(daemons.size(), 1u);
  pids.push_back(daemons.front());
  pids.push_back(info.pid);
  for (pid_t pid : pids)
    EXPECT_FALSE(process_gone(pid)) << pid;

  ASSERT_TRUE(runtime_->stop(web.id, SIGTERM, 10s).ok());
  auto exited = host_.wait_exit(web.id);
  ASSERT_TRUE(exited);
  EXPECT_EQ(exited->signal, SIGTERM);
  // The exit is reported once everything of the launch is gone.
  for (pid_t pid : pids)
    EXPECT_TRUE(process_gone(pid)) << "still running: " << pid;
  ASSERT_TRUE(runtime_->destroy(web.id).ok());
  EXPECT_TRUE(wait_until([&] { return process_gone(info.shim); }));
}

TEST_P(UniversalLeftovers, MainExitKillsLeftovers) {
  if (GetParam() && !cgroups_usable(options())) GTEST_SKIP() << "cgroups not usable";
  make(with_cgroups());
  auto web = launch(
      "web", {"--fork-grandchildren", "2", "--daemonize", "--exit-after-ms", "100", "--exit", "5"});
  start(web);
  auto exited = host_.wait_exit(web.id);
  ASSERT_TRUE(exited);
  EXPECT_EQ(exited->code, 5);
  auto pids = printed_pids(log_of(web), "grandchild");
  auto daemons = printed_pids(log_of(web), "daemon");
  ASSERT_EQ(pids.size(), 2u);
  ASSERT_EQ(daemons.size(), 1u);
  pids.push_back(daemons.front());
  for (pid_t pid : pids)
    EXPECT_TRUE(process_gone(pid)) << "still running: " << pid;
}

INSTANTIATE_TEST_SUITE_P(CgroupsOrNot, UniversalLeftovers, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "cgroups" : "no_cgroups"; });

TEST_F(UniversalTest, HighRateLogsAreCapturedCompletely) {
  Options chosen = options();
  chosen.log_rotation = logs::Rotation{64u << 20, 4};
  make(chosen);
  auto noisy = launch("web", {"--log-rate-mb", "50", "--log-seconds", "2"});
  start(noisy);
  auto exited = host_.wait_exit(noisy.id, 60s);
  ASSERT_TRUE(exited);
  EXPECT_EQ(exited->code, 0);
  std::string content;
  for (int index = chosen.log_rotation.max_files; index >= 0; --index) {
    stdfs::path file = noisy.log_dir / logs::file_name("web", index);
    if (stdfs::exists(file)) content += read_text(file);
  }
  std::uint64_t expected_next = 0;
  std::uint64_t done = 0;
  std::size_t at = 0;
  bool in_order = true;
  while (at < content.size()) {
    std::size_t end = content.find('\n', at);
    ASSERT_NE(end, std::string::npos);
    std::string_view line(content.data() + at, end - at);
    at = end + 1;
    if (line.substr(28, 11) == "stdout log ") {
      std::uint64_t sequence = std::strtoull(line.data() + 39, nullptr, 10);
      in_order = in_order && sequence == expected_next;
      expected_next = sequence + 1;
    } else if (line.substr(28, 16) == "stderr log-done ") {
      done = std::strtoull(line.data() + 44, nullptr, 10);
    }
  }
  EXPECT_TRUE(in_order) << "lines missing or out of order near " << expected_next;
  EXPECT_GT(done, 0u);
  EXPECT_EQ(expected_next, done) << "every line the component wrote is in the log";
  std::fprintf(stderr, "captured %llu lines (%zu MB)\n", static_cast<unsigned long long>(done),
               content.size() >> 20);
}

TEST_F(UniversalTest, RecoversEveryLaunchAfterAnAgentRestart) {
  make();
  // One of them with a state folder longer than a socket path may be.
  auto flowing = launch("flowing", {"--log-rate-mb", "0.002", "--log-seconds", "600"});
  flowing.state_dir = root_.path() / std::string(120, 's') / "flowing";
  auto trapped = launch("trapped", {});
  trapped.command = {"sh", "-c", "trap 'exit 7' USR1; echo ready; sleep 1000 & wait"};
  auto terminated = launch("terminated", {"--sleep"});
  auto lost = launch("lost", {"--sleep"});
  std::map<std::string, Handle> saved;
  for (const auto* each : {&flowing, &trapped, &terminated, &lost})
    saved[each->id] = start(*each);
  for (const auto* each : {&flowing, &trapped, &terminated, &lost}) {
    ASSERT_TRUE(wait_until([&] { return !stdout_lines(log_of(*each)).empty(); })) << each->id;
  }

  // The agent "crashes": its runtime object goes without stopping anything.
  runtime_.reset();
  std::size_t lines_before = stdout_lines(log_of(flowing)).size();
  ASSERT_EQ(::kill(saved[trapped.id].pid, SIGUSR1), 0);  // exits 7 while nobody listens
  ASSERT_EQ(::kill(info_of(saved[terminated.id]).shim, SIGTERM), 0);  // shim stops it and goes
  ASSERT_EQ(::kill(info_of(saved[lost.id]).shim, SIGKILL), 0);        // shim lost with its record
  ASSERT_TRUE(wait_until([&] { return stdfs::exists(trapped.state_dir / "exit"); }));
  ASSERT_TRUE(wait_until([&] { return process_gone(info_of(saved[terminated.id]).shim); }));
  ASSERT_TRUE(wait_until([&] { return process_gone(info_of(saved[lost.id]).shim); }));
  // Logs keep flowing with no runtime at all.
  ASSERT_TRUE(wait_until([&] { return stdout_lines(log_of(flowing)).size() > lines_before + 5; }));
  EXPECT_EQ(host_.total_exits(), 0u);

  FakeHost& restarted = restarted_host_;
  runtime_ = make_runtime(restarted, options());
  for (const auto* each : {&flowing, &trapped, &terminated, &lost}) {
    auto recovered = runtime_->recover(*each, saved[each->id]);
    ASSERT_TRUE(recovered.ok()) << recovered.error().message;
    if (each == &flowing) {
      EXPECT_EQ(recovered->pid, saved[flowing.id].pid);
    }
  }
  auto trapped_exit = restarted.wait_exit(trapped.id);
  ASSERT_TRUE(trapped_exit);
  EXPECT_EQ(trapped_exit->code, 7);
  auto terminated_exit = restarted.wait_exit(terminated.id);
  ASSERT_TRUE(terminated_exit);
  EXPECT_EQ(terminated_exit->signal, SIGTERM);
  auto lost_exit = restarted.wait_exit(lost.id);
  ASSERT_TRUE(lost_exit) << text::join(restarted.logs(), "\n");
  EXPECT_EQ(lost_exit->message, "lost while the agent was down");
  EXPECT_TRUE(wait_until([&] { return process_gone(saved[lost.id].pid); }))
      << "the orphan of a lost shim is killed";
  EXPECT_EQ(restarted.exit_count(flowing.id), 0u);
  EXPECT_FALSE(process_gone(saved[flowing.id].pid));

  // The adopted launch is fully managed by the new runtime.
  auto stats = runtime_->stats(flowing.id);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_GT(stats->memory_bytes, 0);
  ASSERT_TRUE(runtime_->stop(flowing.id, SIGTERM, 10s).ok());
  auto flowing_exit = restarted.wait_exit(flowing.id);
  ASSERT_TRUE(flowing_exit);
  EXPECT_EQ(flowing_exit->signal, SIGTERM);
  for (const auto* each : {&flowing, &trapped, &terminated, &lost}) {
    EXPECT_TRUE(runtime_->destroy(each->id).ok());
    EXPECT_EQ(restarted.exit_count(each->id), 1u) << each->id;
  }
  EXPECT_EQ(host_.total_exits(), 0u);
}

TEST_F(UniversalTest, RecoverOfAnEndedLaunchWithNoShimStateReportsLost) {
  make();
  auto never = launch("web", {});
  stdfs::create_directories(never.state_dir);
  auto recovered = runtime_->recover(never, Handle{0, "{}"});
  ASSERT_TRUE(recovered.ok());
  auto exited = host_.wait_exit(never.id);
  ASSERT_TRUE(exited);
  EXPECT_EQ(exited->message, "lost while the agent was down");
  EXPECT_TRUE(runtime_->destroy(never.id).ok());
}

TEST_F(UniversalTest, CgroupLimitsAreAppliedAndOomIsReported) {
  Options chosen = options();
  chosen.pids_max = 200;
  if (!cgroups_usable(chosen)) GTEST_SKIP() << "cgroups not usable";
  make(chosen);
  if (runtime_->probe().attributes["limits"] != "enforced") {
    std::fprintf(stderr, "\n*** SKIPPED: no memory/cpu controllers ***\n\n");
    GTEST_SKIP();
  }
  auto limited = launch("web", {"--sleep"});
  limited.limits = Limits{0.5, 64 << 20};
  ShimInfo info = info_of(start(limited));
  ASSERT_TRUE(wait_until([&] { return logged(limited, "ready"); }));
  auto cgroup = Cgroups(detect_cgroup_layout(), "baton", 0).paths(limited);
  auto layout = detect_cgroup_layout();
  if (layout.version == 1) {
    stdfs::path memory = layout.v1["memory"] / "baton" / agent_ / limited.instance_id;
    EXPECT_EQ(text::trim(read_text(memory / "memory.limit_in_bytes")), std::to_string(64 << 20));
    stdfs::path cpu = layout.v1["cpu"] / "baton" / agent_ / limited.instance_id;
    EXPECT_EQ(text::trim(read_text(cpu / "cpu.cfs_quota_us")), "50000");
    EXPECT_EQ(text::trim(read_text(cpu / "cpu.cfs_period_us")), "100000");
    if (layout.v1.contains("pids")) {
      stdfs::path pids = layout.v1["pids"] / "baton" / agent_ / limited.instance_id;
      EXPECT_EQ(text::trim(read_text(pids / "pids.max")), "200");
    }
  } else {
    stdfs::path node = layout.v2 / "baton" / agent_ / limited.instance_id;
    EXPECT_EQ(text::trim(read_text(node / "memory.max")), std::to_string(64 << 20));
    EXPECT_EQ(text::trim(read_text(node / "cpu.max")), "50000 100000");
  }
  // The component is in its leaf.
  std::string membership = read_text("/proc/" + std::to_string(info.pid) + "/cgroup");
  EXPECT_NE(membership.find("/baton/" + agent_ + "/" + limited.instance_id + "/web"),
            std::string::npos)
      << membership;
  auto stats = runtime_->stats(limited.id);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_GT(stats->memory_bytes, 0);

  // A second component of the same instance allocates past the instance's limit.
  auto hungry = launch("worker", {"--allocate-mb", "256", "--sleep"}, limited.instance_id);
  hungry.limits = limited.limits;
  start(hungry);
  auto exited = host_.wait_exit(hungry.id);
  ASSERT_TRUE(exited);
  EXPECT_TRUE(exited->oom_killed);
  EXPECT_EQ(exited->signal, SIGKILL);
  EXPECT_EQ(exited->message, "killed by SIGKILL (memory limit 64 MiB)");
  EXPECT_FALSE(logged(hungry, "allocated 256 MiB"));

  // Leaves go with their launch; the instance node with the last one.
  ASSERT_TRUE(runtime_->destroy(hungry.id).ok());
  for (std::size_t i = 0; i < cgroup.leaves.size(); ++i) {
    EXPECT_FALSE(stdfs::exists(cgroup.nodes[i] / "worker"));
    EXPECT_TRUE(stdfs::exists(cgroup.leaves[i]));
  }
  ASSERT_TRUE(runtime_->destroy(limited.id).ok());
  for (const auto& node : cgroup.nodes)
    EXPECT_FALSE(stdfs::exists(node)) << node;
}

// On hybrid hosts the unified hierarchy (without controllers) still exercises the v2 paths:
// membership, cgroup.kill and removal.
TEST_F(UniversalTest, UnifiedHierarchyMembershipAndCleanup) {
  struct statfs info {};
  constexpr long kCgroup2Magic = 0x63677270;
  stdfs::path unified = "/sys/fs/cgroup/unified";
  if (::statfs(unified.c_str(), &info) != 0 || static_cast<long>(info.f_type) != kCgroup2Magic) {
    unified = "/sys/fs/cgroup";
    if (::statfs(unified.c_str(), &info) != 0 || static_cast<long>(info.f_type) != kCgroup2Magic) {
      std::fprintf(stderr, "\n*** SKIPPED: no cgroup2 mount ***\n\n");
      GTEST_SKIP();
    }
  }
  Options chosen = options();
  chosen.cgroup_layout = CgroupLayout{2, {}, unified};
  chosen.cgroup_root = "baton-test";
  if (!cgroups_usable(chosen)) GTEST_SKIP() << "cgroup2 not writable";
  make(chosen);
  EXPECT_EQ(runtime_->probe().attributes["cgroup"], "v2");
  auto web = launch("web", {"--fork-grandchildren", "2", "--sleep"});
  ShimInfo shim = info_of(start(web));
  ASSERT_TRUE(wait_until([&] { return logged(web, "ready"); }));
  std::string membership = read_text("/proc/" + std::to_string(shim.pid) + "/cgroup");
  EXPECT_NE(membership.find("0::/baton-test/" + agent_ + "/" + web.instance_id + "/web"),
            std::string::npos)
      << membership;
  stdfs::path leaf = unified / "baton-test" / agent_ / web.instance_id / "web";
  EXPECT_EQ(text::split(std::string(text::trim(read_text(leaf / "cgroup.procs"))), '\n').size(),
            3u);
  auto pids = printed_pids(log_of(web), "grandchild");
  ASSERT_TRUE(runtime_->destroy(web.id).ok());
  ASSERT_TRUE(host_.wait_exit(web.id));
  for (pid_t pid : pids)
    EXPECT_TRUE(process_gone(pid)) << pid;
  EXPECT_FALSE(stdfs::exists(leaf.parent_path()));
  ::rmdir((unified / "baton-test" / agent_).c_str());
  ::rmdir((unified / "baton-test").c_str());
}

TEST_F(UniversalTest, StatsWithoutCgroupsSumTheProcesses) {
  Options chosen = options();
  chosen.use_cgroups = false;
  make(chosen);
  auto web = launch("web", {"--fork-grandchildren", "2", "--sleep"});
  start(web);
  ASSERT_TRUE(wait_until([&] { return logged(web, "ready"); }));
  auto stats = runtime_->stats(web.id);
  ASSERT_TRUE(stats.ok()) << stats.error().message;
  EXPECT_GT(stats->memory_bytes, 3 * 100 * 1024);  // three processes, each well over 100 KiB
  EXPECT_GE(stats->cpu_seconds, 0.0);
  EXPECT_FALSE(runtime_->stats("unknown.web").ok());
}

TEST_F(UniversalTest, DestroyIsIdempotentAndFineForUnknownIds) {
  make();
  EXPECT_TRUE(runtime_->destroy("0123456789abcdef.never").ok());
  auto web = launch("web", {"--sleep"});
  ShimInfo info = info_of(start(web));
  ASSERT_TRUE(wait_until([&] { return logged(web, "ready"); }));
  ASSERT_TRUE(runtime_->destroy(web.id).ok());
  auto exited = host_.wait_exit(web.id);
  ASSERT_TRUE(exited);
  EXPECT_EQ(exited->signal, SIGKILL);
  EXPECT_TRUE(process_gone(info.pid));
  EXPECT_TRUE(wait_until([&] { return process_gone(info.shim); }));
  EXPECT_FALSE(stdfs::exists(web.state_dir));
  EXPECT_TRUE(runtime_->destroy(web.id).ok());
  EXPECT_EQ(host_.exit_count(web.id), 1u);
  // The same launch id starts again after it ended.
  start(web);
  ASSERT_TRUE(runtime_->destroy(web.id).ok());
  EXPECT_TRUE(wait_until([&] { return host_.exit_count(web.id) == 2; }));
}

// This process's children that are spare shims still waiting for a launch.
std::vector<pid_t> waiting_spares() {
  std::vector<pid_t> spares;
  std::string self = std::to_string(::getpid());
  for (const auto& entry : stdfs::directory_iterator("/proc")) {
    std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string stat = read_text(entry.path() / "stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    auto fields = text::split(stat.substr(close + 2), ' ');
    if (fields.size() < 2 || fields[0] == "Z" || fields[1] != self) continue;
    std::string command = read_text(entry.path() / "cmdline");
    if (command.ends_with(std::string("\0--spare\0", 9))) spares.push_back(std::stoi(name));
  }
  return spares;
}

TEST_F(UniversalTest, ASpareThatDiedIsReplacedAndNoneOutlivesTheRuntime) {
  make();
  ASSERT_TRUE(wait_until([] { return waiting_spares().size() == 1; }));
  pid_t spare = waiting_spares().front();
  ASSERT_EQ(::kill(spare, SIGKILL), 0);  // killed by someone while it waited
  ASSERT_TRUE(wait_until([] { return waiting_spares().empty(); }));
  auto web = launch("web", {"--sleep"});
  ShimInfo info = info_of(start(web));  // a dead spare is never used
  EXPECT_NE(info.shim, spare);
  ASSERT_TRUE(wait_until([&] { return logged(web, "ready"); }));
  ASSERT_TRUE(wait_until([&] {
    auto spares = waiting_spares();
    return spares.size() == 1 && spares.front() != spare;
  }));
  pid_t replacement = waiting_spares().front();
  ASSERT_TRUE(runtime_->destroy(web.id).ok());
  runtime_.reset();
  EXPECT_TRUE(process_gone(replacement));
  EXPECT_TRUE(waiting_spares().empty());
}

TEST_F(UniversalTest, WithoutSparesEveryStartSpawnsItsShim) {
  Options chosen = options();
  chosen.spare_shims = 0;
  make(chosen);
  auto web = launch("web", {"--sleep"});
  start(web);
  ASSERT_TRUE(wait_until([&] { return logged(web, "ready"); }));
  EXPECT_TRUE(waiting_spares().empty());
}

TEST_F(UniversalTest, StartingARunningLaunchAgainIsRefused) {
  make();
  auto web = launch("web", {"--sleep"});
  start(web);
  auto again = runtime_->start(web);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Errc::conflict);
}

TEST_F(UniversalTest, HundredLaunchesStartAndStopConcurrently) {
  make();
  constexpr int kLaunches = 100;
  constexpr int kThreads = 4;
  std::vector<Launch> launches;
  for (int i = 0; i < kLaunches; ++i)
    launches.push_back(launch("c" + std::to_string(i), {"--sleep"}));
  std::vector<ShimInfo> infos(kLaunches);
  std::atomic<int> failures{0};
  auto in_parallel = [&](auto&& work) {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = t; i < kLaunches; i += kThreads)
          work(i);
      });
    }
    for (auto& thread : threads)
      thread.join();
  };
  in_parallel([&](int i) {
    auto handle = runtime_->start(launches[static_cast<std::size_t>(i)]);
    if (!handle.ok()) {
      ++failures;
      return;
    }
    infos[static_cast<std::size_t>(i)] = info_of(*handle);
  });
  ASSERT_EQ(failures.load(), 0);
  for (const auto& each : launches)
    started_.push_back(each.id);
  in_parallel([&](int i) {
    if (!runtime_->stop(launches[static_cast<std::size_t>(i)].id, SIGTERM, 10s).ok()) ++failures;
  });
  EXPECT_EQ(failures.load(), 0);
  ASSERT_TRUE(wait_until([&] { return host_.total_exits() == kLaunches; }, 60s))
      << host_.total_exits() << " exits of " << kLaunches;
  in_parallel([&](int i) {
    if (!runtime_->destroy(launches[static_cast<std::size_t>(i)].id).ok()) ++failures;
  });
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(host_.total_exits(), static_cast<std::size_t>(kLaunches));
  for (const auto& info : infos) {
    EXPECT_TRUE(process_gone(info.pid));
    EXPECT_TRUE(wait_until([&] { return process_gone(info.shim); }));
  }
}

TEST(UniversalProgram, ResolvesInsideTheBundleAndThroughPath) {
  auto folder = files::TempFolder::create(stdfs::temp_directory_path(), "baton-program-");
  ASSERT_TRUE(folder.ok());
  stdfs::path bin = folder->path() / "bin";
  stdfs::create_directories(bin);
  ASSERT_TRUE(files::write_atomic(bin / "tool", "#!/bin/sh\n", stdfs::perms(0755)).ok());
  auto inside = resolve_program("./bin/../bin/tool", folder->path(), {});
  ASSERT_TRUE(inside.ok()) << inside.error().message;
  EXPECT_EQ(*inside, folder->path() / "bin/tool");
  auto through_path = resolve_program("tool", "/nowhere", {{"PATH", "relative:" + bin.string()}});
  ASSERT_TRUE(through_path.ok()) << through_path.error().message;
  EXPECT_EQ(*through_path, bin / "tool");
  EXPECT_FALSE(resolve_program("", folder->path(), {}).ok());
}

TEST(UniversalCgroups, ParsesMountinfo) {
  const char* hybrid =
      "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
      "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
      "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
      "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
  auto layout = parse_cgroup_layout(hybrid);
  EXPECT_EQ(layout.version, 1);
  EXPECT_EQ(layout.v1["cpu"], "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(layout.v1["cpuacct"], "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(layout.v1["memory"], "/sys/fs/cgroup/memory");
  auto pure = parse_cgroup_layout(
      "29 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 "
      "rw,nsdelegate,memory_recursiveprot\n");
  EXPECT_EQ(pure.version, 2);
  EXPECT_EQ(pure.v2, "/sys/fs/cgroup");
  EXPECT_EQ(parse_cgroup_layout("").version, 0);
}

}  // namespace
}  // namespace baton::runtimes::universal
