#pragma once
// A small fake of the Docker Engine API on a unix socket, for the error paths a real dockerd will
// not produce on demand: 409 and 404 on create, a 500 after which the container exists anyway, a
// connection dropped in the middle of a build stream, a daemon that goes away and comes back.
// HTTP/1.1 with keep-alive; one thread per connection; long waits and follows block until the
// fake container ends.

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace baton::docker_testing {

struct FakeRequest {
  std::string method;
  std::string path;  // without the /v1.41 prefix and the query
  std::map<std::string, std::string> query;
  std::string body;
};

struct FakeContainer {
  std::string id;
  std::string name;
  std::string image;
  std::map<std::string, std::string> labels;
  std::string state = "created";  // created, running, exited
  int exit_code = 0;
  std::string logs;  // the multiplexed frames the logs endpoint sends
};

class FakeEngine {
 public:
  // Per-request override: return true when it answered (or dropped) the request itself.
  // `write` sends raw bytes; returning without answering after `drop` closes the connection.
  struct Exchange {
    const FakeRequest& request;
    std::function<bool(const std::string&)> write;
    bool drop = false;
  };
  using Hook = std::function<bool(Exchange&)>;

  explicit FakeEngine(std::filesystem::path socket);
  ~FakeEngine();
  FakeEngine(const FakeEngine&) = delete;
  FakeEngine& operator=(const FakeEngine&) = delete;

  const std::filesystem::path& socket() const { return socket_; }
  // Listens (again): the daemon is there.
  void start();
  // Closes the listening socket and every connection, removes the socket file: the daemon died.
  // Containers are kept unless `forget_containers`.
  void stop(bool forget_containers = false);

  void set_hook(Hook hook);
  // Images the fake knows (by reference and by id).
  void add_image(const std::string& reference, const std::string& id);
  // Removes an image with every reference to it (as `docker rmi -f` would).
  void remove_image(const std::string& reference);
  bool has_image(const std::string& reference);
  // The log frames every container created from now on has.
  void set_default_logs(std::string frames);
  // A container as if another client (or a half-failed create) made it.
  std::string add_container(FakeContainer container);
  void remove_container(const std::string& id_or_name);
  // Ends a running container: its waits answer, its follows end.
  void exit_container(const std::string& id_or_name, int code);
  std::optional<FakeContainer> container(const std::string& id_or_name);
  std::size_t container_count();
  // Requests seen, e.g. "POST /containers/create".
  std::vector<std::string> requests();
  std::size_t count(const std::string& method_and_path);

 private:
  void accept_loop(int listener);
  void serve(int fd, int generation);
  void answer(int fd, const FakeRequest& request, bool& keep_open, int generation);
  FakeContainer* find_locked(const std::string& id_or_name);

  std::filesystem::path socket_;
  std::mutex mutex_;
  std::condition_variable changed_;
  Hook hook_;
  std::map<std::string, std::string> images_;        // reference or id -> id
  std::map<std::string, FakeContainer> containers_;  // by id
  std::vector<std::string> requests_;
  std::string default_logs_;
  std::set<int> connections_;
  int listener_ = -1;
  std::thread acceptor_;
  std::vector<std::thread> servers_;
  std::atomic<int> next_id_{1};
  bool stopping_ = false;
  int generation_ = 0;  // bumped by stop(): blocked waits and follows end
};

}  // namespace baton::docker_testing
