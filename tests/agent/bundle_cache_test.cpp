#include "agent/bundle_cache.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <future>
#include <random>
#include <thread>

#include "bundle/zip_writer.hpp"
#include "common/files.hpp"

namespace baton::agent {
namespace {

namespace stdfs = std::filesystem;

std::string random_bytes(std::size_t size, unsigned seed) {
  std::mt19937 random(seed);
  std::string out(size, '\0');
  for (auto& c : out)
    c = static_cast<char>(random());
  return out;
}

class BundleCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto folder = files::TempFolder::create(stdfs::temp_directory_path(), "cache-test-");
    ASSERT_TRUE(folder.ok());
    folder_ = std::make_unique<files::TempFolder>(std::move(folder).value());
    stdfs::create_directories(folder_->path() / "core");
  }

  // A bundle zip of ~`size` incompressible bytes; returns its digest.
  std::string make_bundle(const std::string& name, std::size_t size = 100'000) {
    std::vector<bundle::ZipEntry> entries;
    bundle::ZipEntry conf;
    conf.path = name + "-v1/bundle.conf";
    conf.content = "name = \"" + name + "\"\n";
    entries.push_back(conf);
    bundle::ZipEntry data;
    data.path = name + "-v1/" + name + "/data.bin";
    data.content = random_bytes(size, static_cast<unsigned>(std::hash<std::string>{}(name)));
    entries.push_back(data);
    auto zip = bundle::write_zip(entries, folder_->path() / "core", name + "-v1");
    EXPECT_TRUE(zip.ok()) << zip.error().message;
    files_[zip->digest] = zip->path;
    return zip->digest;
  }

  Fetcher fetcher() {
    return [this](const std::string& digest, const std::string& source,
                  const stdfs::path& to) -> Status {
      ++fetches_;
      last_source_ = source;
      if (gate_) gate_->wait();
      auto it = files_.find(digest);
      if (it == files_.end()) return make_error(Errc::not_found, "no file " + digest);
      std::error_code error;
      stdfs::copy_file(it->second, to, stdfs::copy_options::overwrite_existing, error);
      if (error) return make_error(Errc::io, error.message());
      if (corrupt_) std::ofstream(to, std::ios::app) << "tampered";
      return {};
    };
  }

  std::unique_ptr<BundleCache> open(std::uint64_t budget) {
    auto cache =
        std::make_unique<BundleCache>(CacheOptions{folder_->path() / "cache", budget}, fetcher());
    EXPECT_TRUE(cache->open().ok());
    return cache;
  }

  std::size_t count(const std::string& sub) {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry :
         stdfs::directory_iterator(folder_->path() / "cache" / sub))
      ++n;
    return n;
  }

  std::unique_ptr<files::TempFolder> folder_;
  std::map<std::string, stdfs::path> files_;
  std::atomic<int> fetches_{0};
  std::string last_source_;
  std::shared_future<void>* gate_ = nullptr;
  bool corrupt_ = false;
};

