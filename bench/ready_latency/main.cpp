// Readiness latency: from a component's ready signal to the agent knowing it, against the same
// signal sent to a trivial HTTP server on loopback, interleaved in the same run, median of N.
//   ninja -C build ready_latency_bench && build/bench/ready_latency_bench [--count 100]
// Baton: the agent library in-process with the real universal runtime and the agent tests' core
// double (tests/agent/support); a bundle whose component is ready_latency_component and whose
// readiness is `check = signal`. The component takes CLOCK_MONOTONIC just before it connects to
// $CONDUCTR_STATUS and PUTs /bundles/$BUNDLE_ID?isStarted=true (ConductR's contract); the agent
// "knows" when its instance turns started (AgentOptions::on_ready, on its io thread, before it
// answers). Baseline: the same component, spawned directly with CONDUCTR_STATUS pointing at a
// trivial blocking HTTP server thread here, which "knows" once it has read the whole request.
// Both also report the component's full round trip (until it read the answer).
// Goal: Baton's median under 1 ms. Exit status 0 when met, 1 when not, 2 on errors.

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/files.hpp"
#include "tests/agent/support/fixtures.hpp"

extern char** environ;

namespace {

namespace stdfs = std::filesystem;
namespace at = baton::agent::testing;
using Clock = std::chrono::steady_clock;

constexpr double kGoalMicros = 1000;

long long now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  std::size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// "<sent ns> <answered ns>" from the component's ./ready-sent, waited for.
bool read_stamps(const stdfs::path& file, long long& sent, long long& answered) {
  if (!at::eventually([&] { return stdfs::exists(file); }, std::chrono::seconds(30))) return false;
  std::ifstream in(file);
  return static_cast<bool>(in >> sent >> answered);
}

// A trivial HTTP/1.1 server: one connection at a time, reads the request head, notes when, answers
// 200 with no body, closes.
class TrivialServer {
 public:
  TrivialServer() {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener_, 16) != 0) {
      std::perror("trivial server");
      std::exit(2);
    }
    socklen_t length = sizeof address;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~TrivialServer() {
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    thread_.join();
  }
  int port() const { return port_; }
  long long last_known() const { return known_.load(); }

 private:
  void serve() {
    static const char kAnswer[] =
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    for (;;) {
      int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      std::string request;
      char buffer[2048];
      while (request.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n <= 0) break;
        request.append(buffer, static_cast<std::size_t>(n));
      }
      known_ = now_ns();
      (void)!::write(fd, kAnswer, sizeof kAnswer - 1);
      ::close(fd);
    }
  }
  int listener_ = -1;
  int port_ = 0;
  std::atomic<long long> known_{0};
  std::thread thread_;
};

struct Sample {
  double known_us;     // signal sent -> receiver knows
  double answered_us;  // signal sent -> the component read the answer
};

Sample baseline_once(const stdfs::path& component, const TrivialServer& server,
                     const stdfs::path& folder) {
  baton::files::remove_tree(folder);
  stdfs::create_directories(folder);
  std::string status = "CONDUCTR_STATUS=http://127.0.0.1:" + std::to_string(server.port());
  std::string bundle = "BUNDLE_ID=baseline";
  char* envp[] = {status.data(), bundle.data(), nullptr};
  std::string program = component.string();
  char* argv[] = {program.data(), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addchdir_np(&actions, folder.c_str());
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    std::fprintf(stderr, "cannot spawn %s\n", argv[0]);
    std::exit(2);
  }
  long long sent = 0, answered = 0;
  bool ok = read_stamps(folder / "ready-sent", sent, answered);
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  if (!ok) {
    std::fprintf(stderr, "the baseline component did not signal\n");
    std::exit(2);
  }
  return Sample{static_cast<double>(server.last_known() - sent) / 1000,
                static_cast<double>(answered - sent) / 1000};
}

}  // namespace

