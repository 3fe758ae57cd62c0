// Bundle files of unloaded bundles: the assignment's discard list drops them from the agent's
// cache (and releases what runtimes made of them), but never while an instance uses them.

#include <gtest/gtest.h>

#include <algorithm>

#include "tests/agent/support/agent_fixture.hpp"

namespace baton::agent::testing {
namespace {

using protocol::InstanceState;

class DiscardTest : public AgentFixture {
 protected:
  bool reported(const std::string& digest) const {
    auto held = core_.bundles(name());
    return std::find(held.begin(), held.end(), digest) != held.end();
  }
  stdfs::path cached(const std::string& digest) const {
    return data() / "cache" / "files" / (digest + ".zip");
  }
};

TEST_F(DiscardTest, AnUnloadedBundleIsDroppedOnceNoInstanceUsesIt) {
  auto b =
      bundle("unloaded", testcomponent_conf("unloaded", {"--listen-env", "WEB", "--signal-http"},
                                            "web { bind-protocol = \"http\" }",
                                            "readiness { check = \"signal\" }"));
  core_.assign(name(), {assigned("d000000000000001", b)});
  ASSERT_TRUE(wait_state("d000000000000001", InstanceState::started))
      << describe("d000000000000001");
  ASSERT_TRUE(eventually([&] { return reported(b.digest); }));

  // Still in use: kept, and reported.
  core_.discard(name(), {b.digest, std::string(64, 'e')});
  core_.assign(name(), {assigned("d000000000000001", b)});
  EXPECT_TRUE(state_is("d000000000000001", InstanceState::started));
  EXPECT_TRUE(stdfs::exists(cached(b.digest)));
  EXPECT_TRUE(reported(b.digest));

  // Its instance goes: then the file goes too, and the core hears of it.
  core_.assign(name(), {});
  ASSERT_TRUE(eventually([&] { return !reported(b.digest); })) << describe("d000000000000001");
  EXPECT_FALSE(stdfs::exists(cached(b.digest)));
  EXPECT_FALSE(stdfs::exists(data() / "cache" / "extracted" / b.digest));
  EXPECT_TRUE(agent().instances().empty());
}

}  // namespace
}  // namespace baton::agent::testing
