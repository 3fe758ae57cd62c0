#include "agent/state_writer.hpp"

#include "common/files.hpp"

namespace baton::agent {

namespace stdfs = std::filesystem;

namespace {
bool below(const stdfs::path& file, const stdfs::path& folder) {
  auto f = file.begin();
  for (auto it = folder.begin(); it != folder.end(); ++it, ++f) {
    if (f == file.end() || *f != *it) return false;
  }
  return true;
}
}  // namespace

StateWriter::StateWriter(ErrorLog on_error) : on_error_(std::move(on_error)) {
  thread_ = std::thread([this] { run(); });
}

StateWriter::~StateWriter() {
  drain();
}

void StateWriter::write(const stdfs::path& file, std::string content) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      auto [it, added] = contents_.insert_or_assign(file, std::move(content));
      if (added) queue_.push_back(Operation{file, false, false, {}});
      wake_.notify_all();
      return;
    }
  }
  auto status = files::write_atomic(file, content, stdfs::perms(0600));
  if (!status && on_error_) on_error_(status.error().message);
}

void StateWriter::remove(const stdfs::path& folder, std::function<void()> done) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      for (auto it = contents_.begin(); it != contents_.end();) {
        it = below(it->first, folder) ? contents_.erase(it) : std::next(it);
      }
      std::erase_if(queue_,
                    [&](const Operation& op) { return !op.remove && below(op.path, folder); });
      queue_.push_back(Operation{folder, true, false, std::move(done)});
      wake_.notify_all();
      return;
    }
  }
  files::remove_tree(folder);
  if (done) done();
}

void StateWriter::then(std::function<void()> callback) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      queue_.push_back(Operation{{}, false, true, std::move(callback)});
      wake_.notify_all();
      return;
    }
  }
  callback();
}

void StateWriter::flush() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [&] { return (queue_.empty() && !busy_) || !thread_.joinable(); });
}

void StateWriter::drain() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::uint64_t StateWriter::writes() const {
  std::lock_guard lock(mutex_);
  return writes_;
}

void StateWriter::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) break;  // stopping, everything written
    Operation op = std::move(queue_.front());
    queue_.pop_front();
    std::string content;
    if (!op.remove && !op.callback_only) {
      auto it = contents_.find(op.path);
      if (it == contents_.end()) continue;
      content = std::move(it->second);
      contents_.erase(it);
    }
    busy_ = true;
    lock.unlock();
    if (op.callback_only) {
      op.done();
    } else if (op.remove) {
      files::remove_tree(op.path);
      if (op.done) op.done();
    } else {
      auto status = files::write_atomic(op.path, content, stdfs::perms(0600));
      if (!status && on_error_) on_error_(status.error().message);
    }
    lock.lock();
    busy_ = false;
    ++writes_;
    if (queue_.empty()) idle_.notify_all();
  }
  idle_.notify_all();
}

}  // namespace baton::agent
