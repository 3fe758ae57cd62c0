// Names, labels, the environment inside a container and the create body.

#include "runtimes/docker/spec.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace baton::runtimes::docker {
namespace {

using nlohmann::json;

Launch sample_launch() {
  Launch launch;
  launch.id = "9f1c2a7b4e5d6f70.web";
  launch.instance_id = "9f1c2a7b4e5d6f70";
  launch.bundle_id = "abf60451c6af18adcc851d67b369b7f5";
  launch.bundle_digest = std::string(64, 'a');
  launch.component = "web";
  launch.agent_name = "agent-1";
  launch.command = {"/bin/busybox", "httpd", "-f", "-p", "10001"};
  launch.environment = {{"BUNDLE_HOST_IP", "10.0.0.5"},
                        {"BUNDLE_NAME", "visualizer"},
                        {"CONTAINER_ENV",
                         "BUNDLE_HOST_IP:BUNDLE_NAME:CONTAINER_ENV:PATH:WEB_BIND_IP"
                         ":WEB_BIND_PORT:WEB_HOST_PORT"},
                        {"PATH", "/usr/bin:/bin"},
                        {"WEB_BIND_IP", "10.0.0.5"},
                        {"WEB_BIND_PORT", "10001"},
                        {"WEB_HOST_PORT", "10001"}};
  launch.ports = {PortBinding{"web", bundle::Protocol::http, 10001, 10001},
                  PortBinding{"dns", bundle::Protocol::udp, 53, 10002}};
  launch.limits.cpus = 0.5;
  launch.limits.memory = 64 << 20;
  launch.stop_signal = 2;
  launch.stop_timeout = std::chrono::milliseconds(2500);
  return launch;
}

TEST(Names, ContainerNamesKeepOnlyWhatDockerAccepts) {
  EXPECT_EQ(container_name("agent-1", "9f1c2a7b4e5d6f70.web"),
            "baton-agent-1-9f1c2a7b4e5d6f70.web");
  EXPECT_EQ(container_name("host name/x", "i.c:1"), "baton-host_name_x-i.c_1");
}

TEST(Names, ImageReferencesFollowTheRepositoryGrammar) {
  const std::string digest(64, 'f');
  EXPECT_EQ(image_reference("agent-1", "visualizer", "web", digest),
            "baton/agent-1/visualizer-web:" + digest);
  EXPECT_EQ(image_repository("Agent_1.example.COM", "My Bundle!", "--Web--"),
            "baton/agent-1-example-com/my-bundle-web");
  EXPECT_EQ(image_repository_prefix("Agent 1"), "baton/agent-1/");
  EXPECT_EQ(image_repository("", "", ""), "baton/x/x-x");
}

TEST(Names, VolumeNamesAreScopedToAgentAndBundle) {
  EXPECT_EQ(volume_name("agent-1", "visualizer", "data"), "baton-agent-1-visualizer-data");
}

TEST(Environment, BindAddressesAreTheContainersOwnAndPathIsTheImages) {
  auto environment = container_environment(sample_launch());
  std::map<std::string, std::string> values(environment.begin(), environment.end());
  EXPECT_EQ(values.at("WEB_BIND_IP"), "0.0.0.0");
  EXPECT_EQ(values.at("WEB_BIND_PORT"), "10001");
  EXPECT_EQ(values.at("WEB_HOST_PORT"), "10001");
  EXPECT_EQ(values.at("DNS_BIND_IP"), "0.0.0.0");
  EXPECT_EQ(values.at("DNS_BIND_PORT"), "53");
  EXPECT_EQ(values.at("DNS_HOST_PORT"), "10002");
  EXPECT_EQ(values.at("BUNDLE_HOST_IP"), "10.0.0.5");
  EXPECT_EQ(values.count("PATH"), 0u);
  EXPECT_EQ(values.at("CONTAINER_ENV"),
            "BUNDLE_HOST_IP:BUNDLE_NAME:CONTAINER_ENV:WEB_BIND_IP:WEB_BIND_PORT:WEB_HOST_PORT");
}

TEST(Environment, AnAbstractNotifySocketIsNotPassed) {
  Launch launch = sample_launch();
  launch.environment.emplace_back("NOTIFY_SOCKET", "@baton/notify");
  auto environment = container_environment(launch);
  for (const auto& [name, value] : environment)
    EXPECT_NE(name, "NOTIFY_SOCKET");
  launch.environment.back().second = "/run/baton/notify.sock";
  bool found = false;
  for (const auto& [name, value] : container_environment(launch))
    found |= name == "NOTIFY_SOCKET";
  EXPECT_TRUE(found);
}

TEST(CreateBody, CarriesCommandLabelsPortsLimitsAndStopSettings) {
  CreateOptions options;
  options.image = "sha256:abc";
  options.mounts.push_back(Mount{"volume", "baton-agent-1-visualizer-data", "/data"});
  json body = json::parse(create_body(sample_launch(), options));
  EXPECT_EQ(body["Image"], "sha256:abc");
  EXPECT_EQ(body["Cmd"], json({"/bin/busybox", "httpd", "-f", "-p", "10001"}));
  EXPECT_EQ(body["Labels"]["baton.agent"], "agent-1");
  EXPECT_EQ(body["Labels"]["baton.bundle-id"], "abf60451c6af18adcc851d67b369b7f5");
  EXPECT_EQ(body["Labels"]["baton.instance"], "9f1c2a7b4e5d6f70");
  EXPECT_EQ(body["Labels"]["baton.launch"], "9f1c2a7b4e5d6f70.web");
  EXPECT_EQ(body["StopSignal"], "2");
  EXPECT_EQ(body["StopTimeout"], 3);
  EXPECT_EQ(body["Tty"], false);
  EXPECT_TRUE(body["ExposedPorts"].contains("10001/tcp"));
  EXPECT_TRUE(body["ExposedPorts"].contains("53/udp"));
  const json& host = body["HostConfig"];
  // HostPort is a string: a number makes dockerd refuse the body.
  EXPECT_EQ(host["PortBindings"]["10001/tcp"][0]["HostPort"], "10001");
  EXPECT_EQ(host["PortBindings"]["10001/tcp"][0]["HostIp"], "10.0.0.5");
  EXPECT_EQ(host["PortBindings"]["53/udp"][0]["HostPort"], "10002");
  EXPECT_EQ(host["Memory"], 64 << 20);
  EXPECT_EQ(host["MemorySwap"], 64 << 20);
  EXPECT_EQ(host["NanoCpus"], 500000000);
  EXPECT_EQ(host["LogConfig"]["Type"], "json-file");
  EXPECT_EQ(host["RestartPolicy"]["Name"], "no");
  EXPECT_EQ(host["Mounts"][0]["Target"], "/data");
  bool bind_ip = false;
  for (const auto& entry : body["Env"])
    bind_ip |= entry == "WEB_BIND_IP=0.0.0.0";
  EXPECT_TRUE(bind_ip);
}

TEST(CreateBody, EmptyCommandRunsTheImagesOwnAndNoLimitsMeansNone) {
  Launch launch = sample_launch();
  launch.command.clear();
  launch.limits = {};
  launch.environment = {{"BUNDLE_HOST_IP", "my-host.example.com"}};
  json body = json::parse(create_body(launch, CreateOptions{.image = "sha256:abc"}));
  EXPECT_FALSE(body.contains("Cmd"));
  EXPECT_FALSE(body["HostConfig"].contains("Memory"));
  EXPECT_FALSE(body["HostConfig"].contains("NanoCpus"));
  EXPECT_FALSE(body["HostConfig"].contains("Mounts"));
  // Not an address: publish on every address.
  EXPECT_EQ(body["HostConfig"]["PortBindings"]["10001/tcp"][0]["HostIp"], "");
}

TEST(ExitStatus, MapsDockerCodes) {
  auto clean = exit_status(0, false, 0);
  EXPECT_TRUE(clean.success());
  auto failed = exit_status(3, false, 0);
  EXPECT_EQ(failed.code, 3);
  EXPECT_EQ(failed.signal, 0);
  auto killed = exit_status(137, true, 64 << 20);
  EXPECT_EQ(killed.code, -1);
  EXPECT_EQ(killed.signal, 9);
  EXPECT_TRUE(killed.oom_killed);
  EXPECT_EQ(killed.message, "killed by SIGKILL (exit code 137) (memory limit 64 MiB)");
  auto terminated = exit_status(143, false, 0);
  EXPECT_EQ(terminated.signal, 15);
  EXPECT_EQ(exit_status(255, false, 0).code, 255);
}

}  // namespace
}  // namespace baton::runtimes::docker
