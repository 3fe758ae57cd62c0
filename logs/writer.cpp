#include "logs/writer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace baton::logs {

namespace {

Error os_error(const std::string& path, std::string_view what, int err) {
  return make_error(Errc::io, path + ": " + std::string(what) + ": " + std::strerror(err));
}

}  // namespace

Writer::Writer(std::string path, Rotation rotation) : path_(std::move(path)), rotation_(rotation) {}

Writer::~Writer() {
  (void)flush_partials();
  if (fd_ >= 0) ::close(fd_);
}

Status Writer::open() {
  if (fd_ >= 0) return {};
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) return os_error(path_, "cannot open", errno);
  struct stat info {};
  if (::fstat(fd_, &info) == 0) size_ = static_cast<std::uint64_t>(info.st_size);
  return {};
}

Status Writer::write(Stream stream, std::string_view data, std::int64_t now) {
  format_time(now, time_);
  std::string& partial = partial_[index(stream)];
  while (!data.empty()) {
    std::size_t newline = data.find('\n');
    std::string_view piece = newline == std::string_view::npos ? data : data.substr(0, newline);
    // Lines longer than the limit become several lines of exactly the limit.
    while (partial.size() + piece.size() > kMaxLineBytes) {
      std::size_t take = kMaxLineBytes - partial.size();
      append_line(stream, partial, piece.substr(0, take));
      partial.clear();
      piece.remove_prefix(take);
    }
    if (newline == std::string_view::npos) {
      partial.append(piece);
      break;
    }
    append_line(stream, partial, piece);
    partial.clear();
    data.remove_prefix(newline + 1);
  }
  Status flushed = flush_buffer();
  Status result = std::exchange(failure_, Status{});
  if (!result) return result;
  return flushed;
}

Status Writer::flush_partial(Stream stream, std::int64_t now) {
  std::string& partial = partial_[index(stream)];
  if (partial.empty()) return {};
  format_time(now, time_);
  append_line(stream, partial, {});
  partial.clear();
  Status flushed = flush_buffer();
  Status result = std::exchange(failure_, Status{});
  if (!result) return result;
  return flushed;
}

Status Writer::flush_partials(std::int64_t now) {
  Status out = flush_partial(Stream::out, now);
  Status err = flush_partial(Stream::err, now);
  return out ? err : out;
}

void Writer::append_line(Stream stream, std::string_view head, std::string_view tail) {
  const std::size_t length = kTimeLength + 1 + 6 + 1 + head.size() + tail.size() + 1;
  if (!buffer_) buffer_ = std::make_unique<char[]>(kBufferBytes);
  // A file never grows past max_bytes, unless a single line is larger than that.
  if (size_ + used_ + length > rotation_.max_bytes && size_ + used_ > 0) {
    Status flushed = flush_buffer();
    if (!flushed && failure_) failure_ = std::move(flushed);
    if (Status rotated = rotate(); !rotated && failure_) failure_ = std::move(rotated);
  }
  if (used_ + length > kBufferBytes) {
    Status flushed = flush_buffer();
    if (!flushed && failure_) failure_ = std::move(flushed);
  }
  char* out = buffer_.get() + used_;
  std::memcpy(out, time_, kTimeLength);
  out += kTimeLength;
  *out++ = ' ';
  std::memcpy(out, stream == Stream::out ? "stdout" : "stderr", 6);
  out += 6;
  *out++ = ' ';
  if (!head.empty()) std::memcpy(out, head.data(), head.size());
  out += head.size();
  if (!tail.empty()) std::memcpy(out, tail.data(), tail.size());
  out += tail.size();
  *out = '\n';
  used_ += length;
}

Status Writer::flush_buffer() {
  if (used_ == 0) return {};
  std::size_t length = std::exchange(used_, 0);
  if (fd_ < 0) BATON_TRY(open());
  const char* data = buffer_.get();
  while (length > 0) {
    ssize_t n = ::write(fd_, data, length);
    if (n < 0) {
      if (errno == EINTR) continue;
      return os_error(path_, "write failed", errno);
    }
    data += n;
    length -= static_cast<std::size_t>(n);
    size_ += static_cast<std::uint64_t>(n);
  }
  return {};
}

Status Writer::rotate() {
  if (rotation_.max_files <= 0) {
    if (fd_ >= 0 && ::ftruncate(fd_, 0) != 0) return os_error(path_, "cannot truncate", errno);
    size_ = 0;
    return {};
  }
  // Shift .log.(n-1) -> .log.n ... .log -> .log.1; rename replaces the oldest.
  std::string from;
  std::string to = path_ + "." + std::to_string(rotation_.max_files);
  for (int i = rotation_.max_files - 1; i >= 0; --i) {
    from = i == 0 ? path_ : path_ + "." + std::to_string(i);
    if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) {
      return os_error(from, "cannot rotate", errno);
    }
    to = std::move(from);
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  size_ = 0;
  return open();
}

}  // namespace baton::logs
