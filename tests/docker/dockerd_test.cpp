// The docker runtime against the real dockerd (skipped, loudly, when none answers): an image
// archive (`docker save` output, produced here through the Engine API) in a component folder is
// loaded and runs; release() removes the image; a failing build fails prepare with its log and
// leaves no image; a start that cannot publish its port leaves no container.

#include <gtest/gtest.h>

#include <fstream>

#include "runtimes/docker/context.hpp"
#include "runtimes/docker/docker.hpp"
#include "runtimes/docker/spec.hpp"
#include "tests/cli/support/port_slot.hpp"
#include "tests/docker/dockerd_support.hpp"
#include "tests/docker/support.hpp"

namespace baton::runtimes::docker {
namespace {

using docker_testing::dockerd;
using docker_testing::FakeHost;
using docker_testing::get_json;
using docker_testing::log_texts;
using docker_testing::random_hex;
using docker_testing::TempDir;
using docker_testing::write_text;
using namespace std::chrono_literals;
using nlohmann::json;

class Dockerd : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto missing = docker_testing::dockerd_missing(); !missing.empty()) GTEST_SKIP() << missing;
    runtime_ = make_runtime(host_, Options{.agent_name = agent_, .socket = kSocket});
  }
  void TearDown() override {
    runtime_.reset();
    docker_testing::remove_everything_of(agent_);
    for (const auto& reference : extra_images_) {
      (void)dockerd().call("DELETE", "/images/" + url_encode(reference) + "?force=1");
    }
  }

  // A bundle of one docker component "web" whose folder holds `files`.
  BundleContent bundle(const std::map<std::string, std::string>& files,
                       std::vector<std::string> command = {}) {
    root_ = dir_.path() / "bundle";
    write_text(root_ / "bundle.conf", "name = " + name_ + "\n");
    for (const auto& [path, content] : files) {
      std::string target = path;
      bool executable = target.ends_with("@exec");
      if (executable) target.resize(target.size() - 5);
      write_text(root_ / target, content);
      if (executable) stdfs::permissions(root_ / target, stdfs::perms::owner_all);
    }
    descriptor_.name = name_;
    bundle::Component component;
    component.name = "web";
    component.file_system_type = "docker";
    component.start_command = std::move(command);
    descriptor_.components = {component};
    return BundleContent{digest_, root_, &descriptor_};
  }

  Launch launch(std::vector<std::string> command) {
    Launch l;
    l.instance_id = random_hex(16);
    l.id = l.instance_id + ".web";
    l.bundle_id = digest_.substr(0, 32);
    l.bundle_digest = digest_;
    l.component = "web";
    l.agent_name = agent_;
    l.bundle_root = root_;
    l.log_dir = dir_.path() / l.instance_id / "logs";
    l.state_dir = dir_.path() / l.instance_id / "state";
    l.work_dir = dir_.path() / l.instance_id / "work";
    stdfs::create_directories(l.log_dir);
    l.command = std::move(command);
    l.environment = {{"BUNDLE_NAME", name_}, {"BUNDLE_HOST_IP", "127.0.0.1"}};
    return l;
  }

  bool image_exists(const std::string& reference) {
    auto reply = dockerd().call("GET", "/images/" + url_encode(reference) + "/json");
    return reply && reply->ok();
  }

  static constexpr const char* kSocket = docker_testing::kDockerSocket;
  TempDir dir_;
  FakeHost host_;
  std::string agent_ = "dockerd-test-" + random_hex(8);
  std::string name_ = "archived";
  std::string digest_ = random_hex(64);
  stdfs::path root_;
  bundle::Descriptor descriptor_;
  std::vector<std::string> extra_images_;
  RuntimePtr runtime_;
};

