// scale_direct_spawn: the baseline of scale50.sh. Spawns N components directly (posix_spawn: no
// agent, no shim, no cgroup) that each PUT $CONDUCTR_STATUS at once, and times from the first
// spawn until all N signals reached a trivial HTTP server of its own on loopback; prints the
// seconds. usage: scale_direct_spawn COMPONENT N   (COMPONENT: build/bin/baton-testcomponent)

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: scale_direct_spawn COMPONENT N\n");
    return 2;
  }
  std::string component = argv[1];
  int count = std::atoi(argv[2]);
  ::signal(SIGPIPE, SIG_IGN);

  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener, 1024) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    std::perror("listen");
    return 2;
  }
  std::mutex mutex;
  std::condition_variable signalled;
  int signals = 0;
  // One connection at a time: read the request head, answer 200, close.
  std::thread server([&] {
    static const char kAnswer[] =
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    for (;;) {
      int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      std::string request;
      char buffer[2048];
      while (request.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n <= 0) break;
        request.append(buffer, static_cast<std::size_t>(n));
      }
      (void)!::write(fd, kAnswer, sizeof kAnswer - 1);
      ::close(fd);
      std::lock_guard lock(mutex);
      ++signals;
      signalled.notify_all();
    }
  });

  std::string status =
      "CONDUCTR_STATUS=http://127.0.0.1:" + std::to_string(ntohs(address.sin_port));
  std::string bundle = "BUNDLE_ID=direct";
  char* envp[] = {status.data(), bundle.data(), nullptr};
  std::string signal_flag = "--signal-http";
  std::string sleep_flag = "--sleep";
  char* child_argv[] = {component.data(), signal_flag.data(), sleep_flag.data(), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  std::vector<pid_t> children;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < count; ++i) {
    pid_t pid = 0;
    if (::posix_spawn(&pid, child_argv[0], &actions, nullptr, child_argv, envp) != 0) {
      std::perror("posix_spawn");
      return 2;
    }
    children.push_back(pid);
  }
  bool all = false;
  {
    std::unique_lock lock(mutex);
    all = signalled.wait_for(lock, std::chrono::seconds(60), [&] { return signals == count; });
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  posix_spawn_file_actions_destroy(&actions);
  for (pid_t pid : children) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  ::shutdown(listener, SHUT_RDWR);
  ::close(listener);
  server.join();
  if (!all) {
    std::fprintf(stderr, "only %d of %d components signalled\n", signals, count);
    return 1;
  }
  std::printf("%.3f\n", seconds);
  return 0;
}
