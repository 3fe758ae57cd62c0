// The scheduling loop with fake agents speaking the agent-core protocol over real HTTP: placement,
// the start gate, failures with backoff and hasError, exit 0, agents going down and coming back,
// prefetch, long polls, service lookup.

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <thread>

#include "common/sha256.hpp"
#include "support.hpp"

namespace baton::core::testing {
namespace {

using protocol::InstanceState;

class SchedulingTest : public ::testing::Test {
 protected:
  void SetUp() override { work = temp_folder("baton-core-work-"); }
  void TearDown() override { files::remove_tree(work); }

  std::string load(const BundleSpec& spec) { return core.load(make_bundle(work, spec)); }
  void scale(const std::string& id, int n, const std::string& extra = "") {
    auto r = core.request("PUT", "/v2/bundles/" + id + "?scale=" + std::to_string(n) + extra);
    ASSERT_EQ(r.status, 200) << r.body;
  }
  json executions(const std::string& id) {
    auto bundle = core.bundle(id);
    return bundle ? (*bundle)["bundleExecutions"] : json::array();
  }
  // Keeps agents alive (their heartbeats) while waiting.
  bool wait_with(std::vector<FakeAgent*> agents, const std::function<bool()>& condition,
                 std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    return wait_until(
        [&] {
          for (auto* a : agents)
            a->report();
          return condition();
        },
        timeout);
  }