TEST_F(Dockerd, AnImageArchiveIsLoadedRunsAndReleaseRemovesIt) {
  // An image built here and saved as `docker save` does, then gone from the daemon.
  const stdfs::path context = dir_.path() / "context";
  for (const auto& [path, content] : docker_testing::image_folder("ctx")) {
    std::string target = path.substr(4);
    bool executable = target.ends_with("@exec");
    if (executable) target.resize(target.size() - 5);
    write_text(context / target, content);
    if (executable) stdfs::permissions(context / target, stdfs::perms::owner_all);
  }
  // A file of its own, so no other test's build shares this image's id (its removal must be
  // visible as the id's absence).
  write_text(context / "unique", random_hex(16));
  write_text(context / "Dockerfile",
             docker_testing::read_text(context / "Dockerfile") + "COPY unique /unique\n");
  const std::string source = "baton-test/archive-" + random_hex(8) + ":v1";
  extra_images_.push_back(source);
  auto tar = ContextTar::open(context);
  ASSERT_TRUE(tar.ok()) << tar.error().message;
  std::string progress;
  auto built = dockerd().stream(
      "POST", "/build?t=" + url_encode(source), "application/x-tar",
      [&](char* out, std::size_t size) { return (*tar)->read(out, size); }, -1,
      [&](std::string_view data) {
        progress += data;
        return true;
      });
  ASSERT_TRUE(built.ok()) << built.error().message;
  ASSERT_TRUE(built->ok() && progress.find("errorDetail") == std::string::npos) << progress;
  const std::string image_id = get_json("/images/" + url_encode(source) + "/json")["Id"];
  std::string archive;
  auto saved = dockerd().stream("GET", "/images/" + url_encode(source) + "/get", {}, {}, 0,
                                [&](std::string_view data) {
                                  archive += data;
                                  return true;
                                });
  ASSERT_TRUE(saved.ok() && saved->ok()) << (saved.ok() ? saved->body : saved.error().message);
  ASSERT_TRUE(dockerd().call("DELETE", "/images/" + url_encode(source)).value().ok());
  ASSERT_FALSE(image_exists(image_id));

  auto content = bundle({{"web/image.tar", archive}});
  auto prepared = runtime_->prepare(content);
  ASSERT_TRUE(prepared.ok()) << prepared.error().message;
  const std::string reference = image_reference(agent_, name_, "web", digest_);
  EXPECT_TRUE(image_exists(reference));
  EXPECT_EQ(get_json("/images/" + url_encode(reference) + "/json")["Id"], image_id);
  // Only Baton's name is left on it: the archive's own tag was taken off again.
  EXPECT_FALSE(image_exists(source));

  auto l = launch({"/testcomponent", "--print-env", "--exit", "3"});
  auto handle = runtime_->start(l);
  ASSERT_TRUE(handle.ok()) << handle.error().message;
  auto exit = host_.wait_exit(l.id);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->code, 3) << exit->message;
  auto lines = log_texts(l.log_dir, "web");
  EXPECT_NE(std::find(lines.begin(), lines.end(), "BUNDLE_NAME=" + name_), lines.end());
  EXPECT_NE(std::find(lines.begin(), lines.end(), "ready"), lines.end());
  // The ended container was removed.
  EXPECT_TRUE(docker_testing::containers_labelled("baton.launch", l.id).empty());

  ASSERT_TRUE(runtime_->release(digest_).ok());
  EXPECT_FALSE(image_exists(reference));
  EXPECT_FALSE(image_exists(image_id));
}

TEST_F(Dockerd, AFailingBuildFailsPrepareWithItsLogAndLeavesNoImage) {
  auto content = bundle({{"web/Dockerfile", "FROM scratch\nCOPY missing-file /x\n"}});
  auto prepared = runtime_->prepare(content);
  ASSERT_FALSE(prepared.ok());
  const std::string& message = prepared.error().message;
  EXPECT_NE(message.find("component web"), std::string::npos) << message;
  EXPECT_NE(message.find("missing-file"), std::string::npos) << message;
  EXPECT_TRUE(docker_testing::images_of(agent_).empty());
}

TEST_F(Dockerd, AStartThatCannotPublishItsPortLeavesNoContainer) {
  auto content = bundle(docker_testing::image_folder("web"));
  ASSERT_TRUE(runtime_->prepare(content).ok());
  // Someone else holds the host port.
  auto l = launch({"/testcomponent", "--sleep"});
  auto busy = launch({"/testcomponent", "--sleep"});
  const int port = baton::testing::reserved_port_slot() + baton::testing::kPortSlotSize - 1;
  busy.ports = {PortBinding{"web", bundle::Protocol::tcp, port, port}};
  l.ports = busy.ports;
  ASSERT_TRUE(runtime_->start(busy).ok());
  auto refused = runtime_->start(l);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find(l.id), std::string::npos) << refused.error().message;
  EXPECT_NE(refused.error().message.find(std::to_string(port)), std::string::npos)
      << refused.error().message;
  EXPECT_TRUE(docker_testing::containers_labelled("baton.launch", l.id).empty());
  EXPECT_EQ(host_.exit_count(l.id), 0u);
  ASSERT_TRUE(runtime_->destroy(busy.id).ok());
  EXPECT_TRUE(docker_testing::wait_until(
      [&] { return docker_testing::containers_labelled("baton.launch", busy.id).empty(); }));
}

}  // namespace
}  // namespace baton::runtimes::docker
