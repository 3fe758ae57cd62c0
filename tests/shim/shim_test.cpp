// baton-shim driven directly over its line protocol (shim/README.md), without the runtime.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/files.hpp"
#include "common/text.hpp"
#include "shim/protocol.hpp"
#include "tests/universal/harness.hpp"

namespace baton::shim {
namespace {

using namespace baton::testing;

std::optional<std::string> read_line(int fd, std::string& buffer,
                                     std::chrono::milliseconds timeout = 20s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto newline = buffer.find('\n'); newline != std::string::npos) {
      std::string line = buffer.substr(0, newline);
      buffer.erase(0, newline + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd item{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&item, 1, static_cast<int>(left.count())) <= 0) {
      return std::nullopt;
    }
    char chunk[512];
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n <= 0) return std::nullopt;
    buffer.append(chunk, static_cast<std::size_t>(n));
  }
}

void send(int fd, std::string_view text) {
  ASSERT_EQ(::send(fd, text.data(), text.size(), MSG_NOSIGNAL), static_cast<ssize_t>(text.size()));
}

class ShimTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto folder = files::TempFolder::create(stdfs::temp_directory_path(), "baton-shim-");
    ASSERT_TRUE(folder.ok());
    root_ = std::move(folder).value();
    state_ = root_.path() / "state";
    stdfs::create_directories(state_);
    log_ = root_.path() / "web.log";
  }
  void TearDown() override {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (fd_ >= 0) ::close(fd_);
  }

  // Spawns the shim with fd 3 connected to fd_, as the runtime does.
  // With `spare`, as the runtime uses a spare: `baton-shim --spare`, then the same command line
  // and environment in its launch message.
  void spawn(const std::vector<std::string>& program, std::vector<std::string> options = {},
             std::vector<std::string> environment = {"PATH=/usr/bin:/bin"}, bool spare = false) {
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    std::vector<std::string> args = {shim_binary().string(), "--state-dir", state_.string(),
                                     "--log-file",           log_.string(), "--cwd",
                                     root_.path().string()};
    args.insert(args.end(), options.begin(), options.end());
    if (!program.empty()) {
      args.push_back("--exec");
      args.push_back(program.front());
    }
    args.push_back("--");
    args.insert(args.end(), program.begin(), program.end());
    std::string message;
    if (spare) {
      std::string payload;
      for (const auto* list : {&args, &environment}) {
        for (const auto& text : *list)
          payload += text + '\0';
      }
      message = "launch " + std::to_string(args.size()) + " " + std::to_string(environment.size()) +
                " " + std::to_string(payload.size()) + "\n" + payload;
      args = {shim_binary().string(), "--spare"};
      environment.clear();
    }
    std::vector<char*> argv;
    for (auto& arg : args)
      argv.push_back(arg.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (auto& entry : environment)
      envp.push_back(entry.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pair[1], kControlFd);
    ASSERT_EQ(::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data()), 0);
    posix_spawn_file_actions_destroy(&actions);
    ::close(pair[1]);
    fd_ = pair[0];
    if (!message.empty()) send(fd_, message);
  }

  // `baton-shim --spare` waiting for its launch message on fd_.
  void spawn_waiting_spare() {
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
    std::vector<std::string> args = {shim_binary().string(), "--spare"};
    char* argv[] = {args[0].data(), args[1].data(), nullptr};
    char* envp[] = {nullptr};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pair[1], kControlFd);
    ASSERT_EQ(::posix_spawn(&pid_, argv[0], &actions, nullptr, argv, envp), 0);
    posix_spawn_file_actions_destroy(&actions);
    ::close(pair[1]);
    fd_ = pair[0];
  }

  std::optional<std::string> next() { return read_line(fd_, buffer_); }

  int connect_socket() {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::string path = (state_ / kSocketName).string();
    std::memcpy(address.sun_path, path.data(), path.size());
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    return fd;
  }

  // Waits for the shim to exit; its exit status.
  int wait_shim() {
    int status = 0;
    EXPECT_EQ(::waitpid(pid_, &status, 0), pid_);
    pid_ = 0;
    return status;
  }

  std::vector<std::string> logged_texts() {
    std::vector<std::string> texts;
    for (const auto& line : text::split(read_text(log_), '\n')) {
      if (auto parsed = logs_line(line)) texts.push_back(*parsed);
    }
    return texts;
  }
  static std::optional<std::string> logs_line(const std::string& line) {
    if (line.size() < 35) return std::nullopt;
    return line.substr(35);
  }

  files::TempFolder root_ = files::TempFolder::create("/tmp", "baton-unused-").value();
  stdfs::path state_;
  stdfs::path log_;
  pid_t pid_ = 0;
  int fd_ = -1;
  std::string buffer_;
};

