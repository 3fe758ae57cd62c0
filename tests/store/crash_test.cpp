// Durability under SIGKILL: a child process commits numbered transactions and reports each
// acknowledged number through a pipe; the parent kills it at a random moment, reopens the store,
// and checks that every acknowledged number is there and the store is consistent.

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>

#include "common/files.hpp"
#include "store/sqlite_store.hpp"

namespace baton::store {
namespace {

namespace stdfs = std::filesystem;

std::string number_key(std::int64_t number) {
  char key[32];
  std::snprintf(key, sizeof key, "numbers/%08lld", static_cast<long long>(number));
  return key;
}

bool write_all(int fd, const void* data, std::size_t size) {
  const char* bytes = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, bytes, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// True when a whole number was read, false at the end of the pipe.
bool read_number(int fd, std::int64_t& number) {
  char* bytes = reinterpret_cast<char*>(&number);
  std::size_t got = 0;
  while (got < sizeof number) {
    ssize_t n = ::read(fd, bytes + got, sizeof number - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got += static_cast<std::size_t>(n);
  }
  return true;
}

// The child: transaction n puts "numbers/<n>" and moves "counter" from n to n + 1 under a compare,
// with a value of varying size so commits end at different places in the WAL.
[[noreturn]] void commit_forever(const stdfs::path& file, int ack_fd, unsigned seed) {
  auto opened = SqliteStore::open(file);
  if (!opened.ok()) ::_exit(2);
  Store& store = **opened;
  auto counter = store.get("counter");
  if (!counter.ok()) ::_exit(3);
  std::int64_t next = counter->has_value() ? std::stoll((*counter)->value) : 0;
  std::int64_t counter_revision = counter->has_value() ? (*counter)->revision : 0;
  std::mt19937 random(seed);
  for (;;) {
    Transaction transaction;
    transaction.compares.push_back({"counter", counter_revision});
    transaction.puts.push_back({"counter", std::to_string(next + 1)});
    transaction.puts.push_back(
        {number_key(next), std::string(random() % 6000, static_cast<char>('a' + next % 26))});
    auto revision = store.commit(transaction);
    if (!revision.ok()) ::_exit(4);
    if (!write_all(ack_fd, &next, sizeof next)) ::_exit(5);
    counter_revision = *revision;
    ++next;
  }
}

TEST(SqliteStoreCrash, EveryAcknowledgedCommitSurvivesSigkill) {
  auto folder = files::TempFolder::create(stdfs::temp_directory_path(), "baton-store-crash-");
  ASSERT_TRUE(folder.ok()) << folder.error().message;
  const stdfs::path file = folder->path() / "state.db";
  std::random_device seed_source;
  const unsigned seed = seed_source();
  std::mt19937 random(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));

  std::int64_t acknowledged_total = 0;
  for (int round = 0; round < 6; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      ::close(fds[0]);
      commit_forever(file, fds[1], random());
    }
    ::close(fds[1]);

    // Kill after a random number of acknowledgements (none in the first round, so the child may
    // die while creating the schema), plus a random fraction of a commit.
    const int kill_after = round == 0 ? 0 : static_cast<int>(random() % 300);
    std::int64_t highest = -1;
    std::int64_t number = 0;
    for (int seen = 0; seen < kill_after && read_number(fds[0], number); ++seen) {
      highest = std::max(highest, number);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(random() % 3000));
    ASSERT_EQ(::kill(child, SIGKILL), 0);
    // Numbers acknowledged after the decision to kill count too: drain the pipe to its end.
    while (read_number(fds[0], number))
      highest = std::max(highest, number);
    ::close(fds[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the child ended by itself with status " << status;
    acknowledged_total = std::max(acknowledged_total, highest + 1);

    // SQLite's own check of the file and its WAL, before the store touches it.
    if (stdfs::exists(file)) {
      sqlite3* db = nullptr;
      ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
      sqlite3_stmt* check = nullptr;
      ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &check, nullptr), SQLITE_OK);
      ASSERT_EQ(sqlite3_step(check), SQLITE_ROW);
      EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(check, 0)), "ok");
      sqlite3_finalize(check);
      sqlite3_close(db);
    }

    auto reopened = SqliteStore::open(file);
    ASSERT_TRUE(reopened.ok()) << reopened.error().message;
    Store& store = **reopened;
    auto counter = store.get("counter");
    ASSERT_TRUE(counter.ok()) << counter.error().message;
    const std::int64_t committed = counter->has_value() ? std::stoll((*counter)->value) : 0;
    // Every acknowledged number is there; at most one more (committed, not yet reported).
    EXPECT_GE(committed, acknowledged_total);
    auto numbers = store.list("numbers/");
    ASSERT_TRUE(numbers.ok()) << numbers.error().message;
    ASSERT_EQ(static_cast<std::int64_t>(numbers->size()), committed);
    auto revision = store.revision();
    ASSERT_TRUE(revision.ok());
    // One revision per commit, no gaps, no partial commit.
    EXPECT_EQ(*revision, committed);
    for (std::int64_t n = 0; n < committed; ++n) {
      const Entry& entry = (*numbers)[static_cast<std::size_t>(n)];
      ASSERT_EQ(entry.key, number_key(n));
      ASSERT_EQ(entry.revision, n + 1);
      ASSERT_TRUE(entry.value.find_first_not_of(static_cast<char>('a' + n % 26)) ==
                  std::string::npos);
    }
    if (committed > 0) {
      EXPECT_EQ((*counter)->revision, committed);
    }
    acknowledged_total = committed;  // the next child continues from here
  }
}

}  // namespace
}  // namespace baton::store
