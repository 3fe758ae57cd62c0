// The bundle digest (baton::sha256_file_hex) against `openssl dgst -sha256` on the same file, in
// the same run, alternating, from the page cache. The goal: at least 0.9x openssl's throughput.
//   ninja -C build bundle_digest_bench && build/bench/bundle_digest_bench [--rounds 7]
//       [--file /tmp/baton-bench-digest-1GiB.bin] [--mib 1024]
// The file is created (pseudo-random bytes) when missing or of another size, then reused.
// Exit status 0 when the goal is met, 1 when not, 2 on errors.

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "common/sha256.hpp"

extern char** environ;

namespace {

namespace stdfs = std::filesystem;
using Clock = std::chrono::steady_clock;

bool make_file(const stdfs::path& file, std::uint64_t bytes) {
  std::error_code error;
  if (stdfs::file_size(file, error) == bytes && !error) return true;
  std::printf("creating %s (%llu MiB)\n", file.c_str(),
              static_cast<unsigned long long>(bytes >> 20));
  std::FILE* out = std::fopen(file.c_str(), "wb");
  if (out == nullptr) return false;
  std::vector<std::uint64_t> block((1 << 20) / 8);
  std::uint64_t x = 88172645463325252ull;
  for (std::uint64_t written = 0; written < bytes; written += 1 << 20) {
    for (std::uint64_t& word : block) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      word = x;
    }
    if (std::fwrite(block.data(), 1, 1 << 20, out) != 1 << 20) return false;
  }
  return std::fclose(out) == 0;
}

// Runs `openssl dgst -sha256 file`; returns the hex digest it printed ("" on failure).
std::string openssl_digest(const stdfs::path& file) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return "";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
  std::string path = file.string();
  char* argv[] = {const_cast<char*>("openssl"), const_cast<char*>("dgst"),
                  const_cast<char*>("-sha256"), path.data(), nullptr};
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, "openssl", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipe_fds[1]);
  std::string output;
  char buffer[512];
  ssize_t n = 0;
  while ((n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0)
    output.append(buffer, n);
  ::close(pipe_fds[0]);
  if (rc != 0) return "";
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "";
  // "SHA2-256(file)= <hex>"
  std::size_t at = output.rfind("= ");
  if (at == std::string::npos) return "";
  std::string digest = output.substr(at + 2);
  while (!digest.empty() && (digest.back() == '\n' || digest.back() == '\r'))
    digest.pop_back();
  return digest;
}

// "1.23 0.98 0.70": the load averages, printed beside the figures.
std::string load_average() {
  std::FILE* in = std::fopen("/proc/loadavg", "r");
  if (in == nullptr) return "?";
  char text[64] = {};
  std::size_t n = std::fread(text, 1, sizeof text - 1, in);
  std::fclose(in);
  std::string load(text, n);
  std::size_t end = 0;
  for (int fields = 0; fields < 3 && end != std::string::npos; ++fields)
    end = load.find(' ', end + (fields > 0 ? 1 : 0));
  return load.substr(0, end);
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  std::size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  stdfs::path file = "/tmp/baton-bench-digest-1GiB.bin";
  std::uint64_t mib = 1024;
  int rounds = 7;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--file") file = argv[i + 1];
    if (flag == "--mib") mib = std::stoull(argv[i + 1]);
    if (flag == "--rounds") rounds = std::stoi(argv[i + 1]);
  }
  std::uint64_t bytes = mib << 20;
  if (!make_file(file, bytes)) {
    std::fprintf(stderr, "cannot create %s: %s\n", file.c_str(), std::strerror(errno));
    return 2;
  }
  // Warm the page cache so both read the same cached bytes.
  auto warm = baton::sha256_file_hex(file);
  if (!warm) {
    std::fprintf(stderr, "%s\n", warm.error().message.c_str());
    return 2;
  }
  std::vector<double> baton_seconds;
  std::vector<double> openssl_seconds;
  for (int round = 0; round < rounds; ++round) {
    // Alternate who goes first, so neither always meets a colder cache or a busier machine.
    for (int turn = 0; turn < 2; ++turn) {
      bool baton_turn = (turn == 0) == (round % 2 == 0);
      auto start = Clock::now();
      std::string digest;
      if (baton_turn) {
        auto computed = baton::sha256_file_hex(file);
        digest = computed ? *computed : "";
      } else {
        digest = openssl_digest(file);
      }
      double seconds = std::chrono::duration<double>(Clock::now() - start).count();
      if (digest != *warm) {
        std::fprintf(stderr, "%s gave a different digest: %s\n", baton_turn ? "baton" : "openssl",
                     digest.c_str());
        return 2;
      }
      (baton_turn ? baton_seconds : openssl_seconds).push_back(seconds);
      std::printf("round %d %-8s %.3f s\n", round + 1, baton_turn ? "baton" : "openssl", seconds);
    }
  }
  double baton_median = median(baton_seconds);
  double openssl_median = median(openssl_seconds);
  double mb = static_cast<double>(bytes) / 1e6;
  double ratio = openssl_median / baton_median;  // baton throughput / openssl throughput
  std::printf("file      %s (%llu MiB), %d rounds, digest %s\n", file.c_str(),
              static_cast<unsigned long long>(mib), rounds, warm->c_str());
  std::printf("baton     median %.3f s  %.0f MB/s\n", baton_median, mb / baton_median);
  std::printf("openssl   median %.3f s  %.0f MB/s\n", openssl_median, mb / openssl_median);
  std::printf("ratio     %.3f (baton throughput / openssl throughput; goal >= 0.9): %s\n", ratio,
              ratio >= 0.9 ? "met" : "NOT met");
  std::printf("load      %s (load average)\n", load_average().c_str());
  return ratio >= 0.9 ? 0 : 1;
}
