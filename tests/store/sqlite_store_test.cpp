#include "store/sqlite_store.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <thread>

#include "common/files.hpp"

namespace baton::store {
namespace {

namespace stdfs = std::filesystem;

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto folder = files::TempFolder::create(stdfs::temp_directory_path(), "baton-store-test-");
    ASSERT_TRUE(folder.ok()) << folder.error().message;
    folder_.emplace(std::move(folder).value());
    file_ = folder_->path() / "state.db";
  }

  StorePtr open() {
    auto store = SqliteStore::open(file_);
    EXPECT_TRUE(store.ok()) << store.error().message;
    return store.ok() ? std::move(store).value() : nullptr;
  }

  static std::int64_t commit_ok(Store& store, const Transaction& transaction) {
    auto revision = store.commit(transaction);
    EXPECT_TRUE(revision.ok()) << revision.error().message;
    return revision.ok() ? *revision : -1;
  }

  static Transaction put(std::string key, std::string value) {
    Transaction transaction;
    transaction.puts.push_back({std::move(key), std::move(value)});
    return transaction;
  }

  static std::vector<std::string> keys(const std::vector<Entry>& entries) {
    std::vector<std::string> result;
    result.reserve(entries.size());
    for (const auto& entry : entries)
      result.push_back(entry.key);
    return result;
  }

  std::optional<files::TempFolder> folder_;
  stdfs::path file_;
};

TEST_F(SqliteStoreTest, EmptyStore) {
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(*store->revision(), 0);
  auto missing = store->get("bundles/a");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  EXPECT_TRUE(store->list("")->empty());
}

TEST_F(SqliteStoreTest, PutThenGet) {
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(commit_ok(*store, put("bundles/a", "{\"scale\":1}")), 1);
  auto entry = store->get("bundles/a");
  ASSERT_TRUE(entry.ok() && entry->has_value());
  EXPECT_EQ((*entry)->key, "bundles/a");
  EXPECT_EQ((*entry)->value, "{\"scale\":1}");
  EXPECT_EQ((*entry)->revision, 1);
}

TEST_F(SqliteStoreTest, OneCommitStampsEveryEntryWithItsRevision) {
  auto store = open();
  ASSERT_TRUE(store);
  Transaction transaction;
  transaction.puts = {{"a", "1"}, {"b", "2"}, {"c", "3"}};
  EXPECT_EQ(commit_ok(*store, transaction), 1);
  EXPECT_EQ(commit_ok(*store, put("b", "22")), 2);
  auto entries = store->list("");
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[0].revision, 1);
  EXPECT_EQ((*entries)[1].revision, 2);
  EXPECT_EQ((*entries)[1].value, "22");
  EXPECT_EQ((*entries)[2].revision, 1);
}

TEST_F(SqliteStoreTest, RevisionIsMonotonicAndOnlyChangesCount) {
  auto store = open();
  ASSERT_TRUE(store);
  std::int64_t last = 0;
  for (int i = 0; i < 20; ++i) {
    std::int64_t revision = commit_ok(*store, put("k/" + std::to_string(i % 3), "v"));
    EXPECT_EQ(revision, last + 1);
    last = revision;
  }
  Transaction remove;
  remove.deletes = {"k/0"};
  EXPECT_EQ(commit_ok(*store, remove), last + 1);
  ++last;
  // Deleting an absent key is not an error, and changes nothing.
  EXPECT_EQ(commit_ok(*store, remove), last);
  EXPECT_EQ(commit_ok(*store, Transaction{}), last);
  EXPECT_EQ(*store->revision(), last);
  EXPECT_FALSE(store->get("k/0")->has_value());
}

TEST_F(SqliteStoreTest, CompareAbsentKey) {
  auto store = open();
  ASSERT_TRUE(store);
  Transaction create = put("instances/1", "x");
  create.compares.push_back({"instances/1", 0});
  EXPECT_EQ(commit_ok(*store, create), 1);

  auto again = store->commit(create);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Errc::conflict);
  EXPECT_NE(again.error().message.find(file_.string()), std::string::npos);
  EXPECT_NE(again.error().message.find("'instances/1': expected absent, found revision 1"),
            std::string::npos)
      << again.error().message;
}

TEST_F(SqliteStoreTest, CompareStaleRevision) {
  auto store = open();
  ASSERT_TRUE(store);
  commit_ok(*store, put("bundles/a", "v1"));
  commit_ok(*store, put("bundles/a", "v2"));

  Transaction stale = put("bundles/a", "v3");
  stale.compares.push_back({"bundles/a", 1});
  auto result = store->commit(stale);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, Errc::conflict);
  EXPECT_NE(result.error().message.find("'bundles/a': expected revision 1, found revision 2"),
            std::string::npos)
      << result.error().message;

  Transaction fresh = put("bundles/a", "v3");
  fresh.compares.push_back({"bundles/a", 2});
  EXPECT_EQ(commit_ok(*store, fresh), 3);

  Transaction gone = put("bundles/b", "x");
  gone.compares.push_back({"bundles/b", 3});
  auto absent = store->commit(gone);
  ASSERT_FALSE(absent.ok());
  EXPECT_NE(absent.error().message.find("'bundles/b': expected revision 3, found absent"),
            std::string::npos)
      << absent.error().message;
}

