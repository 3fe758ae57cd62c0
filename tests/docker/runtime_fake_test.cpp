// The docker runtime against a fake Engine API on a unix socket: the error paths and daemon
// behaviours a real dockerd does not produce on demand.

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "runtimes/docker/docker.hpp"
#include "runtimes/docker/spec.hpp"
#include "tests/docker/fake_engine.hpp"
#include "tests/docker/support.hpp"

namespace baton::runtimes::docker {
namespace {

using docker_testing::FakeContainer;
using docker_testing::FakeEngine;
using docker_testing::FakeHost;
using docker_testing::log_texts;
using docker_testing::TempDir;
using docker_testing::wait_until;
using docker_testing::write_text;
using namespace std::chrono_literals;
using nlohmann::json;

constexpr const char* kAgent = "agent-t";

std::string frame(int stream, std::string_view payload) {
  std::string out(8, '\0');
  out[0] = static_cast<char>(stream);
  out[7] = static_cast<char>(payload.size());
  return out + std::string(payload);
}

class FakeDocker : public ::testing::Test {
 protected:
  void SetUp() override {
    engine_ = std::make_unique<FakeEngine>(dir_.path() / "docker.sock");
    bundle_root_ = dir_.path() / "bundle";
    write_text(bundle_root_ / "bundle.conf", "name = web-app\n");
    write_text(bundle_root_ / "web" / "Dockerfile", "FROM scratch\nCOPY server /server\n");
    write_text(bundle_root_ / "web" / "server", "binary");
    descriptor_.name = "web-app";
    bundle::Component component;
    component.name = "web";
    component.file_system_type = "docker";
    descriptor_.components.push_back(component);
    runtime_ = make(options());
  }

  void TearDown() override {
    runtime_.reset();
    engine_.reset();
  }

  Options options() {
    Options options;
    options.agent_name = kAgent;
    options.socket = (dir_.path() / "docker.sock").string();
    options.orphan_grace = 300ms;
    options.reconcile_interval = 200ms;
    options.log_drain = 300ms;
    options.api_timeout = 5s;
    return options;
  }

  RuntimePtr make(Options options) { return make_runtime(host_, std::move(options)); }

  BundleContent content() { return BundleContent{digest_, bundle_root_, &descriptor_}; }

  Launch launch(const std::string& instance = "0123456789abcdef") {
    Launch launch;
    launch.id = instance + ".web";
    launch.instance_id = instance;
    launch.bundle_id = digest_.substr(0, 32);
    launch.bundle_digest = digest_;
    launch.component = "web";
    launch.agent_name = kAgent;
    launch.bundle_root = bundle_root_;
    launch.log_dir = dir_.path() / instance / "logs";
    launch.state_dir = dir_.path() / instance / "state";
    launch.work_dir = dir_.path() / instance / "work";
    std::filesystem::create_directories(launch.log_dir);
    launch.environment = {{"BUNDLE_NAME", "web-app"}, {"BUNDLE_HOST_IP", "127.0.0.1"}};
    launch.ports = {PortBinding{"web", bundle::Protocol::http, 10001, 10001}};
    return launch;
  }

  std::string container_id(const Launch& l) {
    auto container = engine_->container(container_name(kAgent, l.id));
    return container ? container->id : std::string();
  }

