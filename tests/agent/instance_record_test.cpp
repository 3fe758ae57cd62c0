#include "agent/instance_record.hpp"

#include <gtest/gtest.h>

#include "common/files.hpp"

namespace baton::agent {
namespace {

namespace stdfs = std::filesystem;

InstanceRecord sample() {
  InstanceRecord r;
  r.assigned.instance_id = "9f1c2a7b4e5d6f70";
  r.assigned.bundle_id = "abf60451c6af18adcc851d67b369b7f5";
  r.assigned.bundle_name = "visualizer";
  r.assigned.bundle_digest = std::string(64, 'a');
  r.assigned.bundle_file = "/v2/bundles/files/" + std::string(64, 'a');
  r.assigned.configuration_digest = std::string(64, 'b');
  r.assigned.configuration_file = "/v2/configurations/files/" + std::string(64, 'b');
  r.assigned.peers = {{"web", {protocol::Peer{"http", "10.0.0.6", 10007}}}};
  r.token = "0123456789abcdef0123456789abcdef";
  r.notify_socket = "/data/instances/9f1c2a7b4e5d6f70/notify.sock";
  r.control_url = "http://10.0.0.1:9005";
  r.ports = {{"web", 10001}, {"admin", 10002}};
  r.state = protocol::InstanceState::started;
  r.restarts = 2;
  r.failures = {1763772930582, 1763772931582};
  r.started_at = 1763772930582;
  r.error = "component web exited with code 3";
  r.environment = {{"A", "1"}, {"MULTI", "line\nline"}, {"Z", "=x="}};
  r.launches = {LaunchRecord{"web", "universal", true, runtimes::Handle{4242, "{\"shimPid\":1}"}},
                LaunchRecord{"worker", "universal", false, runtimes::Handle{}}};
  return r;
}

TEST(InstanceRecordTest, RoundTrip) {
  auto folder = files::TempFolder::create(stdfs::temp_directory_path(), "record-");
  ASSERT_TRUE(folder.ok());
  auto file = folder->path() / "instance.json";
  InstanceRecord original = sample();
  ASSERT_TRUE(save_record(file, original).ok());
  auto loaded = load_record(file);
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(to_json(*loaded), to_json(original));
  EXPECT_EQ(loaded->assigned.peers.at("web").at(0).port, 10007);
  EXPECT_EQ(loaded->launches.at(0).handle.pid, 4242);
  EXPECT_EQ(loaded->launches.at(0).handle.state, "{\"shimPid\":1}");
  EXPECT_TRUE(loaded->launches.at(0).active);
  EXPECT_EQ(loaded->environment.at(1).second, "line\nline");
  EXPECT_EQ(loaded->state, protocol::InstanceState::started);
}

TEST(InstanceRecordTest, BadFilesAreRefusedNamingTheFile) {
  auto folder = files::TempFolder::create(stdfs::temp_directory_path(), "record-");
  ASSERT_TRUE(folder.ok());
  auto file = folder->path() / "instance.json";
  EXPECT_FALSE(load_record(file).ok());
  for (const char* text : {"", "{", "[]", "{\"version\": 7}", "{\"version\": 1}",
                           "{\"version\":1,\"assigned\":{\"instanceId\":\"\"}}"}) {
    ASSERT_TRUE(files::write_atomic(file, text).ok());
    auto loaded = load_record(file);
    ASSERT_FALSE(loaded.ok()) << text;
    EXPECT_NE(loaded.error().message.find(file.string()), std::string::npos)
        << loaded.error().message;
  }
}

}  // namespace
}  // namespace baton::agent
