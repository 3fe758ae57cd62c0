// The rpm runtime as the agent sees it: baton-runtime-rpm.so loaded by the plugin loader next to
// the universal runtime (its process service), packages built with rpmbuild during the test,
// programs run from them with their output in the log, and broken rpms refused with nothing left.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <thread>

#include "bundle/descriptor.hpp"
#include "common/files.hpp"
#include "tests/plugins/support.hpp"
#include "tests/rpm/rpm_writer.hpp"
#include "tests/rpm/rpmbuild.hpp"

namespace baton::runtimes::rpm {
namespace {

using namespace baton::testing;

constexpr const char* kHelloScript = R"SH(#!/bin/sh
echo "hello from rpm $1"
echo "PATH=$PATH"
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
echo "BATON_RPM_ROOT=$BATON_RPM_ROOT"
echo "shared: $(cat /dev/null $BATON_RPM_ROOT/usr/share/hello/b)"
greet
exit 3
)SH";

class RpmRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_program("rpmbuild")) {
      GTEST_SKIP() << "\n*** rpmbuild is missing: install Debian's rpm package "
                      "(apt-get install -y rpm) to run the rpm runtime tests ***\n";
    }
    auto folder = files::TempFolder::create(stdfs::temp_directory_path(), "baton-rpm-");
    ASSERT_TRUE(folder.ok());
    temp_.emplace(std::move(folder).value());
    base_ = temp_->path();
    plugins_ = base_ / "plugins";
    stdfs::create_directories(plugins_);
    stdfs::copy_file(BATON_RPM_PLUGIN, plugins_ / "baton-runtime-rpm.so");
    // A small size limit, so the size test needs no gigabytes.
    write_text(plugins_ / "rpm.json", R"({"maxBytes": 1048576})");
    agentless_ = std::make_unique<Agentless>(base_ / "data");
    auto report = agentless_->load({plugins_});
    ASSERT_TRUE(report.refused.empty()) << report.refused.front().message;
    runtime_ = agentless_->registry.find("rpm");
    ASSERT_NE(runtime_, nullptr);
  }

  void TearDown() override {
    for (const auto& id : started_)
      (void)runtime_->destroy(id);
  }

  // Builds `<name>-1.0-1.noarch.rpm` whose %install runs `install` and whose %files lists `files`.
  stdfs::path build_rpm(const std::string& name, const std::string& install,
                        const std::string& files, const std::string& payload = "w6.xzdio") {
    const stdfs::path top = base_ / "rpmbuild" / name;
    auto built = run_command(baton::testing::rpm::prepare_rpm(
        top, {.name = name, .install = install, .files = files, .payload = payload}));
    EXPECT_EQ(built.status, 0) << built.output;
    return top / "RPMS" / "noarch" / (name + "-1.0-1.noarch.rpm");
  }

  // A bundle folder with `component` holding `rpms`; returns its root.
  stdfs::path make_bundle(const std::string& name, const std::string& component,
                          const std::vector<stdfs::path>& rpms) {
    stdfs::path root = base_ / "bundles" / name;
    stdfs::create_directories(root / component);
    for (const auto& rpm : rpms)
      stdfs::copy_file(rpm, root / component / rpm.filename());
    descriptor_.components = {bundle::Component{.name = component, .file_system_type = "rpm"}};
    return root;
  }

  runtimes::Launch launch_of(const stdfs::path& bundle_root, const std::string& digest,
                             const std::string& instance, std::vector<std::string> command) {
    auto launch = make_launch(base_, instance, "hello", std::move(command));
    launch.bundle_root = bundle_root;
    launch.bundle_digest = digest;
    return launch;
  }

  Result<runtimes::Handle> start(const runtimes::Launch& launch) {
    started_.push_back(launch.id);
    return runtime_->start(launch);
  }

  // Everything below the rpm runtime's data folder, for "nothing left" checks.
  std::vector<std::string> data_left() {
    std::vector<std::string> left;
    std::error_code error;
    for (auto it = stdfs::recursive_directory_iterator(base_ / "data" / "rpm", error);
         it != stdfs::recursive_directory_iterator(); ++it) {
      left.push_back(it->path().lexically_relative(base_ / "data" / "rpm").string());
    }
    std::sort(left.begin(), left.end());
    return left;
  }

  stdfs::path hello_rpm() {
    return build_rpm("hello",
                     "mkdir -p %{buildroot}/usr/bin %{buildroot}/usr/share/hello\n"
                     "cat > %{buildroot}/usr/bin/hello <<'EOF'\n" +
                         std::string(kHelloScript) +
                         "EOF\n"
                         "chmod 755 %{buildroot}/usr/bin/hello\n"
                         "ln -s hello %{buildroot}/usr/bin/hi\n"
                         "echo linked > %{buildroot}/usr/share/hello/a\n"
                         "ln %{buildroot}/usr/share/hello/a %{buildroot}/usr/share/hello/b\n",
                     "/usr/bin/hello\n/usr/bin/hi\n/usr/share/hello\n");
  }
  stdfs::path greet_rpm() {
    return build_rpm("greet",
                     "mkdir -p %{buildroot}/usr/bin %{buildroot}/usr/lib64\n"
                     "printf '#!/bin/sh\\necho greeting from the second rpm\\n' > "
                     "%{buildroot}/usr/bin/greet\n"
                     "chmod 755 %{buildroot}/usr/bin/greet\n"
                     "echo not-really-a-library > %{buildroot}/usr/lib64/libgreet.so.1\n",
                     "/usr/bin/greet\n/usr/lib64/libgreet.so.1\n", "w3.zstdio");
  }

  std::optional<files::TempFolder> temp_;
  stdfs::path base_;
  stdfs::path plugins_;
  std::unique_ptr<Agentless> agentless_;
  runtimes::Runtime* runtime_ = nullptr;
  bundle::Descriptor descriptor_;
  std::vector<std::string> started_;
};

