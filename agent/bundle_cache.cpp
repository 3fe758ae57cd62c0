#include "agent/bundle_cache.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <condition_variable>
#include <optional>

#include "bundle/archive.hpp"
#include "common/files.hpp"
#include "common/sha256.hpp"

namespace baton::agent {

namespace {

std::uint64_t tree_bytes(const stdfs::path& folder) {
  std::uint64_t total = 0;
  std::error_code error;
  for (auto it = stdfs::recursive_directory_iterator(folder, error);
       !error && it != stdfs::recursive_directory_iterator(); it.increment(error)) {
    std::error_code size_error;
    if (it->is_regular_file(size_error) && !it->is_symlink(size_error)) {
      auto size = it->file_size(size_error);
      if (!size_error) total += size;
    }
  }
  return total;
}

std::string mib(std::uint64_t bytes) {
  return std::to_string((bytes + (1 << 20) - 1) >> 20) + " MiB";
}

}  // namespace

stdfs::path find_root(const stdfs::path& folder) {
  std::error_code error;
  if (stdfs::exists(folder / "bundle.conf", error) ||
      stdfs::exists(folder / "runtime-config.sh", error)) {
    return folder;
  }
  stdfs::path only;
  int count = 0;
  for (const auto& entry : stdfs::directory_iterator(folder, error)) {
    ++count;
    only = entry.path();
  }
  if (count == 1 && stdfs::is_directory(only, error)) return only;
  return folder;
}

// ---- Lease ----

Lease::Lease(Lease&& other) noexcept
    : cache_(std::exchange(other.cache_, nullptr)),
      digest_(std::move(other.digest_)),
      root_(std::move(other.root_)),
      zip_(std::move(other.zip_)) {}

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    reset();
    cache_ = std::exchange(other.cache_, nullptr);
    digest_ = std::move(other.digest_);
    root_ = std::move(other.root_);
    zip_ = std::move(other.zip_);
  }
  return *this;
}

Lease::~Lease() {
  reset();
}

void Lease::reset() {
  if (cache_ != nullptr) std::exchange(cache_, nullptr)->release(digest_);
}

// ---- BundleCache ----

struct BundleCache::Flight {
  bool done = false;
  std::optional<Error> error;
};

struct BundleCache::Entry {
  bool has_zip = false;
  bool extracted = false;
  std::uint64_t zip_bytes = 0;
  std::uint64_t extracted_bytes = 0;
  int users = 0;  // leases
  int pins = 0;   // calls working on it: never evicted meanwhile
  std::uint64_t last_used = 0;
  std::shared_ptr<Flight> fetching;
  std::shared_ptr<Flight> extracting;
  stdfs::path root;
};

BundleCache::BundleCache(CacheOptions options, Fetcher fetcher)
    : options_(std::move(options)), fetcher_(std::move(fetcher)) {}

BundleCache::~BundleCache() = default;

stdfs::path BundleCache::zip_path(const std::string& digest) const {
  return options_.folder / "files" / (digest + ".zip");
}

stdfs::path BundleCache::extracted_path(const std::string& digest) const {
  return options_.folder / "extracted" / digest;
}

Status BundleCache::open() {
  std::error_code error;
  for (const char* sub : {"files", "extracted", "incoming"}) {
    stdfs::create_directories(options_.folder / sub, error);
    if (error) {
      return make_error(
          Errc::io, "bundle cache " + (options_.folder / sub).string() + ": " + error.message());
    }
  }
  for (const auto& entry : stdfs::directory_iterator(options_.folder / "incoming", error)) {
    bundle::remove_extracted(entry.path());
  }
  std::lock_guard lock(mutex_);
  std::vector<std::pair<stdfs::file_time_type, std::string>> by_time;
  for (const auto& file : stdfs::directory_iterator(options_.folder / "files", error)) {
    std::string name = file.path().filename().string();
    std::string digest = name.size() > 4 ? name.substr(0, name.size() - 4) : "";
    if (name.size() < 4 || name.substr(name.size() - 4) != ".zip" || !is_sha256_hex(digest)) {
      files::remove_tree(file.path());
      continue;
    }
    auto entry = std::make_unique<Entry>();
    entry->has_zip = true;
    entry->zip_bytes = file.file_size(error);
    used_ += entry->zip_bytes;
    by_time.emplace_back(file.last_write_time(error), digest);
    entries_[digest] = std::move(entry);
  }
  for (const auto& folder : stdfs::directory_iterator(options_.folder / "extracted", error)) {
    std::string digest = folder.path().filename().string();
    auto it = entries_.find(digest);
    if (it == entries_.end()) {  // unfinished extraction (temporary name) or its zip is gone
      bundle::remove_extracted(folder.path());
      continue;
    }
    it->second->extracted = true;
    it->second->extracted_bytes = tree_bytes(folder.path());
    it->second->root = find_root(folder.path());
    used_ += it->second->extracted_bytes;
  }
  std::sort(by_time.begin(), by_time.end());
  for (const auto& [time, digest] : by_time)
    entries_[digest]->last_used = ++clock_;
  return {};
}

