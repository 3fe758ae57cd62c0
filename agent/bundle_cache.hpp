#pragma once
// Bundle (and configuration) files by digest: fetched from the core, verified, kept within a disk
// budget with least-recently-used eviction, and extracted once, read-only, shared by every
// instance of the digest. Concurrent requests for one digest fetch and extract it once (single
// flight). Blocking calls: use them from worker threads. Thread-safe.
//
// Layout under the cache folder: files/<digest>.zip (verified files only), extracted/<digest>/,
// incoming/ (downloads being verified; emptied at start).

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace baton::agent {

namespace stdfs = std::filesystem;

// Writes the file with `digest` from `source` (a path on the core) to `destination`. The cache
// verifies the digest itself.
using Fetcher = std::function<Status(const std::string& digest, const std::string& source,
                                     const stdfs::path& destination)>;

class BundleCache;

// Keeps one extracted digest from eviction while it lives. Movable.
class Lease {
 public:
  Lease() = default;
  Lease(Lease&& other) noexcept;
  Lease& operator=(Lease&& other) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease();

  explicit operator bool() const { return cache_ != nullptr; }
  const std::string& digest() const { return digest_; }
  // The extracted top folder: the one holding bundle.conf (or runtime-config.sh).
  const stdfs::path& root() const { return root_; }
  const stdfs::path& zip() const { return zip_; }

 private:
  friend class BundleCache;
  Lease(BundleCache* cache, std::string digest, stdfs::path root, stdfs::path zip)
      : cache_(cache), digest_(std::move(digest)), root_(std::move(root)), zip_(std::move(zip)) {}
  void reset();

  BundleCache* cache_ = nullptr;
  std::string digest_;
  stdfs::path root_;
  stdfs::path zip_;
};

struct CacheOptions {
  stdfs::path folder;
  std::uint64_t budget_bytes = std::uint64_t{10} << 30;  // zips and extracted trees together
};

class BundleCache {
 public:
  BundleCache(CacheOptions options, Fetcher fetcher);
  ~BundleCache();
  BundleCache(const BundleCache&) = delete;
  BundleCache& operator=(const BundleCache&) = delete;

  // Creates the folders, drops unfinished downloads and extractions, and indexes what is there.
  Status open();

  // Fetched, verified and extracted, held until the lease ends. Errors name the digest and the
  // cause: digest mismatch (Errc::invalid), over budget (Errc::limit), the core (unavailable,
  // not_found), the disk (Errc::io).
  Result<Lease> acquire(const std::string& digest, const std::string& source);
  // Fetched and verified only (the assignment's prefetch list).
  Status prefetch(const std::string& digest, const std::string& source);

  // Drops the file and extraction of `digest` (an unloaded bundle) and calls the eviction
  // callback. False when it is not held or is in use (a lease, a fetch or an extraction).
  bool discard(const std::string& digest);

  // Digests whose files are held.
  std::vector<std::string> held() const;
  bool holds(const std::string& digest) const;
  std::uint64_t used_bytes() const;
  // Called (outside the cache's lock) with each digest evicted, e.g. to release runtimes.
  void on_evict(std::function<void(const std::string& digest)> callback);
  // Leases currently out for `digest`.
  int users(const std::string& digest) const;

 private:
  friend class Lease;
  struct Flight;
  struct Entry;

  void release(const std::string& digest);
  Status ensure_file(std::unique_lock<std::mutex>& lock, const std::string& digest,
                     const std::string& source);
  Status ensure_extracted(std::unique_lock<std::mutex>& lock, const std::string& digest);
  // Evicts unused entries, least recently used first, until `bytes` more fit the budget.
  Status make_room(const std::string& digest, std::uint64_t bytes,
                   std::vector<std::string>& evicted);
  void notify_evicted(const std::vector<std::string>& evicted);
  // Removes an unused entry's files (the extraction renamed aside for notify_evicted). Locked.
  void evict_locked(std::map<std::string, std::unique_ptr<Entry>>::iterator it);
  stdfs::path zip_path(const std::string& digest) const;
  stdfs::path extracted_path(const std::string& digest) const;

  CacheOptions options_;
  Fetcher fetcher_;
  mutable std::mutex mutex_;
  std::condition_variable flights_done_;  // any flight ended: waiters re-check their own
  std::map<std::string, std::unique_ptr<Entry>> entries_;
  std::uint64_t used_ = 0;
  std::uint64_t clock_ = 0;
  std::function<void(const std::string&)> on_evict_;
};

// The extracted top folder of a bundle or configuration under `folder`: `folder` itself when it
// holds bundle.conf or runtime-config.sh, else its single subfolder.
stdfs::path find_root(const stdfs::path& folder);

}  // namespace baton::agent