TEST_F(RpmRuntimeTest, RunsAProgramFromItsRpmsLikeAUniversalComponent) {
  auto probe = runtime_->probe();
  EXPECT_TRUE(probe.available) << probe.reason;
  EXPECT_FALSE(probe.attributes["libarchive"].empty());

  const std::string digest(64, 'c');
  stdfs::path bundle = make_bundle("hello", "hello", {hello_rpm(), greet_rpm()});
  ASSERT_TRUE(runtime_->prepare({digest, bundle, &descriptor_}).ok());
  const stdfs::path root = base_ / "data" / "rpm" / digest / "hello";
  ASSERT_TRUE(stdfs::is_regular_file(root / "usr/bin/hello"));
  EXPECT_TRUE(stdfs::equivalent(root / "usr/share/hello/a", root / "usr/share/hello/b"));

  auto launch = launch_of(bundle, digest, "i1", {"/usr/bin/hello", "world"});
  launch.environment.emplace_back("LD_LIBRARY_PATH", "/opt/vendor/lib");
  auto handle = start(launch);
  ASSERT_TRUE(handle.ok()) << handle.error().message;
  auto exit = agentless_->host.wait_exit(launch.id);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->code, 3);
  std::vector<std::string> lines;
  ASSERT_TRUE(wait_until([&] {
    lines = log_lines(read_text(launch.log_dir / "hello.log"));
    return lines.size() >= 6;
  })) << read_text(launch.log_dir / "hello.log");
  const std::string r = root.string();
  EXPECT_EQ(lines, (std::vector<std::string>{
                       "hello from rpm world",
                       "PATH=" + r + "/usr/bin:" + r + "/bin:" + r + "/usr/sbin:" + r +
                           "/sbin:/usr/local/bin:/usr/bin:/bin",
                       "LD_LIBRARY_PATH=" + r + "/usr/lib64:" + r + "/usr/lib:" + r +
                           "/lib64:" + r + "/lib:/opt/vendor/lib",
                       "BATON_RPM_ROOT=" + r, "shared: linked", "greeting from the second rpm"}));
  EXPECT_TRUE(runtime_->destroy(launch.id).ok());

  // A bare name is found through PATH inside the root (here a symlink of the rpm).
  auto bare = launch_of(bundle, digest, "i2", {"hi", "again"});
  ASSERT_TRUE(start(bare).ok());
  ASSERT_TRUE(agentless_->host.wait_exit(bare.id).has_value());
  ASSERT_TRUE(
      wait_until([&] { return !log_lines(read_text(bare.log_dir / "hello.log")).empty(); }));
  EXPECT_EQ(log_lines(read_text(bare.log_dir / "hello.log")).front(), "hello from rpm again");

  // A relative program is the bundle's, as for universal.
  write_text(bundle / "hello" / "run.sh", "#!/bin/sh\necho from the bundle\n");
  stdfs::permissions(bundle / "hello" / "run.sh", stdfs::perms(0755));
  auto relative = launch_of(bundle, digest, "i3", {"hello/run.sh"});
  ASSERT_TRUE(start(relative).ok());
  auto relative_exit = agentless_->host.wait_exit(relative.id);
  ASSERT_TRUE(relative_exit.has_value());
  EXPECT_EQ(relative_exit->code, 0);

  auto missing = start(launch_of(bundle, digest, "i4", {"/usr/bin/nope"}));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::not_found);
  EXPECT_EQ(missing.error().message,
            "start-command /usr/bin/nope: no such file in the rpms of "
            "component hello (" +
                r + "/usr/bin/nope)");

  ASSERT_TRUE(runtime_->release(digest).ok());
  EXPECT_TRUE(data_left().empty());
}

