#pragma once
// A few threads for blocking work (fetch, verify, extract, runtime calls). Results go back to the
// io thread by posting. drain() finishes everything queued before the threads end, so objects the
// tasks touch can die safely afterwards.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace baton::agent {

class WorkerPool {
 public:
  explicit WorkerPool(std::size_t threads);
  ~WorkerPool();  // drain()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // False (and `task` is dropped) once drain() started.
  bool post(std::function<void()> task);
  // Refuses new tasks, runs every queued one, joins the threads. Idempotent.
  void drain();
  std::size_t pending() const;

 private:
  void run();

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  std::size_t running_ = 0;
  bool draining_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace baton::agent
