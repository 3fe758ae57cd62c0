#include "cli/sandbox.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "common/files.hpp"

namespace baton::cli {
namespace {

class Sandbox : public ::testing::Test {
 protected:
  void SetUp() override {
    auto temp = files::TempFolder::create(std::filesystem::temp_directory_path(), "cli-sandbox-");
    ASSERT_TRUE(temp);
    temp_.emplace(std::move(*temp));
  }
  const std::filesystem::path& root() const { return temp_->path(); }
  std::optional<files::TempFolder> temp_;
};

TEST(SandboxHome, BatonHomeThenHome) {
  auto env = [](std::map<std::string, std::string> values) -> EnvLookup {
    return [values](std::string_view name) -> std::optional<std::string> {
      auto it = values.find(std::string(name));
      return it == values.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
  };
  EXPECT_EQ(*baton_home(env({{"BATON_HOME", "/x/y"}, {"HOME", "/h"}})), "/x/y");
  EXPECT_EQ(*baton_home(env({{"HOME", "/h"}})), "/h/.baton");
  EXPECT_FALSE(baton_home(env({})));
}

TEST(SandboxSettings, RoundTripAndTolerance) {
  SandboxSettings settings;
  settings.core_port = 9105;
  settings.agents = 3;
  settings.roles = {"web", "db"};
  settings.core_options = {"--down-after-ms=3000"};
  settings.plugin_dirs = {"/opt/plugins"};
  auto back = SandboxSettings::from_json(settings.to_json());
  EXPECT_EQ(back.core_port, 9105);
  EXPECT_EQ(back.agents, 3);
  EXPECT_EQ(back.roles, settings.roles);
  EXPECT_EQ(back.core_options, settings.core_options);
  EXPECT_EQ(back.plugin_dirs, settings.plugin_dirs);
  auto junk = SandboxSettings::from_json(nlohmann::json::parse(R"({"corePort": 99999,
    "agents": 500, "roles": "web"})"));
  EXPECT_EQ(junk.core_port, 9005);
  EXPECT_EQ(junk.agents, kMaxSandboxAgents);
  EXPECT_EQ(junk.roles, std::vector<std::string>{"web"});
  EXPECT_EQ(SandboxSettings::from_json(nullptr).agents, 1);
}

TEST(SandboxPlugins, ShippedPluginsSitBesideBin) {
  EXPECT_EQ(shipped_plugins_dir("/usr/local/bin"), "/usr/local/lib/baton/plugins");
  EXPECT_EQ(shipped_plugins_dir("/work/baton/build/bin"), "/work/baton/build/lib/baton/plugins");
}

TEST(SandboxPorts, AgentsNeverShareAPort) {
  EXPECT_EQ(agent_port_span(1).first, 10000);
  EXPECT_EQ(agent_port_span(1).last, 10999);
  EXPECT_EQ(agent_port_span(2).first, 11000);
  EXPECT_LT(agent_port_span(kMaxSandboxAgents).last, 32768);  // below the ephemeral range
}

TEST_F(Sandbox, LayoutListsTheCoreAndAgentFoldersInOrder) {
  SandboxLayout layout(root());
  for (const char* name : {"agent-10", "agent-2", "agent-x", "other"}) {
    std::filesystem::create_directories(root() / name);
  }
  auto members = layout.members();
  ASSERT_EQ(members.size(), 3u);
  EXPECT_EQ(members[0].name, "core");
  EXPECT_TRUE(members[0].is_core());
  EXPECT_EQ(members[1].name, "agent-2");
  EXPECT_EQ(members[2].name, "agent-10");
  EXPECT_EQ(members[2].log_file, root() / "agent-10" / "agent.log");
  EXPECT_EQ(layout.member("agent-3")->agent_index, 3);
  EXPECT_FALSE(layout.member("agent-0"));
  EXPECT_FALSE(layout.member("shim"));
}

TEST_F(Sandbox, PidFilesCarryTheStartTime) {
  auto file = root() / "pid";
  EXPECT_FALSE(read_pid_file(file));
  ProcessId self{::getpid(), *process_start_time(::getpid())};
  ASSERT_TRUE(write_pid_file(file, self));
  auto back = read_pid_file(file);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->pid, self.pid);
  EXPECT_EQ(back->start_time, self.start_time);
  EXPECT_TRUE(process_alive(*back));
  std::ofstream(file) << "junk\n";
  EXPECT_FALSE(read_pid_file(file));
}

TEST_F(Sandbox, TailLines) {
  auto file = root() / "log";
  EXPECT_EQ(tail_lines(file, 3), "");
  std::ofstream(file) << "1\n2\n3\n4\n5\n";
  EXPECT_EQ(tail_lines(file, 2), "4\n5\n");
  EXPECT_EQ(tail_lines(file, 10), "1\n2\n3\n4\n5\n");
  std::ofstream(file) << "a\nb";
  EXPECT_EQ(tail_lines(file, 1), "b\n");
}

TEST_F(Sandbox, FindsProcessesByMarkerWorkingFolderAndNotItsCaller) {
  std::filesystem::create_directories(root() / "agent-1" / "data");
  std::filesystem::create_directories(root() / "core");
  DaemonSpec marked{{"/bin/sleep", "60"},
                    root() / "core",
                    root() / "marked.log",
                    {{std::string(kSandboxVariable), root().string()}}};
  DaemonSpec in_agent{{"/bin/sleep", "61"}, root() / "agent-1" / "data", root() / "cwd.log", {}};
  DaemonSpec unrelated{{"/bin/sleep", "62"}, root(), root() / "other.log", {}};
  auto a = spawn_daemon(marked);
  auto b = spawn_daemon(in_agent);
  auto c = spawn_daemon(unrelated);
  ASSERT_TRUE(a && b && c);
  auto found = find_sandbox_processes(root(), ::getpid());
  auto why = [&](pid_t pid) -> std::string {
    for (const auto& process : found) {
      if (process.id.pid == pid) return process.why;
    }
    return "";
  };
  EXPECT_EQ(why(a->pid), "environment");
  EXPECT_EQ(why(b->pid), "cwd");
  EXPECT_EQ(why(c->pid), "");  // working in the sandbox folder itself, not in an agent's
  EXPECT_EQ(why(::getpid()), "");
  for (const auto& id : {*a, *b, *c})
    signal_process(id, SIGKILL);
  EXPECT_TRUE(wait_gone({*a, *b, *c}, std::chrono::seconds(20)).empty());
}

TEST_F(Sandbox, LockIsExclusive) {
  auto first = SandboxLock::acquire(root() / "lock", std::chrono::seconds(1));
  ASSERT_TRUE(first);
  // flock locks belong to the open file: a second open in this process conflicts too.
  auto second = SandboxLock::acquire(root() / "lock", std::chrono::milliseconds(100));
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, Errc::conflict);
}

}  // namespace
}  // namespace baton::cli
