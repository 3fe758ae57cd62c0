// Whole-system scenarios through the CLI: a real core, real agents (started by
// `baton sandbox run`), bundles of baton-testcomponent. No sleeps: every wait polls its
// condition with a deadline.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "integration/cluster.hpp"

namespace baton::integration {
namespace {

namespace stdfs = std::filesystem;

const std::vector<std::string> kServe = {"--listen-env", "WEB", "--signal-http"};

#define ASSERT_CLUSTER(cluster) \
  ASSERT_TRUE((cluster).ok()) << "baton sandbox run failed: " << (cluster).startup().describe()

// `baton load -q FOLDER` -> the bundle's full id (with --long-ids).
std::string load(const Cluster& cluster, const stdfs::path& folder) {
  auto result = cluster.baton({"load", "-q", "--long-ids", folder.string()});
  EXPECT_EQ(result.exit_code, 0) << result.describe();
  std::string id = result.out;
  while (!id.empty() && id.back() == '\n')
    id.pop_back();
  return id;
}

int bind_port(const json& execution) {
  return execution["endpoints"]["web"].value("hostPort", 0);
}

std::string host_of(const json& execution) {
  return execution.value("host", "127.0.0.1");
}

std::set<int> pids(const std::vector<json>& executions) {
  std::set<int> out;
  for (const auto& execution : executions)
    out.insert(execution.value("pid", 0));
  return out;
}

TEST(Scenarios, LoadRunAtScaleThreeServeStopUnload) {
  Cluster cluster(1);
  ASSERT_CLUSTER(cluster);
  stdfs::path folder = cluster.make_bundle("tc", kServe);

  auto loaded = cluster.baton({"load", folder.string()});
  ASSERT_EQ(loaded.exit_code, 0) << loaded.describe();
  EXPECT_NE(loaded.out.find("Bundle loaded.\nStart bundle with: baton run "), std::string::npos)
      << loaded.describe();
  json listed = cluster.info();
  ASSERT_TRUE(listed.is_array() && listed.size() == 1) << listed.dump();
  std::string id = listed[0]["bundleId"];
  std::string short_id = id.substr(0, 7);
  EXPECT_NE(loaded.out.find("baton run " + short_id + "\n"), std::string::npos);

  auto run = cluster.baton({"run", short_id, "--scale", "3"});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  EXPECT_NE(run.out.find("has 3 instances started"), std::string::npos) << run.describe();
  EXPECT_NE(run.out.find("Check status with: baton info"), std::string::npos);

  // Three ready instances on distinct ports, each answering on its endpoint.
  auto executions = cluster.started(id);
  ASSERT_EQ(executions.size(), 3u) << cluster.info(id).dump(2);
  std::set<int> ports;
  for (const auto& execution : executions) {
    int port = bind_port(execution);
    ports.insert(port);
    auto answer = http_get("http://" + host_of(execution) + ":" + std::to_string(port) + "/");
    EXPECT_EQ(answer.status, 200) << execution.dump();
    EXPECT_NE(answer.body.find("ok " + id), std::string::npos) << answer.body;
  }
  EXPECT_EQ(ports.size(), 3u);

  // The table, the services and the service lookup through the core.
  auto table = cluster.baton({"info"});
  ASSERT_EQ(table.exit_code, 0) << table.describe();
  EXPECT_NE(table.out.find("ID       NAME  VER  #REP  #STR  #RUN  ROLES"), std::string::npos)
      << table.out;
  // #REP counts the core's copy and the agent's.
  EXPECT_NE(table.out.find(short_id + "  tc     v1     2     0     3  web"), std::string::npos)
      << table.out;
  auto services = cluster.baton({"services"});
  ASSERT_EQ(services.exit_code, 0) << services.describe();
  EXPECT_NE(services.out.find("tc       web       http   " + short_id + "  tc"), std::string::npos)
      << services.out;
  for (int port : ports) {
    EXPECT_NE(services.out.find(":" + std::to_string(port)), std::string::npos) << services.out;
  }
  auto lookup = http_get(cluster.core_url() + "/services/tc/hello?x=1");
  ASSERT_EQ(lookup.status, 307) << lookup.body;
  bool points_at_one = std::any_of(ports.begin(), ports.end(), [&](int port) {
    return lookup.location.find(":" + std::to_string(port) + "/hello?x=1") != std::string::npos;
  });
  EXPECT_TRUE(points_at_one) << lookup.location;
  EXPECT_EQ(http_get(lookup.location).status, 200);
  EXPECT_EQ(http_get(cluster.core_url() + "/services/nothing/").status, 404);

  auto detail = cluster.baton({"info", short_id});
  ASSERT_EQ(detail.exit_code, 0) << detail.describe();
  EXPECT_NE(detail.out.find("Scale:          3 (3 started, 0 starting)"), std::string::npos)
      << detail.out;
  EXPECT_EQ(cluster.baton({"events", short_id}).exit_code, 0);
  EXPECT_EQ(cluster.baton({"logs", short_id, "-n", "5"}).exit_code, 0);
  EXPECT_EQ(cluster.baton({"agents"}).exit_code, 0);
  EXPECT_EQ(cluster.baton({"members"}).exit_code, 0);

  auto refused = cluster.baton({"unload", short_id});
  EXPECT_EQ(refused.exit_code, 1) << refused.describe();
  EXPECT_NE(refused.err.find("\nStop it first with: baton stop " + short_id), std::string::npos)
      << refused.describe();

  auto stop = cluster.baton({"stop", short_id});
  ASSERT_EQ(stop.exit_code, 0) << stop.describe();
  EXPECT_NE(stop.out.find("stopped."), std::string::npos) << stop.describe();
  EXPECT_TRUE(cluster.info(id)["bundleExecutions"].empty());
  for (int port : ports) {
    EXPECT_EQ(http_get("http://127.0.0.1:" + std::to_string(port) + "/").status, 0);
  }

  auto unload = cluster.baton({"unload", short_id});
  ASSERT_EQ(unload.exit_code, 0) << unload.describe();
  EXPECT_TRUE(cluster.info().empty());
  auto gone = cluster.baton({"info", short_id});
  EXPECT_EQ(gone.exit_code, 4) << gone.describe();
}

TEST(Scenarios, AKilledComponentIsReplaced) {
  Cluster cluster(1);
  ASSERT_CLUSTER(cluster);
  std::string id = load(cluster, cluster.make_bundle("tc", kServe));
  auto run = cluster.baton({"run", id, "--scale", "3"});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  auto before = cluster.started(id);
  ASSERT_EQ(before.size(), 3u);
  int victim = before[0].value("pid", 0);
  ASSERT_GT(victim, 0) << before[0].dump();
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  EXPECT_TRUE(eventually([&] {
    auto now = cluster.started(id);
    auto now_pids = pids(now);
    return now.size() == 3 && now_pids.count(victim) == 0 && now_pids.count(0) == 0;
  })) << cluster.info(id).dump(2);
  for (const auto& execution : cluster.started(id)) {
    EXPECT_EQ(
        http_get("http://" + host_of(execution) + ":" + std::to_string(bind_port(execution)) + "/")
            .status,
        200);
  }
}

TEST(Scenarios, AKilledAgentsInstancesMoveToTheOtherAgent) {
  Cluster cluster(2, {"--core-option=--down-after-ms=3000"});
  ASSERT_CLUSTER(cluster);
  std::string id = load(cluster, cluster.make_bundle("tc", kServe));
  auto run = cluster.baton({"run", id, "--scale", "2"});
  ASSERT_EQ(run.exit_code, 0) << run.describe();
  auto before = cluster.started(id);
  ASSERT_EQ(before.size(), 2u);
  std::string victim = before[0].value("agent", "");
  ASSERT_FALSE(victim.empty()) << before[0].dump();
  std::string survivor = victim == "agent-1" ? "agent-2" : "agent-1";
  pid_t agent = cluster.daemon_pid(victim);
  ASSERT_GT(agent, 0);
  ASSERT_EQ(::kill(agent, SIGKILL), 0);

  EXPECT_TRUE(eventually([&] {
    auto now = cluster.started(id);
    return now.size() == 2 && std::all_of(now.begin(), now.end(), [&](const json& execution) {
             return execution.value("agent", "") == survivor;
           });
  })) << cluster.info(id).dump(2);
  for (const auto& execution : cluster.started(id)) {
    EXPECT_EQ(
        http_get("http://" + host_of(execution) + ":" + std::to_string(bind_port(execution)) + "/")
            .status,
        200);
  }
  // `sandbox run` brings the agent back; what it ran before is not wanted there any more.
  auto again = cluster.baton({"sandbox", "run"});
  EXPECT_EQ(again.exit_code, 0) << again.describe();
  EXPECT_NE(again.out.find("Started " + victim), std::string::npos) << again.describe();
}

TEST(Scenarios, CoreRestartLosesNothingAndRestartsNothing) {
  Cluster cluster(1);
  ASSERT_CLUSTER(cluster);
  std::string id = load(cluster, cluster.make_bundle("tc", kServe));
  ASSERT_EQ(cluster.baton({"run", id, "--scale", "2"}).exit_code, 0);
  auto before = pids(cluster.started(id));
  ASSERT_EQ(before.size(), 2u);

  pid_t core = cluster.daemon_pid("core");
  ASSERT_GT(core, 0);
  ASSERT_EQ(::kill(core, SIGKILL), 0);
  EXPECT_TRUE(eventually([&] { return cluster.baton({"info"}).exit_code == 3; }));

  auto again = cluster.baton({"sandbox", "run"});
  ASSERT_EQ(again.exit_code, 0) << again.describe();
  EXPECT_NE(again.out.find("Started core; agent-1 kept running."), std::string::npos)
      << again.describe();
  json bundle;
  EXPECT_TRUE(eventually([&] {
    bundle = cluster.info(id);
    return bundle.is_object() && pids(cluster.started(id)) == before;
  })) << bundle.dump(2);
  EXPECT_EQ(bundle["bundleScale"].value("scale", 0), 2);
  // Still the same processes, still serving.
  for (int pid : before)
    EXPECT_EQ(::kill(pid, 0), 0) << pid;
}

TEST(Scenarios, AFailingBundleFailsTheRunFast) {
  Cluster cluster(1);
  ASSERT_CLUSTER(cluster);
  stdfs::path folder = cluster.make_bundle("broken", {"--exit", "3"});
  std::string id = load(cluster, folder);
  auto run = cluster.baton({"run", id, "--wait-timeout", "600"});
  EXPECT_EQ(run.exit_code, 1) << run.describe();
  EXPECT_NE(run.err.find("failed: "), std::string::npos) << run.describe();
  EXPECT_NE(run.err.find("See logs with: baton logs"), std::string::npos) << run.describe();
  auto table = cluster.baton({"info"});
  EXPECT_NE(table.out.find("! " + id.substr(0, 7)), std::string::npos) << table.out;
}

TEST(Scenarios, LoadFromStandardInputAndReloadFromHistory) {
  Cluster cluster(1);
  ASSERT_CLUSTER(cluster);
  stdfs::path folder = cluster.make_bundle("tc", kServe);
  auto created = cluster.baton(
      {"bundle", "create", folder.string(), "-o", (cluster.home() / "bundles").string()});
  ASSERT_EQ(created.exit_code, 0) << created.describe();
  stdfs::path zip;
  for (const auto& entry : stdfs::directory_iterator(cluster.home() / "bundles")) {
    if (entry.path().extension() == ".zip") zip = entry.path();
  }
  ASSERT_FALSE(zip.empty());
  std::ifstream in(zip, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  auto loaded = cluster.baton({"load", "-q", "-"}, bytes);
  ASSERT_EQ(loaded.exit_code, 0) << loaded.describe();
  std::string short_id = loaded.out.substr(0, 7);
  ASSERT_EQ(cluster.baton({"unload", short_id}).exit_code, 0);
  EXPECT_TRUE(cluster.info().empty());

  auto history = cluster.baton({"history", "--json"});
  ASSERT_EQ(history.exit_code, 0) << history.describe();
  json entries = json::parse(history.out, nullptr, false);
  ASSERT_TRUE(entries.is_array() && !entries.empty()) << history.out;
  EXPECT_EQ(entries[0].value("bundleName", ""), "tc");
  std::string sequence = std::to_string(entries[0].value("sequence", 0));
  auto table = cluster.baton({"history", "tc"});
  EXPECT_NE(table.out.find("Load one again with: baton load --history SEQ"), std::string::npos);

  auto reloaded = cluster.baton({"load", "--history", sequence});
  ASSERT_EQ(reloaded.exit_code, 0) << reloaded.describe();
  json listed = cluster.info();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["bundleId"].get<std::string>().substr(0, 7), short_id);
  // Who loaded it: user@host, as the CLI tells the core in X-Baton-User.
  EXPECT_NE(listed[0].value("loadedBy", "").find('@'), std::string::npos) << listed[0].dump();
}

TEST(Scenarios, SandboxStopLeavesNoProcessBehind) {
  Cluster cluster(2);
  ASSERT_CLUSTER(cluster);
  // A component that double-forks away from its shim, and one that ignores SIGTERM.
  std::string daemonizing =
      load(cluster,
           cluster.make_bundle("escapee", {"--daemonize", "--listen-env", "WEB", "--signal-http"}));
  std::string stubborn =
      load(cluster, cluster.make_bundle(
                        "stubborn", {"--ignore-sigterm", "--listen-env", "WEB", "--signal-http"}));
  EXPECT_EQ(cluster.baton({"run", daemonizing}).exit_code, 0);
  EXPECT_EQ(cluster.baton({"run", stubborn, "--scale", "2"}).exit_code, 0);
  auto ps = cluster.baton({"sandbox", "ps"});
  EXPECT_EQ(ps.exit_code, 0) << ps.describe();
  EXPECT_NE(ps.out.find("core"), std::string::npos);
  EXPECT_NE(ps.out.find("agent-2"), std::string::npos);
  EXPECT_FALSE(cluster.leftovers().empty());

  auto stop = cluster.baton({"sandbox", "stop"});
  ASSERT_EQ(stop.exit_code, 0) << stop.describe();
  EXPECT_NE(stop.out.find("Sandbox stopped: core, agent-1, agent-2"), std::string::npos)
      << stop.describe();
  auto left = cluster.leftovers();
  EXPECT_TRUE(left.empty()) << left.size() << " left, first: " << left.front();

  auto unreachable = cluster.baton({"info"});
  EXPECT_EQ(unreachable.exit_code, 3) << unreachable.describe();
  EXPECT_NE(unreachable.err.find("start one with: baton sandbox run"), std::string::npos);

  // Started again, it keeps its state: the bundles are still loaded.
  auto again = cluster.baton({"sandbox", "run"});
  ASSERT_EQ(again.exit_code, 0) << again.describe();
  EXPECT_EQ(cluster.info().size(), 2u);
}

}  // namespace
}  // namespace baton::integration
