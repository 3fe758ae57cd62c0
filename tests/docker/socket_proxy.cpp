#include "tests/docker/socket_proxy.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <list>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace baton::docker_testing {

namespace {

sockaddr_un address_of(const std::filesystem::path& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
  return address;
}

void set_nonblocking(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

// One forwarded connection: bytes read from one side wait in `pending` until the other takes them.
struct Pipe {
  int fd[2] = {-1, -1};    // client, daemon
  std::string pending[2];  // to be written to fd[i]
  bool closed = false;

  ~Pipe() {
    for (int f : fd) {
      if (f >= 0) ::close(f);
    }
  }
};

}  // namespace

struct SocketProxy::Impl {
  std::filesystem::path path;
  std::filesystem::path target;
  int wake[2] = {-1, -1};
  std::thread thread;

  std::mutex mutex;  // guards the requests and `applied`
  std::condition_variable changed;
  bool stopping = false;
  bool want_up = true;
  std::uint64_t requested = 0;  // up()/down() calls
  std::uint64_t applied = 0;    // ... the loop has acted on
  std::string error;            // of the last up()

  // Loop thread only.
  int listener = -1;
  std::list<Pipe> pipes;

  void run() {
    for (;;) {
      {
        std::lock_guard lock(mutex);
        if (stopping) break;
        if (applied != requested) {
          apply(want_up);
          applied = requested;
          changed.notify_all();
        }
      }
      std::vector<pollfd> fds;
      fds.push_back({wake[0], POLLIN, 0});
      fds.push_back({listener, static_cast<short>(listener >= 0 ? POLLIN : 0), 0});
      for (auto& pipe : pipes) {
        for (int side = 0; side < 2; ++side) {
          short events = POLLIN;
          if (!pipe.pending[side].empty()) events |= POLLOUT;
          fds.push_back({pipe.fd[side], events, 0});
        }
      }
      ::poll(fds.data(), fds.size(), -1);
      if (fds[0].revents & POLLIN) {
        char buffer[64];
        while (::read(wake[0], buffer, sizeof buffer) > 0) {
        }
      }
      if (listener >= 0 && (fds[1].revents & POLLIN)) accept_one();
      std::size_t at = 2;
      for (auto& pipe : pipes) {
        for (int side = 0; side < 2; ++side, ++at) {
          if (pipe.closed) continue;
          if (fds[at].revents & (POLLIN | POLLHUP | POLLERR)) forward(pipe, side);
          if (!pipe.closed && (fds[at].revents & POLLOUT)) flush(pipe, side);
        }
      }
      pipes.remove_if([](const Pipe& pipe) { return pipe.closed; });
    }
    apply(false);
  }

  // Listening, or not listening with every connection cut and the socket file gone.
  void apply(bool up) {
    std::error_code ignored;
    if (!up) {
      if (listener >= 0) ::close(listener);
      listener = -1;
      pipes.clear();
      std::filesystem::remove(path, ignored);
      return;
    }
    error.clear();
    if (listener >= 0) return;
    std::filesystem::remove(path, ignored);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un address = address_of(path);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(fd, 128) != 0) {
      error = "socket proxy at " + path.string() + ": " + std::strerror(errno);
      if (fd >= 0) ::close(fd);
      return;
    }
    listener = fd;
  }

  void accept_one() {
    int client = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (client < 0) return;
    int daemon = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address = address_of(target);
    if (daemon < 0 ||
        ::connect(daemon, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      ::close(client);
      if (daemon >= 0) ::close(daemon);
      return;
    }
    set_nonblocking(daemon);
    Pipe& pipe = pipes.emplace_back();
    pipe.fd[0] = client;
    pipe.fd[1] = daemon;
  }

  // Reads what `side` sent into the other side's pending bytes.
  void forward(Pipe& pipe, int side) {
    char buffer[65536];
    for (;;) {
      ssize_t got = ::read(pipe.fd[side], buffer, sizeof buffer);
      if (got > 0) {
        pipe.pending[1 - side].append(buffer, static_cast<std::size_t>(got));
        if (pipe.pending[1 - side].size() > (8u << 20)) break;  // let the writer catch up
        continue;
      }
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) break;
      pipe.closed = true;  // either side ended: end both (HTTP needs no half-close here)
      return;
    }
    flush(pipe, 1 - side);
  }

  void flush(Pipe& pipe, int side) {
    std::string& out = pipe.pending[side];
    while (!out.empty()) {
      ssize_t put = ::write(pipe.fd[side], out.data(), out.size());
      if (put > 0) {
        out.erase(0, static_cast<std::size_t>(put));
        continue;
      }
      if (put < 0 && (errno == EAGAIN || errno == EINTR)) return;
      pipe.closed = true;
      return;
    }
  }

  void poke() {
    char byte = 1;
    (void)!::write(wake[1], &byte, 1);
  }

  // Asks the loop for `up` and waits until it acted.
  void request(bool up) {
    std::unique_lock lock(mutex);
    want_up = up;
    const std::uint64_t mine = ++requested;
    poke();
    changed.wait(lock, [&] { return applied >= mine; });
    if (up && !error.empty()) throw std::runtime_error(error);
  }
};

SocketProxy::SocketProxy(std::filesystem::path path, std::filesystem::path target)
    : impl_(std::make_unique<Impl>()) {
  impl_->path = std::move(path);
  impl_->target = std::move(target);
  if (::pipe2(impl_->wake, O_CLOEXEC | O_NONBLOCK) != 0) throw std::runtime_error("pipe2");
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
  up();
}

SocketProxy::~SocketProxy() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->poke();
  impl_->thread.join();
  ::close(impl_->wake[0]);
  ::close(impl_->wake[1]);
}

void SocketProxy::up() {
  impl_->request(true);
}

void SocketProxy::down() {
  impl_->request(false);
}

const std::filesystem::path& SocketProxy::path() const {
  return impl_->path;
}

}  // namespace baton::docker_testing
