#pragma once
// Writes instance.json files off the io thread: each write is atomic and fsynced, which takes
// milliseconds on a real disk. Only the latest content per file is written (coalesced), in order
// with removals of the folders that hold them. drain() writes everything pending.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.hpp"

namespace baton::agent {

class StateWriter {
 public:
  using ErrorLog = std::function<void(const std::string& message)>;
  explicit StateWriter(ErrorLog on_error = {});
  ~StateWriter();  // drain()
  StateWriter(const StateWriter&) = delete;
  StateWriter& operator=(const StateWriter&) = delete;

  // Replaces any pending content for `file`.
  void write(const std::filesystem::path& file, std::string content);
  // Drops pending writes below `folder`, then removes it (after earlier operations).
  // `done` runs on the writer thread afterwards.
  void remove(const std::filesystem::path& folder, std::function<void()> done = {});
  // Runs `callback` on the writer thread once everything queued before it is on disk: the core
  // is told a state only after the agent can no longer forget it.
  void then(std::function<void()> callback);
  // Waits until everything queued so far is on disk.
  void flush();
  // flush(), then ends the thread. Later calls are performed synchronously.
  void drain();
  std::uint64_t writes() const;

 private:
  struct Operation {
    std::filesystem::path path;
    bool remove = false;
    bool callback_only = false;
    std::function<void()> done;
  };
  void run();

  ErrorLog on_error_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<Operation> queue_;                            // order of files and removals
  std::map<std::filesystem::path, std::string> contents_;  // latest content per queued file
  bool busy_ = false;
  bool stopping_ = false;
  std::uint64_t writes_ = 0;
  std::thread thread_;
};

}  // namespace baton::agent