TEST(ShimProtocol, ParsesEventsAndExitFiles) {
  auto started = parse_event("started 1234");
  ASSERT_TRUE(started);
  EXPECT_EQ(started->kind, Event::Kind::started);
  EXPECT_EQ(started->pid, 1234);
  auto failed = parse_event("failed 13 exec /x/y: Permission denied");
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->error, 13);
  EXPECT_EQ(failed->message, "exec /x/y: Permission denied");
  auto exited = parse_event("exited -1 9 1");
  ASSERT_TRUE(exited);
  EXPECT_EQ(exited->exit.code, -1);
  EXPECT_EQ(exited->exit.signal, 9);
  EXPECT_TRUE(exited->exit.oom);
  EXPECT_FALSE(parse_event("exited 1 2"));
  EXPECT_FALSE(parse_event("started x"));
  EXPECT_FALSE(parse_event("bogus"));
  EXPECT_EQ(parse_exit("0 0 0\n")->code, 0);
  EXPECT_FALSE(parse_exit("0 0 2"));
  EXPECT_FALSE(parse_exit(""));
}

TEST_F(ShimTest, HandshakeStatusBroadcastAckAndExitFile) {
  spawn({test_component().string(), "--sleep"});
  auto started = next();
  ASSERT_TRUE(started);
  auto event = parse_event(*started);
  ASSERT_TRUE(event && event->kind == Event::Kind::started) << *started;
  pid_t child = event->pid;
  EXPECT_TRUE(stdfs::exists(state_ / kSocketName));

  // A second client (a recovering agent) over the socket.
  int other = connect_socket();
  std::string other_buffer;
  send(other, "status\n");
  EXPECT_EQ(read_line(other, other_buffer), "started " + std::to_string(child));
  send(other, "ack\n");
  EXPECT_EQ(read_line(other, other_buffer), "error not exited");
  send(other, "bogus words\n");
  EXPECT_EQ(read_line(other, other_buffer), "error unknown command bogus words");
  send(other, "stop 99999 10\n");
  EXPECT_EQ(read_line(other, other_buffer), "error usage: stop <signal> <timeout_ms>");

  send(fd_, "stop 15 10000\n");
  EXPECT_EQ(next(), "exited -1 15 0");  // every client hears it
  EXPECT_EQ(read_line(other, other_buffer), "exited -1 15 0");
  EXPECT_EQ(read_text(state_ / kExitFileName), "-1 15 0\n");
  EXPECT_TRUE(process_gone(child));
  send(other, "status\n");
  EXPECT_EQ(read_line(other, other_buffer), "exited -1 15 0");
  send(other, "ack\n");
  int status = wait_shim();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_FALSE(stdfs::exists(state_ / kSocketName));
  EXPECT_TRUE(stdfs::exists(state_ / kExitFileName));  // stays for a recovering agent
  ::close(other);
}

TEST_F(ShimTest, SigtermStopsTheComponentWithItsStopSignalThenExits) {
  spawn({"/bin/sh", "-c", "trap 'echo got INT; exit 9' INT; echo up; while :; do sleep 0.05; done"},
        {"--stop-signal", "2", "--stop-timeout-ms", "10000"});
  ASSERT_TRUE(next());
  ASSERT_TRUE(wait_until([&] { return read_text(log_).find("stdout up") != std::string::npos; }));
  ASSERT_EQ(::kill(pid_, SIGTERM), 0);
  EXPECT_EQ(next(), "exited 9 0 0");
  int status = wait_shim();  // no ack needed
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(read_text(state_ / kExitFileName), "9 0 0\n");
  auto texts = logged_texts();
  EXPECT_NE(std::find(texts.begin(), texts.end(), "got INT"), texts.end());
}