TEST_F(BundleCacheTest, FetchesVerifiesAndExtractsReadOnly) {
  std::string digest = make_bundle("alpha");
  auto cache = open(1 << 30);
  auto lease = cache->acquire(digest, "/v2/bundles/files/" + digest);
  ASSERT_TRUE(lease.ok()) << lease.error().message;
  EXPECT_EQ(last_source_, "/v2/bundles/files/" + digest);
  EXPECT_TRUE(stdfs::exists(lease->root() / "bundle.conf"));
  EXPECT_EQ(lease->root().filename(), "alpha-v1");
  struct stat info;
  ASSERT_EQ(::stat((lease->root() / "alpha" / "data.bin").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0222, 0u);
  EXPECT_EQ(cache->held(), std::vector<std::string>{digest});
  EXPECT_EQ(cache->users(digest), 1);
  auto again = cache->acquire(digest, "");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(fetches_, 1);
  EXPECT_EQ(again->root(), lease->root());
  EXPECT_EQ(cache->users(digest), 2);
}

TEST_F(BundleCacheTest, DigestMismatchLeavesNothing) {
  std::string digest = make_bundle("alpha");
  corrupt_ = true;
  auto cache = open(1 << 30);
  auto lease = cache->acquire(digest, "/v2/bundles/files/" + digest);
  ASSERT_FALSE(lease.ok());
  EXPECT_EQ(lease.error().code, Errc::invalid);
  EXPECT_NE(lease.error().message.find("digest mismatch"), std::string::npos)
      << lease.error().message;
  EXPECT_NE(lease.error().message.find(digest), std::string::npos);
  EXPECT_TRUE(cache->held().empty());
  EXPECT_EQ(count("files"), 0u);
  EXPECT_EQ(count("extracted"), 0u);
  EXPECT_EQ(count("incoming"), 0u);
  EXPECT_EQ(cache->used_bytes(), 0u);
}

TEST_F(BundleCacheTest, FetchFailurePassesThroughAndLeavesNothing) {
  auto cache = open(1 << 30);
  std::string unknown(64, 'a');
  auto lease = cache->acquire(unknown, "/x");
  ASSERT_FALSE(lease.ok());
  EXPECT_EQ(lease.error().code, Errc::not_found);
  EXPECT_EQ(count("incoming"), 0u);
  EXPECT_FALSE(cache->acquire("not-a-digest", "/x").ok());
}

TEST_F(BundleCacheTest, EvictsLeastRecentlyUsedWithinBudget) {
  std::string a = make_bundle("alpha");
  std::string b = make_bundle("bravo");
  std::string c = make_bundle("charlie");
  std::uint64_t one = 0;
  {
    auto probe = open(1 << 30);
    {
      auto lease = probe->acquire(a, "");
      ASSERT_TRUE(lease.ok());
    }
    one = probe->used_bytes();
    files::remove_tree(folder_->path() / "cache");
  }
  auto cache = open(one * 2 + one / 2);  // room for two
  std::vector<std::string> evicted;
  cache->on_evict([&](const std::string& digest) { evicted.push_back(digest); });
  {
    auto lease = cache->acquire(a, "");
    ASSERT_TRUE(lease.ok());
  }
  {
    auto lease = cache->acquire(b, "");
    ASSERT_TRUE(lease.ok());
  }
  {
    auto lease = cache->acquire(a, "");
    ASSERT_TRUE(lease.ok());
  }  // a is now the most recent
  {
    auto lease = cache->acquire(c, "");
    ASSERT_TRUE(lease.ok());
  }
  EXPECT_EQ(evicted, std::vector<std::string>{b});
  EXPECT_TRUE(cache->holds(a));
  EXPECT_FALSE(cache->holds(b));
  EXPECT_TRUE(cache->holds(c));
  EXPECT_LE(cache->used_bytes(), one * 2 + one / 2);
  EXPECT_FALSE(stdfs::exists(folder_->path() / "cache" / "extracted" / b));
  EXPECT_EQ(count("incoming"), 0u);
}

TEST_F(BundleCacheTest, NeverEvictsWhatIsInUse) {
  std::string a = make_bundle("alpha");
  std::string b = make_bundle("bravo");
  std::string c = make_bundle("charlie");
  std::uint64_t one = 0;
  {
    auto probe = open(1 << 30);
    {
      auto lease = probe->acquire(a, "");
      ASSERT_TRUE(lease.ok());
    }
    one = probe->used_bytes();
    files::remove_tree(folder_->path() / "cache");
  }
  auto cache = open(one * 2 + one / 2);
  auto lease_a = cache->acquire(a, "");
  auto lease_b = cache->acquire(b, "");
  ASSERT_TRUE(lease_a.ok());
  ASSERT_TRUE(lease_b.ok());
  auto refused = cache->acquire(c, "");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::limit);
  EXPECT_NE(refused.error().message.find(c), std::string::npos) << refused.error().message;
  EXPECT_TRUE(cache->holds(a));
  EXPECT_TRUE(cache->holds(b));
  EXPECT_FALSE(cache->holds(c));
  EXPECT_EQ(count("incoming"), 0u);
  EXPECT_TRUE(stdfs::exists(lease_a->root() / "bundle.conf"));
  // Once b is no longer used, c fits.
  *lease_b = Lease();
  auto now = cache->acquire(c, "");
  EXPECT_TRUE(now.ok()) << now.error().message;
}

TEST_F(BundleCacheTest, ConcurrentStartsOfOneDigestFetchAndExtractOnce) {
  std::string digest = make_bundle("alpha", 2'000'000);
  std::promise<void> open_gate;
  std::shared_future<void> gate = open_gate.get_future().share();
  gate_ = &gate;
  auto cache = open(1 << 30);
  std::vector<std::future<Result<Lease>>> results;
  for (int i = 0; i < 8; ++i) {
    results.push_back(std::async(std::launch::async, [&] { return cache->acquire(digest, ""); }));
  }
  open_gate.set_value();
  std::set<stdfs::path> roots;
  for (auto& result : results) {
    auto lease = result.get();
    ASSERT_TRUE(lease.ok()) << lease.error().message;
    roots.insert(lease->root());
  }
  EXPECT_EQ(fetches_, 1);
  EXPECT_EQ(roots.size(), 1u);
  EXPECT_EQ(count("extracted"), 1u);
}

TEST_F(BundleCacheTest, ReopenKeepsWhatItHeldAndDropsUnfinishedWork) {
  std::string a = make_bundle("alpha");
  std::string b = make_bundle("bravo");
  {
    auto cache = open(1 << 30);
    ASSERT_TRUE(cache->acquire(a, "").ok());
    ASSERT_TRUE(cache->prefetch(b, "").ok());
    EXPECT_FALSE(stdfs::exists(folder_->path() / "cache" / "extracted" / b));
  }
  std::ofstream(folder_->path() / "cache" / "incoming" / "half.zip") << "partial";
  stdfs::create_directories(folder_->path() / "cache" / "extracted" / ".tmp-xyz");
  auto cache = open(1 << 30);
  EXPECT_EQ(cache->held().size(), 2u);
  EXPECT_EQ(count("incoming"), 0u);
  EXPECT_FALSE(stdfs::exists(folder_->path() / "cache" / "extracted" / ".tmp-xyz"));
  int before = fetches_;
  auto lease = cache->acquire(a, "");
  ASSERT_TRUE(lease.ok());
  auto other = cache->acquire(b, "");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(fetches_, before);
  EXPECT_TRUE(stdfs::exists(other->root() / "bundle.conf"));
}

}  // namespace
}  // namespace baton::agent
