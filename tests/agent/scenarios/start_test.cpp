// Starting instances through a test core: readiness by HTTP signal, notify and polling; ports;
// the service locator; the working folder; runtime-config.sh.

#include <gtest/gtest.h>

#include <set>

#include "agent/environment.hpp"
#include "common/files.hpp"
#include "tests/agent/support/agent_fixture.hpp"

namespace baton::agent::testing {
namespace {

using protocol::InstanceState;

class StartTest : public AgentFixture {};

TEST_F(StartTest, StartedByHttpSignal) {
  auto b = bundle(
      "signalling",
      testcomponent_conf("signalling", {"--listen-env", "WEB", "--signal-http"},
                         "web { bind-protocol = \"http\" }", "readiness { check = \"signal\" }"));
  core_.assign(name(), {assigned("a000000000000001", b)});
  ASSERT_TRUE(eventually([&] { return state_is("a000000000000001", InstanceState::started); }))
      << (status("a000000000000001") ? status("a000000000000001")->error : "no status");
  auto s = *status("a000000000000001");
  EXPECT_GT(s.pid, 0);
  EXPECT_GT(s.started_at, 0);
  ASSERT_EQ(s.endpoints.count("web"), 1u);
  int port = s.endpoints.at("web").host_port;
  EXPECT_GE(port, 20000);
  EXPECT_EQ(s.endpoints.at("web").protocol, "http");
  auto answer = http_call("GET", "http://127.0.0.1:" + std::to_string(port) + "/");
  EXPECT_EQ(answer.status, 200);
  EXPECT_NE(answer.body.find(s.bundle_id), std::string::npos);
  // instance.json exists and records the port.
  auto record = files::read(instance_folder("a000000000000001") / "instance.json");
  ASSERT_TRUE(record.ok());
  EXPECT_NE(record->find(std::to_string(port)), std::string::npos);
}

TEST_F(StartTest, StartedByNotify) {
  auto b = bundle("notifying", testcomponent_conf("notifying", {"--signal-notify", "--sleep"}, "",
                                                  "readiness { check = \"signal\" }"));
  core_.assign(name(), {assigned("a000000000000002", b)});
  ASSERT_TRUE(eventually([&] { return state_is("a000000000000002", InstanceState::started); }))
      << logs_of("a000000000000002");
}

TEST_F(StartTest, StartedByTcpPolling) {
  auto b = bundle("polled", testcomponent_conf("polled", {"--listen-env", "WEB"}));
  core_.assign(name(), {assigned("a000000000000003", b)});
  ASSERT_TRUE(eventually([&] { return state_is("a000000000000003", InstanceState::started); }))
      << logs_of("a000000000000003");
}

TEST_F(StartTest, StartedByHttpPolling) {
  auto b = bundle("http-polled",
                  testcomponent_conf(
                      "http-polled", {"--listen-env", "WEB"}, "web { bind-protocol = \"http\" }",
                      "readiness { check = \"http\", path = \"/health\", interval = \"50ms\" }"));
  core_.assign(name(), {assigned("a000000000000004", b)});
  ASSERT_TRUE(eventually([&] { return state_is("a000000000000004", InstanceState::started); }))
      << logs_of("a000000000000004");
}

TEST_F(StartTest, NotReadyWithinStartTimeoutCountsAsFailedStart) {
  auto b = bundle(
      "silent", testcomponent_conf("silent", {"--sleep"}, "",
                                   "readiness { check = \"signal\" }\nstart-timeout = \"300ms\""));
  core_.assign(name(), {assigned("a000000000000005", b)});
  ASSERT_TRUE(eventually([&] {
    auto s = status("a000000000000005");
    return s && s->restarts >= 1;
  }));
  EXPECT_NE(status("a000000000000005")->error.find("not ready within 300 ms"), std::string::npos);
}

TEST_F(StartTest, ThreeInstancesGetDistinctPorts) {
  auto b = bundle("three", testcomponent_conf("three", {"--listen-env", "WEB", "--signal-http"},
                                              "web { bind-protocol = \"http\" }\n"
                                              "admin { bind-protocol = \"tcp\" }",
                                              "readiness { check = \"signal\" }"));
  core_.assign(name(), {assigned("b000000000000001", b), assigned("b000000000000002", b),
                        assigned("b000000000000003", b)});
  std::vector<std::string> ids = {"b000000000000001", "b000000000000002", "b000000000000003"};
  ASSERT_TRUE(eventually([&] {
    for (const auto& id : ids) {
      if (!state_is(id, InstanceState::started)) return false;
    }
    return true;
  }));
  std::set<int> ports;
  for (const auto& id : ids) {
    auto s = *status(id);
    for (const auto& [endpoint, binding] : s.endpoints) {
      EXPECT_TRUE(ports.insert(binding.host_port).second) << binding.host_port;
      EXPECT_EQ(binding.bind_port, binding.host_port);
    }
  }
  EXPECT_EQ(ports.size(), 6u);
  // One download and one extraction for the three.
  EXPECT_EQ(core_.downloads(b.digest), 1);
}

TEST_F(StartTest, EnvironmentReachesTheComponent) {
  auto b = bundle("env",
                  testcomponent_conf("env", {"--print-env", "--listen-env", "WEB", "--signal-http"},
                                     "web { bind-protocol = \"http\" }",
                                     "readiness { check = \"signal\" }\ntags = [\"t1\", \"t2\"]"));
  auto a = assigned("c000000000000001", b);
  a.peers["web"] = {protocol::Peer{"http", "10.9.9.9", 10042}};
  core_.assign(name(), {a});
  ASSERT_TRUE(eventually([&] { return state_is("c000000000000001", InstanceState::started); }));
  std::string output = logs_of("c000000000000001");
  for (const char* expected :
       {"BUNDLE_NAME=env", "BUNDLE_TAGS=t1,t2", "BUNDLE_HOST_IP=127.0.0.1", "WEB_BIND_IP=127.0.0.1",
        "WEB_OTHER_IPS=10.9.9.9", "WEB_OTHER_PORTS=10042",
        "CONDUCTR_CONTROL=http://127.0.0.1:", "CONDUCTR_STATUS=http://127.0.0.1:",
        "SERVICE_LOCATOR=http://127.0.0.1:", "NOTIFY_SOCKET=", "CONTAINER_ENV="}) {
    EXPECT_NE(output.find(expected), std::string::npos) << expected << "\n" << output;
  }
  EXPECT_EQ(output.find("HOME="), std::string::npos) << output;
}

TEST_F(StartTest, RelativeStartCommandRunsInTheWorkingFolder) {
  // The program lives in the bundle; the component's cwd mirrors the bundle's top folder.
  std::string script =
      "#!/bin/sh\n"
      "test -f data/payload.txt || { echo 'no data/payload.txt in cwd' >&2; exit 4; }\n"
      "echo written > own-file.txt || exit 5\n"
      "exec " +
      testcomponent().string() + " --listen-env WEB\n";
  std::string conf = testcomponent_conf("relative", {});
  auto at = conf.find("start-command = [");
  conf.replace(at, conf.find('\n', at) - at, "start-command = [\"relative/bin/run\"]");
  std::map<std::string, std::string> files;
  files["relative/bin/run@exec"] = script;
  files["data/payload.txt"] = "hello";
  auto b = bundle("relative", conf, files);
  auto a = assigned("d000000000000001", b);
  core_.assign(name(), {a});
  ASSERT_TRUE(eventually([&] { return state_is("d000000000000001", InstanceState::started); }))
      << logs_of("d000000000000001");
  EXPECT_TRUE(stdfs::is_symlink(instance_folder("d000000000000001") / "work" / "data"));
  EXPECT_TRUE(stdfs::exists(instance_folder("d000000000000001") / "work" / "own-file.txt"))
      << logs_of("d000000000000001");
}

}  // namespace
}  // namespace baton::agent::testing
