// A component cannot mark another bundle's instance started: real components (a shell script
// calling ConductR's token-less route with curl) on the agent library with the universal
// runtime; and the agent API refusing callers without the core's token.

#include <gtest/gtest.h>

#include "http/client.hpp"
#include "tests/agent/support/agent_fixture.hpp"

namespace baton::agent::testing {
namespace {

using protocol::InstanceState;

// ConductR's token-less readiness route, to the bundle named by $1 (default: its own).
const std::string kSignalScript = R"sh(#!/bin/sh
target="${1:-$BUNDLE_ID}"
base="${CONDUCTR_STATUS%/i/*}"
code=$(/usr/bin/curl -s -o answer.txt -w '%{http_code}' -X PUT "$base/bundles/$target?isStarted=true")
echo "token-less signal for $target: $code $(cat answer.txt)"
exec /bin/sleep 100000
)sh";

std::string signal_conf(const std::string& name, const std::string& target) {
  std::string conf = testcomponent_conf(name, {}, "", "readiness { check = \"signal\" }");
  // The same bundle, running the script instead of baton-testcomponent.
  auto at = conf.find("start-command = ");
  auto end = conf.find('\n', at);
  std::string command = "start-command = [\"bin/signal.sh\"" +
                        (target.empty() ? std::string() : ", \"" + target + "\"") + "]";
  return conf.replace(at, end - at, command);
}

class TrustLocalTest : public AgentFixture {
 protected:
  void tweak(AgentOptions& options) override { options.core_token = "core-0123456789abcdef"; }
};

TEST_F(TrustLocalTest, AComponentCannotMarkAnotherBundlesInstanceStarted) {
  if (!stdfs::exists("/usr/bin/curl")) GTEST_SKIP() << "NO /usr/bin/curl: the script needs it";
  auto target = bundle(
      "target", testcomponent_conf("target", {"--sleep"}, "", "readiness { check = \"signal\" }"));
  auto t = assigned("2000000000000001", target);
  auto intruder = bundle("intruder", signal_conf("intruder", t.bundle_id),
                         {{"bin/signal.sh@exec", kSignalScript}});
  auto honest =
      bundle("honest", signal_conf("honest", ""), {{"bin/signal.sh@exec", kSignalScript}});
  auto i = assigned("2000000000000002", intruder);
  core_.assign(name(), {t, i, assigned("2000000000000003", honest)});
  ASSERT_TRUE(wait_state("2000000000000001", InstanceState::starting))
      << describe("2000000000000001");

  // The intruder's curl is refused, named as a process of its own instance.
  const std::string refused = "token-less signal for " + t.bundle_id + ": 403";
  ASSERT_TRUE(eventually([&] {
    return logs_of("2000000000000002").find(refused) != std::string::npos;
  })) << logs_of("2000000000000002");
  std::string said = logs_of("2000000000000002");
  EXPECT_NE(said.find("belongs to instance 2000000000000002 of bundle " + i.bundle_id),
            std::string::npos)
      << said;
  EXPECT_NE(said.find("caller pid "), std::string::npos) << said;
  EXPECT_TRUE(state_is("2000000000000001", InstanceState::starting));
  EXPECT_TRUE(state_is("2000000000000002", InstanceState::starting));

  // A component of the bundle itself may: its instance (and only it) is started.
  ASSERT_TRUE(wait_state("2000000000000003", InstanceState::started))
      << describe("2000000000000003") << logs_of("2000000000000003");
  EXPECT_NE(logs_of("2000000000000003").find(": 200"), std::string::npos);
  EXPECT_TRUE(state_is("2000000000000001", InstanceState::starting));
}

TEST_F(TrustLocalTest, TheAgentApiWantsTheCoresToken) {
  const std::string url =
      "http://127.0.0.1:" + std::to_string(agent().api_port()) + "/agent/v1/instances";
  auto anonymous = http::Client().get(url);
  ASSERT_TRUE(anonymous.ok()) << anonymous.error().message;
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_EQ(anonymous->headers.count("WWW-Authenticate"), 1u);
  auto wrong = http::Client(http::ClientOptions{.bearer_token = "not-the-core-0123456"}).get(url);
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(wrong->status, 401);
  auto core = http::Client(http::ClientOptions{.bearer_token = "core-0123456789abcdef"}).get(url);
  ASSERT_TRUE(core.ok());
  EXPECT_EQ(core->status, 200) << core->body;
}

}  // namespace
}  // namespace baton::agent::testing
