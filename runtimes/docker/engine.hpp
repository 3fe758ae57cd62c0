#pragma once
// Blocking calls to the Docker Engine API over its unix socket (libcurl, kept inside the .cpp).
// Thread-safe: each call borrows an idle curl handle (so kept-alive connections are reused) or
// makes one. Long-lived streams that many launches hold at once (waits, logs, events) run on
// Loop (loop.hpp) instead.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace baton::runtimes::docker {

struct EngineOptions {
  std::string socket = "/var/run/docker.sock";
  std::string api_version = "v1.41";  // the path prefix; Debian 12's docker.io speaks 1.41
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds timeout{60000};  // a whole call(); streams have none
};

struct Reply {
  long status = 0;
  std::string body;  // the whole body of call(), or of a stream() answered with a non-2xx status
  bool ok() const { return status >= 200 && status < 300; }
};

class Engine {
 public:
  explicit Engine(EngineOptions options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const EngineOptions& options() const { return options_; }
  // "http://docker/v1.41" + path (the host is ignored on a unix socket).
  std::string url(std::string_view path) const;

  // Any HTTP status is a value; Errc::unavailable when dockerd cannot be reached or does not answer
  // ("cannot reach dockerd at <socket>: <reason>"). A non-empty body is sent as JSON.
  Result<Reply> call(std::string_view method, std::string_view path, std::string_view body = {},
                     std::chrono::milliseconds timeout = std::chrono::milliseconds{0});

  // Fills `out` with up to `size` bytes of the request body; 0 at its end.
  using Source = std::function<Result<std::size_t>(char* out, std::size_t size)>;
  // Gets each piece of a 2xx body as it arrives; false stops the transfer (a success).
  using Sink = std::function<bool(std::string_view)>;
  // A request whose body comes from `source` (`size` < 0: chunked) and whose 2xx answer streams
  // into `sink` (another status fills Reply::body). No overall timeout; cancel_all() ends it.
  Result<Reply> stream(std::string_view method, std::string_view path,
                       std::string_view content_type, const Source& source, std::int64_t size,
                       const Sink& sink);

  // Running and later calls and streams end at once with Errc::unavailable (shutdown).
  void cancel_all();

 private:
  struct Impl;
  EngineOptions options_;
  std::unique_ptr<Impl> impl_;
};

// Percent-encodes everything but unreserved characters (RFC 3986).
std::string url_encode(std::string_view text);
// The daemon's `{"message": ...}` of an error reply, else its body (trimmed, shortened).
std::string daemon_message(const Reply& reply);
// Errc for a daemon status: 400 invalid, 404 not_found, 409 conflict, 5xx io.
Errc errc_for_status(long status);
// "<what>: dockerd answered <status>: <message>" with the matching Errc.
Error reply_error(const Reply& reply, std::string_view what);

}  // namespace baton::runtimes::docker
