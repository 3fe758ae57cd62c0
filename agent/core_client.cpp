#include "agent/core_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <future>

#include "agent/long_poll.hpp"
#include "http/client.hpp"

namespace baton::agent {

namespace asio = boost::asio;

struct CoreClientTimer {
  explicit CoreClientTimer(asio::io_context& io) : timer(io) {}
  asio::steady_timer timer;
};

CoreClient::CoreClient(asio::io_context& io, CoreClientOptions options, Callbacks callbacks)
    : io_(io),
      options_(std::move(options)),
      callbacks_(std::move(callbacks)),
      long_poll_(LongPoll::create(io, options_.token, options_.tls)),
      retry_(std::make_unique<CoreClientTimer>(io)) {
  if (!callbacks_.log) callbacks_.log = [](bool, const std::string&) {};
}

CoreClient::~CoreClient() {
  stop();
}

void CoreClient::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { run(); });
}

void CoreClient::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable() && !long_poll_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (long_poll_) {
    if (io_.stopped()) {
      long_poll_->cancel();
      retry_->timer.cancel();
    } else {
      std::promise<void> cancelled;
      asio::post(io_, [this, &cancelled] {
        long_poll_->cancel();
        retry_->timer.cancel();
        cancelled.set_value();
      });
      cancelled.get_future().wait();
    }
    long_poll_.reset();
  }
}

void CoreClient::publish(protocol::StatusReport report) {
  {
    std::lock_guard lock(mutex_);
    report_ = std::move(report);
    report_body_.reset();
    dirty_ = true;
  }
  wake_.notify_all();
}

std::string CoreClient::current_core() const {
  std::lock_guard lock(mutex_);
  return options_.cores.empty() ? std::string() : options_.cores[core_index_];
}

bool CoreClient::registered() const {
  std::lock_guard lock(mutex_);
  return registered_;
}

std::uint64_t CoreClient::reports_sent() const {
  std::lock_guard lock(mutex_);
  return reports_sent_;
}

std::uint64_t CoreClient::registrations() const {
  std::lock_guard lock(mutex_);
  return registrations_;
}

void CoreClient::wait_for(std::unique_lock<std::mutex>& lock, std::chrono::milliseconds delay) {
  wake_.wait_for(lock, delay, [&] { return stopping_; });
}

void CoreClient::mark_lost(std::uint64_t generation, bool unreachable, const std::string& why) {
  {
    std::lock_guard lock(mutex_);
    if (generation != generation_ || !registered_ || stopping_) return;
    registered_ = false;
    if (unreachable && !options_.cores.empty()) {
      core_index_ = (core_index_ + 1) % options_.cores.size();
    }
  }
  callbacks_.log(true, why + (unreachable ? "; trying the next core" : "; registering again"));
  wake_.notify_all();
}

void CoreClient::register_again(const std::string& why) {
  {
    std::lock_guard lock(mutex_);
    if (!registered_ || stopping_) return;
    registered_ = false;
  }
  callbacks_.log(false, why + "; registering again");
  wake_.notify_all();
}

