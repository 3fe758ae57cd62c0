#include "cli/views.hpp"

#include <gtest/gtest.h>

namespace baton::cli {
namespace {

using nlohmann::json;

const std::string kId = "abf60451c6af18adcc851d67b369b7f5";
const std::string kConfiguredId =
    "45e0c477d3e5ea92aa8d85c0d8f3e25c-a53237c1f4a23b1f5c2e1b8b6b8e9f4a";

json visualizer() {
  return json::parse(R"({
    "bundleId": "abf60451c6af18adcc851d67b369b7f5",
    "bundleDigest": "abf60451c6af18adcc851d67b369b7f5abf60451c6af18adcc851d67b369b7f5",
    "attributes": {"system": "visualizer", "nrOfCpus": 0.1, "memory": 67108864,
                   "diskSpace": 10000000, "roles": ["web", "frontend"],
                   "bundleName": "visualizer", "compatibilityVersion": "2",
                   "systemVersion": "2", "tags": [], "annotations": {}},
    "bundleConfig": {"endpoints": {"web": {"bindProtocol": "http", "serviceName": "visualizer",
                                           "services": [], "acls": [{}]}}},
    "bundleScale": {"scale": 3, "affinity": null, "shortfall": null},
    "bundleExecutions": [
      {"host": "10.0.0.5", "pid": 1234, "isStarted": true,
       "endpoints": {"web": {"bindPort": 10001, "hostPort": 10001}},
       "instanceId": "9f1c2a7b4e5d6f70", "agent": "agent-1", "startedAt": 1000, "restarts": 0},
      {"host": "10.0.0.6", "pid": 99, "isStarted": true,
       "endpoints": {"web": {"bindPort": 10002, "hostPort": 10002}},
       "instanceId": "0000000000000001", "agent": "agent-2", "startedAt": 1000, "restarts": 2},
      {"host": "10.0.0.6", "pid": 0, "isStarted": false, "endpoints": {},
       "instanceId": "0000000000000002", "agent": "agent-2", "startedAt": 0, "restarts": 0}],
    "bundleInstallations": [
      {"uniqueAddress": {"address": "baton-core://127.0.0.1:9005", "uid": "f996f11d12916a69"}},
      {"uniqueAddress": {"address": "baton-agent://agent-1", "uid": "agent-1"}},
      {"uniqueAddress": {"address": "baton-agent://agent-2", "uid": "agent-2"}}],
    "hasError": false, "error": null, "loadedAt": 1000
  })");
}

json failing() {
  json bundle = {{"bundleId", kConfiguredId},
                 {"attributes",
                  {{"bundleName", "test-bundle"},
                   {"compatibilityVersion", "1"},
                   {"roles", json::array({"web"})}}},
                 {"bundleExecutions", json::array()},
                 {"bundleInstallations", json::array({1, 2, 3, 4, 5, 6, 7, 8, 9, 10})},
                 {"hasError", true},
                 {"error", "start-command test/bin/x: no such file in the bundle"}};
  return bundle;
}

TEST(BundleCounts, CountsInstallationsStartingAndStarted) {
  BundleCounts counts = bundle_counts(visualizer());
  EXPECT_EQ(counts.installations, 3);
  EXPECT_EQ(counts.starting, 1);
  EXPECT_EQ(counts.started, 2);
  EXPECT_EQ(counts.scale, 3);
}

TEST(BundlesTable, IsConductRsLayout) {
  json bundles = json::array({visualizer(), failing()});
  EXPECT_EQ(bundles_table(bundles, {}),
            "ID                 NAME         VER  #REP  #STR  #RUN  ROLES\n"
            "abf6045            visualizer    v2     3     1     2  frontend, web\n"
            "! 45e0c47-a53237c  test-bundle   v1    10     0     0  web\n"
            "There are errors: use `baton info ID`, `baton events ID` or `baton logs ID` for "
            "further information\n")
      << bundles_table(bundles, {});
}

TEST(BundlesTable, EmptyListIsTheHeaderOnly) {
  EXPECT_EQ(bundles_table(json::array(), {}), "ID  NAME  VER  #REP  #STR  #RUN  ROLES\n");
}

TEST(BundlesTable, LongIds) {
  std::string table = bundles_table(json::array({visualizer()}), {.long_ids = true});
  EXPECT_NE(table.find(kId + "  visualizer"), std::string::npos) << table;
}

TEST(BundleIds, OnePerLine) {
  EXPECT_EQ(bundle_ids(json::array({visualizer(), failing()}), {}), "abf6045\n45e0c47-a53237c\n");
}

TEST(BundlesTable, ToleratesMissingFields) {
  json bundles = json::array({json::object(), json({{"bundleId", 5}, {"attributes", "x"}})});
  EXPECT_EQ(bundles_table(bundles, {}),
            "ID  NAME  VER  #REP  #STR  #RUN  ROLES\n"
            "    ?             0     0     0\n"
            "    ?             0     0     0\n");
}

TEST(BundleDetail, ShowsAttributesEndpointsInstancesAndInstallations) {
  std::string detail = bundle_detail(visualizer(), {.now_ms = 61000});
  EXPECT_NE(detail.find("ID:             " + kId + "\n"), std::string::npos) << detail;
  EXPECT_NE(detail.find("Name:           visualizer\n"), std::string::npos) << detail;
  EXPECT_NE(detail.find("Version:        v2\n"), std::string::npos) << detail;
  EXPECT_NE(detail.find("Roles:          frontend, web\n"), std::string::npos) << detail;
  EXPECT_NE(detail.find("Resources:      0.1 CPUs, 64 MiB memory, 9.5 MiB disk\n"),
            std::string::npos)
      << detail;
  EXPECT_NE(detail.find("Scale:          3 (2 started, 1 starting)\n"), std::string::npos)
      << detail;
  EXPECT_NE(detail.find("web       http      visualizer"), std::string::npos) << detail;
  EXPECT_NE(detail.find("9f1c2a7b4e5d6f70  10.0.0.5  agent-1  1234  started   web:10001  1m ago"),
            std::string::npos)
      << detail;
  EXPECT_NE(detail.find("0000000000000002  10.0.0.6  agent-2     -  starting  -"),
            std::string::npos)
      << detail;
  EXPECT_NE(detail.find("Installed on:   agent-1, agent-2, core\n"), std::string::npos) << detail;
  EXPECT_EQ(detail.find("Error:"), std::string::npos) << detail;
}

TEST(BundleDetail, ShowsTheErrorAndTheShortfall) {
  json bundle = failing();
  bundle["bundleScale"] = {{"scale", 2}, {"shortfall", "no agent with role 'db'"}};
  std::string detail = bundle_detail(bundle, {});
  EXPECT_NE(detail.find("Error:          start-command test/bin/x: no such file in the bundle\n"),
            std::string::npos)
      << detail;
  EXPECT_NE(detail.find("Shortfall:      no agent with role 'db'\n"), std::string::npos) << detail;
  EXPECT_NE(detail.find("No instances.\n"), std::string::npos) << detail;
}

TEST(ServiceName, FollowsConductRsRules) {
  EXPECT_EQ(service_name("web", {{"serviceName", "visualizer"}}), "visualizer");
  EXPECT_EQ(service_name("web", {{"services", {"http://:9000/search/x"}}}), "search");
  EXPECT_EQ(service_name("web", {{"services", {"tcp://:9000"}}}), "web");
  EXPECT_EQ(service_name("web", json::object()), "web");
}

TEST(Services, ListHostsOfStartedInstances) {
  auto rows = service_rows(json::array({visualizer()}));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].service, "visualizer");
  EXPECT_EQ(rows[0].endpoint, "web");
  EXPECT_EQ(rows[0].hosts, (std::vector<std::string>{"10.0.0.5:10001", "10.0.0.6:10002"}));
  EXPECT_EQ(services_table(json::array({visualizer()}), {}),
            "SERVICE     ENDPOINT  PROTO  BUNDLE   NAME        HOSTS\n"
            "visualizer  web       http   abf6045  visualizer  10.0.0.5:10001, 10.0.0.6:10002\n");
}

