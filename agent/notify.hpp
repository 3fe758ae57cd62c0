#pragma once
// The systemd notify protocol for readiness: one datagram socket per instance (its
// NOTIFY_SOCKET), with SO_PASSCRED so each message carries the sender's pid. Runs on the agent's
// io_context; Asio stays in notify.cpp.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace boost::asio {
class io_context;
}

namespace baton::agent {

// What one datagram says. Lines are KEY=VALUE; unknown keys and malformed lines are ignored.
struct NotifyMessage {
  bool ready = false;                 // READY=1
  bool stopping = false;              // STOPPING=1
  std::optional<std::string> status;  // STATUS=...
  std::optional<int> main_pid;        // MAINPID=...
  std::optional<int> errno_value;     // ERRNO=...
};
NotifyMessage parse_notify(std::string_view datagram);

class NotifySocket {
 public:
  // Called on the io thread for every datagram; `sender_pid` from SCM_CREDENTIALS (0 unknown).
  using Callback = std::function<void(const NotifyMessage& message, int sender_pid)>;

  // Binds `address`: a file system path (an existing socket file there is replaced), or a name
  // starting with '@' for the abstract namespace. Errors name the address.
  static Result<std::unique_ptr<NotifySocket>> open(boost::asio::io_context& io,
                                                    const std::string& address, Callback callback);
  virtual ~NotifySocket() = default;
  // What NOTIFY_SOCKET is set to.
  virtual const std::string& address() const = 0;
  // Stops receiving and removes the socket file. Idempotent; the io thread only.
  virtual void close() = 0;
};

// The longest path a unix socket address can hold (sun_path without its terminator).
std::size_t max_socket_path();

}  // namespace baton::agent
