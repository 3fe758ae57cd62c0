#include "common/files.hpp"

#include <gtest/gtest.h>

#include "common/sha256.hpp"

namespace baton {
namespace {

namespace stdfs = std::filesystem;

TEST(Files, WriteAtomicThenRead) {
  auto folder = files::TempFolder::create(stdfs::temp_directory_path(), "baton-test-");
  ASSERT_TRUE(folder.ok()) << folder.error().message;
  stdfs::path file = folder->path() / "state.json";
  ASSERT_TRUE(files::write_atomic(file, "{\"a\":1}").ok());
  auto content = files::read(file);
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(*content, "{\"a\":1}");
  // No temporary sibling stays behind.
  EXPECT_EQ(std::distance(stdfs::directory_iterator(folder->path()), stdfs::directory_iterator()),
            1);
}

TEST(Files, ReadNamesTheFileAndTheLimit) {
  auto folder = files::TempFolder::create(stdfs::temp_directory_path(), "baton-test-");
  ASSERT_TRUE(folder.ok());
  auto missing = files::read(folder->path() / "nope.conf");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::not_found);
  EXPECT_NE(missing.error().message.find("nope.conf"), std::string::npos);

  ASSERT_TRUE(files::write_atomic(folder->path() / "big", std::string(100, 'x')).ok());
  auto big = files::read(folder->path() / "big", 10);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code, Errc::limit);
  EXPECT_NE(big.error().message.find("big: larger than the limit of 10 bytes"), std::string::npos);
}

TEST(Files, TempFolderIsRemovedUnlessReleased) {
  stdfs::path removed;
  stdfs::path kept;
  {
    auto a = files::TempFolder::create(stdfs::temp_directory_path(), "baton-test-");
    auto b = files::TempFolder::create(stdfs::temp_directory_path(), "baton-test-");
    ASSERT_TRUE(a.ok() && b.ok());
    removed = a->path();
    kept = b->release();
  }
  EXPECT_FALSE(stdfs::exists(removed));
  EXPECT_TRUE(stdfs::exists(kept));
  files::remove_tree(kept);
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(is_sha256_hex(sha256_hex("abc")));
  EXPECT_FALSE(is_sha256_hex("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
}

TEST(Sha256, FileMatchesInMemory) {
  auto folder = files::TempFolder::create(stdfs::temp_directory_path(), "baton-test-");
  ASSERT_TRUE(folder.ok());
  std::string content(3 << 20, 'q');  // crosses the 1 MiB read size
  ASSERT_TRUE(files::write_atomic(folder->path() / "f", content).ok());
  auto digest = sha256_file_hex(folder->path() / "f");
  ASSERT_TRUE(digest.ok());
  EXPECT_EQ(*digest, sha256_hex(content));
  auto missing = sha256_file_hex(folder->path() / "absent.zip");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("absent.zip"), std::string::npos);
}

}  // namespace
}  // namespace baton
