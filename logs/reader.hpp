#pragma once
// Reading an instance's logs: the last lines across its components and rotated files, and new
// lines as they are written. The agent serves both (docs/protocol.md, "The agent's API").

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "logs/format.hpp"

namespace baton::logs {

namespace stdfs = std::filesystem;

struct Entry {
  std::string time;  // as written: "2026-11-22T00:35:30.582123Z"
  std::string component;
  Stream stream = Stream::out;
  std::string text;
};

// The last `count` lines of the instance whose logs are in `log_dir`, across every component and
// its rotated files, oldest first (merged by time; equal times keep file order). A missing folder
// gives no lines.
Result<std::vector<Entry>> tail(const stdfs::path& log_dir, std::size_t count);

// New lines of every component in `log_dir` since a position, surviving rotation. It polls: each
// poll() costs one readdir and one stat per component plus reading what is new, so the agent calls
// it every few hundred milliseconds per open follow request. Not thread-safe.
class Follower {
 public:
  // Positioned at the current end of every component's log.
  explicit Follower(stdfs::path log_dir);

  // The last `count` lines before the position (what tail() returns), without moving it: a
  // follow request answers backlog() then poll() without losing or repeating a line.
  Result<std::vector<Entry>> backlog(std::size_t count) const;
  // Complete lines written since the last call (or the construction), merged by time; at most
  // about `max_bytes` of new text per component per call (the rest comes next time).
  Result<std::vector<Entry>> poll(std::size_t max_bytes = 1u << 20);

 private:
  struct Position {
    dev_t device = 0;
    ino_t inode = 0;
    std::uint64_t offset = 0;  // first byte not yet returned (always at a line start)
  };
  stdfs::path log_dir_;
  std::map<std::string, Position> positions_;  // by component
};

}  // namespace baton::logs