int main(int argc, char** argv) {
  int count = 100;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--count") count = std::atoi(argv[i + 1]);
  }
  ::signal(SIGPIPE, SIG_IGN);
  stdfs::path component =
      stdfs::read_symlink("/proc/self/exe").parent_path() / "ready_latency_component";

  at::TestCore core;
  at::Scratch scratch;
  std::mutex mutex;
  std::condition_variable ready_changed;
  std::map<std::string, long long> known_at;
  at::InProcessAgent agent(core, scratch.path() / "data", at::unique_agent_name("ready-bench"),
                           [&](baton::agent::AgentOptions& options) {
                             options.on_ready = [&](const std::string& id) {
                               long long now = now_ns();
                               std::lock_guard lock(mutex);
                               known_at[id] = now;
                               ready_changed.notify_all();
                             };
                           });
  if (auto started = agent.start(); !started) {
    std::fprintf(stderr, "agent: %s\n", started.error().message.c_str());
    return 2;
  }
  if (!at::eventually([&] { return agent.agent().registered(); })) return 2;
  std::string conf =
      "version = \"1\"\nname = \"signal\"\ncompatibilityVersion = \"1\"\n"
      "system = \"signal\"\nnrOfCpus = 0.1\nmemory = 67108864\n"
      "diskSpace = 1000000\nroles = [\"web\"]\nreadiness { check = signal }\n"
      "components.main {\n  description = \"signals at once\"\n"
      "  file-system-type = \"universal\"\n  start-command = [\"" +
      component.string() + "\"]\n  stop-timeout = \"2s\"\n}\n";
  at::TestBundle bundle = at::make_bundle(scratch.path(), "signal", conf);
  core.add_file(bundle.digest, bundle.zip);

  auto baton_once = [&](int i) -> Sample {
    std::string id = "ready" + std::to_string(i);
    core.assign(agent.name(), {at::assigned(id, bundle)});
    long long known = 0;
    {
      std::unique_lock lock(mutex);
      if (!ready_changed.wait_for(lock, std::chrono::seconds(30),
                                  [&] { return known_at.count(id) > 0; })) {
        std::fprintf(stderr, "instance %s did not become ready\n", id.c_str());
        std::exit(2);
      }
      known = known_at[id];
    }
    long long sent = 0, answered = 0;
    if (!read_stamps(scratch.path() / "data" / "instances" / id / "work" / "ready-sent", sent,
                     answered)) {
      std::fprintf(stderr, "instance %s: no ready-sent stamps\n", id.c_str());
      std::exit(2);
    }
    core.assign(agent.name(), {});
    if (!at::eventually([&] { return agent.agent().instances().empty(); })) std::exit(2);
    return Sample{static_cast<double>(known - sent) / 1000,
                  static_cast<double>(answered - sent) / 1000};
  };

  TrivialServer server;
  stdfs::path baseline_folder = scratch.path() / "baseline";
  for (int i = 0; i < 3; ++i) {  // warm-up: extraction, first connections
    baton_once(-1 - i);
    baseline_once(component, server, baseline_folder);
  }
  std::vector<double> baton_known, baton_answered, base_known, base_answered;
  for (int i = 0; i < count; ++i) {
    Sample b{}, s{};
    if (i % 2 == 0) s = baseline_once(component, server, baseline_folder);
    b = baton_once(i);
    if (i % 2 == 1) s = baseline_once(component, server, baseline_folder);
    baton_known.push_back(b.known_us);
    baton_answered.push_back(b.answered_us);
    base_known.push_back(s.known_us);
    base_answered.push_back(s.answered_us);
  }
  agent.stop();

  double known = median(baton_known);
  double known_base = median(base_known);
  std::printf("ready signal over loopback, %d signals each, load average %s\n", count,
              load_average().c_str());
  std::printf(
      "  signal -> receiver knows:   agent median %6.0f us | trivial server median %6.0f us"
      " | ratio %.2f\n",
      known, known_base, known / known_base);
  std::printf(
      "  signal -> answer read:      agent median %6.0f us | trivial server median %6.0f us"
      " | ratio %.2f\n",
      median(baton_answered), median(base_answered),
      median(baton_answered) / median(base_answered));
  bool met = known < kGoalMicros;
  std::printf("  goal: agent median under %.0f us: %s\n", kGoalMicros, met ? "met" : "NOT met");
  return met ? 0 : 1;
}
