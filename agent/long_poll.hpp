#pragma once
// One HTTP GET at a time on the agent's io_context, cancellable at any moment: the assignment long
// poll. http::Client is blocking and cannot be interrupted, so a 30 s poll on it would hold up the
// agent's shutdown; this one is closed instead. Beast stays in long_poll.cpp.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/result.hpp"
#include "http/message.hpp"
#include "http/tls.hpp"

namespace boost::asio {
class io_context;
}

namespace baton::agent {

class LongPoll {
 public:
  using Done = std::function<void(Result<http::Response> response)>;
  // `token`: sent as a bearer token when set; `tls`: for https:// URLs (an unusable file fails
  // every get() with the error naming it).
  static std::unique_ptr<LongPoll> create(boost::asio::io_context& io, std::string token = {},
                                          http::TlsClientSettings tls = {});
  virtual ~LongPoll() = default;
  // GET `url` (http[s]://host:port/path?query); `done` runs on the io thread unless cancel() came
  // first. Errors: Errc::unavailable for connection failures and timeouts.
  virtual void get(const std::string& url, std::chrono::milliseconds timeout, Done done) = 0;
  // Abandons the request in flight; its `done` is never called. io thread only.
  virtual void cancel() = 0;
};

}  // namespace baton::agent
