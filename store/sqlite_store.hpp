#pragma once
// The embedded store: one SQLite file in WAL mode holding one table of entries (docs/store.md).
//
// Thread safety: one SqliteStore may be called from any number of threads; calls are serialized
// by a mutex inside (each holds it for one statement or one transaction). Several SqliteStores,
// in one process or several, may open the same file: commits take SQLite's write lock with
// BEGIN IMMEDIATE and wait up to `busy_timeout` for it, so compares stay exact across them.

#include <chrono>
#include <filesystem>
#include <memory>

#include "store/store.hpp"

namespace baton::store {

enum class Durability {
  full,    // every acknowledged commit survives a process crash and a power loss (the default)
  normal,  // survives a process crash (SIGKILL); a power loss may drop the latest commits
};

struct SqliteOptions {
  // How long a commit waits for another connection's write lock before Errc::unavailable.
  std::chrono::milliseconds busy_timeout{5000};
  Durability durability = Durability::full;
};

class SqliteStore final : public Store {
 public:
  // Opens `file`, creating it (and the schema) when absent or empty. Refuses, naming the file, a
  // file that is not a SQLite database, a SQLite database of another program, and a store
  // written by a newer schema.
  static Result<StorePtr> open(const std::filesystem::path& file, SqliteOptions options = {});

  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  // Keys are non-empty (the empty key is refused with Errc::invalid); values are any bytes.
  Result<std::optional<Entry>> get(const std::string& key) override;
  Result<std::vector<Entry>> list(const std::string& prefix) override;
  // Errc::invalid when a key is empty or written twice (in puts and deletes together);
  // Errc::conflict when a compare fails; Errc::unavailable when another connection held the
  // write lock for longer than busy_timeout. A commit that changes nothing (no puts, no delete
  // of a present key) returns the current revision without creating a new one.
  Result<std::int64_t> commit(const Transaction& transaction) override;
  Result<std::int64_t> revision() override;

  const std::filesystem::path& file() const;

 private:
  struct Impl;
  explicit SqliteStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton::store
