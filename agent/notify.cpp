#include "agent/notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/datagram_protocol.hpp>
#include <cerrno>
#include <cstring>

#include "common/text.hpp"

namespace baton::agent {

namespace asio = boost::asio;

NotifyMessage parse_notify(std::string_view datagram) {
  NotifyMessage message;
  // A NUL ends a line as a newline does (some senders terminate the payload with one).
  std::string lines(datagram);
  std::replace(lines.begin(), lines.end(), '\0', '\n');
  for (const auto& raw : text::split(lines, '\n')) {
    std::string_view line = raw;
    auto equals = line.find('=');
    if (equals == std::string_view::npos) continue;
    std::string_view key = line.substr(0, equals);
    std::string_view value = line.substr(equals + 1);
    if (key == "READY") {
      if (value == "1") message.ready = true;
    } else if (key == "STOPPING") {
      if (value == "1") message.stopping = true;
    } else if (key == "STATUS") {
      message.status = std::string(value);
    } else if (key == "MAINPID") {
      if (auto pid = text::parse_integer(value); pid && *pid > 0 && *pid < (1 << 30)) {
        message.main_pid = static_cast<int>(*pid);
      }
    } else if (key == "ERRNO") {
      if (auto number = text::parse_integer(value); number && *number >= 0 && *number < 4096) {
        message.errno_value = static_cast<int>(*number);
      }
    }
  }
  return message;
}

std::size_t max_socket_path() {
  return sizeof(sockaddr_un::sun_path) - 1;
}

namespace {

class Socket final : public NotifySocket {
 public:
  struct State {
    explicit State(asio::io_context& io) : socket(io) {}
    asio::local::datagram_protocol::socket socket;
    Callback callback;
    bool closed = false;
  };

  Socket(std::shared_ptr<State> state, std::string address)
      : state_(std::move(state)), address_(std::move(address)) {}
  ~Socket() override { close(); }

  const std::string& address() const override { return address_; }

  void close() override {
    if (state_->closed) return;
    state_->closed = true;
    boost::system::error_code ignored;
    state_->socket.close(ignored);
    state_->callback = nullptr;
    if (!address_.empty() && address_.front() != '@') ::unlink(address_.c_str());
  }

  static void arm(const std::shared_ptr<State>& state) {
    state->socket.async_wait(asio::socket_base::wait_read,
                             [state](const boost::system::error_code& error) {
                               if (error || state->closed) return;
                               drain(*state);
                               if (!state->closed) arm(state);
                             });
  }

 private:
  static void drain(State& state) {
    int fd = state.socket.native_handle();
    char buffer[4096];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    for (int i = 0; i < 64 && !state.closed; ++i) {
      iovec io{buffer, sizeof buffer};
      msghdr header{};
      header.msg_iov = &io;
      header.msg_iovlen = 1;
      header.msg_control = control;
      header.msg_controllen = sizeof control;
      ssize_t n = ::recvmsg(fd, &header, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
      if (n < 0) return;  // EAGAIN: drained
      int pid = 0;
      for (cmsghdr* c = CMSG_FIRSTHDR(&header); c != nullptr; c = CMSG_NXTHDR(&header, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
          ucred credentials;
          std::memcpy(&credentials, CMSG_DATA(c), sizeof credentials);
          pid = credentials.pid;
        } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
          // File descriptors (FDSTORE=1) are not kept: close them.
          std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
          for (std::size_t k = 0; k < count; ++k) {
            int passed;
            std::memcpy(&passed, CMSG_DATA(c) + k * sizeof(int), sizeof passed);
            ::close(passed);
          }
        }
      }
      if (state.callback) {
        state.callback(parse_notify(std::string_view(buffer, static_cast<std::size_t>(n))), pid);
      }
    }
  }

  std::shared_ptr<State> state_;
  std::string address_;
};

}  // namespace

Result<std::unique_ptr<NotifySocket>> NotifySocket::open(asio::io_context& io,
                                                         const std::string& address,
                                                         Callback callback) {
  auto fail = [&](const std::string& why) {
    return make_error(Errc::io, "notify socket " + address + ": " + why);
  };
  if (address.empty() || address.size() > max_socket_path()) return fail("address too long");
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(std::strerror(errno));
  int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) != 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return fail("SO_PASSCRED: " + why);
  }
  sockaddr_un name{};
  name.sun_family = AF_UNIX;
  std::memcpy(name.sun_path, address.data(), address.size());
  if (address.front() == '@') {
    name.sun_path[0] = '\0';
  } else {
    ::unlink(address.c_str());  // left by an earlier agent process
  }
  socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size() +
                                            (address.front() == '@' ? 0 : 1));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&name), length) != 0) {
    std::string why = std::strerror(errno);
    ::close(fd);
    return fail("bind: " + why);
  }
  auto state = std::make_shared<Socket::State>(io);
  boost::system::error_code error;
  state->socket.assign(asio::local::datagram_protocol(), fd, error);
  if (error) {
    ::close(fd);
    return fail(error.message());
  }
  state->callback = std::move(callback);
  Socket::arm(state);
  return std::unique_ptr<NotifySocket>(std::make_unique<Socket>(state, address));
}

}  // namespace baton::agent
