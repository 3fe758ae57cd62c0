// Agent restarts: SIGKILL of the baton-agent process leaves instances running; the next agent
// adopts them with the same ports, restarts the one that died meanwhile, and removes what it no
// longer owns. Also: a graceful stop, core failover and re-registration after a 404.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <fstream>

#include "agent/ports.hpp"
#include "common/files.hpp"
#include "logs/reader.hpp"
#include "tests/agent/support/agent_fixture.hpp"

namespace baton::agent::testing {
namespace {

using protocol::InstanceState;

std::uint64_t log_bytes(const stdfs::path& instance) {
  std::error_code error;
  auto size = stdfs::file_size(instance / "logs" / "main.log", error);
  return error ? 0 : size;
}

class RecoveryTest : public ::testing::Test {
 protected:
  std::vector<std::string> agent_arguments() {
    return {
        "--name",        name_,       "--core",         core_.url(), "--data",     data().string(),
        "--address",     "127.0.0.1", "--api-bind",     "127.0.0.1", "--api-port", "0",
        "--status-port", "0",         "--locator-port", "0",         "--ports",    ports(),
        "--log-level",   "debug"};
  }
  static std::string ports() {
    int first = baton::testing::reserved_port_slot();
    return std::to_string(first) + "-" + std::to_string(first + 999);
  }
  stdfs::path data() const { return scratch_.path() / "data"; }
  stdfs::path folder(const std::string& id) const { return data() / "instances" / id; }
  std::optional<protocol::InstanceStatus> status(const std::string& id) const {
    return core_.status(name_, id);
  }
  bool state_is(const std::string& id, InstanceState state) const {
    auto s = status(id);
    return s && s->state == state;
  }
  TestBundle serving(const std::string& bundle_name, std::vector<std::string> extra = {}) {
    std::vector<std::string> arguments = {"--listen-env", "WEB", "--signal-http"};
    arguments.insert(arguments.end(), extra.begin(), extra.end());
    auto b =
        make_bundle(scratch_.path(), bundle_name,
                    testcomponent_conf(bundle_name, arguments, "web { bind-protocol = \"http\" }",
                                       "readiness { check = \"signal\" }"));
    core_.add_file(b.digest, b.zip);
    return b;
  }

