// The real baton-core executable on port 0 with a temporary data folder: load, scale, list,
// unload; SIGKILL during a stream of acknowledged changes, then a restart that must hold every
// acknowledged change; malformed requests that must leave it running.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>

#include "support.hpp"

namespace baton::core::testing {
namespace {

stdfs::path core_binary() {
  if (const char* build = std::getenv("BATON_BUILD_DIR"))
    return stdfs::path(build) / "bin" / "baton-core";
  return stdfs::read_symlink("/proc/self/exe").parent_path().parent_path() / "bin" / "baton-core";
}

class CoreProcess {
 public:
  CoreProcess(const stdfs::path& data, std::vector<std::string> extra = {}) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    std::vector<std::string> args{core_binary().string(), "--port",      "0",   "--data",
                                  data.string(),          "--log-level", "warn"};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      std::vector<char*> argv;
      for (auto& a : args)
        argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    // The first line of stdout names the URL.
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{out[0], POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      char buffer[256];
      ssize_t n = ::read(out[0], buffer, sizeof buffer);
      if (n <= 0) break;
      line.append(buffer, static_cast<std::size_t>(n));
    }
    stdout_ = out[0];
    const std::string prefix = "baton-core listening on ";
    auto at = line.find(prefix);
    auto end = line.find('\n');
    if (at == std::string::npos || end == std::string::npos) {
      kill9();
      throw std::runtime_error("baton-core did not print its URL: '" + line + "'");
    }
    url_ = line.substr(at + prefix.size(), end - at - prefix.size());
  }
  ~CoreProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (stdout_ >= 0) ::close(stdout_);
  }
  void kill9() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  bool alive() const {
    int status = 0;
    return pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == 0;
  }
  const std::string& url() const { return url_; }

 private:
  pid_t pid_ = -1;
  int stdout_ = -1;
  std::string url_;
};

class ProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!stdfs::exists(core_binary())) GTEST_SKIP() << "no baton-core binary at " << core_binary();
    work = temp_folder("baton-core-work-");
    data = work / "data";
  }
  void TearDown() override {
    if (!work.empty()) files::remove_tree(work);
  }
  stdfs::path work, data;
  http::Client client;

  http::Response call(const std::string& method, const std::string& url,
                      const std::string& body = {}) {
    auto r = client.request(method, url, body);
    if (!r) throw std::runtime_error(r.error().message);
    return *r;
  }
};

TEST_F(ProcessTest, LoadScaleListUnload) {
  CoreProcess core(data);
  EXPECT_TRUE(core.url().starts_with("http://127.0.0.1:"));
  MadeFile b = make_bundle(work, BundleSpec{.name = "proc"});
  auto loaded = client.post_form(core.url() + "/v2/bundles", load_parts(b));
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->status, 200) << loaded->body;
  std::string id = json::parse(loaded->body)["bundleId"];
  FakeAgent agent(core.url(), "agent-1");
  ASSERT_EQ(agent.register_agent().status, 200);
  ASSERT_EQ(call("PUT", core.url() + "/v2/bundles/" + id + "?scale=1").status, 200);
  json list = json::parse(call("GET", core.url() + "/v2/bundles").body);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["bundleScale"]["scale"], 1);
  ASSERT_TRUE(wait_until([&] { return agent.assigned().size() == 1; }));
  agent.run_assigned();
  EXPECT_EQ(call("DELETE", core.url() + "/v2/bundles/" + id).status, 409);
  ASSERT_EQ(call("PUT", core.url() + "/v2/bundles/" + id + "?scale=0").status, 200);
  ASSERT_TRUE(wait_until([&] { return agent.assigned().empty(); }));
  agent.instances.clear();
  agent.report();
  EXPECT_EQ(call("DELETE", core.url() + "/v2/bundles/" + id).status, 200);
  EXPECT_EQ(json::parse(call("GET", core.url() + "/v2/bundles").body).size(), 0u);
}

