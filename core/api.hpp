#pragma once
// The HTTP face of the core: the control protocol (docs/control-protocol.md) and the agent-core
// protocol (docs/protocol.md) as routes on an http::Router.

#include <memory>

#include "core/core.hpp"
#include "core/work_queue.hpp"
#include "http/server.hpp"

namespace baton::core {

// Bundle files served to agents: shared while several agents fetch one (see api.cpp).
class FileServer;

struct ApiContext {
  Core& core;
  WorkQueue& control;  // store commits of control and agent requests
  WorkQueue& remote;   // blocking calls to agents, file reads
  std::shared_ptr<FileServer> file_server;
};

std::shared_ptr<FileServer> make_file_server();

// Every route of baton-core. `context` must outlive the server that uses the router.
http::Router make_router(ApiContext& context);

}  // namespace baton::core
