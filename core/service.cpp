// The only translation unit of core/ that includes Asio (for the io_context the server runs on).

#include "core/service.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "core/api.hpp"
#include "core/auth.hpp"
#include "core/work_queue.hpp"
#include "http/server.hpp"

namespace baton::core {

struct CoreService::Impl {
  CoreOptions options;
  boost::asio::io_context io;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard;
  std::unique_ptr<Core> core;
  std::unique_ptr<WorkQueue> control;
  std::unique_ptr<WorkQueue> remote;
  std::unique_ptr<ApiContext> context;
  std::unique_ptr<Authorizer> authorizer;
  std::unique_ptr<http::Server> server;
  std::vector<std::thread> threads;
  std::mutex stop_mutex;
  bool stopped = false;
  unsigned short port = 0;

  explicit Impl(CoreOptions o) : options(std::move(o)), io(static_cast<int>(options.threads)) {}
};

namespace {

bool loopback(const std::string& address) {
  return address.starts_with("127.") || address == "::1" || address == "localhost";
}

Result<std::unique_ptr<Authorizer>> make_authorizer(const CoreOptions& options) {
  std::optional<Tokens> tokens;
  if (!options.tokens.empty()) {
    BATON_ASSIGN_OR_RETURN(tokens, Tokens::load(options.tokens));
    spdlog::info("{} credential(s) from tokens file {}", tokens->size(), options.tokens.string());
  }
  auto authorizer = std::make_unique<Authorizer>(std::move(tokens), !options.tls.client_ca.empty());
  if (!authorizer->enabled() && !loopback(options.bind)) {
    spdlog::warn(
        "NO AUTHENTICATION: listening on {} without --tokens or --tls-client-ca; anyone who "
        "reaches this address can load and run code on every agent (docs/security.md)",
        options.bind);
  }
  if (!options.tls.enabled() && authorizer->enabled() && !loopback(options.bind)) {
    spdlog::warn(
        "bearer tokens over plain HTTP on {}: anyone on the network path can read them; "
        "use --tls-cert/--tls-key or a TLS proxy (docs/security.md)",
        options.bind);
  }
  return authorizer;
}

}  // namespace

Result<std::unique_ptr<CoreService>> CoreService::start(CoreOptions options) {
  if (options.threads == 0) options.threads = 1;
  if (!options.tls.client_ca.empty() && !options.tls.enabled()) {
    return make_error(Errc::invalid, "--tls-client-ca " + options.tls.client_ca.string() +
                                         " needs --tls-cert and --tls-key");
  }
  auto impl = std::make_unique<Impl>(options);
  BATON_ASSIGN_OR_RETURN(impl->authorizer, make_authorizer(options));
  BATON_ASSIGN_OR_RETURN(impl->core, Core::open(options));
  impl->control = std::make_unique<WorkQueue>(2);
  impl->remote = std::make_unique<WorkQueue>(4);
  impl->context = std::make_unique<ApiContext>(
      ApiContext{*impl->core, *impl->control, *impl->remote, make_file_server()});
  http::ServerOptions server_options;
  server_options.address = options.bind;
  server_options.port = options.port;
  server_options.max_body_bytes = options.max_request_bytes;
  server_options.tls = options.tls;
  if (impl->authorizer->enabled()) {
    server_options.authorize = [authorizer = impl->authorizer.get()](const http::Request& r) {
      return authorizer->check(r);
    };
  }
  BATON_ASSIGN_OR_RETURN(
      impl->server, http::Server::start(impl->io, server_options, make_router(*impl->context)));
  impl->port = impl->server->port();
  impl->core->set_address(options.bind, impl->port);
  impl->guard.emplace(impl->io.get_executor());
  for (unsigned i = 0; i < options.threads; ++i) {
    impl->threads.emplace_back([raw = impl.get()] { raw->io.run(); });
  }
  return std::unique_ptr<CoreService>(new CoreService(std::move(impl)));
}

CoreService::CoreService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

CoreService::~CoreService() {
  stop();
}

unsigned short CoreService::port() const {
  return impl_->port;
}

std::string CoreService::url() const {
  std::string host = impl_->options.bind;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return (impl_->options.tls.enabled() ? "https://" : "http://") + host + ":" +
         std::to_string(impl_->port);
}

Core& CoreService::core() {
  return *impl_->core;
}

void CoreService::stop() {
  std::lock_guard lock(impl_->stop_mutex);
  if (impl_->stopped) return;
  impl_->stopped = true;
  // Stop accepting and close connections, finish queued work (its answers go nowhere), let the
  // IO threads run out of work, and only then destroy the core the handlers refer to.
  impl_->server->stop();
  impl_->control->stop();
  impl_->remote->stop();
  impl_->guard.reset();
  for (auto& t : impl_->threads)
    t.join();
  impl_->threads.clear();
  impl_->core.reset();
  impl_->server.reset();
  spdlog::info("baton-core stopped");
}

}  // namespace baton::core
