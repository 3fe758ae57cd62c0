#pragma once
// Turns a process's output chunks into log lines (logs/format.hpp) in one component's file, with
// size-based rotation. Single-threaded; used by baton-shim on its hot path, so it allocates only
// while a partial line grows and writes each chunk with one write(2) when it can.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "logs/format.hpp"

namespace baton::logs {

class Writer {
 public:
  // Does not touch the file system; call open() first.
  explicit Writer(std::string path, Rotation rotation = {});
  // Writes what is left of partial lines.
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Opens (creating) the file for appending; an existing file keeps its content.
  Status open();

  // Appends output of `stream`: complete lines are written (all stamped with `now`), a trailing
  // partial line is kept until its newline arrives, it reaches kMaxLineBytes (then it is split) or
  // flush_partial() is called. Errors name the file; the data is dropped, never retried, so a
  // full disk never blocks the component.
  Status write(Stream stream, std::string_view data, std::int64_t now = now_micros());
  // Writes a kept partial line as a line of its own (output that ends without a newline).
  Status flush_partial(Stream stream, std::int64_t now = now_micros());
  Status flush_partials(std::int64_t now = now_micros());
  bool has_partial(Stream stream) const { return !partial_[index(stream)].empty(); }

  const std::string& path() const { return path_; }
  // Bytes in the current file.
  std::uint64_t size() const { return size_; }

 private:
  static constexpr std::size_t kBufferBytes = 64 * 1024;
  static std::size_t index(Stream stream) { return stream == Stream::out ? 0 : 1; }

  void append_line(Stream stream, std::string_view head, std::string_view tail);
  Status flush_buffer();
  Status rotate();

  std::string path_;
  Rotation rotation_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::string partial_[2];
  std::unique_ptr<char[]> buffer_;
  std::size_t used_ = 0;
  char time_[kTimeLength] = {};
  Status failure_;  // the first error since the last write() call
};

}  // namespace baton::logs
