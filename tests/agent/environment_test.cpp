#include "agent/environment.hpp"

#include <gtest/gtest.h>

#include <set>

namespace baton::agent {
namespace {

bundle::Descriptor visualizer() {
  bundle::Descriptor d;
  d.name = "visualizer";
  d.compatibility_version = "2";
  d.system = "monitoring";
  d.system_version = "3";
  d.tags = {"latest", "blue"};
  bundle::Component component;
  component.name = "visualizer";
  component.file_system_type = "universal";
  bundle::Endpoint web;
  web.name = "web";
  web.protocol = bundle::Protocol::http;
  bundle::Endpoint remote;
  remote.name = "akka-remote";
  remote.protocol = bundle::Protocol::tcp;
  component.endpoints = {remote, web};
  d.components = {component};
  return d;
}

EnvironmentInput input_for(const bundle::Descriptor& d) {
  EnvironmentInput in;
  in.descriptor = &d;
  in.bundle_id = "abf60451c6af18adcc851d67b369b7f5";
  in.host_ip = "10.0.0.5";
  in.control_url = "http://10.0.0.1:9005";
  in.status_url = "http://127.0.0.1:19007/i/0123abcd";
  in.locator_url = "http://127.0.0.1:19008/services";
  in.ports = {{"web", 10001}, {"akka-remote", 10002}};
  in.peers = {
      {"web",
       {protocol::Peer{"http", "10.0.0.6", 10007}, protocol::Peer{"http", "10.0.0.7", 10009}}}};
  in.notify_socket = "/data/instances/x/notify.sock";
  in.agent_env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "SECRET_AGENT_THING") return "must not leak";
    if (name == "PASSED") return "yes";
    if (name == "PATH") return "/agent/bin";
    return std::nullopt;
  };
  return in;
}

std::string get(const Environment& env, std::string_view name) {
  auto value = find_variable(env, name);
  EXPECT_TRUE(value.has_value()) << name;
  return value.value_or("<missing>");
}

TEST(EnvironmentTest, EveryConductrName) {
  auto d = visualizer();
  Environment env = build_environment(input_for(d));
  EXPECT_EQ(get(env, "BUNDLE_ID"), "abf60451c6af18adcc851d67b369b7f5");
  EXPECT_EQ(get(env, "BUNDLE_NAME"), "visualizer");
  EXPECT_EQ(get(env, "BUNDLE_COMPATIBILITY_VERSION"), "2");
  EXPECT_EQ(get(env, "BUNDLE_SYSTEM"), "monitoring");
  EXPECT_EQ(get(env, "BUNDLE_SYSTEM_VERSION"), "3");
  EXPECT_EQ(get(env, "BUNDLE_TAGS"), "latest,blue");
  EXPECT_EQ(get(env, "BUNDLE_HOST_IP"), "10.0.0.5");
  EXPECT_EQ(get(env, "CONDUCTR_CONTROL"), "http://10.0.0.1:9005");
  EXPECT_EQ(get(env, "CONDUCTR_CONTROL_PROTOCOL"), "http");
  EXPECT_EQ(get(env, "CONDUCTR_CONTROL_IP"), "10.0.0.1");
  EXPECT_EQ(get(env, "CONDUCTR_CONTROL_PORT"), "9005");
  EXPECT_EQ(get(env, "CONDUCTR_STATUS"), "http://127.0.0.1:19007/i/0123abcd");
  EXPECT_EQ(get(env, "CONDUCTR_STATUS_PROTOCOL"), "http");
  EXPECT_EQ(get(env, "CONDUCTR_STATUS_IP"), "127.0.0.1");
  EXPECT_EQ(get(env, "CONDUCTR_STATUS_PORT"), "19007");
  EXPECT_EQ(get(env, "SERVICE_LOCATOR"), "http://127.0.0.1:19008/services");
  EXPECT_EQ(get(env, "SERVICE_LOCATOR_PROTOCOL"), "http");
  EXPECT_EQ(get(env, "SERVICE_LOCATOR_IP"), "127.0.0.1");
  EXPECT_EQ(get(env, "SERVICE_LOCATOR_PORT"), "19008");
  EXPECT_EQ(get(env, "NOTIFY_SOCKET"), "/data/instances/x/notify.sock");
  EXPECT_EQ(get(env, "PATH"), kDefaultPath);

  EXPECT_EQ(get(env, "WEB_PROTOCOL"), "http");
  EXPECT_EQ(get(env, "WEB_BIND_IP"), "10.0.0.5");
  EXPECT_EQ(get(env, "WEB_BIND_PORT"), "10001");
  EXPECT_EQ(get(env, "WEB_HOST_PORT"), "10001");
  EXPECT_EQ(get(env, "WEB_HOST"), "http://10.0.0.5:10001");
  EXPECT_EQ(get(env, "AKKA_REMOTE_PROTOCOL"), "tcp");
  EXPECT_EQ(get(env, "AKKA_REMOTE_BIND_PORT"), "10002");
  EXPECT_EQ(get(env, "AKKA_REMOTE_HOST"), "tcp://10.0.0.5:10002");
}

