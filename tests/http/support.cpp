#include "support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <stdexcept>

#include "common/text.hpp"

namespace baton::http::testing {

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

RunningServer::RunningServer(Router router, ServerOptions options, int threads)
    : io_(std::make_unique<boost::asio::io_context>(threads)) {
  options.address = "127.0.0.1";
  options.port = 0;
  auto started = Server::start(*io_, std::move(options), std::move(router));
  if (!started) throw std::runtime_error("server did not start: " + started.error().message);
  server_ = std::move(started).value();
  port_ = server_->port();
  for (int i = 0; i < threads; ++i)
    threads_.emplace_back([this] { io_->run(); });
}

RunningServer::~RunningServer() {
  stop();
}

void RunningServer::stop() {
  if (server_) server_->stop();
  for (auto& thread : threads_)
    thread.join();
  threads_.clear();
  server_.reset();
}

std::string RunningServer::url(std::string_view path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
}

RawSocket::RawSocket(unsigned short port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return;
  timeval timeout{};
  timeout.tv_sec = 20;
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) close();
}

RawSocket::~RawSocket() {
  close();
}

void RawSocket::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool RawSocket::send(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

void RawSocket::shutdown_write() {
  ::shutdown(fd_, SHUT_WR);
}

std::string RawSocket::read_all() {
  std::string out = std::move(pending_);
  pending_.clear();
  char buffer[65536];
  for (;;) {
    ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    out.append(buffer, static_cast<std::size_t>(n));
  }
  return out;
}

std::string RawSocket::read_response() {
  std::string data = std::move(pending_);
  pending_.clear();
  char buffer[65536];
  auto fill = [&]() {
    ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n <= 0) return false;
    data.append(buffer, static_cast<std::size_t>(n));
    return true;
  };
  std::size_t head_end;
  while ((head_end = data.find("\r\n\r\n")) == std::string::npos) {
    if (!fill()) return data;
  }
  head_end += 4;
  std::size_t length = 0;
  std::string head = data.substr(0, head_end);
  std::string lower = head;
  for (char& c : lower)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (std::size_t at = lower.find("\r\ncontent-length:"); at != std::string::npos) {
    std::size_t start = at + 17;
    std::size_t end = lower.find("\r\n", start);
    length = static_cast<std::size_t>(
        text::parse_integer(text::trim(lower.substr(start, end - start))).value_or(0));
  }
  if (head.rfind("HTTP/1.1 100", 0) == 0) length = 0;
  while (data.size() < head_end + length) {
    if (!fill()) break;
  }
  std::size_t end = std::min(data.size(), head_end + length);
  pending_ = data.substr(end);
  return data.substr(0, end);
}

Error start_error(ServerOptions options) {
  boost::asio::io_context io;
  auto started = Server::start(io, std::move(options), Router());
  if (started.ok()) return make_error(Errc::internal, "the server started");
  return started.error();
}

unsigned short unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = 0;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  bool bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
               ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) == 0;
  ::close(fd);
  if (!bound) throw std::runtime_error("cannot bind a TCP socket on 127.0.0.1");
  return ntohs(address.sin_port);
}

}  // namespace baton::http::testing
