#pragma once
// A few threads for work that must not run on the HTTP server's IO threads: store commits of
// control requests, blocking calls to agents. Tasks run in submission order per thread pick-up;
// the destructor finishes queued tasks, then joins.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace baton::core {

class WorkQueue {
 public:
  explicit WorkQueue(std::size_t threads);
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // False once stopping (the task is not run).
  bool submit(std::function<void()> task);
  // Finish queued tasks and join; idempotent.
  void stop();

 private:
  void run();
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace baton::core