  TempDir dir_;
  std::unique_ptr<FakeEngine> engine_;
  FakeHost host_;
  stdfs::path bundle_root_;
  bundle::Descriptor descriptor_;
  std::string digest_ = std::string(64, 'd');
  RuntimePtr runtime_;
};

TEST(DockerProbe, NamesTheSocketWhenItIsMissing) {
  FakeHost host;
  auto runtime =
      make_runtime(host, Options{.agent_name = kAgent, .socket = "/nonexistent/docker.sock"});
  auto probe = runtime->probe();
  EXPECT_FALSE(probe.available);
  EXPECT_EQ(probe.reason, "no socket at /nonexistent/docker.sock");
}

TEST(DockerProbe, NamesTheSocketWhenNothingListens) {
  TempDir dir;
  const auto path = dir.path() / "stale.sock";
  {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    ::close(fd);  // the file stays, nobody listens: a daemon that died
  }
  FakeHost host;
  auto runtime = make_runtime(host, Options{.agent_name = kAgent, .socket = path.string()});
  auto probe = runtime->probe();
  EXPECT_FALSE(probe.available);
  EXPECT_NE(probe.reason.find("cannot reach dockerd at " + path.string()), std::string::npos)
      << probe.reason;
}

TEST_F(FakeDocker, ProbeUnavailableWhenTheDaemonHangsUp) {
  engine_->set_hook([](FakeEngine::Exchange& exchange) {
    if (exchange.request.path != "/version") return false;
    exchange.drop = true;
    return true;
  });
  auto probe = runtime_->probe();
  EXPECT_FALSE(probe.available);
  EXPECT_NE(probe.reason.find(dir_.path().string()), std::string::npos) << probe.reason;
}

TEST_F(FakeDocker, ProbeReportsVersionApiAndBridgeAddress) {
  auto probe = runtime_->probe();
  ASSERT_TRUE(probe.available) << probe.reason;
  EXPECT_EQ(probe.attributes["version"], "20.10.99-fake");
  EXPECT_EQ(probe.attributes["api-version"], "1.41");
  EXPECT_EQ(probe.attributes["bridge-ip"], "172.30.0.1");
  EXPECT_EQ(probe.attributes["bridge-subnet"], "172.30.0.0/16");
}

TEST_F(FakeDocker, PrepareBuildsOncePerDigestEvenWhenManyStartsAskAtOnce) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      if (!runtime_->prepare(content())) ++failures;
    });
  }
  for (auto& thread : threads)
    thread.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(engine_->count("POST /build"), 1u);
  const std::string reference = image_reference(kAgent, "web-app", "web", digest_);
  EXPECT_TRUE(engine_->has_image(reference));
  // Already prepared: nothing more.
  ASSERT_TRUE(runtime_->prepare(content()));
  EXPECT_EQ(engine_->count("POST /build"), 1u);
  // A new runtime (an agent restart) finds the image instead of building it again.
  runtime_ = make(options());
  ASSERT_TRUE(runtime_->prepare(content()));
  EXPECT_EQ(engine_->count("POST /build"), 1u);
}

TEST_F(FakeDocker, ABuildStreamDroppedHalfWayFailsWithItsTail) {
  engine_->set_hook([](FakeEngine::Exchange& exchange) {
    if (exchange.request.path != "/build") return false;
    exchange.write(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
    exchange.write("22\r\n{\"stream\":\"Step 1/3 : FROM x\\n\"}\n\r\n");
    exchange.drop = true;
    return true;
  });
  auto prepared = runtime_->prepare(content());
  ASSERT_FALSE(prepared);
  EXPECT_EQ(prepared.error().code, Errc::unavailable);
  EXPECT_NE(prepared.error().message.find("docker build of"), std::string::npos);
  EXPECT_NE(prepared.error().message.find("Step 1/3 : FROM x"), std::string::npos)
      << prepared.error().message;
  // The failure is not remembered: the next prepare builds.
  engine_->set_hook({});
  EXPECT_TRUE(runtime_->prepare(content()));
}

TEST_F(FakeDocker, ABuildErrorLineFailsTheStartWithTheLastLines) {
  engine_->set_hook([](FakeEngine::Exchange& exchange) {
    if (exchange.request.path != "/build") return false;
    std::string body =
        "{\"stream\":\"Step 2/2 : RUN false\\n\"}\n"
        "{\"errorDetail\":{\"message\":\"The command '/bin/sh -c false' returned a non-zero code: "
        "1\"},\"error\":\"The command '/bin/sh -c false' returned a non-zero code: 1\"}\n";
    exchange.write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                   std::to_string(body.size()) + "\r\n\r\n" + body);
    return true;
  });
  auto prepared = runtime_->prepare(content());
  ASSERT_FALSE(prepared);
  EXPECT_EQ(prepared.error().code, Errc::invalid);
  EXPECT_NE(prepared.error().message.find("component web"), std::string::npos);
  EXPECT_NE(prepared.error().message.find("Step 2/2 : RUN false"), std::string::npos);
  EXPECT_NE(prepared.error().message.find("returned a non-zero code: 1"), std::string::npos);
}

TEST_F(FakeDocker, AComponentFolderWithoutDockerfileOrArchiveIsNamed) {
  std::filesystem::remove(bundle_root_ / "web" / "Dockerfile");
  auto prepared = runtime_->prepare(content());
  ASSERT_FALSE(prepared);
  EXPECT_NE(prepared.error().message.find("neither a Dockerfile nor an image archive"),
            std::string::npos)
      << prepared.error().message;
}

