#include "tests/agent/support/test_core.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fstream>
#include <thread>

#include "http/server.hpp"

namespace baton::agent::testing {

namespace asio = boost::asio;
using nlohmann::json;

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

struct TestCore::Impl {
  struct Poll {
    http::ResponderPtr responder;
    std::uint64_t index = 0;
    std::shared_ptr<asio::steady_timer> timer;
  };
  struct Agent {
    bool known = false;
    protocol::Assignment assignment;
    std::map<std::string, protocol::InstanceStatus> statuses;
    std::optional<protocol::Registration> registration;
    std::vector<std::string> bundles;  // of the last registration or report
    int registrations = 0;
    int reports = 0;
    std::vector<Poll> polls;
  };

  asio::io_context io;
  std::unique_ptr<http::Server> server;
  std::thread thread;
  mutable std::mutex mutex;
  std::map<std::string, Agent> agents;
  std::map<std::string, std::filesystem::path> files;
  std::map<std::string, std::string> bytes;
  std::map<std::string, int> downloads;
  std::map<std::string, std::vector<std::string>> services;
  int lookups = 0;
  bool refusing = false;

  // Called with the mutex held.
  void answer_polls(Agent& agent) {
    std::string body = json(agent.assignment).dump();
    for (auto& poll : agent.polls) {
      poll.timer->cancel();
      poll.responder->send(http::Response::json(200, body));
    }
    agent.polls.clear();
  }