TEST_F(ProcessTest, SigkillLosesNothingAcknowledged) {
  constexpr int kBundles = 24;
  std::vector<MadeFile> bundles;
  for (int i = 0; i < kBundles; ++i) {
    bundles.push_back(make_bundle(work, BundleSpec{.name = "b" + std::to_string(i)}));
  }
  std::map<std::string, int> acked_scale;
  std::vector<std::string> acked_loads;
  std::mutex mutex;
  {
    CoreProcess core(data);
    std::atomic<bool> stop{false};
    std::thread writer([&] {
      http::Client c;
      for (int i = 0; i < kBundles && !stop; ++i) {
        auto loaded = c.post_form(core.url() + "/v2/bundles", load_parts(bundles[i]));
        if (!loaded || loaded->status != 200) break;
        std::string id = json::parse(loaded->body)["bundleId"];
        {
          std::lock_guard lock(mutex);
          acked_loads.push_back(id);
        }
        int n = i % 3 + 1;
        auto scaled =
            c.request("PUT", core.url() + "/v2/bundles/" + id + "?scale=" + std::to_string(n));
        if (!scaled || scaled->status != 200) break;
        std::lock_guard lock(mutex);
        acked_scale[id] = n;
      }
    });
    ASSERT_TRUE(wait_until([&] {
      std::lock_guard lock(mutex);
      return acked_scale.size() >= kBundles / 2;
    }));
    core.kill9();
    stop = true;
    writer.join();
  }
  ASSERT_GE(acked_loads.size(), static_cast<std::size_t>(kBundles / 2));
  CoreProcess again(data);
  json list = json::parse(call("GET", again.url() + "/v2/bundles").body);
  std::map<std::string, json> by_id;
  for (auto& b : list)
    by_id[b["bundleId"]] = b;
  for (const auto& id : acked_loads)
    EXPECT_TRUE(by_id.count(id)) << "lost load " << id;
  for (const auto& [id, n] : acked_scale) {
    ASSERT_TRUE(by_id.count(id));
    EXPECT_EQ(by_id[id]["bundleScale"]["scale"], n) << "lost scale of " << id;
  }
  json history = json::parse(call("GET", again.url() + "/v2/history").body);
  EXPECT_GE(history.size(), acked_loads.size());
  // Every file of a listed bundle is there.
  for (auto& [id, b] : by_id) {
    EXPECT_TRUE(stdfs::exists(data / "files" / b["bundleDigest"].get<std::string>())) << id;
  }
}

TEST_F(ProcessTest, MalformedRequestsLeaveItRunning) {
  CoreProcess core(data, {"--max-request-bytes", "2048", "--max-upload-bytes", "100000"});
  http::Headers multipart{{"Content-Type", "multipart/form-data; boundary=b"}};
  auto send = [&](const std::string& method, const std::string& path, const std::string& body,
                  const http::Headers& headers = {}) {
    auto r = client.request(method, core.url() + path, body, headers);
    return r.ok() ? r->status : -1;
  };
  EXPECT_EQ(send("POST", "/v2/bundles", "--b\r\nnonsense", multipart), 400);
  EXPECT_EQ(send("POST", "/v2/bundles", std::string(200000, 'z'), multipart), 413);
  EXPECT_EQ(send("POST", "/v2/bundles", "{}"), 400);
  EXPECT_EQ(send("POST", "/v2/agents", "{{{{"), 400);
  EXPECT_EQ(send("PUT", "/v2/agents/x/status", "[1,2]"), 400);
  EXPECT_EQ(send("POST", "/v2/agents", std::string(4096, '{')), 413);
  EXPECT_EQ(send("PATCH", "/v2/bundles", ""), 405);
  EXPECT_EQ(send("GET", "/v2/bundles/%ff%fe", ""), 404);
  int huge = send("GET", "/v2/bundles", "", {{"X-Big", std::string(100000, 'a')}});
  EXPECT_TRUE(huge == 431 || huge == -1) << huge;
  EXPECT_TRUE(core.alive());
  EXPECT_EQ(send("GET", "/v2/bundles", ""), 200);
  EXPECT_TRUE(stdfs::is_empty(data / "tmp"));
}

}  // namespace
}  // namespace baton::core::testing
