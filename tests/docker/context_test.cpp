// The build context tar: streamed in small pieces, read back with libarchive, .dockerignore.

#include "runtimes/docker/context.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <map>

#include "tests/docker/support.hpp"

namespace baton::runtimes::docker {
namespace {

using docker_testing::TempDir;
using docker_testing::write_text;

struct Entry {
  std::string type;  // "file", "dir", "link"
  std::string content;
  int mode = 0;
};

// The whole tar through reads of `piece` bytes, then its entries by path.
std::map<std::string, Entry> read_back(ContextTar& tar, std::size_t piece,
                                       std::size_t* largest_read = nullptr) {
  std::string bytes;
  std::string buffer(piece, '\0');
  for (;;) {
    auto got = tar.read(buffer.data(), buffer.size());
    EXPECT_TRUE(got) << (got ? "" : got.error().message);
    if (!got || *got == 0) break;
    if (largest_read != nullptr) *largest_read = std::max(*largest_read, *got);
    bytes.append(buffer.data(), *got);
  }
  std::map<std::string, Entry> entries;
  archive* reader = archive_read_new();
  archive_read_support_format_tar(reader);
  EXPECT_EQ(archive_read_open_memory(reader, bytes.data(), bytes.size()), ARCHIVE_OK);
  archive_entry* entry = nullptr;
  while (archive_read_next_header(reader, &entry) == ARCHIVE_OK) {
    Entry e;
    auto type = archive_entry_filetype(entry);
    e.type = type == AE_IFDIR ? "dir" : type == AE_IFLNK ? "link" : "file";
    e.mode = archive_entry_perm(entry);
    if (type == AE_IFLNK) {
      e.content = archive_entry_symlink(entry);
    } else {
      char chunk[8192];
      la_ssize_t n = 0;
      while ((n = archive_read_data(reader, chunk, sizeof chunk)) > 0)
        e.content.append(chunk, n);
    }
    EXPECT_EQ(archive_entry_uid(entry), 0);
    entries[archive_entry_pathname(entry)] = e;
  }
  archive_read_free(reader);
  return entries;
}

TEST(ContextTar, HoldsFilesFoldersAndSymlinksWithTheirModes) {
  TempDir dir;
  write_text(dir.path() / "Dockerfile", "FROM scratch\nCOPY . /app\n");
  write_text(dir.path() / "bin" / "server", "#!/bin/sh\necho hi\n");
  ::chmod((dir.path() / "bin" / "server").c_str(), 0755);
  write_text(dir.path() / "conf" / "app.conf", "port = 1\n");
  stdfs::create_symlink("bin/server", dir.path() / "run");
  auto tar = ContextTar::open(dir.path());
  ASSERT_TRUE(tar) << tar.error().message;
  auto entries = read_back(**tar, 1000);
  ASSERT_EQ(entries.count("Dockerfile"), 1u);
  EXPECT_EQ(entries["Dockerfile"].content, "FROM scratch\nCOPY . /app\n");
  EXPECT_EQ(entries["bin/"].type, "dir");
  EXPECT_EQ(entries["bin/server"].content, "#!/bin/sh\necho hi\n");
  EXPECT_EQ(entries["bin/server"].mode, 0755);
  EXPECT_EQ(entries["conf/app.conf"].content, "port = 1\n");
  EXPECT_EQ(entries["run"].type, "link");
  EXPECT_EQ(entries["run"].content, "bin/server");
}

TEST(ContextTar, ALargeFileStreamsInBoundedPieces) {
  TempDir dir;
  write_text(dir.path() / "Dockerfile", "FROM scratch\n");
  std::string big(5u << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i)
    big[i] = static_cast<char>('a' + i % 26);
  write_text(dir.path() / "big.bin", big);
  auto tar = ContextTar::open(dir.path());
  ASSERT_TRUE(tar);
  std::size_t largest = 0;
  auto entries = read_back(**tar, 4096, &largest);
  EXPECT_LE(largest, 4096u);
  EXPECT_EQ(entries["big.bin"].content, big);
}

TEST(ContextTar, DockerignoreExcludesAndReincludes) {
  TempDir dir;
  write_text(dir.path() / "Dockerfile", "FROM scratch\n");
  write_text(dir.path() / ".dockerignore",
             "# comment\n*.log\nsecrets\n**/tmp\n!keep.log\nDockerfile\n");
  write_text(dir.path() / "a.log", "x");
  write_text(dir.path() / "keep.log", "x");
  write_text(dir.path() / "sub" / "b.log", "x");  // *.log matches the top level only
  write_text(dir.path() / "secrets" / "key", "x");
  write_text(dir.path() / "deep" / "er" / "tmp" / "t", "x");
  write_text(dir.path() / "app", "x");
  auto tar = ContextTar::open(dir.path());
  ASSERT_TRUE(tar);
  auto entries = read_back(**tar, 65536);
  EXPECT_EQ(entries.count("a.log"), 0u);
  EXPECT_EQ(entries.count("keep.log"), 1u);
  EXPECT_EQ(entries.count("sub/b.log"), 1u);
  EXPECT_EQ(entries.count("secrets/"), 0u);
  EXPECT_EQ(entries.count("secrets/key"), 0u);
  EXPECT_EQ(entries.count("deep/er/tmp/t"), 0u);
  EXPECT_EQ(entries.count("app"), 1u);
  // The Dockerfile and .dockerignore always go: the daemon needs them.
  EXPECT_EQ(entries.count("Dockerfile"), 1u);
  EXPECT_EQ(entries.count(".dockerignore"), 1u);
}

TEST(IgnoreRules, MatchParentsAndDoubleStars) {
  auto rules = IgnoreRules::parse("build\n/docs/*.md\n**/*.o\n!**/keep.o\n");
  EXPECT_TRUE(rules.excluded("build"));
  EXPECT_TRUE(rules.excluded("build/x/y"));
  EXPECT_TRUE(rules.excluded("docs/a.md"));
  EXPECT_FALSE(rules.excluded("docs/sub/a.md"));
  EXPECT_TRUE(rules.excluded("a.o"));
  EXPECT_TRUE(rules.excluded("src/deep/a.o"));
  EXPECT_FALSE(rules.excluded("src/deep/keep.o"));
  EXPECT_FALSE(rules.excluded("src/a.c"));
}

TEST(ContextTar, AMissingFolderIsNamed) {
  auto tar = ContextTar::open("/nonexistent/baton/context");
  ASSERT_FALSE(tar);
  EXPECT_EQ(tar.error().code, Errc::not_found);
  EXPECT_NE(tar.error().message.find("/nonexistent/baton/context"), std::string::npos);
}

}  // namespace
}  // namespace baton::runtimes::docker