  stdfs::path work;
  TestCore core;
};

TEST_F(SchedulingTest, RegistrationAnswersTheTimings) {
  FakeAgent agent(core.url(""), "agent-1");
  auto r = agent.register_agent();
  ASSERT_EQ(r.status, 200) << r.body;
  json reply = json::parse(r.body);
  EXPECT_EQ(reply["agentId"], "agent-1");
  EXPECT_EQ(reply["heartbeatIntervalMs"], 200);
  EXPECT_EQ(reply["downAfterMs"], 1500);
  json agents = json::parse(core.get("/v2/agents").body);
  ASSERT_EQ(agents.size(), 1u);
  EXPECT_EQ(agents[0]["address"], "baton-agent://agent-1");
  EXPECT_EQ(agents[0]["roles"], json::array({"web"}));
  EXPECT_EQ(agents[0]["up"], true);
  EXPECT_TRUE(agents[0]["observedBy"][0]["node"]["address"].is_string());
  EXPECT_TRUE(agents[0]["resourceAvailable"].contains("nrOfCpus"));
  EXPECT_EQ(agents[0]["runtimes"]["universal"]["available"], true);
  EXPECT_EQ(agent.report().status, 200);
}

TEST_F(SchedulingTest, UnknownAgentsAndBadMessagesAreRefused) {
  FakeAgent stranger(core.url(""), "stranger");
  EXPECT_EQ(stranger.report().status, 404);
  EXPECT_EQ(stranger.poll(0, 0).status, 404);
  EXPECT_EQ(core.request("POST", "/v2/agents", "{not json").status, 400);
  EXPECT_EQ(core.request("POST", "/v2/agents", "[]").status, 400);
  EXPECT_EQ(core.request("POST", "/v2/agents", R"({"name": "../x", "address": "1.2.3.4"})").status,
            400);
  EXPECT_EQ(core.request("POST", "/v2/agents", R"({"name": "a", "address": ""})").status, 400);
  EXPECT_EQ(core.request("PUT", "/v2/agents/stranger/status", "{\"instances\": 5}").status, 400);
  EXPECT_EQ(core.get("/v2/agents/stranger/assignment?index=x").status, 400);
}

TEST_F(SchedulingTest, TheFirstInstanceOfASystemStartsAloneThenTheRestTogether) {
  FakeAgent a(core.url(""), "agent-1"), b(core.url(""), "agent-2");
  ASSERT_EQ(a.register_agent().status, 200);
  ASSERT_EQ(b.register_agent().status, 200);
  std::string id = load(BundleSpec{.name = "cluster"});
  scale(id, 3);
  auto all_assigned = [&] {
    std::vector<std::string> ids = a.assigned();
    for (const auto& i : b.assigned())
      ids.push_back(i);
    return ids;
  };

  // The first alone: one instance is handed out, and stays alone while it is starting.
  ASSERT_TRUE(wait_until([&] { return !all_assigned().empty(); }));
  ASSERT_EQ(all_assigned().size(), 1u);
  std::string first = all_assigned().front();
  EXPECT_TRUE(std::regex_match(first, std::regex("[0-9a-f]{16}"))) << first;
  FakeAgent* owner = a.assigned().empty() ? &b : &a;
  owner->instances[first].bundle_id = id;
  owner->set_state(first, InstanceState::starting);
  ASSERT_EQ(owner->report().status, 200);
  core.core().reconcile_now();
  EXPECT_EQ(all_assigned().size(), 1u);

  // Once it has started, the rest are handed out together, each with the first as its peer.
  owner->set_state(first, InstanceState::started);
  ASSERT_EQ(owner->report().status, 200);
  ASSERT_TRUE(wait_until([&] { return all_assigned().size() == 3u; }));
  for (auto* agent : {&a, &b}) {
    for (const auto& i : agent->assignment().instances) {
      if (i.instance_id == first) {
        EXPECT_TRUE(i.peers.empty());
        continue;
      }
      ASSERT_EQ(i.peers.count("web"), 1u) << i.instance_id;
      EXPECT_EQ(i.peers.at("web").size(), 1u) << i.instance_id;
    }
  }
  for (auto* agent : {&a, &b}) {
    for (const auto& i : agent->assigned()) {
      agent->instances[i].bundle_id = id;
      agent->set_state(i, InstanceState::started);
    }
    ASSERT_EQ(agent->report().status, 200);
  }
  ASSERT_TRUE(wait_until([&] {
    int started = 0;
    for (const auto& e : executions(id))
      started += e["isStarted"].get<bool>();
    return started == 3;
  }));
  // Spread across both agents.
  EXPECT_EQ(a.assigned().size() + b.assigned().size(), 3u);
  EXPECT_GE(a.assigned().size(), 1u);
  EXPECT_GE(b.assigned().size(), 1u);
  // The later instances learned their started peers (*_OTHER_* variables).
  int with_peers = 0;
  for (auto* agent : {&a, &b}) {
    for (const auto& i : agent->assignment().instances)
      with_peers += !i.peers.empty();
  }
  EXPECT_EQ(with_peers, 2);
  json e = executions(id)[0];
  EXPECT_EQ(e["host"], "127.0.0.1");
  EXPECT_TRUE(e["endpoints"]["web"]["bindPort"].is_number());
  EXPECT_TRUE(e["endpoints"]["web"]["hostPort"].is_number());
  EXPECT_TRUE(e["instanceId"].is_string());

  // Scale down: the assignments shrink, the instances go when the agents report them gone.
  scale(id, 1);
  ASSERT_TRUE(wait_until([&] { return a.assigned().size() + b.assigned().size() == 1; }));
  for (auto* agent : {&a, &b}) {
    auto keep = agent->assigned();
    std::erase_if(agent->instances, [&](const auto& item) {
      return std::find(keep.begin(), keep.end(), item.first) == keep.end();
    });
    agent->report();
  }
  ASSERT_TRUE(wait_until([&] { return executions(id).size() == 1; }));
}

TEST_F(SchedulingTest, FailedStartsBackOffThenRaiseAnError) {
  FakeAgent a(core.url(""), "agent-1");
  ASSERT_EQ(a.register_agent().status, 200);
  std::string id = load(BundleSpec{.name = "crashy"});
  scale(id, 1);
  std::set<std::string> failed;
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::string instance;
    ASSERT_TRUE(wait_with({&a},
                          [&] {
                            for (const auto& i : a.assigned()) {
                              if (!failed.count(i)) instance = i;
                            }
                            return !instance.empty();
                          }))
        << "attempt " << attempt;
    a.instances[instance].bundle_id = id;
    a.set_state(instance, InstanceState::failed, "start-command crashy/bin/run: exit 1");
    ASSERT_EQ(a.report().status, 200);
    failed.insert(instance);
    a.instances.erase(instance);  // the agent drops a failed instance once it is unassigned
  }
  ASSERT_TRUE(wait_with({&a}, [&] {
    auto bundle = core.bundle(id);
    return bundle && (*bundle)["hasError"] == true;
  }));
  auto bundle = *core.bundle(id);
  std::string error = bundle["error"];
  EXPECT_NE(error.find("exit 1"), std::string::npos) << error;
  EXPECT_NE(error.find("3 failed starts"), std::string::npos) << error;
  EXPECT_TRUE(wait_with({&a}, [&] { return a.assigned().empty(); }));
  json events = json::parse(core.get("/v2/bundles/" + id + "/events?count=100").body);
  bool raised = false;
  for (const auto& e : events)
    raised = raised || e["event"] == "bundleErrorOccurred";
  EXPECT_TRUE(raised);

