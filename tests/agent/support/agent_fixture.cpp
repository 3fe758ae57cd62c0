#include "tests/agent/support/agent_fixture.hpp"

#include "logs/reader.hpp"

namespace baton::agent::testing {

void AgentFixture::SetUp() {
  agent_ = std::make_unique<InProcessAgent>(core_, data(), unique_agent_name("agent"),
                                            [this](AgentOptions& options) { tweak(options); });
  auto started = agent_->start();
  ASSERT_TRUE(started.ok()) << started.error().message;
  ASSERT_TRUE(eventually([&] { return core_.registrations(name()) == 1; }));
}

void AgentFixture::TearDown() {
  if (!agent_) return;
  core_.assign(name(), {});
  eventually([&] { return agent_->agent().instances().empty(); });
  agent_->stop();
}

TestBundle AgentFixture::bundle(const std::string& bundle_name, const std::string& conf,
                                std::map<std::string, std::string> more) {
  auto b = make_bundle(scratch_.path(), bundle_name, conf, std::move(more));
  core_.add_file(b.digest, b.zip);
  return b;
}

std::optional<protocol::InstanceStatus> AgentFixture::status(const std::string& id) const {
  return core_.status(name(), id);
}

bool AgentFixture::state_is(const std::string& id, protocol::InstanceState state) const {
  auto s = status(id);
  return s && s->state == state;
}

bool AgentFixture::wait_state(const std::string& id, protocol::InstanceState state) {
  return eventually([&] { return state_is(id, state); });
}

std::string AgentFixture::logs_of(const std::string& id) const {
  auto lines = logs::tail(instance_folder(id) / "logs", 1000);
  std::string out;
  if (lines) {
    for (const auto& line : *lines)
      out += line.component + " " + line.text + "\n";
  }
  return out;
}

std::string AgentFixture::describe(const std::string& id) const {
  auto s = status(id);
  if (!s) return "no status for " + id;
  return std::string("state ") + protocol::to_string(s->state) + ", restarts " +
         std::to_string(s->restarts) + ", error '" + s->error + "'\nlogs:\n" + logs_of(id);
}

}  // namespace baton::agent::testing