TEST_F(ShimTest, IgnoresHangupInterruptAndBrokenPipes) {
  spawn({test_component().string(), "--sleep"});
  ASSERT_TRUE(next());
  for (int signal : {SIGHUP, SIGINT, SIGPIPE})
    ASSERT_EQ(::kill(pid_, signal), 0);
  send(fd_, "status\n");
  auto line = next();
  ASSERT_TRUE(line);
  EXPECT_TRUE(line->starts_with("started ")) << *line;
  send(fd_, "kill\n");
  EXPECT_EQ(next(), "exited -1 9 0");
}

TEST_F(ShimTest, ChildGetsDefaultSignalsAndOnlyStdio) {
  // The shim ignores SIGINT and blocks SIGTERM; neither may leak into the component.
  spawn({"/bin/sh", "-c", "ls /proc/self/fd; kill -INT $$; sleep 10"});
  ASSERT_TRUE(next());
  EXPECT_EQ(next(), "exited -1 2 0");
  auto texts = logged_texts();
  // ls's own directory descriptor is the 4th entry.
  ASSERT_GE(texts.size(), 3u);
  EXPECT_EQ(std::vector<std::string>(texts.begin(), texts.begin() + 3),
            (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_LE(texts.size(), 4u);
}

TEST_F(ShimTest, PartialLinesShowUpWhenTheComponentGoesQuiet) {
  spawn({"/bin/sh", "-c", "printf 'password: '; sleep 30"});
  ASSERT_TRUE(next());
  ASSERT_TRUE(wait_until(
      [&] { return read_text(log_).find(" stdout password: \n") != std::string::npos; }));
  send(fd_, "kill\n");
  EXPECT_EQ(next(), "exited -1 9 0");
}

TEST_F(ShimTest, ExecFailureIsReportedAndTheShimGoes) {
  spawn({(root_.path() / "missing").string()});
  EXPECT_EQ(next(),
            "failed 2 exec " + (root_.path() / "missing").string() + ": No such file or directory");
  int status = wait_shim();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1);
  EXPECT_FALSE(stdfs::exists(state_ / kSocketName));
}

TEST_F(ShimTest, BadArgumentsAreReported) {
  spawn({});
  auto line = next();
  ASSERT_TRUE(line);
  EXPECT_EQ(*line, "failed 22 baton-shim: no program after --");
  int status = wait_shim();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2);
}

TEST_F(ShimTest, AbsentWorkFolderIsAnExecFailure) {
  spawn({"/bin/true"}, {"--cwd", (root_.path() / "nowhere").string()});
  EXPECT_EQ(next(), "failed 2 chdir " + (root_.path() / "nowhere").string() +
                        ": No such file or directory");
}

TEST_F(ShimTest, SpareShimRunsTheLaunchItIsSent) {
  spawn({"/bin/sh", "-c", "echo \"$GREETING from $(pwd)\"; exec sleep 1000"}, {},
        {"PATH=/usr/bin:/bin", "GREETING=hello"}, /*spare=*/true);
  auto started = next();
  ASSERT_TRUE(started);
  auto event = parse_event(*started);
  ASSERT_TRUE(event && event->kind == Event::Kind::started) << *started;
  EXPECT_TRUE(stdfs::exists(state_ / kSocketName));
  ASSERT_TRUE(wait_until([&] {
    return read_text(log_).find("stdout hello from " + root_.path().string()) != std::string::npos;
  }));
  send(fd_, "stop 15 10000\n");
  EXPECT_EQ(next(), "exited -1 15 0");
  EXPECT_EQ(read_text(state_ / kExitFileName), "-1 15 0\n");
  send(fd_, "ack\n");
  int status = wait_shim();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST_F(ShimTest, SpareShimGoesWhenItsSpawnerGoes) {
  spawn_waiting_spare();
  ::close(fd_);  // what the agent's death does to the other end
  fd_ = -1;
  int status = wait_shim();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_FALSE(stdfs::exists(state_ / kSocketName));
}

TEST_F(ShimTest, SpareShimRefusesABadLaunchMessage) {
  spawn_waiting_spare();
  send(fd_, std::string_view("launch 2 0 3\nab\0", 16));  // says two arguments, holds one
  EXPECT_EQ(next(), "failed 22 baton-shim: bad launch message");
  int status = wait_shim();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2);
}

}  // namespace
}  // namespace baton::shim
