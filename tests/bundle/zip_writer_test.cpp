#include "bundle/zip_writer.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle/bundle_name.hpp"
#include "bundle_test_support.hpp"

namespace baton::bundle {
namespace {

using namespace baton::bundle::testing;

// Entries covering every path through the writer: empty, tiny (stored), small text (deflated),
// random (stored), multi-chunk text and random (data descriptors), a symlink, an implicit
// folder, a non-ASCII name, in-memory content.
std::vector<ZipEntry> varied_entries(const stdfs::path& source) {
  write_file(source / "empty", "");
  write_file(source / "tiny", "hi");
  write_file(source / "small.txt", text_bytes(40 * 1024));
  write_file(source / "noise.bin", random_bytes(100 * 1024));
  write_file(source / "big.log", text_bytes((5 << 20) + 12345, 7));
  write_file(source / "big.bin", random_bytes((3 << 20) + 1));
  write_file(source / "caf\xc3\xa9.txt", "accent");
  return {
      {.path = "top/empty", .source = source / "empty"},
      {.path = "top/tiny", .mode = 0600, .source = source / "tiny"},
      {.path = "top/docs/small.txt", .source = source / "small.txt"},
      {.path = "top/noise.bin", .source = source / "noise.bin"},
      {.path = "top/big.log", .source = source / "big.log"},
      {.path = "top/bin/big.bin", .mode = 0755, .source = source / "big.bin"},
      {.path = "top/caf\xc3\xa9.txt", .source = source / "caf\xc3\xa9.txt"},
      {.path = "top/memory.conf", .content = "a = 1\n"},
      {.path = "top/bin/link", .type = EntryType::symlink, .target = "big.bin"},
  };
}

TEST(ZipWriter, NamesTheFileByItsDigest) {
  files::TempFolder work = temp_folder();
  auto written = write_zip(varied_entries(work.path() / "src"), work.path(), "varied");
  ASSERT_TRUE(written.ok()) << written.error().message;
  auto digest = sha256_file_hex(written->path);
  ASSERT_TRUE(digest.ok());
  EXPECT_EQ(written->digest, *digest);
  EXPECT_EQ(written->path, work.path() / file_name("varied", *digest));
  EXPECT_EQ(written->bytes, stdfs::file_size(written->path));
  EXPECT_EQ(written->entries, 12u);  // 9 given + top, top/docs, top/bin
  // No temporary file stays behind.
  EXPECT_EQ(names_in(work.path()),
            (std::vector<std::string>{"src", written->path.filename().string()}));
}

TEST(ZipWriter, SameInputSameBytesWhateverTheThreads) {
  files::TempFolder work = temp_folder();
  std::vector<ZipEntry> entries = varied_entries(work.path() / "src");
  stdfs::create_directories(work.path() / "one");
  stdfs::create_directories(work.path() / "four");
  auto one = write_zip(entries, work.path() / "one", "varied", {.threads = 1});
  ASSERT_TRUE(one.ok()) << one.error().message;
  // Different order of the given entries, different mtimes: the same zip.
  std::reverse(entries.begin(), entries.end());
  for (const auto& entry : stdfs::directory_iterator(work.path() / "src")) {
    stdfs::last_write_time(entry.path(),
                           stdfs::file_time_type::clock::now() - std::chrono::hours(5));
  }
  auto four = write_zip(entries, work.path() / "four", "varied", {.threads = 4});
  ASSERT_TRUE(four.ok()) << four.error().message;
  EXPECT_EQ(one->digest, four->digest);
}

TEST(ZipWriter, LibarchiveReadsBackEveryByteAndMode) {
  files::TempFolder work = temp_folder();
  stdfs::path source = work.path() / "src";
  auto written = write_zip(varied_entries(source), work.path(), "varied");
  ASSERT_TRUE(written.ok()) << written.error().message;
  stdfs::path out = work.path() / "out";
  Status status = extract(written->path, out);
  ASSERT_TRUE(status.ok()) << status.error().message;
  for (const char* name : {"empty", "tiny", "small.txt", "noise.bin", "big.log"}) {
    std::string path = std::string(name) == "small.txt" ? "docs/small.txt" : name;
    EXPECT_EQ(read_file(out / "top" / path), read_file(source / name)) << name;
  }
  EXPECT_EQ(read_file(out / "top" / "bin" / "big.bin"), read_file(source / "big.bin"));
  EXPECT_EQ(read_file(out / "top" / "caf\xc3\xa9.txt"), "accent");
  EXPECT_EQ(read_file(out / "top" / "memory.conf"), "a = 1\n");
  EXPECT_EQ(stdfs::read_symlink(out / "top" / "bin" / "link"), "big.bin");
  auto entries = list_entries(written->path);
  ASSERT_TRUE(entries.ok()) << entries.error().message;
  for (const ArchiveEntry& entry : *entries) {
    if (entry.path == "top/tiny") {
      EXPECT_EQ(entry.mode, 0600u);
    }
    if (entry.path == "top/bin/big.bin") {
      EXPECT_EQ(entry.mode, 0755u);
      EXPECT_EQ(entry.compressed_size, entry.size);  // random: stored
    }
    if (entry.path == "top/big.log") {
      EXPECT_LT(entry.compressed_size, entry.size / 4);
    }
    if (entry.path == "top/bin") {
      EXPECT_EQ(entry.type, EntryType::folder);  // implicit folder
    }
  }
  remove_extracted(out);
}

TEST(ZipWriter, UnzipAcceptsIt) {
  if (!have_unzip())
    GTEST_SKIP() << "SKIPPED LOUDLY: `unzip` is not installed (apt-get install unzip)";
  files::TempFolder work = temp_folder();
  auto written = write_zip(varied_entries(work.path() / "src"), work.path(), "varied");
  ASSERT_TRUE(written.ok()) << written.error().message;
  CommandResult test = run_command("unzip -t " + shell_quote(written->path.string()) + " 2>&1");
  EXPECT_EQ(test.exit_code, 0) << test.output;
  EXPECT_NE(test.output.find("No errors detected"), std::string::npos) << test.output;
  // Unix permissions, symlink and fixed time as unzip sees them.
  CommandResult listing =
      run_command("unzip -Z -l " + shell_quote(written->path.string()) + " 2>&1");
  EXPECT_NE(listing.output.find("-rwxr-xr-x"), std::string::npos) << listing.output;
  EXPECT_NE(listing.output.find("lrwxrwxrwx"), std::string::npos) << listing.output;
  EXPECT_NE(listing.output.find("80-Jan-01 00:00 top/"), std::string::npos) << listing.output;
}

TEST(ZipWriter, FixedTimestampsAndNoExtraFields) {
  files::TempFolder work = temp_folder();
  auto written = write_zip({ZipEntry{.path = "a", .content = "x"}}, work.path(), "t");
  ASSERT_TRUE(written.ok());
  std::string bytes = read_file(written->path);
  ASSERT_GT(bytes.size(), 30u);
  EXPECT_EQ(bytes.substr(0, 4), std::string("PK\x03\x04", 4));
  EXPECT_EQ(bytes.substr(10, 4), std::string("\x00\x00\x21\x00", 4));  // 1980-01-01 00:00
  EXPECT_EQ(bytes.substr(28, 2), std::string("\x00\x00", 2));          // no extra field
}

TEST(ZipWriter, Zip64ForMoreThan65535Entries) {
  files::TempFolder work = temp_folder();
  std::vector<ZipEntry> entries;
  constexpr int kFiles = 70000;
  for (int i = 0; i < kFiles; ++i) {
    entries.push_back(
        ZipEntry{.path = "top/d" + std::to_string(i / 1000) + "/f" + std::to_string(i),
                 .content = std::to_string(i)});
  }
  auto written = write_zip(std::move(entries), work.path(), "many");
  ASSERT_TRUE(written.ok()) << written.error().message;
  EXPECT_EQ(written->entries, 70071u);  // + top + 70 folders
  std::string bytes = read_file(written->path);
  EXPECT_NE(bytes.rfind(std::string("PK\x06\x06", 4)), std::string::npos) << "no Zip64 end record";
  EXPECT_NE(bytes.rfind(std::string("PK\x06\x07", 4)), std::string::npos) << "no Zip64 locator";

  ArchiveLimits limits;
  limits.max_entries = 100'000;
  auto listed = list_entries(written->path, limits);
  ASSERT_TRUE(listed.ok()) << listed.error().message;
  EXPECT_EQ(listed->size(), 70071u);
  auto member = read_member(written->path, "top/d69/f69999", limits);
  ASSERT_TRUE(member.ok()) << member.error().message;
  EXPECT_EQ(*member, "69999");
  if (!have_unzip()) GTEST_SKIP() << "SKIPPED LOUDLY: `unzip` is not installed";
  CommandResult test = run_command("unzip -tq " + shell_quote(written->path.string()) + " 2>&1");
  EXPECT_EQ(test.exit_code, 0) << test.output;
}

TEST(ZipWriter, RefusesWhatCannotBeABundleEntry) {
  files::TempFolder work = temp_folder();
  auto refused = [&](std::vector<ZipEntry> entries, const std::string& fragment) {
    auto written = write_zip(std::move(entries), work.path(), "bad");
    ASSERT_FALSE(written.ok()) << fragment;
    EXPECT_NE(written.error().message.find(fragment), std::string::npos) << written.error().message;
  };
  refused({{.path = "../x", .content = ""}}, "../x: '..' path element");
  refused({{.path = "/x", .content = ""}}, "/x: absolute path");
  refused({{.path = "a", .content = ""}, {.path = "a", .content = ""}}, "a: duplicate entry");
  refused({{.path = "a", .content = ""}, {.path = "a/b", .content = ""}},
          "a/b: lies under a, which is a file");
  refused({{.path = "top/l", .type = EntryType::symlink, .target = "../../etc"}},
          "top/l: symlink to \"../../etc\" points outside the bundle");
  refused({{.path = "a", .source = work.path() / "missing"}}, "missing: cannot stat");
  EXPECT_EQ(names_in(work.path()), std::vector<std::string>{});
}

TEST(ZipWriter, CollectsAFolderAndRefusesEscapingSymlinksAndSpecialFiles) {
  files::TempFolder work = temp_folder();
  stdfs::path source = work.path() / "app";
  write_file(source / "lib" / "a.jar", "jar");
  stdfs::create_symlink("a.jar", source / "lib" / "current.jar");
  stdfs::create_directories(source / "logs");
  auto entries = collect_folder(source, "app-v1");
  ASSERT_TRUE(entries.ok()) << entries.error().message;
  std::vector<std::string> paths;
  for (const ZipEntry& entry : *entries)
    paths.push_back(entry.path);
  std::sort(paths.begin(), paths.end());
  EXPECT_EQ(paths, (std::vector<std::string>{"app-v1", "app-v1/lib", "app-v1/lib/a.jar",
                                             "app-v1/lib/current.jar", "app-v1/logs"}));

  stdfs::create_symlink("../../etc/passwd", source / "lib" / "passwd");
  auto escaping = collect_folder(source, "app-v1");
  ASSERT_FALSE(escaping.ok());
  EXPECT_EQ(escaping.error().message,
            source.string() +
                ": lib/passwd: symlink to \"../../etc/passwd\" points outside the "
                "bundle");
  stdfs::remove(source / "lib" / "passwd");

  ASSERT_EQ(::mkfifo((source / "pipe").c_str(), 0644), 0);
  auto fifo = collect_folder(source, "app-v1");
  ASSERT_FALSE(fifo.ok());
  EXPECT_EQ(fifo.error().message, (source / "pipe").string() + ": not a file, folder or symlink");

  auto missing = collect_folder(work.path() / "nope", "x");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::not_found);
}

}  // namespace
}  // namespace baton::bundle