TEST(EnvironmentTest, PeersAreIndexAlignedAndEmptyWithout) {
  auto d = visualizer();
  Environment env = build_environment(input_for(d));
  EXPECT_EQ(get(env, "WEB_OTHER_PROTOCOLS"), "http:http");
  EXPECT_EQ(get(env, "WEB_OTHER_IPS"), "10.0.0.6:10.0.0.7");
  EXPECT_EQ(get(env, "WEB_OTHER_PORTS"), "10007:10009");
  EXPECT_EQ(get(env, "AKKA_REMOTE_OTHER_PROTOCOLS"), "");
  EXPECT_EQ(get(env, "AKKA_REMOTE_OTHER_IPS"), "");
  EXPECT_EQ(get(env, "AKKA_REMOTE_OTHER_PORTS"), "");
}

TEST(EnvironmentTest, NothingOfTheAgentLeaksButPassEnv) {
  auto d = visualizer();
  auto in = input_for(d);
  Environment env = build_environment(in);
  EXPECT_FALSE(find_variable(env, "SECRET_AGENT_THING").has_value());
  EXPECT_FALSE(find_variable(env, "PASSED").has_value());
  EXPECT_FALSE(find_variable(env, "HOME").has_value());

  in.pass_env = {"PASSED", "PATH", "NOT_SET_ANYWHERE"};
  env = build_environment(in);
  EXPECT_EQ(get(env, "PASSED"), "yes");
  EXPECT_EQ(get(env, "PATH"), "/agent/bin");
  EXPECT_FALSE(find_variable(env, "NOT_SET_ANYWHERE").has_value());
  EXPECT_FALSE(find_variable(env, "SECRET_AGENT_THING").has_value());
}

TEST(EnvironmentTest, PassEnvCannotOverrideBatonNames) {
  auto d = visualizer();
  auto in = input_for(d);
  in.pass_env = {"BUNDLE_ID"};
  in.agent_env = [](const std::string&) -> std::optional<std::string> { return "spoofed"; };
  Environment env = build_environment(in);
  EXPECT_EQ(get(env, "BUNDLE_ID"), "abf60451c6af18adcc851d67b369b7f5");
}

TEST(EnvironmentTest, ExactNameSetSortedAndContainerEnvListsThem) {
  auto d = visualizer();
  Environment env = build_environment(input_for(d));
  std::set<std::string> names;
  std::string previous;
  for (const auto& [name, value] : env) {
    EXPECT_LT(previous, name);
    previous = name;
    names.insert(name);
  }
  std::set<std::string> expected = {"BUNDLE_ID",
                                    "BUNDLE_NAME",
                                    "BUNDLE_COMPATIBILITY_VERSION",
                                    "BUNDLE_SYSTEM",
                                    "BUNDLE_SYSTEM_VERSION",
                                    "BUNDLE_TAGS",
                                    "BUNDLE_HOST_IP",
                                    "CONDUCTR_CONTROL",
                                    "CONDUCTR_CONTROL_PROTOCOL",
                                    "CONDUCTR_CONTROL_IP",
                                    "CONDUCTR_CONTROL_PORT",
                                    "CONDUCTR_STATUS",
                                    "CONDUCTR_STATUS_PROTOCOL",
                                    "CONDUCTR_STATUS_IP",
                                    "CONDUCTR_STATUS_PORT",
                                    "SERVICE_LOCATOR",
                                    "SERVICE_LOCATOR_PROTOCOL",
                                    "SERVICE_LOCATOR_IP",
                                    "SERVICE_LOCATOR_PORT",
                                    "CONTAINER_ENV",
                                    "NOTIFY_SOCKET",
                                    "PATH"};
  for (const char* stem : {"WEB", "AKKA_REMOTE"}) {
    for (const char* suffix : {"_PROTOCOL", "_BIND_IP", "_BIND_PORT", "_HOST_PORT", "_HOST",
                               "_OTHER_PROTOCOLS", "_OTHER_IPS", "_OTHER_PORTS"}) {
      expected.insert(std::string(stem) + suffix);
    }
  }
  EXPECT_EQ(names, expected);
  std::string container_env = get(env, "CONTAINER_ENV");
  for (const auto& name : expected) {
    EXPECT_NE((":" + container_env + ":").find(":" + name + ":"), std::string::npos) << name;
  }
}

