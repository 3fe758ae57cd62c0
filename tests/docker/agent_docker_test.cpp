// A real baton-agent runs docker bundles on the real dockerd (skipped, loudly, when none
// answers), with the test core of tests/agent: the image is built from the bundle's Dockerfile
// (FROM scratch around the static test component), two instances get distinct published ports
// and answer through them, signal readiness to $CONDUCTR_STATUS on the container bridge, come
// back after a crash, are re-adopted (not restarted) by the next agent after a SIGKILL, and leave
// no container or image behind once stopped and unloaded. dockerd going away (a proxy socket
// taken down) is reported to the core, and its containers are taken back or restarted when it
// returns.

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>

#include "runtimes/docker/docker.hpp"
#include "runtimes/docker/engine.hpp"
#include "tests/agent/support/fixtures.hpp"
#include "tests/docker/dockerd_support.hpp"
#include "tests/docker/socket_proxy.hpp"
#include "tests/docker/support.hpp"

namespace baton::docker_testing {
namespace {

using agent::testing::AgentProcess;
using agent::testing::assigned;
using agent::testing::eventually;
using agent::testing::http_call;
using agent::testing::TestBundle;
using nlohmann::json;
using protocol::InstanceState;
using namespace std::chrono_literals;

constexpr auto kSlow = 180s;  // an image build and container starts on a busy machine

class AgentDocker : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto missing = dockerd_missing(); !missing.empty()) GTEST_SKIP() << missing;
  }
  void TearDown() override {
    agent_.reset();
    remove_everything_of(owner());
  }
  // What marks this agent's containers and images on the shared dockerd.
  std::string owner() const { return runtimes::docker::owner_for(name_, scratch_.path() / "data"); }

  void start_agent(const std::string& socket = kDockerSocket) {
    int first = baton::testing::reserved_port_slot();
    std::vector<std::string> arguments = {"--name",
                                          name_,
                                          "--core",
                                          core_.url(),
                                          "--data",
                                          (scratch_.path() / "data").string(),
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
                                          "--ports",
                                          std::to_string(first) + "-" + std::to_string(first + 999),
                                          "--docker-socket",
                                          socket,
                                          "--runtime-probe-interval",
                                          "0.2",
                                          "--log-level",
                                          "debug"};
    agent_ = std::make_unique<AgentProcess>(
        arguments, scratch_.path() / ("agent-" + std::to_string(++runs_) + ".log"));
  }
  std::string log() const { return agent_ ? agent_->log() : std::string(); }

  TestBundle web_bundle(const std::string& bundle_name) {
    const std::string conf =
        "version = \"1\"\nname = \"" + bundle_name +
        "\"\ncompatibilityVersion = \"1\"\n"
        "nrOfCpus = 0.1\nmemory = 67108864\ndiskSpace = 1000000\nroles = [\"web\"]\n"
        "readiness { check = \"signal\" }\n"
        "components {\n  web {\n    description = \"the static test component in a container\"\n"
        "    file-system-type = \"docker\"\n"
        "    start-command = [\"/testcomponent\", \"--print-env\", \"--listen-env\", \"WEB\", "
        "\"--signal-http\", \"--pid-file\", \"/bind-$WEB_BIND_IP\"]\n"
        "    stop-timeout = \"2s\"\n"
        "    endpoints {\n      web { bind-protocol = \"http\" }\n    }\n  }\n}\n";
    auto bundle =
        agent::testing::make_bundle(scratch_.path(), bundle_name, conf, image_folder("web"));
    core_.add_file(bundle.digest, bundle.zip);
    return bundle;
  }

  std::optional<protocol::InstanceStatus> status(const std::string& id) const {
    return core_.status(name_, id);
  }
  bool started(const std::string& id, int restarts) const {
    auto s = status(id);
    return s && s->state == InstanceState::started && s->restarts == restarts;
  }
  std::optional<protocol::RuntimeInfo> docker_runtime() const {
    auto registration = core_.registration(name_);
    if (!registration || registration->runtimes.count("docker") == 0) return std::nullopt;
    return registration->runtimes.at("docker");
  }
  // The container of an instance that is running now (id, or "" when none).
  std::string running_container(const std::string& instance) const {
    for (const auto& container : containers_labelled("baton.instance", instance)) {
      if (container["State"] == "running") return container["Id"];
    }
    return {};
  }
  json inspect(const std::string& container) const {
    return get_json("/containers/" + container + "/json");
  }
  int port_of(const std::string& id) const { return status(id)->endpoints.at("web").host_port; }
  bool answers(const std::string& id, const std::string& bundle_id) const {
    auto answer = http_call("GET", "http://127.0.0.1:" + std::to_string(port_of(id)) + "/");
    return answer.status == 200 && answer.body.find(bundle_id) != std::string::npos;
  }
  void kill_container(const std::string& container) {
    auto killed = dockerd().call("POST", "/containers/" + container + "/kill?signal=KILL");
    ASSERT_TRUE(killed.ok() && killed->status == 204) << container;
  }

  agent::testing::TestCore core_;
  agent::testing::Scratch scratch_;
  std::string name_ = agent::testing::unique_agent_name("docker");
  std::unique_ptr<AgentProcess> agent_;
  int runs_ = 0;
};