TEST_F(RpmRuntimeTest, StopsAndRecoversThroughTheProcessService) {
  const std::string digest(64, 'd');
  auto server = build_rpm("server",
                          "mkdir -p %{buildroot}/usr/bin\n"
                          "printf '#!/bin/sh\\necho serving\\nexec sleep 60\\n' > "
                          "%{buildroot}/usr/bin/server\n"
                          "chmod 755 %{buildroot}/usr/bin/server\n",
                          "/usr/bin/server\n", "w9.gzdio");
  stdfs::path bundle = make_bundle("server", "hello", {server});
  // No prepare(): start unpacks what it needs.
  auto launch = launch_of(bundle, digest, "s1", {"/usr/bin/server"});
  auto handle = start(launch);
  ASSERT_TRUE(handle.ok()) << handle.error().message;
  ASSERT_TRUE(
      wait_until([&] { return !log_lines(read_text(launch.log_dir / "hello.log")).empty(); }));

  // A new agent (fresh runtimes, same data) re-adopts the running program.
  agentless_.reset();
  agentless_ = std::make_unique<Agentless>(base_ / "data");
  ASSERT_TRUE(agentless_->load({plugins_}).refused.empty());
  runtime_ = agentless_->registry.find("rpm");
  auto recovered = runtime_->recover(launch, *handle);
  ASSERT_TRUE(recovered.ok()) << recovered.error().message;
  EXPECT_EQ(recovered->pid, handle->pid);
  ASSERT_TRUE(runtime_->stats(launch.id).ok());
  ASSERT_TRUE(runtime_->stop(launch.id, SIGTERM, std::chrono::seconds(5)).ok());
  auto exit = agentless_->host.wait_exit(launch.id);
  ASSERT_TRUE(exit.has_value());
  EXPECT_EQ(exit->signal, SIGTERM);
}

TEST_F(RpmRuntimeTest, ConcurrentStartsUnpackOnce) {
  const std::string digest(64, 'e');
  stdfs::path bundle = make_bundle("twice", "hello", {hello_rpm(), greet_rpm()});
  std::vector<Result<runtimes::Handle>> results;
  std::vector<runtimes::Launch> launches;
  for (int i = 0; i < 4; ++i) {
    launches.push_back(launch_of(bundle, digest, "c" + std::to_string(i), {"/usr/bin/hello"}));
    started_.push_back(launches.back().id);
  }
  std::vector<std::thread> threads;
  std::mutex mutex;
  for (const auto& launch : launches) {
    threads.emplace_back([&, launch] {
      auto result = runtime_->start(launch);
      std::lock_guard lock(mutex);
      results.push_back(std::move(result));
    });
  }
  for (auto& thread : threads)
    thread.join();
  for (const auto& result : results)
    EXPECT_TRUE(result.ok()) << result.error().message;
  for (const auto& launch : launches) {
    auto exit = agentless_->host.wait_exit(launch.id);
    ASSERT_TRUE(exit.has_value());
    EXPECT_EQ(exit->code, 3);
  }
  EXPECT_EQ(data_left(),
            (std::vector<std::string>{
                digest, digest + "/hello", digest + "/hello/usr", digest + "/hello/usr/bin",
                digest + "/hello/usr/bin/greet", digest + "/hello/usr/bin/hello",
                digest + "/hello/usr/bin/hi", digest + "/hello/usr/lib64",
                digest + "/hello/usr/lib64/libgreet.so.1", digest + "/hello/usr/share",
                digest + "/hello/usr/share/hello", digest + "/hello/usr/share/hello/a",
                digest + "/hello/usr/share/hello/b"}))
      << "one root, no temporary folders";
}