TEST_F(FakeDocker, StartRegistersTheWaitBeforeTheStartAndReportsTheExit) {
  engine_->set_default_logs(frame(1, "2026-11-22T02:38:10.996419908Z hello\n") +
                            frame(2, "2026-11-22T02:38:10.996519908Z oops\n"));
  ASSERT_TRUE(runtime_->prepare(content()));
  Launch l = launch();
  auto handle = runtime_->start(l);
  ASSERT_TRUE(handle) << handle.error().message;
  EXPECT_EQ(handle->pid, 4242);
  json state = json::parse(handle->state);
  const std::string id = state["container"];
  EXPECT_EQ(state["name"], container_name(kAgent, l.id));
  auto requests = engine_->requests();
  auto at = [&](const std::string& what) {
    return std::find(requests.begin(), requests.end(), what) - requests.begin();
  };
  EXPECT_LT(at("POST /containers/create"), at("POST /containers/" + id + "/wait"));
  EXPECT_LT(at("POST /containers/" + id + "/wait"), at("POST /containers/" + id + "/start"));
  auto container = engine_->container(id);
  ASSERT_TRUE(container);
  EXPECT_EQ(container->labels["baton.agent"], kAgent);
  EXPECT_EQ(container->labels["baton.launch"], l.id);
  EXPECT_EQ(container->labels["baton.instance"], l.instance_id);
  ASSERT_TRUE(wait_until([&] { return log_texts(l.log_dir, "web").size() == 2; }));

  engine_->exit_container(id, 3);
  auto exit = host_.wait_exit(l.id, 10s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->code, 3);
  EXPECT_FALSE(engine_->container(id)) << "the ended container is removed";
  EXPECT_EQ(log_texts(l.log_dir, "web"), (std::vector<std::string>{"hello", "oops"}));
  EXPECT_EQ(host_.exit_count(l.id), 1u);
}

TEST_F(FakeDocker, ANameInUseIsALeftoverThatIsRemovedBeforeTryingAgain) {
  ASSERT_TRUE(runtime_->prepare(content()));
  Launch l = launch();
  FakeContainer leftover;
  leftover.name = container_name(kAgent, l.id);
  leftover.labels = {{"baton.agent", kAgent}, {"baton.launch", l.id}};
  const std::string old_id = engine_->add_container(leftover);
  auto handle = runtime_->start(l);
  ASSERT_TRUE(handle) << handle.error().message;
  EXPECT_EQ(engine_->count("POST /containers/create"), 2u);
  EXPECT_FALSE(engine_->container(old_id));
  EXPECT_TRUE(engine_->container(container_name(kAgent, l.id)));
  EXPECT_TRUE(host_.logged("the name is in use"));
}

TEST_F(FakeDocker, NoSuchImageMakesTheImageAgainThenStarts) {
  ASSERT_TRUE(runtime_->prepare(content()));
  const std::string reference = image_reference(kAgent, "web-app", "web", digest_);
  engine_->remove_image(reference);  // someone ran `docker image prune -a`
  Launch l = launch();
  auto handle = runtime_->start(l);
  ASSERT_TRUE(handle) << handle.error().message;
  EXPECT_EQ(engine_->count("POST /build"), 2u);
  EXPECT_TRUE(engine_->has_image(reference));
}

TEST_F(FakeDocker, NoSuchImageThatCannotBeMadeAgainFailsTheStartLeavingNothing) {
  ASSERT_TRUE(runtime_->prepare(content()));
  engine_->remove_image(image_reference(kAgent, "web-app", "web", digest_));
  engine_->set_hook([](FakeEngine::Exchange& exchange) {
    if (exchange.request.path != "/build") return false;
    exchange.write(
        "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 25\r\n\r\n"
        "{\"message\":\"disk full\"}\n\n");
    return true;
  });
  Launch l = launch();
  auto handle = runtime_->start(l);
  ASSERT_FALSE(handle);
  EXPECT_EQ(handle.error().code, Errc::not_found);
  EXPECT_NE(handle.error().message.find("disk full"), std::string::npos) << handle.error().message;
  EXPECT_EQ(engine_->container_count(), 0u);
  EXPECT_EQ(host_.exit_count(l.id), 0u);
}