TEST_F(AgentDocker, ScaleTwoCrashAgentKillStopAndUnload) {
  start_agent();
  ASSERT_TRUE(eventually([&] { return docker_runtime().has_value(); })) << log();
  auto docker = *docker_runtime();
  ASSERT_TRUE(docker.available) << docker.reason;
  ASSERT_EQ(docker.attributes.count("bridge-ip"), 1u) << "no bridge address: " << log();
  const std::string bridge = docker.attributes.at("bridge-ip");

  auto bundle = web_bundle("docker-web");
  const std::string a = "dc00000000000001", b = "dc00000000000002";
  core_.assign(name_, {assigned(a, bundle), assigned(b, bundle)});
  // Started means the container signalled $CONDUCTR_STATUS: the bridge reaches the agent.
  ASSERT_TRUE(eventually([&] { return started(a, 0) && started(b, 0); }, kSlow)) << log();
  const std::string bundle_id = status(a)->bundle_id;
  EXPECT_NE(port_of(a), port_of(b));
  EXPECT_TRUE(answers(a, bundle_id));
  EXPECT_TRUE(answers(b, bundle_id));

  // What the container was given: the container's view, published on the host port.
  const std::string container_a = running_container(a);
  ASSERT_FALSE(container_a.empty());
  json info = inspect(container_a);
  const auto& command = info["Config"]["Cmd"];
  EXPECT_NE(std::find(command.begin(), command.end(), "/bind-0.0.0.0"), command.end()) << command;
  const auto& environment = info["Config"]["Env"];
  auto has = [&](const std::string& entry) {
    return std::find(environment.begin(), environment.end(), entry) != environment.end();
  };
  EXPECT_TRUE(has("WEB_BIND_IP=0.0.0.0")) << environment;
  EXPECT_TRUE(has("WEB_BIND_PORT=" + std::to_string(port_of(a)))) << environment;
  EXPECT_TRUE(has("WEB_HOST_PORT=" + std::to_string(port_of(a)))) << environment;
  EXPECT_TRUE(has("CONDUCTR_STATUS_IP=" + bridge)) << environment;
  EXPECT_TRUE(has("SERVICE_LOCATOR_IP=" + bridge)) << environment;
  const std::string key = std::to_string(port_of(a)) + "/tcp";
  EXPECT_EQ(info["HostConfig"]["PortBindings"][key][0]["HostPort"], std::to_string(port_of(a)));
  auto web_log = read_text(scratch_.path() / "data" / "instances" / a / "logs" / "web.log");
  EXPECT_NE(web_log.find("listening on 0.0.0.0:" + std::to_string(port_of(a))), std::string::npos)
      << web_log;

  // A crash: the agent starts a new container, on the same port.
  const int port_a = port_of(a);
  kill_container(container_a);
  ASSERT_TRUE(eventually([&] { return started(a, 1); }, kSlow)) << log();
  EXPECT_EQ(port_of(a), port_a);
  EXPECT_NE(running_container(a), container_a);
  EXPECT_TRUE(answers(a, bundle_id));

  // An agent SIGKILL: the containers keep running and the next agent adopts them.
  std::map<std::string, std::string> before = {{a, running_container(a)},
                                               {b, running_container(b)}};
  agent_->kill(SIGKILL);
  agent_->wait();
  for (const auto& [id, container] : before)
    EXPECT_TRUE(inspect(container)["State"]["Running"].get<bool>()) << id;
  start_agent();
  ASSERT_TRUE(eventually([&] { return core_.registrations(name_) >= 2; })) << log();
  ASSERT_TRUE(eventually([&] { return started(a, 1) && started(b, 0); }, kSlow)) << log();
  for (const auto& [id, container] : before)
    EXPECT_EQ(running_container(id), container) << id << " was restarted, not adopted";
  EXPECT_TRUE(answers(a, bundle_id));
  EXPECT_TRUE(answers(b, bundle_id));

  // Stopped: no container is left.
  core_.assign(name_, {});
  ASSERT_TRUE(eventually([&] { return core_.statuses(name_).empty(); }, kSlow)) << log();
  EXPECT_TRUE(eventually([&] { return containers_labelled("baton.agent", owner()).empty(); }));
  EXPECT_FALSE(images_of(owner()).empty());  // kept while the bundle is loaded
  // Unloaded: the agent drops the file, and the runtime its image.
  core_.discard(name_, {bundle.digest});
  ASSERT_TRUE(eventually([&] { return images_of(owner()).empty(); }, kSlow)) << log();
  EXPECT_TRUE(eventually([&] {
    auto held = core_.bundles(name_);
    return std::find(held.begin(), held.end(), bundle.digest) == held.end();
  }));
}

