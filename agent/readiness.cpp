#include "agent/readiness.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

namespace baton::agent {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

ReadinessPlan plan_readiness(const bundle::Descriptor& descriptor,
                             const std::map<std::string, int>& ports, const std::string& host) {
  using Mode = bundle::Readiness::Mode;
  const bundle::Readiness& readiness = descriptor.readiness;
  ReadinessPlan plan;
  plan.initial_delay = readiness.initial_delay;
  plan.interval = readiness.interval;
  plan.timeout = readiness.timeout;
  auto target_for = [&](const bundle::Endpoint& endpoint, PollTarget::Kind kind) {
    PollTarget target;
    target.kind = kind;
    target.endpoint = endpoint.name;
    target.host = host;
    auto it = ports.find(endpoint.name);
    target.port = it == ports.end() ? endpoint.bind_port : it->second;
    target.path = readiness.path.empty() ? "/" : readiness.path;
    return target;
  };
  auto endpoints = descriptor.endpoints();
  switch (readiness.mode) {
    case Mode::none:
      plan.accepts_signal = false;
      plan.ready_when_running = true;
      break;
    case Mode::signal:
      break;
    case Mode::automatic:
      for (const bundle::Endpoint* endpoint : endpoints) {
        if (endpoint->protocol == bundle::Protocol::udp) continue;
        plan.targets.push_back(target_for(*endpoint, PollTarget::Kind::tcp));
      }
      if (plan.targets.empty()) plan.ready_when_running = true;
      break;
    case Mode::http:
    case Mode::tcp: {
      const bundle::Endpoint* chosen = nullptr;
      for (const bundle::Endpoint* endpoint : endpoints) {
        if (readiness.endpoint.empty() || endpoint->name == readiness.endpoint) {
          chosen = endpoint;
          break;
        }
      }
      if (chosen == nullptr) break;  // validated by the descriptor parser; signal only then
      plan.targets.push_back(target_for(
          *chosen, readiness.mode == Mode::http ? PollTarget::Kind::http : PollTarget::Kind::tcp));
      break;
    }
  }
  return plan;
}

namespace {

// One target's tries. Everything runs on the io thread; `alive` guards against late handlers.
struct Probe : std::enable_shared_from_this<Probe> {
  Probe(asio::io_context& io, PollTarget target, const ReadinessPlan& plan)
      : target(std::move(target)),
        interval(plan.interval),
        timeout(plan.timeout),
        socket(io),
        try_timer(io),
        next_timer(io) {}

  PollTarget target;
  std::chrono::milliseconds interval;
  std::chrono::milliseconds timeout;
  tcp::socket socket;
  asio::steady_timer try_timer;
  asio::steady_timer next_timer;
  std::string request;
  std::string response;
  char buffer[512];
  bool done = false;
  bool cancelled = false;
  unsigned tries = 0;  // a late per-try timer must not close a later try's socket
  std::function<void()> on_answer;

  void schedule(std::chrono::milliseconds delay) {
    if (cancelled) return;
    next_timer.expires_after(delay);
    next_timer.async_wait([self = shared_from_this()](const boost::system::error_code& error) {
      if (!error && !self->cancelled) self->attempt();
    });
  }

  void attempt() {
    boost::system::error_code error;
    auto address = asio::ip::make_address(target.host, error);
    if (error) {
      retry();
      return;
    }
    if (socket.is_open()) socket.close(error);
    unsigned this_try = ++tries;
    try_timer.expires_after(timeout);
    try_timer.async_wait([self = shared_from_this(), this_try](const boost::system::error_code& e) {
      if (!e && self->tries == this_try && !self->done) {
        boost::system::error_code ignored;
        self->socket.close(ignored);  // the pending operation fails: retry from there
      }
    });
    socket.async_connect(tcp::endpoint(address, static_cast<unsigned short>(target.port)),
                         [self = shared_from_this()](const boost::system::error_code& e) {
                           if (self->cancelled) return;
                           if (e) {
                             self->retry();
                           } else if (self->target.kind == PollTarget::Kind::tcp) {
                             self->answered();
                           } else {
                             self->send_get();
                           }
                         });
  }

  void send_get() {
    request = "GET " + target.path + " HTTP/1.1\r\nHost: " + target.host + ":" +
              std::to_string(target.port) +
              "\r\nUser-Agent: baton-agent\r\nConnection: close\r\n\r\n";
    response.clear();
    asio::async_write(socket, asio::buffer(request),
                      [self = shared_from_this()](const boost::system::error_code& e, std::size_t) {
                        if (self->cancelled) return;
                        if (e) {
                          self->retry();
                        } else {
                          self->read_status();
                        }
                      });
  }

  void read_status() {
    socket.async_read_some(
        asio::buffer(buffer),
        [self = shared_from_this()](const boost::system::error_code& e, std::size_t n) {
          if (self->cancelled) return;
          self->response.append(self->buffer, n);
          auto end = self->response.find("\r\n");
          if (end == std::string::npos) {
            if (e || self->response.size() > 4096) {
              self->retry();
            } else {
              self->read_status();
            }
            return;
          }
          // "HTTP/1.1 200 OK": 2xx and 3xx mean ready.
          std::string_view line(self->response.data(), end);
          auto space = line.find(' ');
          bool ok = space != std::string_view::npos && space + 1 < line.size() &&
                    (line[space + 1] == '2' || line[space + 1] == '3');
          if (ok) {
            self->answered();
          } else {
            self->retry();
          }
        });
  }

  void retry() {
    boost::system::error_code ignored;
    try_timer.cancel();
    socket.close(ignored);
    schedule(interval);
  }

  void answered() {
    boost::system::error_code ignored;
    try_timer.cancel();
    socket.close(ignored);
    done = true;
    if (on_answer) on_answer();
  }

  void cancel() {
    cancelled = true;
    on_answer = nullptr;
    boost::system::error_code ignored;
    try_timer.cancel();
    next_timer.cancel();
    socket.close(ignored);
  }
};

class Poller final : public ReadinessPoller {
 public:
  Poller(asio::io_context& io, const ReadinessPlan& plan, std::function<void()> on_ready)
      : on_ready_(std::move(on_ready)) {
    for (const auto& target : plan.targets) {
      auto probe = std::make_shared<Probe>(io, target, plan);
      probe->on_answer = [this] {
        ++answered_;
        if (answered_ == probes_.size() && on_ready_) {
          auto callback = std::move(on_ready_);
          on_ready_ = nullptr;
          callback();
        }
      };
      probes_.push_back(probe);
    }
    for (auto& probe : probes_)
      probe->schedule(plan.initial_delay);
  }
  ~Poller() override { cancel(); }

  void cancel() override {
    on_ready_ = nullptr;
    for (auto& probe : probes_)
      probe->cancel();
  }
  std::size_t answered() const override { return answered_; }

 private:
  std::function<void()> on_ready_;
  std::vector<std::shared_ptr<Probe>> probes_;
  std::size_t answered_ = 0;
};

}  // namespace

std::unique_ptr<ReadinessPoller> ReadinessPoller::start(asio::io_context& io,
                                                        const ReadinessPlan& plan,
                                                        std::function<void()> on_ready) {
  return std::make_unique<Poller>(io, plan, std::move(on_ready));
}

}  // namespace baton::agent
