#pragma once
// The core's durable state behind one interface with compare-and-set, so the embedded SQLite
// store and a clustered etcd store are interchangeable. Keys are '/'-separated paths
// ("bundles/<id>", "instances/<id>", "history/<seq>"); values are JSON text.
//
// Every successful commit is durable before it returns (the core acknowledges a request only
// after its commit), and atomic: all operations of a transaction apply, or none.
//
// Revisions (as etcd's): the store revision starts at 0 and every commit that changes something
// raises it (by exactly 1 in SqliteStore; etcd may count other writers too); each key put by the
// commit carries the new revision. A commit that changes nothing (no puts, only deletes of absent
// keys) returns the current revision. Keys are non-empty; a transaction may
// write a key once (a key among both puts and deletes, or twice among puts, is Errc::invalid).
// Layout and guarantees: docs/store.md.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace baton::store {

struct Entry {
  std::string key;
  std::string value;
  std::int64_t revision = 0;  // store-wide revision of the entry's last change
};

struct Transaction {
  struct Compare {
    std::string key;
    std::int64_t revision = 0;  // expected revision; 0 = the key must be absent
  };
  struct Put {
    std::string key;
    std::string value;
  };
  std::vector<Compare> compares;
  std::vector<Put> puts;
  std::vector<std::string> deletes;  // deleting an absent key is not an error
};

class Store {
 public:
  virtual ~Store() = default;
  virtual Result<std::optional<Entry>> get(const std::string& key) = 0;
  // Every entry whose key starts with prefix, in key order.
  virtual Result<std::vector<Entry>> list(const std::string& prefix) = 0;
  // Applies the transaction if every compare holds: returns the new store revision.
  // A failed compare is Errc::conflict naming the key, the expected and the found revision;
  // nothing is applied then.
  virtual Result<std::int64_t> commit(const Transaction& transaction) = 0;
  // The current store revision (0 for an empty store).
  virtual Result<std::int64_t> revision() = 0;
};

using StorePtr = std::unique_ptr<Store>;

}  // namespace baton::store
