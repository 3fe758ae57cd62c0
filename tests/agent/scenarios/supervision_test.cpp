// Supervision: crashes restart the instance, exit 0 leaves it stopped, the restart budget ends in
// failed with the cause, removal leaves nothing running.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/ports.hpp"
#include "tests/agent/support/agent_fixture.hpp"

namespace baton::agent::testing {
namespace {

using protocol::InstanceState;

class SupervisionTest : public AgentFixture {
 protected:
  void tweak(AgentOptions& options) override {
    options.restart.limit = 2;
    options.restart.first_delay = std::chrono::milliseconds(50);
  }
  TestBundle serving(const std::string& bundle_name) {
    return bundle(
        bundle_name,
        testcomponent_conf(bundle_name, {"--listen-env", "WEB", "--signal-http"},
                           "web { bind-protocol = \"http\" }", "readiness { check = \"signal\" }"));
  }
};

TEST_F(SupervisionTest, KilledComponentIsRestarted) {
  auto b = serving("crashing");
  core_.assign(name(), {assigned("e000000000000001", b)});
  ASSERT_TRUE(wait_state("e000000000000001", InstanceState::started))
      << describe("e000000000000001");
  auto before = *status("e000000000000001");
  ASSERT_GT(before.pid, 0);
  ASSERT_EQ(::kill(before.pid, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] {
    auto s = status("e000000000000001");
    return s && s->restarts == 1 && s->state == InstanceState::started && s->pid != before.pid;
  })) << describe("e000000000000001");
  auto after = *status("e000000000000001");
  EXPECT_NE(after.error.find("SIGKILL"), std::string::npos) << after.error;
  EXPECT_EQ(after.endpoints.at("web").host_port, before.endpoints.at("web").host_port);
  EXPECT_FALSE(process_alive(before.pid));
  EXPECT_TRUE(process_alive(after.pid));
}

TEST_F(SupervisionTest, ExitZeroStaysStopped) {
  auto b = bundle(
      "batch", testcomponent_conf("batch", {"--exit", "0"}, "", "readiness { check = \"none\" }"));
  core_.assign(name(), {assigned("e000000000000002", b)});
  ASSERT_TRUE(wait_state("e000000000000002", InstanceState::stopped))
      << describe("e000000000000002");
  auto s = *status("e000000000000002");
  EXPECT_EQ(s.restarts, 0);
  EXPECT_TRUE(s.endpoints.empty());
}

TEST_F(SupervisionTest, RestartLimitEndsInFailedWithTheCause) {
  auto b = bundle("broken", testcomponent_conf("broken", {"--exit", "3"}, "",
                                               "readiness { check = \"signal\" }"));
  core_.assign(name(), {assigned("e000000000000003", b)});
  ASSERT_TRUE(wait_state("e000000000000003", InstanceState::failed))
      << describe("e000000000000003");
  auto s = *status("e000000000000003");
  EXPECT_EQ(s.restarts, 2);
  EXPECT_NE(s.error.find("component main"), std::string::npos) << s.error;
  EXPECT_NE(s.error.find("exited with code 3"), std::string::npos) << s.error;
  EXPECT_NE(s.error.find("restarted 2 times within 60 s"), std::string::npos) << s.error;
  // Failed frees its ports and notify socket but keeps the folder (logs) until removed.
  EXPECT_TRUE(s.endpoints.empty());
  EXPECT_TRUE(stdfs::exists(instance_folder("e000000000000003") / "logs"));
}

TEST_F(SupervisionTest, RemovalLeavesNothingRunning) {
  auto b = bundle("stubborn", testcomponent_conf("stubborn",
                                                 {"--listen-env", "WEB", "--signal-http",
                                                  "--ignore-sigterm", "--fork-grandchildren", "2"},
                                                 "web { bind-protocol = \"http\" }",
                                                 "readiness { check = \"signal\" }"));
  core_.assign(name(), {assigned("e000000000000004", b)});
  ASSERT_TRUE(wait_state("e000000000000004", InstanceState::started))
      << describe("e000000000000004");
  auto s = *status("e000000000000004");
  int port = s.endpoints.at("web").host_port;
  std::string logs = logs_of("e000000000000004");
  std::vector<pid_t> grandchildren;
  for (std::size_t at = logs.find("grandchild "); at != std::string::npos;
       at = logs.find("grandchild ", at + 1)) {
    grandchildren.push_back(std::stoi(logs.substr(at + 11)));
  }
  core_.assign(name(), {});
  ASSERT_TRUE(eventually([&] { return agent().instances().empty(); }));
  EXPECT_FALSE(process_alive(s.pid));
  for (pid_t pid : grandchildren)
    EXPECT_FALSE(process_alive(pid)) << pid;
  EXPECT_FALSE(stdfs::exists(instance_folder("e000000000000004")));
  EXPECT_TRUE(port_free_on_host(port));
  // The core hears of the removal with the agent's next report, soon after.
  EXPECT_TRUE(eventually([&] { return core_.statuses(name()).empty(); }));
}

}  // namespace
}  // namespace baton::agent::testing