  // A new scale clears the error and tries again.
  scale(id, 1);
  bundle = *core.bundle(id);
  EXPECT_EQ(bundle["hasError"], false);
  EXPECT_TRUE(bundle["error"].is_null());
  ASSERT_TRUE(wait_with({&a}, [&] { return a.assigned().size() == 1; }));
  EXPECT_FALSE(failed.count(a.assigned()[0]));
}

TEST_F(SchedulingTest, ExitZeroIsLeftStoppedAndNotReplaced) {
  FakeAgent a(core.url(""), "agent-1");
  ASSERT_EQ(a.register_agent().status, 200);
  std::string id = load(BundleSpec{.name = "batch"});
  scale(id, 1);
  ASSERT_TRUE(wait_until([&] { return a.assigned().size() == 1; }));
  std::string instance = a.assigned()[0];
  a.run_assigned(InstanceState::started);
  a.set_state(instance, InstanceState::stopped);
  a.report();
  ASSERT_TRUE(wait_until([&] {
    json e = executions(id);
    return e.size() == 1 && e[0]["state"] == "stopped";
  }));
  core.core().reconcile_now();
  EXPECT_EQ(a.assigned(), std::vector<std::string>{instance});
  EXPECT_EQ(executions(id)[0]["isStarted"], false);
  // Unload is allowed once nothing runs; the stopped instance goes with the bundle.
  EXPECT_EQ(core.request("DELETE", "/v2/bundles/" + id).status, 200);
  core.core().reconcile_now();
  EXPECT_TRUE(a.assigned().empty());
}

TEST_F(SchedulingTest, UnloadIsRefusedWhileInstancesRun) {
  FakeAgent a(core.url(""), "agent-1");
  ASSERT_EQ(a.register_agent().status, 200);
  std::string id = load(BundleSpec{.name = "busy"});
  scale(id, 1);
  ASSERT_TRUE(wait_until([&] { return a.assigned().size() == 1; }));
  a.run_assigned(InstanceState::started);
  auto r = core.request("DELETE", "/v2/bundles/" + id);
  EXPECT_EQ(r.status, 409);
  EXPECT_NE(json::parse(r.body)["error"].get<std::string>().find("running"), std::string::npos);
  scale(id, 0);
  ASSERT_TRUE(wait_until([&] { return a.assigned().empty(); }));
  EXPECT_EQ(core.request("DELETE", "/v2/bundles/" + id).status, 409);  // still stopping
  a.instances.clear();
  a.report();
  EXPECT_EQ(core.request("DELETE", "/v2/bundles/" + id).status, 200);
}

TEST_F(SchedulingTest, AgentDownMovesItsInstancesAndItsReturnKeepsOne) {
  FakeAgent a(core.url(""), "agent-1"), b(core.url(""), "agent-2");
  ASSERT_EQ(a.register_agent().status, 200);
  std::string id = load(BundleSpec{.name = "moving"});
  scale(id, 1);
  ASSERT_TRUE(wait_until([&] { return a.assigned().size() == 1; }));
  a.run_assigned(InstanceState::started);
  std::string original = a.assigned()[0];
  ASSERT_EQ(b.register_agent().status, 200);

  // agent-1 falls silent: after down-after its instance is placed on agent-2.
  ASSERT_TRUE(wait_with({&b}, [&] { return b.assigned().size() == 1; }));
  EXPECT_NE(b.assigned()[0], original);
  EXPECT_EQ(a.report().status, 404);  // down: it must register again
  b.run_assigned(InstanceState::started);
  json agents = json::parse(core.get("/v2/agents").body);
  EXPECT_EQ(agents[0]["up"], false);

  // It comes back still running its instance: one of the two is stopped, one kept.
  ASSERT_EQ(a.register_agent().status, 200);
  ASSERT_TRUE(wait_with({&a, &b}, [&] { return a.assigned().size() + b.assigned().size() == 1; }));
  ASSERT_TRUE(wait_with({&a, &b}, [&] {
    for (auto* agent : {&a, &b}) {
      auto keep = agent->assigned();
      std::erase_if(agent->instances, [&](const auto& item) {
        return std::find(keep.begin(), keep.end(), item.first) == keep.end();
      });
    }
    return executions(id).size() == 1;
  }));
}

TEST_F(SchedulingTest, ShortfallNamesTheRule) {
  FakeAgent a(core.url(""), "agent-1");
  ASSERT_EQ(a.register_agent().status, 200);
  std::string id = load(BundleSpec{.name = "gpu", .roles = {"gpu"}});
  scale(id, 1);
  ASSERT_TRUE(wait_until([&] {
    auto b = core.bundle(id);
    return b && (*b)["bundleScale"]["shortfall"].is_string();
  }));
  std::string reason = (*core.bundle(id))["bundleScale"]["shortfall"];
  EXPECT_NE(reason.find("gpu"), std::string::npos) << reason;
}

TEST_F(SchedulingTest, PrefetchGoesToThreeAgentsOneAtATime) {
  std::vector<std::unique_ptr<FakeAgent>> agents;
  for (int i = 1; i <= 4; ++i) {
    agents.push_back(std::make_unique<FakeAgent>(core.url(""), "agent-" + std::to_string(i)));
    ASSERT_EQ(agents.back()->register_agent().status, 200);
  }
  MadeFile file = make_bundle(work, BundleSpec{.name = "copied"});
  std::string id = core.load(file);
  std::set<std::string> holders;
  for (int copy = 0; copy < 3; ++copy) {
    FakeAgent* asked = nullptr;
    ASSERT_TRUE(wait_until([&] {
      int count = 0;
      for (auto& agent : agents) {
        auto prefetch = agent->assignment().prefetch;
        if (std::find(prefetch.begin(), prefetch.end(), file.digest) != prefetch.end()) {
          asked = agent.get();
          ++count;
        }
      }
      EXPECT_LE(count, 1);
      return count == 1;
    })) << "copy "
        << copy;
    EXPECT_FALSE(holders.count(asked->registration.name));
    // The agent fetches the file from the core and reports holding it.
    http::Client client;
    auto fetched = client.get(core.url("/v2/bundles/files/" + file.digest));
    ASSERT_TRUE(fetched.ok());
    ASSERT_EQ(fetched->status, 200);
    EXPECT_EQ(sha256_hex(fetched->body), file.digest);
    asked->bundles.push_back(file.digest);
    ASSERT_EQ(asked->report().status, 200);
    core.core().reconcile_now();
    holders.insert(asked->registration.name);
    ASSERT_TRUE(wait_until([&] {
      auto b = core.bundle(id);
      return b && (*b)["bundleInstallations"].size() == holders.size() + 1;
    }));
  }
  core.core().reconcile_now();
  for (auto& agent : agents)
    EXPECT_TRUE(agent->assignment().prefetch.empty());
  EXPECT_EQ(core.get("/v2/bundles/files/" + std::string(64, '0')).status, 404);
  EXPECT_EQ(core.get("/v2/bundles/files/nothex").status, 400);
}

TEST_F(SchedulingTest, AgentsAreToldToDiscardFilesOfUnloadedBundles) {
  FakeAgent a(core.url(""), "agent-1");
  ASSERT_EQ(a.register_agent().status, 200);
  MadeFile kept = make_bundle(work, BundleSpec{.name = "kept"});
  MadeFile dropped = make_bundle(work, BundleSpec{.name = "dropped"});
  core.load(kept);
  std::string id = core.load(dropped);
  a.bundles = {kept.digest, dropped.digest};
  ASSERT_EQ(a.report().status, 200);
  core.core().reconcile_now();
  EXPECT_TRUE(a.assignment().discard.empty());

  ASSERT_EQ(core.request("DELETE", "/v2/bundles/" + id).status, 200);
  core.core().reconcile_now();
  EXPECT_EQ(a.assignment().discard, std::vector<std::string>{dropped.digest});
  // Once the agent no longer holds it, the list is empty again.
  a.bundles = {kept.digest};
  ASSERT_EQ(a.report().status, 200);
  core.core().reconcile_now();
  EXPECT_TRUE(a.assignment().discard.empty());
}

TEST_F(SchedulingTest, LongPollWakesOnChange) {
  FakeAgent a(core.url(""), "agent-1");
  ASSERT_EQ(a.register_agent().status, 200);
  std::string id = load(BundleSpec{.name = "polled"});
  core.core().reconcile_now();  // the prefetch of the new bundle changes the assignment too
  auto first = a.poll(0, 0);
  ASSERT_EQ(first.status, 200);
  std::uint64_t index = json::parse(first.body)["index"];
  // Unchanged: the poll waits, then answers the same index.
  auto same = a.poll(index, 50);
  EXPECT_EQ(json::parse(same.body)["index"], index);
  std::thread scaler([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    scale(id, 1);
  });
  auto changed = a.poll(index, 20000);
  scaler.join();
  ASSERT_EQ(changed.status, 200);
  json body = json::parse(changed.body);
  EXPECT_GT(body["index"].get<std::uint64_t>(), index);
  ASSERT_EQ(body["instances"].size(), 1u);
  json instance = body["instances"][0];
  EXPECT_EQ(instance["bundleId"], id);
  EXPECT_EQ(instance["bundleName"], "polled");
  EXPECT_EQ(instance["bundleFile"],
            "/v2/bundles/files/" + instance["bundleDigest"].get<std::string>());
}

TEST_F(SchedulingTest, ServiceLookupRedirectsRoundRobin) {
  FakeAgent a(core.url(""), "agent-1"), b(core.url(""), "agent-2");
  b.registration.address = "127.0.0.2";
  ASSERT_EQ(a.register_agent().status, 200);
  ASSERT_EQ(b.register_agent().status, 200);
  std::string id = load(BundleSpec{.name = "svc", .service_name = "greeter"});
  EXPECT_EQ(core.get("/services/greeter/x").status, 404);
  scale(id, 2);
  ASSERT_TRUE(wait_with({&a, &b}, [&] {
    a.run_assigned(InstanceState::started);
    b.run_assigned(InstanceState::started);
    int started = 0;
    for (const auto& e : executions(id))
      started += e["isStarted"].get<bool>();
    return started == 2;
  }));
  std::set<std::string> locations;
  for (int i = 0; i < 4; ++i) {
    auto r = core.get("/services/greeter/hello/world?x=1&y=%20");
    ASSERT_EQ(r.status, 307) << r.body;
    EXPECT_EQ(r.headers["Cache-Control"], "max-age=60");
    std::string location = r.headers["Location"];
    EXPECT_TRUE(std::regex_match(
        location, std::regex(R"(http://127\.0\.0\.[12]:\d+/hello/world\?x=1&y=%20)")))
        << location;
    locations.insert(location);
  }
  EXPECT_EQ(locations.size(), 2u);
  auto bare = core.get("/services/greeter");
  EXPECT_EQ(bare.status, 307);
  EXPECT_TRUE(bare.headers["Location"].ends_with("/"));
  json hosts = json::parse(core.get("/v2/service-hosts/greeter").body);
  EXPECT_EQ(hosts.size(), 2u);
  EXPECT_EQ(json::parse(core.get("/v2/service-hosts/nothing").body), json::array());
}

TEST_F(SchedulingTest, RestartedCoreKeepsRunningInstances) {
  FakeAgent a(core.url(""), "agent-1");
  ASSERT_EQ(a.register_agent().status, 200);
  std::string id = load(BundleSpec{.name = "durable"});
  scale(id, 2);
  ASSERT_TRUE(wait_with({&a}, [&] {
    a.run_assigned(InstanceState::started);
    return a.assigned().size() == 2 && a.instances.size() == 2;
  }));
  auto before = a.assigned();
  std::sort(before.begin(), before.end());

  core.restart();
  FakeAgent again(core.url(""), "agent-1");
  again.instances = a.instances;
  EXPECT_EQ(again.report().status, 404);  // a new core run: register again
  ASSERT_EQ(again.register_agent().status, 200);
  auto after = again.assigned();
  std::sort(after.begin(), after.end());
  EXPECT_EQ(before, after);  // kept, not restarted
  json e = executions(id);
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0]["isStarted"], true);
  EXPECT_EQ(e[1]["isStarted"], true);
  core.core().reconcile_now();
  after = again.assigned();
  std::sort(after.begin(), after.end());
  EXPECT_EQ(before, after);
}

TEST_F(SchedulingTest, AfterARestartInstancesOfAnAgentThatStaysAwayMove) {
  FakeAgent a(core.url(""), "agent-1");
  ASSERT_EQ(a.register_agent().status, 200);
  std::string id = load(BundleSpec{.name = "lost"});
  scale(id, 1);
  ASSERT_TRUE(wait_with({&a}, [&] {
    a.run_assigned(InstanceState::started);
    return a.instances.size() == 1;
  }));
  core.restart();
  FakeAgent b(core.url(""), "agent-2");
  ASSERT_EQ(b.register_agent().status, 200);
  // agent-1's instance still counts while the core waits for it to come back...
  core.core().reconcile_now();
  EXPECT_TRUE(b.assigned().empty());
  // ...and is placed on agent-2 once down-after passed without it.
  ASSERT_TRUE(wait_with({&b}, [&] { return b.assigned().size() == 1; }));
}

}  // namespace
}  // namespace baton::core::testing