TEST_F(RpmRuntimeTest, RefusesBrokenRpmsNamingTheFileAndTheEntry) {
  struct Case {
    std::string name;
    std::vector<stdfs::path> rpms;
    Errc code;
    std::string message;  // RPM stands for the (last) rpm's path in the bundle
  };
  std::vector<Case> cases;
  stdfs::path crafted = base_ / "crafted";
  stdfs::create_directories(crafted);

  write_rpm(crafted / "escape.rpm", {{.path = "./usr/bin/ok", .data = "x"},
                                     {.path = "./usr/../../../etc/cron.d/evil", .data = "x"}});
  cases.push_back({"dotdot",
                   {crafted / "escape.rpm"},
                   Errc::invalid,
                   "RPM: usr/../../../etc/cron.d/evil: '..' path element escapes the root"});

  write_rpm(
      crafted / "link.rpm",
      {{.path = "./usr/bin/tool", .type = CpioEntry::Type::symlink, .target = "/usr/bin/sudo"}});
  cases.push_back({"abs-symlink",
                   {crafted / "link.rpm"},
                   Errc::invalid,
                   "RPM: usr/bin/tool: symlink to \"/usr/bin/sudo\" is absolute (it would point "
                   "outside the root)"});

  stdfs::path hello = hello_rpm();
  std::string bytes = read_text(hello);
  write_text(crafted / "truncated.rpm", bytes.substr(0, bytes.size() - 200));
  cases.push_back({"truncated", {crafted / "truncated.rpm"}, Errc::invalid, ""});

  write_text(crafted / "readme.rpm", "# not an rpm\n");
  cases.push_back({"not-rpm",
                   {crafted / "readme.rpm"},
                   Errc::invalid,
                   "RPM: not an rpm package (no rpm lead)"});

  stdfs::path big = build_rpm("big",
                              "mkdir -p %{buildroot}/usr/share/big\n"
                              "head -c 2097152 /dev/urandom > %{buildroot}/usr/share/big/blob\n",
                              "/usr/share/big/blob\n");
  cases.push_back({"too-big",
                   {big},
                   Errc::limit,
                   "RPM: usr/share/big/blob: 2097152 bytes would take the component's rpms past "
                   "1048576 bytes"});

  int index = 0;
  for (const auto& item : cases) {
    SCOPED_TRACE(item.name);
    std::string digest(64, "0123456789"[index++ % 10]);
    stdfs::path bundle = make_bundle(item.name, "hello", item.rpms);
    auto prepared = runtime_->prepare({digest, bundle, &descriptor_});
    ASSERT_FALSE(prepared.ok());
    EXPECT_EQ(prepared.error().code, item.code) << prepared.error().message;
    std::string in_bundle = (bundle / "hello" / item.rpms.back().filename()).string();
    if (item.message.empty()) {
      // Where libarchive notices the cut depends on the compression: the rpm must be named.
      EXPECT_EQ(prepared.error().message.rfind(in_bundle + ": ", 0), 0u)
          << prepared.error().message;
    } else {
      std::string expected = item.message;
      expected.replace(expected.find("RPM"), 3, in_bundle);
      EXPECT_EQ(prepared.error().message, expected);
    }
    // start() refuses the same way, and nothing of either attempt is left.
    auto started = start(launch_of(bundle, digest, "x" + std::to_string(index), {"/usr/bin/ok"}));
    ASSERT_FALSE(started.ok());
    EXPECT_EQ(started.error().message, prepared.error().message);
    EXPECT_TRUE(data_left().empty()) << data_left().front();
  }

  auto empty = make_bundle("empty", "hello", {});
  auto none = runtime_->prepare({std::string(64, 'f'), empty, &descriptor_});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().message, "component hello: no .rpm file in " + (empty / "hello").string());
}

TEST_F(RpmRuntimeTest, ReleaseRefusesWhatIsNotADigest) {
  auto released = runtime_->release("../../etc");
  ASSERT_FALSE(released.ok());
  EXPECT_EQ(released.error().message, "bundle digest '../../etc' is not 64 lower-case hex");
}

}  // namespace
}  // namespace baton::runtimes::rpm
