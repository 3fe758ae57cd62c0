#pragma once
// One thread running a curl multi handle: the long-lived and asynchronous Engine API requests of
// every launch (waits, log follows, the events stream, stops and kills) plus timers. Hundreds of
// launches cost one thread and one connection per open stream. Callbacks run on the loop's thread
// and must not block.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "runtimes/docker/engine.hpp"

namespace baton::runtimes::docker {

class Loop {
 public:
  using Id = std::uint64_t;

  struct Done {
    long status = 0;         // HTTP status; 0 when the transfer failed before one arrived
    std::string error;       // transport failure (daemon gone, connection dropped); else empty
    std::string body;        // the body of a non-2xx answer
    bool cancelled = false;  // cancel() ended it
    bool completed() const { return error.empty() && !cancelled; }
  };

  struct Request {
    std::string method = "GET";
    std::string path;  // after the API version, e.g. "/containers/<id>/wait"
    std::string body;  // JSON, may be empty
    // The status, once the answer's headers are complete (a wait is registered by then).
    std::function<void(long status)> on_status;
    // Pieces of a 2xx body; false ends the transfer (Done then counts as completed).
    std::function<bool(std::string_view)> on_data;
    // Exactly once, unless the loop is destroyed first.
    std::function<void(const Done&)> on_done;
  };

  explicit Loop(EngineOptions options);
  // Stops the thread; transfers still open are dropped without their on_done.
  ~Loop();
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;

  // Any thread. The transfer starts on the loop's next turn.
  Id add(Request request);
  // Any thread; on_done follows with `cancelled` (unless it already ran). Unknown ids are ignored.
  void cancel(Id id);
  // Runs `task` on the loop's thread.
  void post(std::function<void()> task);
  // Runs `task` on the loop's thread after `delay`; cancel_timer() before that drops it.
  Id after(std::chrono::milliseconds delay, std::function<void()> task);
  void cancel_timer(Id id);
  bool on_loop_thread() const;
  // Open transfers (diagnostics and tests).
  std::size_t transfers() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton::runtimes::docker
