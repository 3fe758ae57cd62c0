#pragma once
// A unix socket that forwards each connection to dockerd's socket. down() closes every connection
// and removes the socket file, up() listens again: to the runtime that is dockerd dying and
// coming back, while the machine's dockerd (shared with other tests) and its containers stay.

#include <filesystem>
#include <memory>

namespace baton::docker_testing {

class SocketProxy {
 public:
  SocketProxy(std::filesystem::path path, std::filesystem::path target);
  ~SocketProxy();
  SocketProxy(const SocketProxy&) = delete;
  SocketProxy& operator=(const SocketProxy&) = delete;

  void up();
  void down();
  const std::filesystem::path& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton::docker_testing