TEST_F(SqliteStoreTest, FailedCompareAppliesNothing) {
  auto store = open();
  ASSERT_TRUE(store);
  Transaction setup;
  setup.puts = {{"a", "1"}, {"b", "1"}, {"c", "1"}};
  commit_ok(*store, setup);

  Transaction transaction;
  transaction.compares = {{"a", 1}, {"b", 1}, {"c", 7}};  // the last one fails
  transaction.puts = {{"a", "2"}, {"d", "2"}};
  transaction.deletes = {"b"};
  auto result = store->commit(transaction);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, Errc::conflict);
  EXPECT_NE(result.error().message.find("'c'"), std::string::npos);

  EXPECT_EQ(*store->revision(), 1);
  auto entries = store->list("");
  ASSERT_TRUE(entries.ok());
  EXPECT_EQ(keys(*entries), (std::vector<std::string>{"a", "b", "c"}));
  for (const auto& entry : *entries)
    EXPECT_EQ(entry.value, "1");
  // The store still takes commits afterwards (the transaction was closed).
  EXPECT_EQ(commit_ok(*store, put("d", "2")), 2);
}

TEST_F(SqliteStoreTest, PutsAndDeletesApplyTogether) {
  auto store = open();
  ASSERT_TRUE(store);
  commit_ok(*store, put("instances/1", "x"));
  Transaction move;
  move.compares = {{"instances/1", 1}, {"instances/2", 0}};
  move.deletes = {"instances/1"};
  move.puts = {{"instances/2", "x"}};
  EXPECT_EQ(commit_ok(*store, move), 2);
  EXPECT_EQ(keys(*store->list("instances/")), (std::vector<std::string>{"instances/2"}));
}

TEST_F(SqliteStoreTest, ListByPrefixDoesNotMatchSiblings) {
  auto store = open();
  ASSERT_TRUE(store);
  Transaction transaction;
  for (const char* key : {"bundlesX", "bundles/b", "bundles", "bundles/a", "bundles/a/x",
                          "bundles0", "instances/1", "a", "meta/schema"}) {
    transaction.puts.push_back({key, "v"});
  }
  commit_ok(*store, transaction);
  EXPECT_EQ(keys(*store->list("bundles/")),
            (std::vector<std::string>{"bundles/a", "bundles/a/x", "bundles/b"}));
  EXPECT_EQ(keys(*store->list("bundles/a/")), (std::vector<std::string>{"bundles/a/x"}));
  EXPECT_EQ(keys(*store->list("bundles")),
            (std::vector<std::string>{"bundles", "bundles/a", "bundles/a/x", "bundles/b",
                                      "bundles0", "bundlesX"}));
  EXPECT_TRUE(store->list("history/")->empty());
  EXPECT_EQ(store->list("")->size(), 9u);
  EXPECT_EQ(keys(*store->list("meta/")), (std::vector<std::string>{"meta/schema"}));
}

TEST_F(SqliteStoreTest, ListPrefixWithHighBytes) {
  auto store = open();
  ASSERT_TRUE(store);
  const std::string high = "k\xff";
  Transaction transaction;
  transaction.puts = {{high, "1"}, {high + "\xff", "2"}, {"k", "3"}, {"l", "4"}};
  commit_ok(*store, transaction);
  EXPECT_EQ(keys(*store->list(high)), (std::vector<std::string>{high, high + "\xff"}));
  EXPECT_EQ(store->list("k")->size(), 3u);
}

TEST_F(SqliteStoreTest, ValuesAreBytes) {
  auto store = open();
  ASSERT_TRUE(store);
  const std::string binary("a\0b\xff", 4);
  Transaction transaction;
  transaction.puts = {{"binary", binary}, {"empty", ""}};
  commit_ok(*store, transaction);
  EXPECT_EQ((*store->get("binary"))->value, binary);
  auto empty = store->get("empty");
  ASSERT_TRUE(empty.ok() && empty->has_value());
  EXPECT_EQ((*empty)->value, "");
}

TEST_F(SqliteStoreTest, RefusesEmptyAndTwiceWrittenKeys) {
  auto store = open();
  ASSERT_TRUE(store);
  auto empty_get = store->get("");
  ASSERT_FALSE(empty_get.ok());
  EXPECT_EQ(empty_get.error().code, Errc::invalid);

  auto empty_put = store->commit(put("", "x"));
  ASSERT_FALSE(empty_put.ok());
  EXPECT_EQ(empty_put.error().code, Errc::invalid);

  Transaction twice = put("a", "1");
  twice.deletes = {"a"};
  auto result = store->commit(twice);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, Errc::invalid);
  EXPECT_NE(result.error().message.find("'a' written twice"), std::string::npos);
  EXPECT_EQ(*store->revision(), 0);
}

