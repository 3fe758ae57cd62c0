#include "store/sqlite_store.hpp"

#include <sqlite3.h>

#include <cstring>
#include <mutex>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "common/files.hpp"

namespace baton::store {

namespace {

// "BATN": marks the file as a Baton store in SQLite's header (PRAGMA application_id).
constexpr std::int32_t kApplicationId = 0x4241544E;
constexpr std::int32_t kSchemaVersion = 1;
// The store revision lives in the row of the empty key: entries may not use that key, so it never
// clashes with them, and list() skips it.

Errc errc_of(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Errc::unavailable;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
    case SQLITE_FORMAT:
      return Errc::invalid;
    case SQLITE_TOOBIG:
      return Errc::limit;
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_NOMEM:
      return Errc::io;
    default:
      return Errc::internal;
  }
}

// A prepared statement, finalized with its owner.
class Statement {
 public:
  Statement() = default;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() { sqlite3_finalize(stmt_); }
  sqlite3_stmt** out() { return &stmt_; }
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// Resets a statement (and drops its bindings) when a use of it ends, however it ends.
class Use {
 public:
  explicit Use(const Statement& statement) : stmt_(statement.get()) {}
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;
  ~Use() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  sqlite3_stmt* operator*() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_;
};

void bind_text(sqlite3_stmt* stmt, int index, std::string_view text) {
  sqlite3_bind_text64(stmt, index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8);
}

std::string column_bytes(sqlite3_stmt* stmt, int column) {
  const void* data = sqlite3_column_blob(stmt, column);
  int size = sqlite3_column_bytes(stmt, column);
  if (data == nullptr || size <= 0) return {};
  return std::string(static_cast<const char*>(data), static_cast<std::size_t>(size));
}

// The smallest string greater than every string that starts with prefix; empty when none
// exists (prefix empty or all 0xff bytes).
std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff)
    end.pop_back();
  if (!end.empty()) end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

std::string describe_revision(std::int64_t revision) {
  return revision == 0 ? std::string("absent") : "revision " + std::to_string(revision);
}

}  // namespace

struct SqliteStore::Impl {
  std::filesystem::path file;
  std::string name;  // file as text, the prefix of every error message
  sqlite3* db = nullptr;
  std::mutex mutex;

  Statement begin;
  Statement commit;
  Statement rollback;
  Statement get;
  Statement get_revision;
  Statement list_range;  // [prefix, end)
  Statement list_from;   // [prefix, ...)
  Statement read_store_revision;
  Statement write_store_revision;
  Statement put;
  Statement remove;

  ~Impl() {
    // Statements must be finalized before the connection closes: close_v2 defers until then.
    if (db != nullptr) sqlite3_close_v2(db);
  }

  Error error(int rc, std::string_view what) const {
    if ((rc & 0xff) == SQLITE_NOTADB) {
      return make_error(Errc::invalid, name + ": not a SQLite database, so not a Baton store");
    }
    std::string message = name + ": " + std::string(what) + ": ";
    if (db != nullptr && sqlite3_errcode(db) == rc) {
      message += sqlite3_errmsg(db);
    } else {
      message += sqlite3_errstr(rc);
    }
    int system_errno = db != nullptr ? sqlite3_system_errno(db) : 0;
    if ((rc & 0xff) == SQLITE_CANTOPEN || (rc & 0xff) == SQLITE_IOERR) {
      if (system_errno != 0) message += std::string(" (") + std::strerror(system_errno) + ")";
    }
    return make_error(errc_of(rc), std::move(message));
  }

  Status exec(const char* sql, std::string_view what) {
    int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return error(rc, what);
    return {};
  }

