// The local router (readiness signals with and without token, service locator), the agent API
// (instances, logs tail and follow) and configuration bundles.

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "http/client.hpp"
#include "tests/agent/support/agent_fixture.hpp"

namespace baton::agent::testing {
namespace {

using nlohmann::json;
using protocol::InstanceState;

class LocalApiTest : public AgentFixture {
 protected:
  std::string status_url(const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(agent().status_port()) + path;
  }
  std::string locator_url(const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(agent().locator_port()) + path;
  }
  std::string api_url(const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(agent().api_port()) + path;
  }
  TestBundle waiting(const std::string& bundle_name) {
    return bundle(bundle_name, testcomponent_conf(bundle_name, {"--sleep"}, "",
                                                  "readiness { check = \"signal\" }"));
  }
};

// The token-less route names a bundle, not an instance: a caller that is no process of one of
// its instances is refused (tests/agent/scenarios/trust_test.cpp has components calling it).
TEST_F(LocalApiTest, TokenLessSignalFromOutsideAnInstanceIsRefused) {
  auto b = waiting("quiet");
  auto a = assigned("1000000000000001", b);
  core_.assign(name(), {a});
  ASSERT_TRUE(wait_state("1000000000000001", InstanceState::starting));
  auto answer = http_call("PUT", status_url("/bundles/" + a.bundle_id + "?isStarted=true"));
  EXPECT_EQ(answer.status, 403) << answer.body;
  EXPECT_NE(answer.body.find("caller pid " + std::to_string(::getpid())), std::string::npos)
      << answer.body;
  EXPECT_EQ(http_call("PUT", status_url("/bundles/" + a.bundle_id)).status, 400);
  EXPECT_TRUE(state_is("1000000000000001", InstanceState::starting));
}

TEST_F(LocalApiTest, TokenSignalChecksTokenAndBundle) {
  auto b = waiting("tokened");
  auto a = assigned("1000000000000004", b);
  core_.assign(name(), {a});
  ASSERT_TRUE(wait_state("1000000000000004", InstanceState::starting));
  EXPECT_EQ(
      http_call("PUT", status_url("/i/not-a-token/bundles/" + a.bundle_id + "?isStarted=true"))
          .status,
      404);
  // The token is in instance.json (the component has it as CONDUCTR_STATUS).
  auto record = files::read(instance_folder("1000000000000004") / "instance.json");
  ASSERT_TRUE(record.ok());
  std::string token = json::parse(*record).at("token");
  auto wrong = http_call(
      "PUT",
      status_url("/i/" + token + "/bundles/ffffffffffffffffffffffffffffffff?isStarted=true"));
  EXPECT_EQ(wrong.status, 400);
  EXPECT_EQ(http_call("PUT", status_url("/i/" + token + "/bundles/" + a.bundle_id)).status, 400);
  EXPECT_TRUE(state_is("1000000000000004", InstanceState::starting));
  auto right =
      http_call("PUT", status_url("/i/" + token + "/bundles/" + a.bundle_id + "?isStarted=true"));
  EXPECT_EQ(right.status, 200);
  EXPECT_TRUE(wait_state("1000000000000004", InstanceState::started));
}

TEST_F(LocalApiTest, ServiceLocatorRedirectsFromTheCoresAnswer) {
  core_.set_service("inventory", {"10.0.0.5:10001", "10.0.0.6:10002"});
  auto first = http_call("GET", locator_url("/services/inventory/items/7?q=1"));
  EXPECT_EQ(first.status, 307);
  auto second = http_call("GET", locator_url("/services/inventory/items/7?q=1"));
  std::set<std::string> locations = {first.location, second.location};
  EXPECT_EQ(locations, (std::set<std::string>{"http://10.0.0.5:10001/items/7?q=1",
                                              "http://10.0.0.6:10002/items/7?q=1"}));
  // Cached for max-age: one lookup at the core for both.
  EXPECT_EQ(core_.service_lookups(), 1);
  auto none = http_call("GET", locator_url("/services/nothing/x"));
  EXPECT_EQ(none.status, 404);
  EXPECT_NE(none.body.find("nothing"), std::string::npos);
  auto list = http_call("GET", locator_url("/v2/service-hosts/inventory"));
  EXPECT_EQ(list.status, 200);
  EXPECT_EQ(json::parse(list.body).size(), 2u);
  // The same router answers on the status port.
  EXPECT_EQ(http_call("GET", status_url("/services/inventory/")).status, 307);
}

TEST_F(LocalApiTest, InstancesAndLogsTailAndFollow) {
  auto b = bundle("chatty",
                  testcomponent_conf(
                      "chatty", {"--log-rate-mb", "0.01", "--log-seconds", "600", "--signal-http"},
                      "", "readiness { check = \"signal\" }"));
  core_.assign(name(), {assigned("1000000000000005", b)});
  ASSERT_TRUE(wait_state("1000000000000005", InstanceState::started))
      << describe("1000000000000005");
  auto list = http_call("GET", api_url("/agent/v1/instances"));
  ASSERT_EQ(list.status, 200);
  auto instances = json::parse(list.body);
  ASSERT_EQ(instances.size(), 1u);
  EXPECT_EQ(instances[0].at("instanceId"), "1000000000000005");
  EXPECT_EQ(instances[0].at("state"), "started");

  ASSERT_TRUE(eventually([&] {
    auto tail = http_call("GET", api_url("/agent/v1/instances/1000000000000005/logs?count=5"));
    return tail.status == 200 && std::count(tail.body.begin(), tail.body.end(), '\n') == 5;
  }));
  auto tail = http_call("GET", api_url("/agent/v1/instances/1000000000000005/logs?count=5"));
  auto first_line = json::parse(tail.body.substr(0, tail.body.find('\n')));
  EXPECT_EQ(first_line.at("component"), "main");
  EXPECT_TRUE(first_line.at("stream") == "stdout" || first_line.at("stream") == "stderr");
  EXPECT_EQ(first_line.at("time").get<std::string>().size(), 27u);
  EXPECT_TRUE(first_line.contains("line"));
  EXPECT_EQ(http_call("GET", api_url("/agent/v1/instances/9999999999999999/logs")).status, 404);

  // Follow: the backlog, then lines as they are written.
  http::Client client(http::ClientOptions{.timeout = std::chrono::seconds(30)});
  std::string received;
  int lines = 0;
  auto started = std::chrono::steady_clock::now();
  auto result = client.stream(
      "GET", api_url("/agent/v1/instances/1000000000000005/logs?count=2&follow=true"), {}, {},
      [&](std::string_view chunk) {
        received.append(chunk);
        lines = static_cast<int>(std::count(received.begin(), received.end(), '\n'));
        return lines < 12 && std::chrono::steady_clock::now() - started < std::chrono::seconds(30);
      });
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_GE(lines, 12) << received;
  // Every line is a JSON object with a sequence that grows.
  std::size_t start = 0;
  long previous = -1;
  while (start < received.size()) {
    auto end = received.find('\n', start);
    if (end == std::string::npos) break;
    auto line = json::parse(received.substr(start, end - start));
    std::string text = line.at("line");
    if (text.rfind("log ", 0) == 0) {
      long sequence = std::stol(text.substr(4));
      EXPECT_GT(sequence, previous) << text;
      previous = sequence;
    }
    start = end + 1;
  }
}

TEST_F(LocalApiTest, RuntimeConfigExportsReachTheComponent) {
  auto b = bundle("configured",
                  testcomponent_conf("configured", {"--print-env", "--signal-http", "--sleep"}, "",
                                     "readiness { check = \"signal\" }"));
  std::map<std::string, std::string> files;
  files["cfg/runtime-config.sh"] =
      "export DB_URL=\"jdbc://db/$BUNDLE_NAME\"\nexport EXTRA_FILE=$(cat extra.txt)\n";
  files["cfg/extra.txt"] = "from-the-configuration";
  files["cfg/bundle.conf"] = "tags = [\"configured-tag\"]\n";
  auto configuration = write_zip(scratch_.path(), "cfg", files);
  core_.add_file(configuration.digest, configuration.zip);
  auto a = assigned("1000000000000006", b, &configuration);
  EXPECT_NE(a.bundle_id.find('-'), std::string::npos);
  core_.assign(name(), {a});
  ASSERT_TRUE(wait_state("1000000000000006", InstanceState::started))
      << describe("1000000000000006");
  std::string logs = logs_of("1000000000000006");
  EXPECT_NE(logs.find("DB_URL=jdbc://db/configured"), std::string::npos) << logs;
  EXPECT_NE(logs.find("EXTRA_FILE=from-the-configuration"), std::string::npos) << logs;
  EXPECT_NE(logs.find("BUNDLE_TAGS=configured-tag"), std::string::npos) << logs;
  EXPECT_NE(logs.find("BUNDLE_ID=" + a.bundle_id), std::string::npos) << logs;
}

}  // namespace
}  // namespace baton::agent::testing