  TestCore core_;
  Scratch scratch_;
  std::string name_ = unique_agent_name("recovery");
};

TEST_F(RecoveryTest, SigkillLeavesInstancesRunningAndTheNextAgentAdoptsThem) {
  auto chatty = serving("chatty", {"--log-rate-mb", "0.01", "--log-seconds", "600"});
  auto steady = serving("steady");
  auto doomed = serving("doomed");
  auto unwanted = serving("unwanted");
  std::vector<protocol::AssignedInstance> all = {
      assigned("2000000000000001", chatty), assigned("2000000000000002", steady),
      assigned("2000000000000003", doomed), assigned("2000000000000004", unwanted)};
  core_.assign(name_, all);

  auto first = std::make_unique<AgentProcess>(agent_arguments(), scratch_.path() / "agent-1.log");
  ASSERT_TRUE(eventually([&] {
    for (const auto& a : all) {
      if (!state_is(a.instance_id, InstanceState::started)) return false;
    }
    return true;
  })) << first->log();
  std::map<std::string, protocol::InstanceStatus> before;
  for (const auto& a : all)
    before[a.instance_id] = *status(a.instance_id);

  first->kill(SIGKILL);
  first->wait();
  for (const auto& [id, s] : before)
    EXPECT_TRUE(process_alive(s.pid)) << id;
  // Logs keep flowing without the agent: the shim writes them.
  auto size = log_bytes(folder("2000000000000001"));
  EXPECT_TRUE(eventually([&] { return log_bytes(folder("2000000000000001")) > size + 1000; }));
  // Meanwhile: one component dies, one instance is no longer wanted, and junk appears.
  ASSERT_EQ(::kill(before["2000000000000003"].pid, SIGKILL), 0);
  core_.assign(name_, {all[0], all[1], all[2]});
  stdfs::create_directories(folder("00000000deadbeef") / "work");
  stdfs::create_directories(folder("00000000cafecafe"));
  std::ofstream(folder("00000000cafecafe") / "instance.json") << "{not json";

  auto second = std::make_unique<AgentProcess>(agent_arguments(), scratch_.path() / "agent-2.log");
  ASSERT_TRUE(eventually([&] { return core_.registrations(name_) == 2; })) << second->log();
  // The registration reported what it had recovered.
  auto registration = core_.registration(name_);
  ASSERT_TRUE(registration.has_value());
  EXPECT_EQ(registration->instances.size(), 4u);

  // Adopted, not restarted: same pid, same port.
  for (const char* id : {"2000000000000001", "2000000000000002"}) {
    ASSERT_TRUE(eventually([&] { return state_is(id, InstanceState::started); })) << second->log();
    auto s = *status(id);
    EXPECT_EQ(s.pid, before[id].pid) << id;
    EXPECT_EQ(s.restarts, 0) << id;
    EXPECT_EQ(s.endpoints.at("web").host_port, before[id].endpoints.at("web").host_port) << id;
  }
  // The one that died meanwhile is restarted, on its port.
  ASSERT_TRUE(eventually([&] {
    auto s = status("2000000000000003");
    return s && s->state == InstanceState::started && s->restarts == 1;
  })) << second->log();
  EXPECT_EQ(status("2000000000000003")->endpoints.at("web").host_port,
            before["2000000000000003"].endpoints.at("web").host_port);
  // The unwanted one is stopped and removed, and so are the leftovers.
  ASSERT_TRUE(eventually([&] { return !stdfs::exists(folder("2000000000000004")); }))
      << second->log();
  EXPECT_TRUE(eventually([&] { return !process_alive(before["2000000000000004"].pid); }));
  EXPECT_TRUE(eventually([&] {
    return !stdfs::exists(folder("00000000deadbeef")) && !stdfs::exists(folder("00000000cafecafe"));
  }));
  EXPECT_FALSE(status("2000000000000004").has_value());

  // A graceful stop leaves them running too.
  second->kill(SIGTERM);
  int wait_status = second->wait();
  EXPECT_TRUE(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) << wait_status;
  EXPECT_TRUE(process_alive(before["2000000000000001"].pid));

  core_.assign(name_, {});
  auto third = std::make_unique<AgentProcess>(agent_arguments(), scratch_.path() / "agent-3.log");
  ASSERT_TRUE(eventually([&] { return core_.registrations(name_) == 3; }));
  ASSERT_TRUE(eventually([&] {
    std::error_code error;
    return stdfs::is_empty(data() / "instances", error);
  })) << third->log();
  EXPECT_TRUE(eventually([&] { return !process_alive(before["2000000000000001"].pid); }));
}

TEST(CoreClientScenario, MovesToTheNextCoreAndRegistersAgainAfter404) {
  TestCore core;
  Scratch scratch;
  std::string name = unique_agent_name("failover");
  InProcessAgent agent(core, scratch.path() / "data", name, [](AgentOptions& options) {
    // Nothing listens on the first URL.
    options.cores.insert(options.cores.begin(), "http://127.0.0.1:1");
  });
  ASSERT_TRUE(agent.start().ok());
  ASSERT_TRUE(eventually([&] { return core.registrations(name) == 1; }));
  // The core counts the registration before the agent has read the answer.
  EXPECT_TRUE(eventually([&] { return agent.agent().registered(); }));
  auto b = make_bundle(
      scratch.path(), "kept",
      testcomponent_conf("kept", {"--listen-env", "WEB", "--signal-http"},
                         "web { bind-protocol = \"http\" }", "readiness { check = \"signal\" }"));
  core.add_file(b.digest, b.zip);
  core.assign(name, {assigned("3000000000000001", b)});
  ASSERT_TRUE(eventually([&] {
    auto s = core.status(name, "3000000000000001");
    return s && s->state == InstanceState::started;
  }));
  int pid = core.status(name, "3000000000000001")->pid;
  core.forget(name);
  ASSERT_TRUE(eventually([&] { return core.registrations(name) == 2; }));
  auto registration = core.registration(name);
  ASSERT_EQ(registration->instances.size(), 1u);
  EXPECT_EQ(registration->instances[0].state, InstanceState::started);
  ASSERT_TRUE(eventually([&] {
    auto s = core.status(name, "3000000000000001");
    return s && s->state == InstanceState::started;
  }));
  EXPECT_EQ(core.status(name, "3000000000000001")->pid, pid);
  core.assign(name, {});
  EXPECT_TRUE(eventually([&] { return agent.agent().instances().empty(); }));
  agent.stop();
}

TEST(CoreClientScenario, InProcessRestartAdoptsInstances) {
  TestCore core;
  Scratch scratch;
  std::string name = unique_agent_name("restart");
  auto b = make_bundle(
      scratch.path(), "adopted",
      testcomponent_conf("adopted", {"--listen-env", "WEB", "--signal-notify"},
                         "web { bind-protocol = \"http\" }", "readiness { check = \"signal\" }"));
  core.add_file(b.digest, b.zip);
  core.assign(name, {assigned("4000000000000001", b)});
  int pid = 0;
  {
    InProcessAgent agent(core, scratch.path() / "data", name);
    ASSERT_TRUE(agent.start().ok());
    ASSERT_TRUE(eventually([&] {
      auto s = core.status(name, "4000000000000001");
      return s && s->state == InstanceState::started;
    }));
    pid = core.status(name, "4000000000000001")->pid;
  }
  EXPECT_TRUE(process_alive(pid));
  InProcessAgent agent(core, scratch.path() / "data", name);
  ASSERT_TRUE(agent.start().ok());
  ASSERT_TRUE(eventually([&] { return core.registrations(name) == 2; }));
  auto instances = agent.agent().instances();
  ASSERT_EQ(instances.size(), 1u);
  EXPECT_EQ(instances[0].pid, pid);
  EXPECT_EQ(instances[0].state, InstanceState::started);
  // Kill it now: the adopted launch's exit arrives through the new runtime and restarts it.
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(eventually([&] {
    auto s = core.status(name, "4000000000000001");
    return s && s->state == InstanceState::started && s->restarts == 1;
  }));
  core.assign(name, {});
  EXPECT_TRUE(eventually([&] { return agent.agent().instances().empty(); }));
}

}  // namespace
}  // namespace baton::agent::testing
