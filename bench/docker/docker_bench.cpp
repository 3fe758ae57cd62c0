// The docker runtime against the docker CLI on the same dockerd, in the same run, alternating who
// goes first, medians:
//   start: runtime start() (create, wait registered, start; the image present) of the static test
//          component with one published port, against `docker run -d -p` of the same image and
//          command. Goal: ratio (runtime / CLI) <= 1.0.
//   build: runtime prepare() of a component folder (Dockerfile FROM scratch copying the static
//          test component and a file that differs every round, so neither side hits the layer
//          cache for it) against `docker build -q` of the same folder. Goal: ratio <= 1.0.
//   ninja -C build docker_bench && build/bench/docker_bench [--starts 20] [--builds 7]
// Needs dockerd on /var/run/docker.sock and the docker CLI. Exit status 0 when both goals are
// met, 1 when not, 2 on errors. Everything it makes is removed at the end.

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "runtimes/docker/docker.hpp"
#include "runtimes/docker/spec.hpp"

extern char** environ;

namespace {

namespace stdfs = std::filesystem;
namespace docker = baton::runtimes::docker;
using namespace baton;
using Clock = std::chrono::steady_clock;

class Host : public runtimes::RuntimeHost {
 public:
  void exited(const std::string& launch_id, runtimes::ExitStatus) override {
    std::lock_guard lock(mutex_);
    exited_.insert(launch_id);
    changed_.notify_all();
  }
  void log(runtimes::LogLevel level, std::string_view message) override {
    if (level >= runtimes::LogLevel::warn) {
      std::fprintf(stderr, "runtime: %.*s\n", static_cast<int>(message.size()), message.data());
    }
  }
  bool wait_exit(const std::string& launch_id) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(60),
                             [&] { return exited_.count(launch_id) != 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::set<std::string> exited_;
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  std::size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

double millis_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Runs the docker CLI quietly; true when it exits 0.
bool docker_cli(std::vector<std::string> arguments) {
  arguments.insert(arguments.begin(), "docker");
  std::vector<char*> argv;
  for (auto& argument : arguments)
    argv.push_back(argument.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  std::vector<std::string> environment_text = {"DOCKER_BUILDKIT=0"};  // the daemon's builder
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (std::strncmp(*entry, "DOCKER_BUILDKIT=", 16) != 0) environment_text.emplace_back(*entry);
  }
  std::vector<char*> environment;
  for (auto& entry : environment_text)
    environment.push_back(entry.data());
  environment.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, "docker", &actions, nullptr, argv.data(), environment.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return false;
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

void write_file(const stdfs::path& file, const std::string& content) {
  std::ofstream(file, std::ios::binary | std::ios::trunc) << content;
}

struct Figures {
  std::vector<double> baton;
  std::vector<double> cli;
  double ratio() const { return median(baton) / median(cli); }
};

void print(const char* what, const Figures& figures, const char* cli_name) {
  std::printf(
      "%-6s runtime median %8.1f ms | %-16s median %8.1f ms | ratio %.3f (goal <= 1.0): %s\n", what,
      median(figures.baton), cli_name, median(figures.cli), figures.ratio(),
      figures.ratio() <= 1.0 ? "met" : "NOT met");
}

}  // namespace

int main(int argc, char** argv) {
  int starts = 20;
  int builds = 7;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--starts") starts = std::max(1, std::atoi(argv[i + 1]));
    if (flag == "--builds") builds = std::max(1, std::atoi(argv[i + 1]));
  }
  const stdfs::path component = stdfs::read_symlink("/proc/self/exe").parent_path().parent_path() /
                                "bin" / "baton-testcomponent-static";
  if (!stdfs::exists(component)) {
    std::fprintf(stderr, "no %s: ninja -C build baton-testcomponent-static\n", component.c_str());
    return 2;
  }
  const std::string agent = "bench-" + std::to_string(::getpid());
  const stdfs::path root = stdfs::temp_directory_path() / agent;
  stdfs::create_directories(root);

  Host host;
  auto runtime = docker::make_runtime(host, docker::Options{.agent_name = agent});
  auto probe = runtime->probe();
  if (!probe.available) {
    std::fprintf(stderr, "docker runtime unavailable: %s\n", probe.reason.c_str());
    return 2;
  }
  bundle::Descriptor descriptor;
  descriptor.name = "bench";
  bundle::Component web;
  web.name = "web";
  web.file_system_type = "docker";
  descriptor.components = {web};
  // A bundle folder per round: bundle.conf, web/{Dockerfile, testcomponent, nonce}.
  auto make_bundle = [&](const std::string& tag) {
    const stdfs::path folder = root / tag;
    stdfs::create_directories(folder / "web");
    write_file(folder / "bundle.conf", "name = bench\n");
    write_file(folder / "web" / "Dockerfile",
               "FROM scratch\nCOPY testcomponent /testcomponent\nCOPY nonce /nonce\n");
    write_file(folder / "web" / "nonce", tag + "\n");
    stdfs::copy_file(component, folder / "web" / "testcomponent",
                     stdfs::copy_options::overwrite_existing);
    return folder;
  };
  auto digest_of = [](int round) {
    char text[65];
    std::snprintf(text, sizeof text, "%064x", round + 1);
    return std::string(text);
  };
  int failures = 0;
  auto fail = [&](const std::string& message) {
    std::fprintf(stderr, "%s\n", message.c_str());
    ++failures;
  };

  // ---- build ----
  Figures build;
  std::vector<std::string> cli_images;
  for (int round = 0; round < builds && failures == 0; ++round) {
    for (int turn = 0; turn < 2; ++turn) {
      const bool baton_turn = (turn == 0) == (round % 2 == 0);
      const std::string tag = (baton_turn ? "b" : "c") + std::to_string(round);
      const stdfs::path folder = make_bundle(tag);
      auto start = Clock::now();
      if (baton_turn) {
        const std::string digest = digest_of(round);
        auto prepared = runtime->prepare(runtimes::BundleContent{digest, folder, &descriptor});
        double elapsed = millis_since(start);
        if (!prepared) return fail("runtime build: " + prepared.error().message), 2;
        build.baton.push_back(elapsed);
        (void)runtime->release(digest);
      } else {
        const std::string image = agent + "-cli:" + tag;
        bool built = docker_cli({"build", "-q", "-t", image, (folder / "web").string()});
        double elapsed = millis_since(start);
        if (!built) return fail("docker build of " + (folder / "web").string() + " failed"), 2;
        build.cli.push_back(elapsed);
        docker_cli({"rmi", image});
      }
      std::printf("build round %2d %-8s %8.1f ms\n", round + 1, baton_turn ? "runtime" : "cli",
                  baton_turn ? build.baton.back() : build.cli.back());
    }
  }

  // ---- start ----
  const std::string digest = digest_of(1000);
  const stdfs::path folder = make_bundle("start");
  if (auto prepared = runtime->prepare(runtimes::BundleContent{digest, folder, &descriptor});
      !prepared) {
    std::fprintf(stderr, "runtime build: %s\n", prepared.error().message.c_str());
    return 2;
  }
  const std::string image = docker::image_reference(agent, "bench", "web", digest);
  Figures start;
  const int first_port = 18100;  // below the tests' port slots
  for (int round = 0; round < starts; ++round) {
    for (int turn = 0; turn < 2; ++turn) {
      const bool baton_turn = (turn == 0) == (round % 2 == 0);
      const int port = first_port + 2 * round + turn;
      if (baton_turn) {
        runtimes::Launch launch;
        launch.instance_id = std::to_string(1000000 + round);
        launch.component = "web";
        launch.id = launch.instance_id + ".web";
        launch.bundle_id = digest.substr(0, 32);
        launch.bundle_digest = digest;
        launch.agent_name = agent;
        launch.bundle_root = folder;
        launch.log_dir = root / launch.instance_id / "logs";
        launch.state_dir = root / launch.instance_id / "state";
        launch.work_dir = root / launch.instance_id / "work";
        stdfs::create_directories(launch.log_dir);
        launch.command = {"/testcomponent", "--sleep"};
        launch.environment = {{"BUNDLE_NAME", "bench"}, {"BUNDLE_HOST_IP", "127.0.0.1"}};
        launch.ports = {runtimes::PortBinding{"web", bundle::Protocol::tcp, port, port}};
        auto began = Clock::now();
        auto handle = runtime->start(launch);
        double elapsed = millis_since(began);
        if (!handle) return fail("runtime start: " + handle.error().message), 2;
        start.baton.push_back(elapsed);
        (void)runtime->destroy(launch.id);
        host.wait_exit(launch.id);
      } else {
        const std::string name = agent + "-cli-" + std::to_string(round);
        const std::string publish =
            "127.0.0.1:" + std::to_string(port) + ":" + std::to_string(port);
        auto began = Clock::now();
        bool ran = docker_cli(
            {"run", "-d", "--name", name, "-p", publish, image, "/testcomponent", "--sleep"});
        double elapsed = millis_since(began);
        if (!ran) return fail("docker run -d " + image + " failed"), 2;
        start.cli.push_back(elapsed);
        docker_cli({"rm", "-f", name});
      }
      std::printf("start round %2d %-8s %8.1f ms\n", round + 1, baton_turn ? "runtime" : "cli",
                  baton_turn ? start.baton.back() : start.cli.back());
    }
  }
  (void)runtime->release(digest);
  std::error_code error;
  stdfs::remove_all(root, error);

  std::printf("dockerd %s (API %s), %d build rounds, %d start rounds\n",
              probe.attributes["version"].c_str(), probe.attributes["api-version"].c_str(), builds,
              starts);
  print("build", build, "docker build -q");
  print("start", start, "docker run -d");
  return build.ratio() <= 1.0 && start.ratio() <= 1.0 ? 0 : 1;
}
