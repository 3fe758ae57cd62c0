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
  std::unique_ptr<http::Server> server;
  std::vector<std::thread> threads;
  std::mutex stop_mutex;
  bool stopped = false;
  unsigned short port = 0;

  explicit Impl(CoreOptions o) : options(std::move(o)), io(static_cast<int>(options.threads)) {}
};

Result<std::unique_ptr<CoreService>> CoreService::start(CoreOptions options) {
  if (options.threads == 0) options.threads = 1;
  auto impl = std::make_unique<Impl>(options);
  BATON_ASSIGN_OR_RETURN(impl->core, Core::open(options));
  impl->control = std::make_unique<WorkQueue>(2);
  impl->remote = std::make_unique<WorkQueue>(4);
  impl->context = std::make_unique<ApiContext>(
      ApiContext{*impl->core, *impl->control, *impl->remote, make_file_server()});
  http::ServerOptions server_options;
  server_options.address = options.bind;
  server_options.port = options.port;
  server_options.max_body_bytes = options.max_request_bytes;
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
  return "http://" + impl_->options.bind + ":" + std::to_string(impl_->port);
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