TEST_F(AgentDocker, DockerdAwayIsReportedAndItsContainersAreTakenBackWhenItReturns) {
  SocketProxy proxy(scratch_.path() / "docker.sock", kDockerSocket);
  start_agent(proxy.path().string());
  ASSERT_TRUE(eventually([&] { return docker_runtime() && docker_runtime()->available; })) << log();
  auto bundle = web_bundle("docker-away");
  const std::string kept = "dd00000000000001", killed = "dd00000000000002";
  core_.assign(name_, {assigned(kept, bundle), assigned(killed, bundle)});
  ASSERT_TRUE(eventually([&] { return started(kept, 0) && started(killed, 0); }, kSlow)) << log();
  const std::string kept_container = running_container(kept);
  const std::string killed_container = running_container(killed);
  const std::string bundle_id = status(kept)->bundle_id;

  // dockerd "dies": the agent registers again without it, so no docker bundle is placed here.
  const int registrations = core_.registrations(name_);
  proxy.down();
  ASSERT_TRUE(eventually([&] {
    auto docker = docker_runtime();
    return core_.registrations(name_) > registrations && docker && !docker->available;
  })) << log();
  EXPECT_NE(docker_runtime()->reason.find(proxy.path().string()), std::string::npos)
      << docker_runtime()->reason;
  // Meanwhile one container dies; the instances keep their state until dockerd is back.
  kill_container(killed_container);
  EXPECT_TRUE(started(kept, 0));

  proxy.up();
  ASSERT_TRUE(eventually([&] { return docker_runtime() && docker_runtime()->available; })) << log();
  // The dead one is restarted, the other taken back as it was.
  ASSERT_TRUE(eventually([&] { return started(killed, 1); }, kSlow)) << log();
  EXPECT_TRUE(started(kept, 0));
  EXPECT_EQ(running_container(kept), kept_container);
  EXPECT_NE(running_container(killed), killed_container);
  EXPECT_TRUE(answers(kept, bundle_id));
  EXPECT_TRUE(answers(killed, bundle_id));

  core_.assign(name_, {});
  ASSERT_TRUE(eventually([&] { return core_.statuses(name_).empty(); }, kSlow)) << log();
  EXPECT_TRUE(eventually([&] { return containers_labelled("baton.agent", owner()).empty(); }));
}

}  // namespace
}  // namespace baton::docker_testing
