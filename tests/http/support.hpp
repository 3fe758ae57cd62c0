#pragma once
// Shared by the http tests: a server on its own io_context threads, raw sockets, polling.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "http/server.hpp"

namespace boost::asio {
class io_context;
}

namespace baton::http::testing {

// Polls `condition` until it holds or `timeout` passes; true when it held.
bool wait_until(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(20));

// A Server on 127.0.0.1:0 whose io_context runs on `threads` threads until stop().
class RunningServer {
 public:
  explicit RunningServer(Router router, ServerOptions options = {}, int threads = 1);
  ~RunningServer();
  RunningServer(const RunningServer&) = delete;
  RunningServer& operator=(const RunningServer&) = delete;

  unsigned short port() const { return port_; }
  std::string url(std::string_view path) const;
  Server& server() { return *server_; }
  // Stops the server and joins the threads (they return once the io_context ran out).
  void stop();

 private:
  std::unique_ptr<boost::asio::io_context> io_;
  std::unique_ptr<Server> server_;
  std::vector<std::thread> threads_;
  unsigned short port_ = 0;
};

// A blocking TCP socket to 127.0.0.1:port; reads give up after 20 s so a test cannot hang.
class RawSocket {
 public:
  explicit RawSocket(unsigned short port);
  ~RawSocket();
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  bool connected() const { return fd_ >= 0; }
  bool send(std::string_view data);
  void shutdown_write();
  // Everything until the peer closes (or an error, or the read timeout).
  std::string read_all();
  // One response: the head and a Content-Length body (or the head only when none).
  std::string read_response();
  void close();

 private:
  int fd_ = -1;
  std::string pending_;
};

// Server::start's error for `options` on a fresh io_context (internal error if it started).
Error start_error(ServerOptions options);

// A port nothing listens on (bound, then released).
unsigned short unused_port();

}  // namespace baton::http::testing
