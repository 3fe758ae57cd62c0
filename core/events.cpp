#include "core/events.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/model.hpp"

namespace baton::core {

EventHub::~EventHub() {
  close_all();
}

void EventHub::publish(Event event) {
  if (event.timestamp == 0) event.timestamp = now_ms();
  std::string frame = http::sse_event(event.name, event.data);
  std::lock_guard lock(mutex_);
  for (const auto& s : subscribers_) {
    if (!s.filter.empty() && !s.filter.count(event.name)) continue;
    s.responder->write(frame);
  }
  if (!event.bundle_id.empty() && per_bundle_ > 0) {
    auto& ring = recent_[event.bundle_id];
    ring.push_back(std::move(event));
    while (ring.size() > per_bundle_)
      ring.pop_front();
  }
}

void EventHub::subscribe(const http::ResponderPtr& responder, std::set<std::string> filter) {
  http::Headers headers;
  headers.emplace("Content-Type", "text/event-stream");
  headers.emplace("Cache-Control", "no-cache");
  responder->begin_stream(200, std::move(headers));
  // A first heartbeat, so that a client sees the stream is open before any event.
  responder->write("\n");
  std::lock_guard lock(mutex_);
  subscribers_.push_back(Subscriber{responder, std::move(filter)});
}

void EventHub::heartbeat() {
  std::lock_guard lock(mutex_);
  std::erase_if(subscribers_, [](const Subscriber& s) { return s.responder->closed(); });
  for (const auto& s : subscribers_)
    s.responder->write("\n");
}

void EventHub::close_all() {
  std::vector<Subscriber> gone;
  {
    std::lock_guard lock(mutex_);
    gone.swap(subscribers_);
  }
  for (auto& s : gone)
    s.responder->end();
}

std::size_t EventHub::subscribers() const {
  std::lock_guard lock(mutex_);
  return subscribers_.size();
}

std::string EventHub::recent_json(const std::string& bundle_id, std::size_t count) const {
  nlohmann::json out = nlohmann::json::array();
  std::lock_guard lock(mutex_);
  auto it = recent_.find(bundle_id);
  if (it != recent_.end()) {
    const auto& ring = it->second;
    std::size_t skip = ring.size() > count ? ring.size() - count : 0;
    for (std::size_t i = skip; i < ring.size(); ++i) {
      out.push_back({{"timestamp", iso_time(ring[i].timestamp)},
                     {"event", ring[i].name},
                     {"description", ring[i].description}});
    }
  }
  return out.dump();
}

void EventHub::forget(const std::string& bundle_id) {
  std::lock_guard lock(mutex_);
  recent_.erase(bundle_id);
}

}  // namespace baton::core