TEST(EnvironmentTest, SystemDefaultsToNameAndVersionToCompatibility) {
  auto d = visualizer();
  d.system.clear();
  d.system_version.clear();
  d.tags.clear();
  Environment env = build_environment(input_for(d));
  EXPECT_EQ(get(env, "BUNDLE_SYSTEM"), "visualizer");
  EXPECT_EQ(get(env, "BUNDLE_SYSTEM_VERSION"), "2");
  EXPECT_EQ(get(env, "BUNDLE_TAGS"), "");
}

TEST(EnvironmentTest, ParseUrl) {
  auto parts = parse_url("http://core.example:9005/v2");
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ(parts->protocol, "http");
  EXPECT_EQ(parts->host, "core.example");
  EXPECT_EQ(parts->port, "9005");
  auto default_port = parse_url("https://core");
  ASSERT_TRUE(default_port.ok());
  EXPECT_EQ(default_port->port, "443");
  auto v6 = parse_url("http://[::1]:8080");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, "8080");
  EXPECT_FALSE(parse_url("core:9005").ok());
  EXPECT_FALSE(parse_url("http://core:99999").ok());
}

TEST(EnvironmentTest, SetVariableKeepsOrder) {
  Environment env;
  set_variable(env, "B", "2");
  set_variable(env, "A", "1");
  set_variable(env, "C", "3");
  set_variable(env, "B", "two");
  ASSERT_EQ(env.size(), 3u);
  EXPECT_EQ(env[0].first, "A");
  EXPECT_EQ(env[1].second, "two");
  EXPECT_EQ(env[2].first, "C");
}

}  // namespace
}  // namespace baton::agent

namespace baton::agent {
namespace {

TEST(EnvironmentTest, ContainerViewBindsEverywhereAndCallsTheAgentOnTheBridge) {
  auto d = visualizer();
  auto host = build_environment(input_for(d));
  auto view = container_view(host, d, "http://172.17.0.1:19007/i/0123abcd",
                             "http://172.17.0.1:19008/services");
  EXPECT_EQ(get(view, "WEB_BIND_IP"), "0.0.0.0");
  EXPECT_EQ(get(view, "AKKA_REMOTE_BIND_IP"), "0.0.0.0");
  EXPECT_EQ(get(view, "CONDUCTR_STATUS"), "http://172.17.0.1:19007/i/0123abcd");
  EXPECT_EQ(get(view, "CONDUCTR_STATUS_IP"), "172.17.0.1");
  EXPECT_EQ(get(view, "CONDUCTR_STATUS_PORT"), "19007");
  EXPECT_EQ(get(view, "CONDUCTR_STATUS_PROTOCOL"), "http");
  EXPECT_EQ(get(view, "SERVICE_LOCATOR"), "http://172.17.0.1:19008/services");
  EXPECT_EQ(get(view, "SERVICE_LOCATOR_IP"), "172.17.0.1");
  EXPECT_EQ(get(view, "SERVICE_LOCATOR_PORT"), "19008");
  // The host's view of where the endpoint is, and the ports, stay.
  EXPECT_EQ(get(view, "BUNDLE_HOST_IP"), "10.0.0.5");
  EXPECT_EQ(get(view, "WEB_BIND_PORT"), "10001");
  EXPECT_EQ(get(view, "WEB_HOST_PORT"), "10001");
  EXPECT_EQ(get(view, "WEB_HOST"), "http://10.0.0.5:10001");
  EXPECT_EQ(get(view, "CONDUCTR_CONTROL"), get(host, "CONDUCTR_CONTROL"));
  // Same names, so CONTAINER_ENV still lists them all.
  ASSERT_EQ(view.size(), host.size());
  EXPECT_EQ(get(view, "CONTAINER_ENV"), get(host, "CONTAINER_ENV"));
  EXPECT_TRUE(std::is_sorted(view.begin(), view.end()));
}

}  // namespace
}  // namespace baton::agent