TEST_F(FakeDocker, ACreateThatFailsButLeavesAContainerIsCleanedUpByTheReconciler) {
  ASSERT_TRUE(runtime_->prepare(content()));
  std::atomic<int> failed_deletes{0};
  FakeEngine* engine = engine_.get();
  engine_->set_hook([engine, &failed_deletes](FakeEngine::Exchange& exchange) {
    const auto& request = exchange.request;
    if (request.method == "POST" && request.path == "/containers/create") {
      // The daemon made the container, then the call failed anyway.
      json body = json::parse(request.body);
      FakeContainer container;
      container.name = request.query.at("name");
      for (const auto& [key, value] : body["Labels"].items())
        container.labels[key] = value;
      engine->add_container(container);
      exchange.write(
          "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 36\r\n\r\n"
          "{\"message\":\"failed to set up net\"}\n\n");
      return true;
    }
    if (request.method == "DELETE" && request.path.starts_with("/containers/") &&
        failed_deletes < 1) {
      ++failed_deletes;
      exchange.write(
          "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 25\r\n\r\n"
          "{\"message\":\"daemon busy\"}");
      return true;
    }
    return false;
  });
  Launch l = launch();
  auto handle = runtime_->start(l);
  ASSERT_FALSE(handle);
  EXPECT_EQ(handle.error().code, Errc::io);
  EXPECT_NE(handle.error().message.find("failed to set up net"), std::string::npos);
  EXPECT_EQ(engine_->container_count(), 1u) << "the first removal failed";
  ASSERT_TRUE(wait_until([&] { return engine_->container_count() == 0; }, 10s))
      << "the reconciler removes what no launch claims";
  EXPECT_TRUE(host_.logged("no launch of this agent claims it"));
  EXPECT_EQ(host_.exit_count(l.id), 0u);
}

TEST_F(FakeDocker, UnknownLabelledContainersGoAfterTheGraceTheOthersStay) {
  ASSERT_TRUE(runtime_->prepare(content()));
  Launch l = launch();
  ASSERT_TRUE(runtime_->start(l));
  FakeContainer orphan;
  orphan.name = "baton-agent-t-ffffffffffffffff.web";
  orphan.state = "running";
  orphan.labels = {{"baton.agent", kAgent}, {"baton.launch", "ffffffffffffffff.web"}};
  const std::string orphan_id = engine_->add_container(orphan);
  FakeContainer other_agent = orphan;
  other_agent.name = "baton-other-ffffffffffffffff.web";
  other_agent.labels["baton.agent"] = "other";
  const std::string other_id = engine_->add_container(other_agent);
  FakeContainer build_step;  // labelled by the agent but not a launch: a build's
  build_step.name = "silly_name";
  build_step.labels = {{"baton.agent", kAgent}};
  const std::string build_id = engine_->add_container(build_step);
  ASSERT_TRUE(wait_until([&] { return !engine_->container(orphan_id); }, 10s));
  EXPECT_TRUE(engine_->container(other_id));
  EXPECT_TRUE(engine_->container(build_id));
  EXPECT_TRUE(engine_->container(container_name(kAgent, l.id)));
}

TEST_F(FakeDocker, StopWithTheStopSignalUsesDockersStopWithTheGrace) {
  ASSERT_TRUE(runtime_->prepare(content()));
  Launch l = launch();
  l.stop_signal = 15;
  auto handle = runtime_->start(l);
  ASSERT_TRUE(handle);
  ASSERT_TRUE(runtime_->stop(l.id, 15, 2000ms));
  auto exit = host_.wait_exit(l.id, 10s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->signal, 15);
  EXPECT_EQ(exit->code, -1);
  const std::string id = json::parse(handle->state)["container"];
  EXPECT_EQ(engine_->count("POST /containers/" + id + "/stop"), 1u);
}

TEST_F(FakeDocker, StopWithAnotherSignalKillsWithIt) {
  ASSERT_TRUE(runtime_->prepare(content()));
  Launch l = launch();
  auto handle = runtime_->start(l);
  ASSERT_TRUE(handle);
  ASSERT_TRUE(runtime_->stop(l.id, 2, 300ms));
  auto exit = host_.wait_exit(l.id, 10s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->signal, 2);
  // Unknown and ended launches: not an error.
  EXPECT_TRUE(runtime_->stop(l.id, 15, 1000ms));
  EXPECT_TRUE(runtime_->stop("nothing.here", 15, 1000ms));
}

TEST_F(FakeDocker, DestroyReportsOnceAndIsIdempotent) {
  ASSERT_TRUE(runtime_->prepare(content()));
  Launch l = launch();
  ASSERT_TRUE(runtime_->start(l));
  ASSERT_TRUE(runtime_->destroy(l.id));
  EXPECT_EQ(engine_->container_count(), 0u);
  auto exit = host_.wait_exit(l.id, 10s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->signal, 9);
  EXPECT_TRUE(runtime_->destroy(l.id));
  EXPECT_TRUE(runtime_->destroy("never.seen"));
  EXPECT_EQ(host_.exit_count(l.id), 1u);
}