  Status prepare(Statement& statement, const char* sql) {
    int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, statement.out(), nullptr);
    if (rc != SQLITE_OK) return error(rc, std::string("cannot prepare '") + sql + "'");
    return {};
  }

  // Steps a statement that returns no row.
  Status run(const Statement& statement, std::string_view what) {
    Use use(statement);
    int rc = sqlite3_step(*use);
    if (rc != SQLITE_DONE) return error(rc, what);
    return {};
  }

  Result<std::int64_t> integer_pragma(const char* sql) {
    Statement statement;
    BATON_TRY(prepare(statement, sql));
    int rc = sqlite3_step(statement.get());
    if (rc != SQLITE_ROW) return error(rc, std::string("cannot read ") + sql);
    return sqlite3_column_int64(statement.get(), 0);
  }

  // 0 when the key is absent.
  Result<std::int64_t> key_revision(std::string_view key) {
    Use use(get_revision);
    bind_text(*use, 1, key);
    int rc = sqlite3_step(*use);
    if (rc == SQLITE_ROW) return sqlite3_column_int64(*use, 0);
    if (rc == SQLITE_DONE) return std::int64_t{0};
    return error(rc, "cannot read key '" + std::string(key) + "'");
  }

  Result<std::int64_t> store_revision() {
    Use use(read_store_revision);
    int rc = sqlite3_step(*use);
    if (rc == SQLITE_ROW) return sqlite3_column_int64(*use, 0);
    if (rc == SQLITE_DONE) {
      return make_error(Errc::invalid,
                        name + ": the store revision row is missing (damaged store)");
    }
    return error(rc, "cannot read the store revision");
  }

  void rollback_if_open() {
    if (sqlite3_get_autocommit(db) == 0) {
      Use use(rollback);
      sqlite3_step(*use);
    }
  }

  Status check_key(std::string_view key) const {
    if (key.empty()) return make_error(Errc::invalid, name + ": empty key");
    return {};
  }

  // Creates the schema in a new file, or checks that an existing file is a store of ours.
  Status set_up(const SqliteOptions& options) {
    sqlite3_extended_result_codes(db, 1);
    int rc = sqlite3_busy_timeout(db, static_cast<int>(options.busy_timeout.count()));
    if (rc != SQLITE_OK) return error(rc, "cannot set busy_timeout");

    // Check before changing anything, so a foreign database is left as it was.
    BATON_ASSIGN_OR_RETURN(std::int64_t application_id, integer_pragma("PRAGMA application_id"));
    BATON_ASSIGN_OR_RETURN(std::int64_t objects,
                           integer_pragma("SELECT count(*) FROM sqlite_schema"));
    if (application_id != kApplicationId && (application_id != 0 || objects != 0)) {
      return make_error(Errc::invalid,
                        name + ": a SQLite database of another program, not a Baton store");
    }

    {
      Statement wal;
      BATON_TRY(prepare(wal, "PRAGMA journal_mode=WAL"));
      rc = sqlite3_step(wal.get());
      if (rc != SQLITE_ROW) return error(rc, "cannot switch to WAL mode");
      std::string mode = column_bytes(wal.get(), 0);
      if (mode != "wal") {
        return make_error(
            Errc::io, name + ": the file system does not allow WAL mode (journal " + mode + ")");
      }
    }
    BATON_TRY(exec(options.durability == Durability::full ? "PRAGMA synchronous=FULL"
                                                          : "PRAGMA synchronous=NORMAL",
                   "cannot set synchronous"));

    BATON_TRY(exec("BEGIN IMMEDIATE", "cannot begin the schema transaction"));
    Status created = create_schema();
    if (!created) {
      rollback_if_open();
      return created;
    }
    BATON_TRY(exec("COMMIT", "cannot commit the schema"));
    if (objects == 0) {
      // The new file's directory entry must outlive a power loss too.
      BATON_TRY(files::sync_folder(file.has_parent_path() ? file.parent_path() : "."));
    }

    BATON_TRY(prepare(begin, "BEGIN IMMEDIATE"));
    BATON_TRY(prepare(commit, "COMMIT"));
    BATON_TRY(prepare(rollback, "ROLLBACK"));
    BATON_TRY(prepare(get, "SELECT value, revision FROM entries WHERE key = ?1"));
    BATON_TRY(prepare(get_revision, "SELECT revision FROM entries WHERE key = ?1"));
    BATON_TRY(prepare(list_range,
                      "SELECT key, value, revision FROM entries "
                      "WHERE key >= ?1 AND key < ?2 AND key <> '' ORDER BY key"));
    BATON_TRY(prepare(list_from,
                      "SELECT key, value, revision FROM entries "
                      "WHERE key >= ?1 AND key <> '' ORDER BY key"));
    BATON_TRY(prepare(read_store_revision, "SELECT revision FROM entries WHERE key = ''"));
    BATON_TRY(prepare(write_store_revision, "UPDATE entries SET revision = ?1 WHERE key = ''"));
    BATON_TRY(prepare(put,
                      "INSERT INTO entries (key, value, revision) VALUES (?1, ?2, ?3) "
                      "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                      "revision = excluded.revision"));
    BATON_TRY(prepare(remove, "DELETE FROM entries WHERE key = ?1"));
    return {};
  }

  // Inside the schema transaction; another process may have created it meanwhile.
  Status create_schema() {
    BATON_ASSIGN_OR_RETURN(std::int64_t application_id, integer_pragma("PRAGMA application_id"));
    if (application_id == 0) {
      const std::string sql =
          "CREATE TABLE entries (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL, "
          "revision INTEGER NOT NULL) WITHOUT ROWID;"
          "INSERT INTO entries (key, value, revision) VALUES ('', x'', 0);"
          "PRAGMA application_id = " +
          std::to_string(kApplicationId) +
          "; PRAGMA user_version = " + std::to_string(kSchemaVersion) + ";";
      BATON_TRY(exec(sql.c_str(), "cannot create the schema"));
      return {};
    }
    BATON_ASSIGN_OR_RETURN(std::int64_t version, integer_pragma("PRAGMA user_version"));
    if (version > kSchemaVersion) {
      return make_error(Errc::invalid, name + ": written by a newer Baton (schema version " +
                                           std::to_string(version) + ", this program knows " +
                                           std::to_string(kSchemaVersion) + ")");
    }
    return {};
  }

  Result<std::int64_t> commit_locked(const Transaction& transaction) {
    std::unordered_set<std::string_view> written;
    for (const auto& put_op : transaction.puts) {
      BATON_TRY(check_key(put_op.key));
      if (!written.insert(put_op.key).second) {
        return make_error(Errc::invalid, name + ": key '" + put_op.key + "' written twice");
      }
    }
    for (const auto& key : transaction.deletes) {
      BATON_TRY(check_key(key));
      if (!written.insert(key).second) {
        return make_error(Errc::invalid, name + ": key '" + key + "' written twice");
      }
    }
    for (const auto& compare : transaction.compares)
      BATON_TRY(check_key(compare.key));

    {
      Use use(begin);
      int rc = sqlite3_step(*use);
      if (rc != SQLITE_DONE) return error(rc, "cannot begin a transaction");
    }
    Result<std::int64_t> result = apply(transaction);
    if (!result) rollback_if_open();
    return result;
  }

  // Inside the transaction; the caller rolls back on failure.
  Result<std::int64_t> apply(const Transaction& transaction) {
    for (const auto& compare : transaction.compares) {
      BATON_ASSIGN_OR_RETURN(std::int64_t actual, key_revision(compare.key));
      if (actual != compare.revision) {
        return make_error(Errc::conflict, name + ": conflict on key '" + compare.key +
                                              "': expected " + describe_revision(compare.revision) +
                                              ", found " + describe_revision(actual));
      }
    }
    BATON_ASSIGN_OR_RETURN(std::int64_t current, store_revision());
    const std::int64_t next = current + 1;
    bool changed = false;
    for (const auto& put_op : transaction.puts) {
      Use use(put);
      bind_text(*use, 1, put_op.key);
      // A std::string's data() is never null, so an empty value binds as x'' rather than NULL.
      sqlite3_bind_blob64(*use, 2, put_op.value.data(), put_op.value.size(), SQLITE_STATIC);
      sqlite3_bind_int64(*use, 3, next);
      int rc = sqlite3_step(*use);
      if (rc != SQLITE_DONE) return error(rc, "cannot write key '" + put_op.key + "'");
      changed = true;
    }
    for (const auto& key : transaction.deletes) {
      Use use(remove);
      bind_text(*use, 1, key);
      int rc = sqlite3_step(*use);
      if (rc != SQLITE_DONE) return error(rc, "cannot delete key '" + key + "'");
      if (sqlite3_changes(db) > 0) changed = true;
    }
    if (!changed) {
      Use use(rollback);
      int rc = sqlite3_step(*use);
      if (rc != SQLITE_DONE) return error(rc, "cannot end a transaction");
      return current;
    }
    {
      Use use(write_store_revision);
      sqlite3_bind_int64(*use, 1, next);
      int rc = sqlite3_step(*use);
      if (rc != SQLITE_DONE) return error(rc, "cannot write the store revision");
    }
    Use use(commit);
    int rc = sqlite3_step(*use);
    if (rc != SQLITE_DONE) return error(rc, "cannot commit");
    return next;
  }
};

SqliteStore::SqliteStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteStore::~SqliteStore() = default;

const std::filesystem::path& SqliteStore::file() const {
  return impl_->file;
}

Result<StorePtr> SqliteStore::open(const std::filesystem::path& file, SqliteOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->file = file;
  impl->name = file.string();
  int rc = sqlite3_open_v2(
      impl->name.c_str(), &impl->db,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
      nullptr);
  if (rc != SQLITE_OK) return impl->error(rc, "cannot open");
  BATON_TRY(impl->set_up(options));
  return StorePtr(new SqliteStore(std::move(impl)));
}

Result<std::optional<Entry>> SqliteStore::get(const std::string& key) {
  std::lock_guard lock(impl_->mutex);
  BATON_TRY(impl_->check_key(key));
  Use use(impl_->get);
  bind_text(*use, 1, key);
  int rc = sqlite3_step(*use);
  if (rc == SQLITE_DONE) return std::optional<Entry>();
  if (rc != SQLITE_ROW) return impl_->error(rc, "cannot read key '" + key + "'");
  return std::optional<Entry>(Entry{key, column_bytes(*use, 0), sqlite3_column_int64(*use, 1)});
}

Result<std::vector<Entry>> SqliteStore::list(const std::string& prefix) {
  std::lock_guard lock(impl_->mutex);
  std::string end = prefix_end(prefix);
  Use use(end.empty() ? impl_->list_from : impl_->list_range);
  bind_text(*use, 1, prefix);
  if (!end.empty()) bind_text(*use, 2, end);
  std::vector<Entry> entries;
  for (;;) {
    int rc = sqlite3_step(*use);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return impl_->error(rc, "cannot list prefix '" + prefix + "'");
    const auto* key = reinterpret_cast<const char*>(sqlite3_column_text(*use, 0));
    int key_size = sqlite3_column_bytes(*use, 0);
    entries.push_back(Entry{std::string(key, static_cast<std::size_t>(key_size)),
                            column_bytes(*use, 1), sqlite3_column_int64(*use, 2)});
  }
  return entries;
}

Result<std::int64_t> SqliteStore::commit(const Transaction& transaction) {
  std::lock_guard lock(impl_->mutex);
  return impl_->commit_locked(transaction);
}

Result<std::int64_t> SqliteStore::revision() {
  std::lock_guard lock(impl_->mutex);
  return impl_->store_revision();
}

}  // namespace baton::store