void BundleCache::on_evict(std::function<void(const std::string&)> callback) {
  std::lock_guard lock(mutex_);
  on_evict_ = std::move(callback);
}

std::vector<std::string> BundleCache::held() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [digest, entry] : entries_) {
    if (entry->has_zip) out.push_back(digest);
  }
  return out;
}

bool BundleCache::holds(const std::string& digest) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(digest);
  return it != entries_.end() && it->second->has_zip;
}

std::uint64_t BundleCache::used_bytes() const {
  std::lock_guard lock(mutex_);
  return used_;
}

int BundleCache::users(const std::string& digest) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(digest);
  return it == entries_.end() ? 0 : it->second->users;
}

Status BundleCache::make_room(const std::string& digest, std::uint64_t bytes,
                              std::vector<std::string>& evicted) {
  if (used_ + bytes > options_.budget_bytes) {
    std::vector<std::pair<std::uint64_t, std::string>> candidates;
    for (const auto& [other, entry] : entries_) {
      if (other == digest || entry->users > 0 || entry->pins > 0) continue;
      candidates.emplace_back(entry->last_used, other);
    }
    std::sort(candidates.begin(), candidates.end());
    for (const auto& [time, other] : candidates) {
      if (used_ + bytes <= options_.budget_bytes) break;
      evict_locked(entries_.find(other));
      evicted.push_back(other);
    }
  }
  if (used_ + bytes > options_.budget_bytes) {
    return make_error(Errc::limit, "bundle cache: no room for " + digest + " (" + mib(bytes) +
                                       "): " + mib(used_) + " of the " +
                                       mib(options_.budget_bytes) +
                                       " budget are held by bundles in use (--cache-bytes)");
  }
  used_ += bytes;
  return {};
}

void BundleCache::evict_locked(std::map<std::string, std::unique_ptr<Entry>>::iterator it) {
  const std::string digest = it->first;
  Entry& entry = *it->second;
  // Renamed aside under the lock, deleted outside it (a large tree takes a while).
  std::error_code error;
  auto trash =
      options_.folder / "incoming" / ("evicted-" + digest + "-" + std::to_string(++clock_));
  if (entry.extracted) stdfs::rename(extracted_path(digest), trash, error);
  if (error) bundle::remove_extracted(extracted_path(digest));
  stdfs::remove(zip_path(digest), error);
  used_ -= entry.zip_bytes + entry.extracted_bytes;
  entries_.erase(it);
}

bool BundleCache::discard(const std::string& digest) {
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(digest);
    if (it == entries_.end() || !it->second->has_zip) return false;
    const Entry& entry = *it->second;
    if (entry.users > 0 || entry.pins > 0 || entry.fetching || entry.extracting) return false;
    evict_locked(it);
  }
  notify_evicted({digest});
  return true;
}

void BundleCache::notify_evicted(const std::vector<std::string>& evicted) {
  std::error_code error;
  for (const auto& entry : stdfs::directory_iterator(options_.folder / "incoming", error)) {
    if (entry.path().filename().string().rfind("evicted-", 0) == 0) {
      bundle::remove_extracted(entry.path());
    }
  }
  std::function<void(const std::string&)> callback;
  {
    std::lock_guard lock(mutex_);
    callback = on_evict_;
  }
  if (callback) {
    for (const auto& digest : evicted)
      callback(digest);
  }
}

