// The SQLite store: commits per second with synchronous=FULL (the default, durable on power
// loss) and NORMAL (durable on a process crash only), reads, and a prefix listing.
//   ninja -C build store_bench && build/bench/store_bench
// Set TMPDIR to measure another file system (the figures depend on the disk's fsync).

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>

#include "common/files.hpp"
#include "store/sqlite_store.hpp"

namespace baton::store {
namespace {

namespace stdfs = std::filesystem;

// A bundle record of the size the core writes.
std::string record() {
  return std::string(600, 'v');
}

struct Fixture {
  files::TempFolder folder;
  StorePtr store;

  static Fixture open(Durability durability) {
    auto folder = files::TempFolder::create(stdfs::temp_directory_path(), "baton-store-bench-");
    if (!folder.ok()) std::abort();
    auto store =
        SqliteStore::open(folder->path() / "state.db", SqliteOptions{.durability = durability});
    if (!store.ok()) {
      std::fprintf(stderr, "%s\n", store.error().message.c_str());
      std::abort();
    }
    return Fixture{std::move(folder).value(), std::move(store).value()};
  }
};

// One compare-and-set put per commit, as the core does for a scale request.
void BM_Commit(benchmark::State& state) {
  const auto durability = state.range(0) == 0 ? Durability::full : Durability::normal;
  state.SetLabel(durability == Durability::full ? "synchronous=FULL" : "synchronous=NORMAL");
  Fixture fixture = Fixture::open(durability);
  const std::string value = record();
  std::int64_t revision = 0;
  for ([[maybe_unused]] auto _ : state) {
    Transaction transaction;
    transaction.compares.push_back({"bundles/b", revision});
    transaction.puts.push_back({"bundles/b", value});
    auto committed = fixture.store->commit(transaction);
    if (!committed.ok()) {
      state.SkipWithError(committed.error().message.c_str());
      break;
    }
    revision = *committed;
  }
  state.counters["commits/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Commit)->Arg(0)->Arg(1)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_Get(benchmark::State& state) {
  Fixture fixture = Fixture::open(Durability::full);
  Transaction transaction;
  for (int i = 0; i < 10000; ++i) {
    transaction.puts.push_back({"instances/" + std::to_string(i), record()});
  }
  if (!fixture.store->commit(transaction).ok()) std::abort();
  int i = 0;
  for ([[maybe_unused]] auto _ : state) {
    auto entry = fixture.store->get("instances/" + std::to_string(i++ % 10000));
    benchmark::DoNotOptimize(entry);
  }
  state.counters["gets/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Get)->Unit(benchmark::kMicrosecond);

// What the core reads at start: every instance record.
void BM_List10k(benchmark::State& state) {
  Fixture fixture = Fixture::open(Durability::full);
  Transaction transaction;
  for (int i = 0; i < 10000; ++i) {
    transaction.puts.push_back({"instances/" + std::to_string(i), record()});
    transaction.puts.push_back({"history/" + std::to_string(i), record()});
  }
  if (!fixture.store->commit(transaction).ok()) std::abort();
  for ([[maybe_unused]] auto _ : state) {
    auto entries = fixture.store->list("instances/");
    if (!entries.ok() || entries->size() != 10000) std::abort();
    benchmark::DoNotOptimize(entries);
  }
}
BENCHMARK(BM_List10k)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace baton::store

BENCHMARK_MAIN();
