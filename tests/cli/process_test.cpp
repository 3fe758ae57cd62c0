#include "cli/process.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "common/files.hpp"

namespace baton::cli {
namespace {

bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

TEST(Process, DaemonRunsInItsOwnSessionWithItsLogCwdAndEnvironment) {
  auto temp = files::TempFolder::create(std::filesystem::temp_directory_path(), "cli-process-");
  ASSERT_TRUE(temp);
  DaemonSpec spec;
  // `exec sleep` so the daemon's pid stays the shell's pid after the echo.
  spec.argv = {"/bin/sh", "-c", "echo started in $(pwd) with $MARKER; exec sleep 60"};
  spec.cwd = temp->path();
  spec.log_file = temp->path() / "daemon.log";
  spec.environment = {{"MARKER", "m-1"}};
  auto id = spawn_daemon(spec);
  ASSERT_TRUE(id) << id.error().message;
  EXPECT_TRUE(process_alive(*id));
  EXPECT_EQ(::getsid(id->pid), id->pid);
  ASSERT_TRUE(eventually([&] {
    auto log = files::read(spec.log_file);
    return log &&
           log->find("started in " + temp->path().string() + " with m-1") != std::string::npos;
  }));
  EXPECT_EQ(process_cwd(id->pid), temp->path());
  auto environment = process_environment(id->pid);
  EXPECT_NE(std::find(environment.begin(), environment.end(), "MARKER=m-1"), environment.end());
  EXPECT_EQ(process_parent(id->pid), ::getpid());
  EXPECT_EQ(process_uid(id->pid), ::getuid());

  // A different start time is a different process, even with the same pid.
  EXPECT_FALSE(process_alive({id->pid, id->start_time + 1}));

  EXPECT_TRUE(signal_process(*id, SIGTERM));
  EXPECT_TRUE(wait_gone({*id}, std::chrono::seconds(20)).empty());
  EXPECT_FALSE(process_alive(*id));
  EXPECT_FALSE(signal_process(*id, SIGTERM));
}

TEST(Process, ReapChildTellsHowItEnded) {
  auto temp = files::TempFolder::create(std::filesystem::temp_directory_path(), "cli-process-");
  ASSERT_TRUE(temp);
  auto id = spawn_daemon({{"/bin/sh", "-c", "exit 3"}, temp->path(), temp->path() / "log", {}});
  ASSERT_TRUE(id) << id.error().message;
  std::optional<std::string> how;
  ASSERT_TRUE(eventually([&] { return (how = reap_child(id->pid)).has_value(); }));
  EXPECT_EQ(*how, "exited with 3");
}

TEST(Process, MissingProgramIsAnErrorNamingIt) {
  auto temp = files::TempFolder::create(std::filesystem::temp_directory_path(), "cli-process-");
  ASSERT_TRUE(temp);
  auto id = spawn_daemon({{"/nonexistent/baton-core"}, temp->path(), temp->path() / "log", {}});
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().code, Errc::not_found);
  EXPECT_EQ(id.error().message, "cannot run /nonexistent/baton-core: No such file or directory");
}

TEST(Process, IsWithin) {
  EXPECT_TRUE(is_within("/a/b/c", "/a/b"));
  EXPECT_TRUE(is_within("/a/b", "/a/b"));
  EXPECT_TRUE(is_within("/a/b/../b/c", "/a/b/"));
  EXPECT_FALSE(is_within("/a/bc", "/a/b"));
  EXPECT_FALSE(is_within("/a", "/a/b"));
  EXPECT_FALSE(is_within("", "/a"));
}

TEST(Process, ListsOurselves) {
  auto pids = list_processes();
  EXPECT_NE(std::find(pids.begin(), pids.end(), ::getpid()), pids.end());
  auto arguments = process_arguments(::getpid());
  ASSERT_FALSE(arguments.empty());
  EXPECT_NE(arguments[0].find("cli_tests"), std::string::npos);
  EXPECT_NE(process_exe(::getpid()).string().find("cli_tests"), std::string::npos);
}

}  // namespace
}  // namespace baton::cli
