#pragma once
// The control protocol from the CLI's side: JSON requests to a core, errors turned into messages
// that say what to do, and the server-sent events stream that wakes up waits.
//
// Errors: Errc::unavailable only when no core answered ("cannot reach the core at ..."), the
// protocol's statuses as errc_for_status maps them (404 not_found, 300 ambiguous with the
// candidates listed, 409 conflict, 400 invalid, 413 limit), any other failure Errc::internal.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/core_address.hpp"
#include "common/result.hpp"
#include "http/client.hpp"

namespace baton::cli {

// The exit code (cli/command.hpp) for a failure of a control request.
int exit_code_for(const Error& error);

// "connection refused", "timed out", "unknown host" or curl's own words, from the client's
// "cannot reach <url>: <reason>".
std::string unreachable_reason(std::string_view client_message);

// The error for a non-2xx answer to `what` ("GET /v2/bundles/abc").
Error response_error(const http::Response& response, std::string_view what);

class ControlClient {
 public:
  explicit ControlClient(CoreAddress address, http::ClientOptions options = {});

  const CoreAddress& address() const { return address_; }
  std::string url(std::string_view path) const { return address_.url() + std::string(path); }

  // A request whose 2xx answer is JSON (an empty body reads as null).
  Result<nlohmann::json> call(std::string_view method, const std::string& path,
                              std::string_view body = {}, const http::Headers& headers = {});
  Result<nlohmann::json> get(const std::string& path) { return call("GET", path); }

  // Any answer, as it came (for routes whose non-2xx statuses mean something, like /services).
  Result<http::Response> raw(std::string_view method, const std::string& path);

  Result<nlohmann::json> post_form(const std::string& path,
                                   const std::vector<http::FormPart>& parts,
                                   const http::Progress& progress);

  // A streamed 2xx body, piece by piece, until `on_data` returns false or the core ends it.
  Status stream(const std::string& path, const http::DataCallback& on_data);

 private:
  Error transport_error(Error error) const;

  CoreAddress address_;
  http::Client client_;
};

// Server-sent events, fed in any pieces: "event: <name>", "data: <line>" (joined by '\n'),
// a blank line dispatches; comments (":...") and blank heartbeats are ignored.
class SseParser {
 public:
  struct Event {
    std::string name;  // "message" when the stream gave none
    std::string data;
  };
  // Returns the events completed by this piece.
  std::vector<Event> feed(std::string_view piece);

 private:
  std::string line_;
  std::string name_;
  std::string data_;
  bool has_data_ = false;
};

// Watches GET /v2/bundles/events on its own thread and counts the events that concern a
// bundle, so a wait can sleep until something happens instead of polling tightly. When the
// stream is not there (an older core, a dropped connection) `streaming()` turns false and the
// waiter falls back to polling.
class EventWatcher {
 public:
  // `bundle_id` empty: every event counts. Otherwise events whose data names this bundle id.
  EventWatcher(CoreAddress address, std::string bundle_id);
  ~EventWatcher();
  EventWatcher(const EventWatcher&) = delete;
  EventWatcher& operator=(const EventWatcher&) = delete;

  // Blocks until an event arrives after `seen` (returns the new count) or `timeout` passes.
  std::uint64_t wait(std::uint64_t seen, std::chrono::milliseconds timeout);
  std::uint64_t count() const;
  bool streaming() const;

  // Shared with the thread, which may outlive the watcher by one heartbeat.
  struct State {
    mutable std::mutex mutex;
    std::condition_variable changed;
    std::uint64_t events = 0;
    bool connected = false;
    bool ended = false;
    bool stop = false;
  };

 private:
  std::shared_ptr<State> state_;
};

}  // namespace baton::cli
