#pragma once
// Bundle events: kept per bundle in a ring of recent ones (GET /v2/bundles/{id}/events) and
// pushed to server-sent-event subscribers (GET /v2/bundles/events). Thread-safe.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "http/server.hpp"

namespace baton::core {

struct Event {
  std::int64_t timestamp = 0;  // ms since the epoch
  std::string name;            // bundleExecutionAdded, ...
  std::string bundle_id;
  std::string description;  // one line for people
  std::string data;         // the JSON object sent as the event's data
};

class EventHub {
 public:
  explicit EventHub(std::size_t per_bundle) : per_bundle_(per_bundle) {}
  ~EventHub();
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  void publish(Event event);

  // Starts the event stream on `responder`; only events named in `filter` (all when empty).
  void subscribe(const http::ResponderPtr& responder, std::set<std::string> filter);
  // An empty line to every subscriber (SSE heartbeat); drops subscribers that went away.
  void heartbeat();
  // Ends every stream (shutdown).
  void close_all();
  std::size_t subscribers() const;

  // The last `count` events of a bundle, oldest first, as
  // [{"timestamp", "event", "description"}].
  std::string recent_json(const std::string& bundle_id, std::size_t count) const;
  void forget(const std::string& bundle_id);

 private:
  struct Subscriber {
    http::ResponderPtr responder;
    std::set<std::string> filter;
  };
  const std::size_t per_bundle_;
  mutable std::mutex mutex_;
  std::map<std::string, std::deque<Event>> recent_;
  std::vector<Subscriber> subscribers_;
};

}  // namespace baton::core