TEST_F(SqliteStoreTest, ReopenKeepsEverything) {
  {
    auto store = open();
    ASSERT_TRUE(store);
    for (int i = 0; i < 50; ++i)
      commit_ok(*store, put("history/" + std::to_string(i), "v"));
    Transaction remove;
    remove.deletes = {"history/7"};
    commit_ok(*store, remove);
  }
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ(*store->revision(), 51);
  EXPECT_EQ(store->list("history/")->size(), 49u);
  EXPECT_EQ((*store->get("history/8"))->revision, 9);
  EXPECT_EQ(commit_ok(*store, put("history/50", "v")), 52);
}

TEST_F(SqliteStoreTest, NotADatabaseNamesTheFile) {
  ASSERT_TRUE(files::write_atomic(file_, std::string(8192, 'x')).ok());
  auto store = SqliteStore::open(file_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, Errc::invalid);
  EXPECT_NE(store.error().message.find(file_.string()), std::string::npos);
  EXPECT_NE(store.error().message.find(": not a SQLite database"), std::string::npos)
      << store.error().message;
}

TEST_F(SqliteStoreTest, DamagedDatabaseNamesTheFile) {
  {
    auto store = open();
    ASSERT_TRUE(store);
    for (int i = 0; i < 200; ++i) {
      commit_ok(*store, put("bundles/" + std::to_string(i), std::string(500, 'v')));
    }
  }
  // Overwrite the pages after the header with junk; the header still says "SQLite format 3".
  auto content = files::read(file_);
  ASSERT_TRUE(content.ok());
  ASSERT_GT(content->size(), 8192u);
  for (std::size_t i = 100; i < content->size(); ++i)
    (*content)[i] = static_cast<char>(i * 7);
  ASSERT_TRUE(files::write_atomic(file_, *content).ok());

  auto store = SqliteStore::open(file_);
  if (store.ok()) {
    // The header survived: the damage shows on first read, and still names the file.
    auto listed = (*store)->list("bundles/");
    ASSERT_FALSE(listed.ok());
    EXPECT_NE(listed.error().message.find(file_.string()), std::string::npos);
    return;
  }
  EXPECT_EQ(store.error().code, Errc::invalid);
  EXPECT_NE(store.error().message.find(file_.string()), std::string::npos) << store.error().message;
}

TEST_F(SqliteStoreTest, RefusesAnotherProgramsDatabase) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db, "CREATE TABLE t (x); INSERT INTO t VALUES (1);", nullptr, nullptr, nullptr),
      SQLITE_OK);
  sqlite3_close(db);
  auto before = files::read(file_);

  auto store = SqliteStore::open(file_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, Errc::invalid);
  EXPECT_NE(store.error().message.find(file_.string() + ": a SQLite database of another program"),
            std::string::npos)
      << store.error().message;
  EXPECT_EQ(*files::read(file_), *before);  // left as it was (not switched to WAL)
}

TEST_F(SqliteStoreTest, MissingFolderNamesTheFile) {
  stdfs::path file = folder_->path() / "no-such-folder" / "state.db";
  auto store = SqliteStore::open(file);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, Errc::io);
  EXPECT_NE(store.error().message.find(file.string()), std::string::npos) << store.error().message;
}

TEST_F(SqliteStoreTest, NormalDurabilityOpensToo) {
  auto store = SqliteStore::open(file_, SqliteOptions{.durability = Durability::normal});
  ASSERT_TRUE(store.ok()) << store.error().message;
  EXPECT_EQ(commit_ok(**store, put("a", "1")), 1);
}

// Compare-and-set increments from several threads, through one store and through two stores on
// the same file: no increment is lost, and every failed compare is a conflict.
TEST_F(SqliteStoreTest, ConcurrentCompareAndSetLosesNothing) {
  auto first = open();
  auto second = open();
  ASSERT_TRUE(first && second);
  constexpr int kThreads = 4;
  constexpr int kIncrements = 50;
  std::atomic<int> unexpected{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    Store& store = t % 2 == 0 ? *first : *second;
    threads.emplace_back([&store, &unexpected] {
      for (int done = 0; done < kIncrements;) {
        auto entry = store.get("counter");
        if (!entry.ok()) {
          ++unexpected;
          return;
        }
        int value = entry->has_value() ? std::stoi((*entry)->value) : 0;
        Transaction transaction;
        transaction.compares.push_back({"counter", entry->has_value() ? (*entry)->revision : 0});
        transaction.puts.push_back({"counter", std::to_string(value + 1)});
        auto result = store.commit(transaction);
        if (result.ok()) {
          ++done;
        } else if (result.error().code != Errc::conflict) {
          ++unexpected;
          return;
        }
      }
    });
  }
  for (auto& thread : threads)
    thread.join();
  EXPECT_EQ(unexpected.load(), 0);
  EXPECT_EQ((*first->get("counter"))->value, std::to_string(kThreads * kIncrements));
  EXPECT_EQ(*second->revision(), kThreads * kIncrements);
}

}  // namespace
}  // namespace baton::store
