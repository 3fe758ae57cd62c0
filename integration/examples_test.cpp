// The README's main job, end to end: `examples/run` against a sandbox loads and runs every
// example bundle (examples/README.md), and each one answers through the core's service lookup
// with what it is meant to show: endpoint polling (hello), a JVM service with a configuration
// (greeter), one service finding another (storefront -> catalog), a native program in Docker
// (hello-docker) and from an rpm (hello-rpm).
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "integration/cluster.hpp"

namespace baton::integration {
namespace {

namespace stdfs = std::filesystem;

#define ASSERT_CLUSTER(cluster) \
  ASSERT_TRUE((cluster).ok()) << "baton sandbox run failed: " << (cluster).startup().describe()

// GET through the core's service lookup: its 307, then the instance it points at.
HttpAnswer through_lookup(const Cluster& cluster, const std::string& service,
                          const std::string& path) {
  HttpAnswer redirect = http_get(cluster.core_url() + "/services/" + service + "/" + path);
  if (redirect.status != 307) return redirect;
  return http_get(redirect.location);
}

bool docker_answers() {
  auto ping = baton::testing::run_command({"/usr/bin/env", "curl", "-sf", "--max-time", "2",
                                           "--unix-socket", "/var/run/docker.sock",
                                           "http://localhost/_ping"});
  if (ping.exit_code != 0) std::cerr << ping.describe() << "\n";
  return ping.exit_code == 0;
}

std::set<std::string> offered_runtimes(const Cluster& cluster) {
  std::set<std::string> names;
  auto agents = cluster.baton({"agents", "--json"});
  json list = json::parse(agents.out, nullptr, false);
  if (!list.is_array()) return names;
  for (const auto& agent : list) {
    auto runtimes = agent.find("runtimes");
    if (runtimes == agent.end() || !runtimes->is_object()) continue;
    for (auto it = runtimes->begin(); it != runtimes->end(); ++it)
      names.insert(it.key());
  }
  return names;
}

std::vector<std::string> run_examples() {
  return {(stdfs::path(BATON_SOURCE_DIR) / "examples" / "run").string(),
          baton::testing::build_dir().string()};
}

TEST(Examples, TheMainJobRunsEveryExampleAndEachAnswers) {
  Cluster cluster(1);
  ASSERT_CLUSTER(cluster);
  auto runtimes = offered_runtimes(cluster);
  // The sandbox's agent loads the rpm plugin built next to it; docker needs a Docker Engine.
  EXPECT_EQ(runtimes.count("rpm"), 1u) << "the sandbox's agent should offer the rpm runtime";
  bool docker = docker_answers();
  EXPECT_EQ(runtimes.count("docker"), docker ? 1u : 0u)
      << "dockerd " << (docker ? "answers" : "does not answer") << " on /var/run/docker.sock";
  if (!docker) {
    std::cerr << "\n*** no Docker Engine answers on /var/run/docker.sock: the hello-docker "
                 "example is not checked (./dev test starts dockerd when it can) ***\n";
  }

  auto job = cluster.run(run_examples());
  ASSERT_EQ(job.exit_code, 0) << job.describe();

  auto hello = through_lookup(cluster, "hello", "");
  EXPECT_EQ(hello.status, 200);
  EXPECT_NE(hello.body.find("Hello from a Baton bundle"), std::string::npos) << hello.body;

  // The configuration bundle's runtime-config.sh set GREETING; its bundle.conf added a tag.
  auto greeter = through_lookup(cluster, "greeter", "you");
  EXPECT_EQ(greeter.status, 200);
  EXPECT_NE(greeter.body.find("Bonjour, you! (from greeter on the JVM"), std::string::npos)
      << greeter.body;
  json greeter_info = cluster.info("greeter");
  ASSERT_TRUE(greeter_info.is_object()) << job.describe();
  EXPECT_EQ(greeter_info["attributes"]["tags"], json::array({"french"}));

  // The storefront found the catalog through $SERVICE_LOCATOR.
  auto storefront = through_lookup(cluster, "storefront", "");
  EXPECT_EQ(storefront.status, 200);
  EXPECT_NE(storefront.body.find("Conductor's baton"), std::string::npos) << storefront.body;
  EXPECT_NE(storefront.body.find("catalog at http://127.0.0.1:"), std::string::npos)
      << storefront.body;

  if (runtimes.count("rpm") != 0) {
    auto rpm = through_lookup(cluster, "hello-rpm", "");
    EXPECT_EQ(rpm.status, 200);
    EXPECT_NE(rpm.body.find("Hello from hello-rpm (bundle hello-rpm"), std::string::npos)
        << rpm.body;
  }
  if (docker) {
    auto in_docker = through_lookup(cluster, "hello-docker", "");
    EXPECT_EQ(in_docker.status, 200);
    EXPECT_NE(in_docker.body.find("Hello from hello-docker (bundle hello-docker"),
              std::string::npos)
        << in_docker.body;
  }

  // Every URL the job printed, with a curl line through the core.
  for (const char* name : {"hello", "greeter", "catalog", "storefront"}) {
    EXPECT_NE(job.out.find("  " + std::string(name) + " "), std::string::npos) << job.out;
  }
  EXPECT_NE(job.out.find("curl -sL http://127.0.0.1:" + std::to_string(cluster.core_port()) +
                         "/services/greeter/you"),
            std::string::npos)
      << job.out;

  // A second run finds everything in place: the same instances, none restarted.
  json before = cluster.info();
  auto again = cluster.run(run_examples());
  ASSERT_EQ(again.exit_code, 0) << again.describe();
  json after = cluster.info();
  ASSERT_TRUE(before.is_array() && after.is_array());
  EXPECT_EQ(before.size(), after.size());
  auto pids = [](const json& bundles) {
    std::set<int> out;
    for (const auto& bundle : bundles) {
      for (const auto& execution : bundle["bundleExecutions"])
        out.insert(execution.value("pid", 0));
    }
    return out;
  };
  EXPECT_EQ(pids(before), pids(after));
}

}  // namespace
}  // namespace baton::integration
