#pragma once
// A GoogleTest fixture: a test core, a scratch folder and the agent library in-process, registered
// with that core. Tests assign instances and watch what the agent reports.

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "tests/agent/support/fixtures.hpp"

namespace baton::agent::testing {

class AgentFixture : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  // Options for the agent before SetUp starts it.
  virtual void tweak(AgentOptions&) {}

  const std::string& name() const { return agent_->name(); }
  Agent& agent() { return agent_->agent(); }
  TestBundle bundle(const std::string& bundle_name, const std::string& conf,
                    std::map<std::string, std::string> more = {});
  std::optional<protocol::InstanceStatus> status(const std::string& id) const;
  bool state_is(const std::string& id, protocol::InstanceState state) const;
  bool wait_state(const std::string& id, protocol::InstanceState state);
  stdfs::path data() const { return scratch_.path() / "data"; }
  stdfs::path instance_folder(const std::string& id) const { return data() / "instances" / id; }
  std::string logs_of(const std::string& id) const;
  std::string describe(const std::string& id) const;  // for failure messages

  TestCore core_;
  Scratch scratch_;
  std::unique_ptr<InProcessAgent> agent_;
};

}  // namespace baton::agent::testing
