// Plugin runtimes seen through runtimes::Runtime: every call and result crosses the C ABI both
// ways (a C plugin and a C++ one), errors keep their code and message, exceptions stop at the
// boundary, and the process service runs programs exactly as the universal runtime does.
#include "plugins/host/plugin_runtime.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>

#include "common/files.hpp"
#include "tests/plugins/support.hpp"

namespace baton::plugins {
namespace {

using namespace baton::testing;

class PluginRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto folder = files::TempFolder::create(stdfs::temp_directory_path(), "baton-plugin-");
    ASSERT_TRUE(folder.ok());
    temp_.emplace(std::move(folder).value());
    base_ = temp_->path();
    plugins_ = base_ / "plugins";
    stdfs::create_directories(plugins_);
    stdfs::create_directories(base_ / "bundle");
    stdfs::copy_file(BATON_TEST_PLUGIN_C, plugins_ / "echo-c.so");
    stdfs::copy_file(BATON_TEST_PLUGIN_CPP, plugins_ / "cpp-test.so");
    load();
  }

  void TearDown() override {
    for (const auto& [id, runtime] : started_) {
      if (auto* found = agentless_->registry.find(runtime)) (void)found->destroy(id);
    }
  }

  void load(runtimes::Runtime* processes = nullptr, bool without_processes = false) {
    agentless_.reset();
    agentless_ = std::make_unique<Agentless>(base_ / "data");
    if (without_processes) agentless_->options.services.processes = processes;
    auto report = agentless_->load({plugins_});
    ASSERT_TRUE(report.refused.empty()) << report.refused.front().message;
  }

  runtimes::Runtime& runtime(const std::string& name) { return *agentless_->registry.find(name); }

  Result<runtimes::Handle> start(const std::string& name, const runtimes::Launch& launch) {
    started_.emplace_back(launch.id, name);
    return runtime(name).start(launch);
  }

  std::optional<files::TempFolder> temp_;
  stdfs::path base_;
  stdfs::path plugins_;
  std::unique_ptr<Agentless> agentless_;
  std::vector<std::pair<std::string, std::string>> started_;
};

TEST_F(PluginRuntimeTest, ACPluginRunsALaunchAndReportsItsExitFromItsOwnThread) {
  runtimes::Runtime& echo = runtime("echo-c");
  EXPECT_EQ(echo.name(), "echo-c");
  auto probe = echo.probe();
  EXPECT_TRUE(probe.available);
  EXPECT_EQ(probe.attributes["language"], "c");

  bundle::Descriptor descriptor;
  descriptor.name = "echo";
  descriptor.components.push_back(bundle::Component{.name = "main", .file_system_type = "echo-c"});
  EXPECT_TRUE(echo.prepare({std::string(64, 'a'), base_ / "bundle", &descriptor}).ok());
  descriptor.components[0].file_system_type = "universal";
  auto refused = echo.prepare({std::string(64, 'a'), base_ / "bundle", &descriptor});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message, "echo-c: the descriptor does not name this runtime");

  auto launch = make_launch(base_, "i1", "main", {"a", "b", "c"});
  auto handle = start("echo-c", launch);
  ASSERT_TRUE(handle.ok()) << handle.error().message;
  EXPECT_EQ(handle->state, R"({"echo":"i1.main"})");
  auto exit = agentless_->host.wait_exit("i1.main");
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->code, 3);
  EXPECT_EQ(exit->message, "exited");
  // Its output went through append_log into the launch's log, in the log format; the partial
  // stderr line was written when the exit was reported.
  std::string log = read_text(launch.log_dir / "main.log");
  EXPECT_EQ(log_lines(log), (std::vector<std::string>{"hello from c a b c"}));
  EXPECT_EQ(log_lines(log, "stderr"), (std::vector<std::string>{"no newline"}));

  auto stats = echo.stats("i1.main");
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->cpu_seconds, 1.5);
  EXPECT_EQ(stats->memory_bytes, 4096);
  auto recovered = echo.recover(launch, *handle);
  ASSERT_TRUE(recovered.ok());
  EXPECT_EQ(recovered->state, handle->state);
  EXPECT_TRUE(echo.destroy("i1.main").ok());
  EXPECT_TRUE(echo.release(std::string(64, 'a')).ok());
}