void CoreClient::run() {
  http::Client client(http::ClientOptions{.connect_timeout = options_.connect_timeout,
                                          .timeout = options_.request_timeout,
                                          .bearer_token = options_.token,
                                          .tls = options_.tls});
  auto backoff = options_.backoff_first;
  auto last_report = std::chrono::steady_clock::now();
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (options_.cores.empty()) {
      wake_.wait(lock, [&] { return stopping_; });
      break;
    }
    if (!registered_) {
      wake_.wait(lock, [&] { return stopping_ || report_.has_value(); });
      if (stopping_) break;
      const std::string url = options_.cores[core_index_];
      protocol::StatusReport report = *report_;
      dirty_ = false;
      lock.unlock();
      protocol::Registration registration = callbacks_.registration();
      registration.instances = std::move(report.instances);
      registration.bundles = std::move(report.bundles);
      nlohmann::json body = registration;
      auto result = client.request("POST", url + "/v2/agents", body.dump());
      lock.lock();
      if (stopping_) break;
      if (result && result->status == 200) {
        auto reply =
            protocol::parse<protocol::RegistrationReply>(result->body, "registration reply");
        if (reply && reply->heartbeat_interval_ms > 0) {
          heartbeat_ = std::chrono::milliseconds(reply->heartbeat_interval_ms);
        }
        registered_ = true;
        ++generation_;
        ++registrations_;
        backoff = options_.backoff_first;
        last_report = std::chrono::steady_clock::now();
        std::uint64_t generation = generation_;
        asio::post(io_, [this, generation] { poll(generation); });
        lock.unlock();
        callbacks_.log(false, "registered with " + url + " as " + options_.agent_name);
        lock.lock();
        continue;
      }
      std::string why = result
                            ? "registration refused by " + url + ": " + http::error_message(*result)
                            : result.error().message;
      bool next = !result || result->status >= 500;
      if (next) core_index_ = (core_index_ + 1) % options_.cores.size();
      lock.unlock();
      callbacks_.log(true, why);
      lock.lock();
      wait_for(lock, backoff);
      backoff = std::min(backoff * 2, options_.backoff_max);
      continue;
    }
    auto due = last_report + heartbeat_;
    wake_.wait_until(lock, due, [&] { return stopping_ || dirty_ || !registered_; });
    if (stopping_) break;
    if (!registered_ || !report_) continue;
    if (!dirty_ && std::chrono::steady_clock::now() < due) continue;
    if (!report_body_)
      report_body_ = std::make_shared<const std::string>(nlohmann::json(*report_).dump());
    std::shared_ptr<const std::string> body = report_body_;
    dirty_ = false;
    const std::uint64_t generation = generation_;
    const std::string url = options_.cores[core_index_];
    lock.unlock();
    auto result = client.request(
        "PUT", url + "/v2/agents/" + http::url_encode(options_.agent_name) + "/status", *body);
    lock.lock();
    last_report = std::chrono::steady_clock::now();
    if (!result) {
      lock.unlock();
      mark_lost(generation, true, result.error().message);
      lock.lock();
    } else if (result->status == 404) {
      lock.unlock();
      mark_lost(generation, false, "core " + url + " does not know this agent");
      lock.lock();
    } else if (result->status == 200) {
      ++reports_sent_;
    } else {
      dirty_ = true;  // send again after a pause
      lock.unlock();
      callbacks_.log(true, "status report refused by " + url + ": " + http::error_message(*result));
      lock.lock();
      wait_for(lock, backoff);
      backoff = std::min(backoff * 2, options_.backoff_max);
    }
  }
}

void CoreClient::poll(std::uint64_t generation) {
  std::string url;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || generation != generation_ || !registered_ || !long_poll_) return;
    url = options_.cores[core_index_];
  }
  bool fresh = generation != poll_generation_;
  if (fresh) {
    poll_generation_ = generation;
    index_ = 0;
  }
  std::string target = url + "/v2/agents/" + http::url_encode(options_.agent_name) +
                       "/assignment?index=" + std::to_string(index_) +
                       "&waitMs=" + std::to_string(options_.poll_wait.count());
  long_poll_->get(
      target, options_.poll_wait + options_.request_timeout,
      [this, generation, fresh, url](Result<http::Response> result) {
        if (!result) {
          mark_lost(generation, true, result.error().message);
          return;
        }
        if (result->status == 404) {
          mark_lost(generation, false, "core " + url + " does not know this agent");
          return;
        }
        std::optional<protocol::Assignment> assignment;
        if (result->status == 200) {
          auto parsed = protocol::parse<protocol::Assignment>(result->body, "assignment");
          if (parsed) {
            assignment = std::move(parsed).value();
          } else {
            callbacks_.log(true, parsed.error().message);
          }
        } else {
          callbacks_.log(true, "assignment from " + url + ": " + http::error_message(*result));
        }
        if (!assignment) {  // try again after a pause
          retry_->timer.expires_after(options_.backoff_max);
          retry_->timer.async_wait([this, generation](const boost::system::error_code& error) {
            if (!error) poll(generation);
          });
          return;
        }
        bool changed = fresh || !delivered_ || assignment->index != index_;
        index_ = assignment->index;
        delivered_ = true;
        if (changed && callbacks_.assignment) callbacks_.assignment(std::move(*assignment));
        poll(generation);
      });
}

}  // namespace baton::agent
