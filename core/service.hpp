#pragma once
// A running baton-core: the Core, its HTTP server on an io_context run by `threads` threads, and
// the work queues. main() starts one; tests start several in one process (stop one, open another
// on the same data folder).

#include <memory>
#include <string>

#include "common/result.hpp"
#include "core/core.hpp"
#include "core/options.hpp"

namespace baton::core {

class CoreService {
 public:
  static Result<std::unique_ptr<CoreService>> start(CoreOptions options);
  ~CoreService();
  CoreService(const CoreService&) = delete;
  CoreService& operator=(const CoreService&) = delete;

  unsigned short port() const;
  // "http://127.0.0.1:9005"
  std::string url() const;
  Core& core();
  // Stops serving and drains (idempotent); the destructor calls it.
  void stop();

 private:
  struct Impl;
  explicit CoreService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton::core