TEST_F(PluginRuntimeTest, ErrorsKeepTheirCodeAndMessage) {
  auto failed = start("echo-c", make_launch(base_, "i2", "main", {"fail"}));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().code, Errc::limit);
  EXPECT_EQ(failed.error().message, "echo-c: limit reached for launch i2.main");

  auto odd = start("echo-c", make_launch(base_, "i3", "main", {"odd"}));
  ASSERT_FALSE(odd.ok());
  EXPECT_EQ(odd.error().code, Errc::internal);
  EXPECT_EQ(odd.error().message,
            "runtime echo-c (" + (plugins_ / "echo-c.so").string() +
                "): start failed without a message (the plugin returned the unknown status 42)");

  runtimes::Runtime& echo = runtime("echo-cpp");
  auto conflict = echo.start(make_launch(base_, "i4", "main", {"error"}));
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().code, Errc::conflict);
  EXPECT_EQ(conflict.error().message, "launch i4.main clashes with itself");

  // Exceptions stop at the plugin's boundary.
  auto thrown = echo.start(make_launch(base_, "i5", "main", {"throw"}));
  ASSERT_FALSE(thrown.ok());
  EXPECT_EQ(thrown.error().code, Errc::internal);
  EXPECT_EQ(thrown.error().message, "exception: echo-cpp blew up in start");
  auto thrown_error = echo.start(make_launch(base_, "i6", "main", {"throw-error"}));
  ASSERT_FALSE(thrown_error.ok());
  EXPECT_EQ(thrown_error.error().code, Errc::unavailable);
  EXPECT_EQ(thrown_error.error().message, "the frobnicator is down");
  auto released = echo.release("throw");
  ASSERT_FALSE(released.ok());
  EXPECT_EQ(released.error().message, "unknown exception");

  auto stopped = echo.stop("x.y", 0, std::chrono::seconds(1));
  ASSERT_FALSE(stopped.ok());
  EXPECT_EQ(stopped.error().code, Errc::invalid);
  auto missing = echo.stats("missing");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::not_found);
  EXPECT_EQ(missing.error().message, "no launch missing");
}

TEST_F(PluginRuntimeTest, TheLaunchCrossesTheBoundaryWhole) {
  runtimes::Runtime& echo = runtime("echo-cpp");
  bundle::Descriptor descriptor;
  ASSERT_TRUE(echo.prepare({std::string(64, 'b'), base_ / "bundle", &descriptor}).ok());
  auto launch = make_launch(base_, "i7", "web", {"run", "--port", "$PORT"});
  launch.environment = {{"A", "1"}, {"B", "two words"}};
  launch.ports = {{"web", bundle::Protocol::http, 9000, 19000},
                  {"dns", bundle::Protocol::udp, 53, 10053}};
  launch.limits.memory = 64 << 20;
  launch.stop_timeout = std::chrono::milliseconds(1234);
  auto handle = echo.start(launch);
  ASSERT_TRUE(handle.ok()) << handle.error().message;
  EXPECT_EQ(handle->pid, 4242);
  auto state = nlohmann::json::parse(handle->state);
  EXPECT_EQ(state["args"], 3);
  EXPECT_EQ(state["env"], "A=1;B=two words;");
  EXPECT_EQ(state["ports"], "web:0:9000:19000;dns:2:53:10053;");
  EXPECT_EQ(state["memory"], 64 << 20);
  EXPECT_EQ(state["stopTimeout"], 1234);
  EXPECT_EQ(state["root"], (base_ / "bundle").string());

  auto recovered = echo.recover(launch, *handle);
  ASSERT_TRUE(recovered.ok());
  EXPECT_EQ(recovered->pid, 4243);
  EXPECT_EQ(recovered->state, handle->state + "+recovered");
  auto stats = echo.stats(launch.id);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->cpu_seconds, 2.5);

  auto logged = echo.start(make_launch(base_, "i8", "web", {"log"}));
  ASSERT_TRUE(logged.ok()) << logged.error().message;
  EXPECT_EQ(log_lines(read_text(base_ / "i8" / "logs" / "web.log")),
            (std::vector<std::string>{"first", "second"}));
}