TEST_F(FakeDocker, StatsComeFromTheDaemon) {
  ASSERT_TRUE(runtime_->prepare(content()));
  Launch l = launch();
  ASSERT_TRUE(runtime_->start(l));
  auto stats = runtime_->stats(l.id);
  ASSERT_TRUE(stats) << stats.error().message;
  EXPECT_DOUBLE_EQ(stats->cpu_seconds, 2.5);
  EXPECT_EQ(stats->memory_bytes, 800000);
  EXPECT_FALSE(runtime_->stats("nothing.here"));
}

TEST_F(FakeDocker, DaemonAwayAndBackReadoptsTheContainersStillThere) {
  ASSERT_TRUE(runtime_->prepare(content()));
  Launch l = launch();
  auto handle = runtime_->start(l);
  ASSERT_TRUE(handle);
  const std::string id = json::parse(handle->state)["container"];
  ASSERT_TRUE(wait_until([&] { return engine_->count("GET /containers/" + id + "/logs") == 1; }));
  engine_->stop();
  auto probe = runtime_->probe();
  EXPECT_FALSE(probe.available);
  EXPECT_NE(probe.reason.find("docker.sock"), std::string::npos);
  engine_->start();
  ASSERT_TRUE(wait_until([&] { return engine_->count("POST /containers/" + id + "/wait") == 2; }))
      << "the wait is re-armed when dockerd is back";
  ASSERT_TRUE(wait_until([&] { return engine_->count("GET /containers/" + id + "/logs") == 2; }));
  EXPECT_EQ(host_.exit_count(l.id), 0u);
  engine_->exit_container(id, 0);
  auto exit = host_.wait_exit(l.id, 10s);
  ASSERT_TRUE(exit);
  EXPECT_TRUE(exit->success());
}

TEST_F(FakeDocker, AContainerGoneWithTheDaemonIsReportedAsVanished) {
  ASSERT_TRUE(runtime_->prepare(content()));
  Launch l = launch();
  ASSERT_TRUE(runtime_->start(l));
  engine_->stop(/*forget_containers=*/true);
  engine_->start();
  auto exit = host_.wait_exit(l.id, 15s);
  ASSERT_TRUE(exit);
  EXPECT_EQ(exit->code, -1);
  EXPECT_NE(exit->message.find("vanished while dockerd was down"), std::string::npos)
      << exit->message;
}

TEST_F(FakeDocker, ARecreatedRuntimeRecoversItsContainers) {
  ASSERT_TRUE(runtime_->prepare(content()));
  Launch running = launch("1111111111111111");
  Launch ended = launch("2222222222222222");
  Launch gone = launch("3333333333333333");
  auto running_handle = runtime_->start(running);
  auto ended_handle = runtime_->start(ended);
  auto gone_handle = runtime_->start(gone);
  ASSERT_TRUE(running_handle && ended_handle && gone_handle);
  runtime_.reset();  // the agent was killed: containers stay
  EXPECT_EQ(engine_->container_count(), 3u);
  engine_->exit_container(container_id(ended), 7);
  engine_->remove_container(container_id(gone));  // removed by hand while the agent was down
  runtime_ = make(options());

  auto recovered = runtime_->recover(running, *running_handle);
  ASSERT_TRUE(recovered) << recovered.error().message;
  auto recovered_ended = runtime_->recover(ended, *ended_handle);
  ASSERT_TRUE(recovered_ended);
  auto recovered_gone = runtime_->recover(gone, *gone_handle);
  ASSERT_TRUE(recovered_gone);

  auto ended_exit = host_.wait_exit(ended.id, 10s);
  ASSERT_TRUE(ended_exit);
  EXPECT_EQ(ended_exit->code, 7);
  auto gone_exit = host_.wait_exit(gone.id, 10s);
  ASSERT_TRUE(gone_exit);
  EXPECT_NE(gone_exit->message.find("removed while the agent was down"), std::string::npos);
  EXPECT_EQ(host_.exit_count(running.id), 0u);
  // Still running and claimed: the reconciler leaves it alone past the grace period (three
  // passes at 200 ms take longer than the 300 ms grace).
  const std::size_t lists = engine_->count("GET /containers/json");
  ASSERT_TRUE(wait_until([&] { return engine_->count("GET /containers/json") >= lists + 3; }));
  EXPECT_TRUE(engine_->container(container_id(running)));
  engine_->exit_container(container_id(running), 1);
  auto running_exit = host_.wait_exit(running.id, 10s);
  ASSERT_TRUE(running_exit);
  EXPECT_EQ(running_exit->code, 1);
}

}  // namespace
}  // namespace baton::runtimes::docker