Status BundleCache::ensure_file(std::unique_lock<std::mutex>& lock, const std::string& digest,
                                const std::string& source) {
  Entry* entry = entries_.at(digest).get();
  for (;;) {
    if (entry->has_zip) return {};
    if (entry->fetching) {
      auto flight = entry->fetching;
      flights_done_.wait(lock, [&] { return flight->done; });
      if (flight->error) return *flight->error;
      continue;
    }
    auto flight = std::make_shared<Flight>();
    entry->fetching = flight;
    lock.unlock();
    const stdfs::path incoming = options_.folder / "incoming" / (digest + ".zip");
    Status status = fetcher_(digest, source, incoming);
    std::uint64_t size = 0;
    if (status) {
      auto actual = sha256_file_hex(incoming);
      if (!actual) {
        status = std::move(actual).error();
      } else if (*actual != digest) {
        status =
            make_error(Errc::invalid, "bundle file " + digest + " from " + source +
                                          ": digest mismatch (its SHA-256 is " + *actual + ")");
      } else {
        std::error_code error;
        size = stdfs::file_size(incoming, error);
      }
    }
    lock.lock();
    std::vector<std::string> evicted;
    if (status) status = make_room(digest, size, evicted);
    if (status) {
      std::error_code error;
      stdfs::rename(incoming, zip_path(digest), error);
      if (error) {
        used_ -= size;
        status = make_error(Errc::io, "bundle file " + digest + ": " + error.message());
      }
    }
    if (status) {
      entry->has_zip = true;
      entry->zip_bytes = size;
    } else {
      std::error_code ignored;
      stdfs::remove(incoming, ignored);
      flight->error = status.error();
    }
    flight->done = true;
    entry->fetching = nullptr;
    flights_done_.notify_all();
    if (!evicted.empty()) {
      lock.unlock();
      notify_evicted(evicted);
      lock.lock();
    }
    return status;
  }
}

Status BundleCache::ensure_extracted(std::unique_lock<std::mutex>& lock,
                                     const std::string& digest) {
  Entry* entry = entries_.at(digest).get();
  for (;;) {
    if (entry->extracted) return {};
    if (entry->extracting) {
      auto flight = entry->extracting;
      flights_done_.wait(lock, [&] { return flight->done; });
      if (flight->error) return *flight->error;
      continue;
    }
    auto flight = std::make_shared<Flight>();
    entry->extracting = flight;
    const stdfs::path zip = zip_path(digest);
    const stdfs::path destination = extracted_path(digest);
    lock.unlock();
    std::uint64_t size = 0;
    Status status;
    auto entries = bundle::list_entries(zip);
    if (!entries) {
      status = std::move(entries).error();
    } else {
      for (const auto& item : *entries)
        size += item.size;
    }
    lock.lock();
    std::vector<std::string> evicted;
    bool reserved = false;
    if (status) {
      status = make_room(digest, size, evicted);
      reserved = status.ok();
    }
    lock.unlock();
    if (!evicted.empty()) notify_evicted(evicted);
    if (status) {
      bundle::remove_extracted(destination);  // a leftover of a crash between the two renames
      status = bundle::extract(zip, destination);
    }
    stdfs::path root;
    std::uint64_t actual = size;
    if (status) {
      root = find_root(destination);
      actual = tree_bytes(destination);
    }
    lock.lock();
    if (status) {
      used_ = used_ - size + actual;  // the reservation becomes what is really on disk
      entry->extracted = true;
      entry->extracted_bytes = actual;
      entry->root = root;
    } else {
      if (reserved) used_ -= size;
      flight->error = status.error();
    }
    flight->done = true;
    entry->extracting = nullptr;
    flights_done_.notify_all();
    return status;
  }
}

Result<Lease> BundleCache::acquire(const std::string& digest, const std::string& source) {
  if (!is_sha256_hex(digest)) {
    return make_error(Errc::invalid, "bundle digest '" + digest + "': expected 64 hex characters");
  }
  std::unique_lock lock(mutex_);
  auto& slot = entries_[digest];
  if (!slot) slot = std::make_unique<Entry>();
  Entry* entry = slot.get();
  ++entry->pins;
  Status status = ensure_file(lock, digest, source);
  if (status) status = ensure_extracted(lock, digest);
  --entry->pins;
  if (!status) {
    if (!entry->has_zip && entry->pins == 0 && entry->users == 0 && !entry->fetching) {
      entries_.erase(digest);
    }
    return std::move(status).error();
  }
  ++entry->users;
  entry->last_used = ++clock_;
  ::utimensat(AT_FDCWD, zip_path(digest).c_str(), nullptr, 0);  // LRU order survives a restart
  return Lease(this, digest, entry->root, zip_path(digest));
}

Status BundleCache::prefetch(const std::string& digest, const std::string& source) {
  if (!is_sha256_hex(digest)) {
    return make_error(Errc::invalid, "bundle digest '" + digest + "': expected 64 hex characters");
  }
  std::unique_lock lock(mutex_);
  auto& slot = entries_[digest];
  if (!slot) slot = std::make_unique<Entry>();
  Entry* entry = slot.get();
  ++entry->pins;
  Status status = ensure_file(lock, digest, source);
  --entry->pins;
  if (status) {
    entry->last_used = ++clock_;
  } else if (!entry->has_zip && entry->pins == 0 && entry->users == 0 && !entry->fetching) {
    entries_.erase(digest);
  }
  return status;
}

void BundleCache::release(const std::string& digest) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(digest);
  if (it == entries_.end()) return;
  --it->second->users;
  it->second->last_used = ++clock_;
}

}  // namespace baton::agent