TEST_F(PluginRuntimeTest, TheProcessServiceRunsProgramsLikeTheUniversalRuntime) {
  auto probe = runtime("proc-cpp").probe();
  EXPECT_FALSE(probe.available);
  EXPECT_EQ(probe.reason, "only for tests");

  auto launch = make_launch(base_, "p1", "main",
                            {"/bin/sh", "-c", "echo out $GREETING; echo err >&2; exit 7"});
  launch.environment.emplace_back("GREETING", "hello");
  auto handle = start("proc-cpp", launch);
  ASSERT_TRUE(handle.ok()) << handle.error().message;
  EXPECT_GT(handle->pid, 0);
  EXPECT_NE(handle->state.find("shimPid"), std::string::npos);  // the universal runtime's state
  auto exit = agentless_->host.wait_exit("p1.main");
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->code, 7);
  ASSERT_TRUE(wait_until([&] {
    auto log = read_text(launch.log_dir / "main.log");
    return !log_lines(log).empty() && !log_lines(log, "stderr").empty();
  }));
  auto log = read_text(launch.log_dir / "main.log");
  EXPECT_EQ(log_lines(log), (std::vector<std::string>{"out hello"}));
  EXPECT_EQ(log_lines(log, "stderr"), (std::vector<std::string>{"err"}));
  EXPECT_TRUE(runtime("proc-cpp").destroy("p1.main").ok());
  EXPECT_FALSE(stdfs::exists(launch.state_dir));
  EXPECT_EQ(agentless_->host.exit_count("p1.main"), 1u);
}

TEST_F(PluginRuntimeTest, ProcessesStopAndSurviveARestartOfTheirRuntime) {
  auto launch = make_launch(base_, "p2", "main", {"/bin/sh", "-c", "echo up; exec sleep 60"});
  auto handle = start("proc-cpp", launch);
  ASSERT_TRUE(handle.ok()) << handle.error().message;
  ASSERT_TRUE(
      wait_until([&] { return !log_lines(read_text(launch.log_dir / "main.log")).empty(); }));
  auto stats = runtime("proc-cpp").stats("p2.main");
  ASSERT_TRUE(stats.ok()) << stats.error().message;

  // The agent goes away (runtimes destroyed, launches keep running) and a new one recovers.
  load();
  EXPECT_EQ(::kill(handle->pid, 0), 0);
  auto recovered = runtime("proc-cpp").recover(launch, *handle);
  ASSERT_TRUE(recovered.ok()) << recovered.error().message;
  EXPECT_EQ(recovered->pid, handle->pid);
  ASSERT_TRUE(runtime("proc-cpp").stats("p2.main").ok());
  ASSERT_TRUE(runtime("proc-cpp").stop("p2.main", SIGTERM, std::chrono::seconds(5)).ok());
  auto exit = agentless_->host.wait_exit("p2.main");
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->signal, SIGTERM);
}

TEST_F(PluginRuntimeTest, APluginReachesOnlyItsOwnLaunches) {
  auto other = make_launch(base_, "u1", "main", {"/bin/sh", "-c", "exec sleep 60"});
  started_.emplace_back(other.id, "universal");
  ASSERT_TRUE(agentless_->universal->start(other).ok());

  auto destroyed =
      start("proc-cpp", make_launch(base_, "p3", "main", {"@destroy-other", "u1.main"}));
  ASSERT_FALSE(destroyed.ok());
  EXPECT_EQ(destroyed.error().message,
            "stats: launch u1.main is not a launch of the proc-cpp runtime");
  EXPECT_TRUE(agentless_->universal->stats("u1.main").ok()) << "the other launch still runs";

  auto foreign = start("proc-cpp", make_launch(base_, "p4", "main", {"@start-as", "x9.main"}));
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.error().message,
            "start: launch x9.main is not a launch of the proc-cpp runtime");
}

TEST_F(PluginRuntimeTest, WithoutAProcessServiceStartsAreRefused) {
  load(nullptr, true);
  auto refused = start("proc-cpp", make_launch(base_, "p5", "main", {"/bin/true"}));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::unavailable);
  EXPECT_EQ(refused.error().message,
            "runtime proc-cpp: this agent offers no process service (the universal runtime is "
            "not loaded)");
}

}  // namespace
}  // namespace baton::plugins