TEST(Events, TimeEventDescription) {
  json events = json::parse(R"([{"timestamp": 1763772930582, "event": "bundleExecutionAdded",
                                 "description": "instance 9f1c on agent-1"},
                                {"timestamp": "2015-08-24T01:16:22Z", "event": "x"}])");
  EXPECT_EQ(events_table(events),
            "TIME                  EVENT                 DESCRIPTION\n"
            "2025-11-22T00:55:30Z  bundleExecutionAdded  instance 9f1c on agent-1\n"
            "2015-08-24T01:16:22Z  x\n");
}

TEST(Logs, TableAndFollowLines) {
  json line = {{"timestamp", 1763772930582}, {"host", "10.0.0.5"}, {"message", "hello"}};
  EXPECT_EQ(logs_table(json::array({line})),
            "TIME                  HOST      LOG\n"
            "2025-11-22T00:55:30Z  10.0.0.5  hello\n");
  EXPECT_EQ(log_line(line), "2025-11-22T00:55:30Z  10.0.0.5  hello");
}

TEST(Members, MarksUnreachable) {
  json members = json::parse(R"({"selfNode": {"address": "baton-core://a", "uid": "1"},
    "members": [{"node": {"address": "baton-core://a", "uid": "1"}, "status": "Up", "roles": []},
                {"node": {"address": "baton-core://b", "uid": 2}, "status": "Up", "roles": []}],
    "unreachable": [{"node": {"address": "baton-core://b"}}]})");
  EXPECT_EQ(members_table(members),
            "UID  ADDRESS         ROLES  STATUS  REACHABLE\n"
            "1    baton-core://a         Up      Yes\n"
            "2    baton-core://b         Up      No\n");
}

TEST(Agents, NameRolesResources) {
  json agents = json::parse(R"([{"address": "baton-agent://agent-1", "roles": ["web"],
    "observedBy": [{"node": {"address": "baton-core://127.0.0.1:9005", "uid": "c"}}],
    "resourceAvailable": {"nrOfCpus": 2, "memory": 1073741824, "diskSpace": 2147483648},
    "runtimes": {"universal": {"available": true}, "docker": {"available": false}},
    "up": true}])");
  EXPECT_EQ(agents_table(agents),
            "NAME     ADDRESS                ROLES  UP   RUNTIMES   CPUS  MEMORY   DISK  "
            "OBSERVED BY\n"
            "agent-1  baton-agent://agent-1  web    yes  universal     2   1 GiB  2 GiB  "
            "baton-core://127.0.0.1:9005\n");
}

TEST(History, SequenceIdNameWhenWhoAvailable) {
  json history = json::parse(R"([{"sequence": 12, "bundleId": ")" + kConfiguredId +
                             R"(", "bundleName": "visualizer", "loadedAt": 1763772930582,
                             "loadedBy": "ann@box", "available": true}])");
  EXPECT_EQ(history_table(history, {}),
            "SEQ  ID               NAME        LOADED                BY       AVAILABLE\n"
            " 12  45e0c47-a53237c  visualizer  2025-11-22T00:55:30Z  ann@box  yes\n");
}

}  // namespace
}  // namespace baton::cli