  http::Router router() {
    http::Router r;
    r.add("POST", "/v2/agents", [this](const http::Request& request) {
      auto registration = protocol::parse<protocol::Registration>(request.body, "registration");
      if (!registration) return http::error_response(registration.error());
      std::lock_guard lock(mutex);
      if (refusing) return http::Response::error(503, "refusing");
      Agent& agent = agents[registration->name];
      agent.known = true;
      ++agent.registrations;
      agent.statuses.clear();
      for (const auto& status : registration->instances)
        agent.statuses[status.instance_id] = status;
      agent.bundles = registration->bundles;
      agent.registration = *registration;
      protocol::RegistrationReply reply{registration->name, 200, 15000};
      return http::Response::json(200, json(reply).dump());
    });
    r.add("PUT", "/v2/agents/{name}/status", [this](const http::Request& request) {
      auto report = protocol::parse<protocol::StatusReport>(request.body, "status");
      if (!report) return http::error_response(report.error());
      std::lock_guard lock(mutex);
      if (refusing) return http::Response::error(503, "refusing");
      Agent& agent = agents[request.params.at("name")];
      if (!agent.known) return http::Response::error(404, "unknown agent");
      ++agent.reports;
      agent.statuses.clear();
      for (const auto& status : report->instances)
        agent.statuses[status.instance_id] = status;
      agent.bundles = report->bundles;
      return http::Response::json(200, json(protocol::StatusReply{agent.assignment.index}).dump());
    });
    r.add_async("GET", "/v2/agents/{name}/assignment",
                [this](const http::Request& request, http::ResponderPtr responder) {
                  std::uint64_t index = std::stoull(request.query_value("index").value_or("0"));
                  long wait = std::stol(request.query_value("waitMs").value_or("30000"));
                  std::lock_guard lock(mutex);
                  if (refusing) {
                    responder->send(http::Response::error(503, "refusing"));
                    return;
                  }
                  Agent& agent = agents[request.params.at("name")];
                  if (!agent.known) {
                    responder->send(http::Response::error(404, "unknown agent"));
                    return;
                  }
                  if (agent.assignment.index > index) {
                    responder->send(http::Response::json(200, json(agent.assignment).dump()));
                    return;
                  }
                  auto timer = std::make_shared<asio::steady_timer>(io);
                  timer->expires_after(std::chrono::milliseconds(wait));
                  std::string name = request.params.at("name");
                  timer->async_wait([this, name, responder](const boost::system::error_code& e) {
                    if (e) return;
                    std::lock_guard lock(mutex);
                    Agent& agent = agents[name];
                    std::erase_if(agent.polls,
                                  [&](const Poll& p) { return p.responder == responder; });
                    responder->send(http::Response::json(200, json(agent.assignment).dump()));
                  });
                  agent.polls.push_back(Poll{responder, index, timer});
                });
    auto serve = [this](const http::Request& request) {
      const std::string digest = request.params.at("digest");
      std::lock_guard lock(mutex);
      ++downloads[digest];
      if (auto it = bytes.find(digest); it != bytes.end()) {
        http::Response response;
        response.headers["Content-Type"] = "application/zip";
        response.body = it->second;
        return response;
      }
      auto it = files.find(digest);
      if (it == files.end()) return http::Response::error(404, "no file " + digest);
      std::ifstream in(it->second, std::ios::binary);
      http::Response response;
      response.headers["Content-Type"] = "application/zip";
      response.body.assign(std::istreambuf_iterator<char>(in), {});
      return response;
    };
    r.add("GET", "/v2/bundles/files/{digest}", serve);
    r.add("GET", "/v2/configurations/files/{digest}", serve);
    r.add("GET", "/v2/service-hosts/{name}", [this](const http::Request& request) {
      std::lock_guard lock(mutex);
      ++lookups;
      auto it = services.find(request.params.at("name"));
      auto response = http::Response::json(
          200, json(it == services.end() ? std::vector<std::string>{} : it->second).dump());
      response.headers["Cache-Control"] = "max-age=60";
      return response;
    });
    return r;
  }
};

TestCore::TestCore() : impl_(std::make_unique<Impl>()) {
  http::ServerOptions options;
  options.max_body_bytes = 64u << 20;
  auto server = http::Server::start(impl_->io, options, impl_->router());
  if (!server) throw std::runtime_error(server.error().message);
  impl_->server = std::move(server).value();
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

TestCore::~TestCore() {
  {
    std::lock_guard lock(impl_->mutex);
    for (auto& [name, agent] : impl_->agents) {
      for (auto& poll : agent.polls)
        poll.timer->cancel();
      agent.polls.clear();
    }
  }
  impl_->server->stop();
  impl_->thread.join();
  impl_->server.reset();
}

std::string TestCore::url() const {
  return "http://127.0.0.1:" + std::to_string(port());
}
unsigned short TestCore::port() const {
  return impl_->server->port();
}

void TestCore::add_file(const std::string& digest, const std::filesystem::path& zip) {
  std::lock_guard lock(impl_->mutex);
  impl_->files[digest] = zip;
}

void TestCore::add_bytes(const std::string& digest, std::string bytes) {
  std::lock_guard lock(impl_->mutex);
  impl_->bytes[digest] = std::move(bytes);
}

int TestCore::downloads(const std::string& digest) const {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->downloads.find(digest);
  return it == impl_->downloads.end() ? 0 : it->second;
}

void TestCore::assign(const std::string& agent_name,
                      std::vector<protocol::AssignedInstance> instances,
                      std::vector<std::string> prefetch) {
  std::lock_guard lock(impl_->mutex);
  auto& agent = impl_->agents[agent_name];
  agent.assignment.index += 1;
  agent.assignment.instances = std::move(instances);
  agent.assignment.prefetch = std::move(prefetch);
  impl_->answer_polls(agent);
}

void TestCore::discard(const std::string& agent_name, std::vector<std::string> digests) {
  std::lock_guard lock(impl_->mutex);
  auto& agent = impl_->agents[agent_name];
  agent.assignment.index += 1;
  agent.assignment.discard = std::move(digests);
  impl_->answer_polls(agent);
}

std::vector<std::string> TestCore::bundles(const std::string& agent) const {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->agents.find(agent);
  return it == impl_->agents.end() ? std::vector<std::string>{} : it->second.bundles;
}

std::uint64_t TestCore::index(const std::string& agent) const {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->agents.find(agent);
  return it == impl_->agents.end() ? 0 : it->second.assignment.index;
}

std::optional<protocol::InstanceStatus> TestCore::status(const std::string& agent,
                                                         const std::string& instance_id) const {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->agents.find(agent);
  if (it == impl_->agents.end()) return std::nullopt;
  auto status = it->second.statuses.find(instance_id);
  if (status == it->second.statuses.end()) return std::nullopt;
  return status->second;
}

std::vector<protocol::InstanceStatus> TestCore::statuses(const std::string& agent) const {
  std::lock_guard lock(impl_->mutex);
  std::vector<protocol::InstanceStatus> out;
  auto it = impl_->agents.find(agent);
  if (it == impl_->agents.end()) return out;
  for (const auto& [id, status] : it->second.statuses)
    out.push_back(status);
  return out;
}

std::optional<protocol::Registration> TestCore::registration(const std::string& agent) const {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->agents.find(agent);
  if (it == impl_->agents.end()) return std::nullopt;
  return it->second.registration;
}

int TestCore::registrations(const std::string& agent) const {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->agents.find(agent);
  return it == impl_->agents.end() ? 0 : it->second.registrations;
}

int TestCore::reports(const std::string& agent) const {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->agents.find(agent);
  return it == impl_->agents.end() ? 0 : it->second.reports;
}

void TestCore::forget(const std::string& agent) {
  std::lock_guard lock(impl_->mutex);
  auto& entry = impl_->agents[agent];
  entry.known = false;
  for (auto& poll : entry.polls) {
    poll.timer->cancel();
    poll.responder->send(http::Response::error(404, "unknown agent"));
  }
  entry.polls.clear();
}

void TestCore::set_refusing(bool refusing) {
  std::lock_guard lock(impl_->mutex);
  impl_->refusing = refusing;
}

void TestCore::set_service(const std::string& name, std::vector<std::string> hosts) {
  std::lock_guard lock(impl_->mutex);
  impl_->services[name] = std::move(hosts);
}

int TestCore::service_lookups() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->lookups;
}

}  // namespace baton::agent::testing
