#include "bundle/archive.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <array>

#include "bundle/zip_writer.hpp"
#include "bundle_test_support.hpp"

namespace baton::bundle {
namespace {

using namespace baton::bundle::testing;

const std::string kConf = "name = \"x\"\n";

// A refused zip: the error has `code`, names the zip and each fragment, and the folder holding
// the zip is exactly as before (no destination, no temporary sibling).
void expect_refused(const stdfs::path& zip, Errc code, const std::vector<std::string>& fragments,
                    const ArchiveLimits& limits = {}, bool listing_refuses_too = true) {
  stdfs::path folder = zip.parent_path();
  std::vector<std::string> before = names_in(folder);
  Status status = extract(zip, folder / "out", limits);
  ASSERT_FALSE(status.ok()) << zip;
  EXPECT_EQ(status.error().code, code) << status.error().message;
  EXPECT_NE(status.error().message.find(zip.string()), std::string::npos) << status.error().message;
  for (const std::string& fragment : fragments) {
    EXPECT_NE(status.error().message.find(fragment), std::string::npos)
        << "'" << fragment << "' not in: " << status.error().message;
  }
  EXPECT_EQ(names_in(folder), before) << "extraction left something behind";
  if (listing_refuses_too) {
    auto listed = list_entries(zip, limits);
    ASSERT_FALSE(listed.ok());
    EXPECT_EQ(listed.error().message, status.error().message);
  }
}

std::vector<ZipEntry> sample_entries(const stdfs::path& source) {
  write_file(source / "bin" / "run", "#!/bin/sh\necho hi\n", stdfs::perms(0750));
  write_file(source / "lib" / "app.log", text_bytes(3 << 20));
  write_file(source / "lib" / "blob.bin", random_bytes(300 * 1024));
  write_file(source / "bundle.conf", kConf, stdfs::perms(0640));
  write_file(source / "empty", "");
  stdfs::create_directories(source / "data" / "cache");
  stdfs::create_symlink("../lib/app.log", source / "bin" / "log");
  auto entries = collect_folder(source, "top");
  if (!entries) throw std::runtime_error(entries.error().message);
  return std::move(entries).value();
}

TEST(ArchivePaths, EntryPathRules) {
  EXPECT_TRUE(check_entry_path("top/bin/run").ok());
  EXPECT_TRUE(check_entry_path("a..b/..c").ok());
  for (const char* bad : {"", "/etc/passwd", "../x", "top/../../x", "a//b", "./a", "a/.", "a/"}) {
    Status status = check_entry_path(bad);
    EXPECT_FALSE(status.ok()) << bad;
    if (!status.ok()) {
      EXPECT_EQ(status.error().code, Errc::invalid);
    }
  }
  EXPECT_FALSE(check_entry_path(std::string(256, 'a')).ok());
  EXPECT_FALSE(check_entry_path(std::string(5000, 'a')).ok());
  Status dotdot = check_entry_path("top/../../etc/passwd");
  ASSERT_FALSE(dotdot.ok());
  EXPECT_EQ(dotdot.error().message, "top/../../etc/passwd: '..' path element escapes the bundle");
}

TEST(ArchivePaths, SymlinkTargetRules) {
  EXPECT_TRUE(check_symlink_target("top/bin/log", "../lib/app.log").ok());
  EXPECT_TRUE(check_symlink_target("top/bin/log", "../../top").ok());  // the extraction root
  EXPECT_TRUE(check_symlink_target("top/lib/libz.so", "libz.so.1").ok());
  EXPECT_TRUE(check_symlink_target("top/here", ".").ok());
  EXPECT_TRUE(check_symlink_target("top/a", "./b//c").ok());
  Status escape = check_symlink_target("top/link", "../../etc");
  ASSERT_FALSE(escape.ok());
  EXPECT_EQ(escape.error().message, "top/link: symlink to \"../../etc\" points outside the bundle");
  EXPECT_FALSE(check_symlink_target("link", "..").ok());
  EXPECT_FALSE(check_symlink_target("top/link", "/etc/passwd").ok());
  EXPECT_FALSE(check_symlink_target("top/link", "").ok());
  // After a name, ".." would be resolved through that name, which may itself be a symlink.
  Status after_name = check_symlink_target("top/bin/link", "sub/../../x");
  ASSERT_FALSE(after_name.ok());
  EXPECT_NE(after_name.error().message.find("has '..' after a name"), std::string::npos);
}

TEST(Archive, ExtractsWhatTheWriterWrote) {
  files::TempFolder work = temp_folder();
  auto written = write_zip(sample_entries(work.path() / "src"), work.path(), "sample");
  ASSERT_TRUE(written.ok()) << written.error().message;

  stdfs::path out = work.path() / "extracted";
  Status status = extract(written->path, out);
  ASSERT_TRUE(status.ok()) << status.error().message;
  stdfs::path top = out / "top";
  EXPECT_EQ(read_file(top / "lib" / "app.log"), text_bytes(3 << 20));
  EXPECT_EQ(read_file(top / "lib" / "blob.bin"), random_bytes(300 * 1024));
  EXPECT_EQ(read_file(top / "empty"), "");
  EXPECT_TRUE(stdfs::is_directory(top / "data" / "cache"));
  ASSERT_TRUE(stdfs::is_symlink(top / "bin" / "log"));
  EXPECT_EQ(stdfs::read_symlink(top / "bin" / "log"), "../lib/app.log");
  EXPECT_EQ(read_file(top / "bin" / "log"), text_bytes(3 << 20));

  // Read-only and shared: write bits gone, execute bits as stored, owner can read.
  auto mode = [](const stdfs::path& path) {
    struct stat info {};
    ::lstat(path.c_str(), &info);
    return info.st_mode & 07777;
  };
  EXPECT_EQ(mode(top / "bin" / "run"), 0550u);
  EXPECT_EQ(mode(top / "bundle.conf"), 0440u);
  EXPECT_EQ(mode(top / "lib" / "app.log"), 0444u);
  EXPECT_EQ(mode(top / "lib"), 0555u);
  EXPECT_EQ(mode(out), 0555u);
  // Only the destination appeared beside the zip.
  EXPECT_EQ(names_in(work.path()),
            (std::vector<std::string>{"extracted", written->path.filename().string(), "src"}));

  // A second extraction to the same place is refused and changes nothing.
  Status again = extract(written->path, out);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Errc::conflict);
  EXPECT_NE(again.error().message.find("already exists"), std::string::npos);

  remove_extracted(out);
  EXPECT_FALSE(stdfs::exists(out));
}

TEST(Archive, ListsEntriesWithTypesSizesAndTargets) {
  files::TempFolder work = temp_folder();
  auto written = write_zip(sample_entries(work.path() / "src"), work.path(), "sample");
  ASSERT_TRUE(written.ok()) << written.error().message;
  auto entries = list_entries(written->path);
  ASSERT_TRUE(entries.ok()) << entries.error().message;
  std::vector<std::string> paths;
  for (const ArchiveEntry& entry : *entries)
    paths.push_back(entry.path);
  EXPECT_EQ(paths,
            (std::vector<std::string>{"top", "top/bin", "top/bin/log", "top/bin/run",
                                      "top/bundle.conf", "top/data", "top/data/cache", "top/empty",
                                      "top/lib", "top/lib/app.log", "top/lib/blob.bin"}));
  const ArchiveEntry& log = (*entries)[2];
  EXPECT_EQ(log.type, EntryType::symlink);
  EXPECT_EQ(log.target, "../lib/app.log");
  const ArchiveEntry& run = (*entries)[3];
  EXPECT_EQ(run.mode, 0750u);
  const ArchiveEntry& text = (*entries)[9];
  EXPECT_EQ(text.size, 3u << 20);
  EXPECT_LT(text.compressed_size, text.size / 4);  // deflated
  const ArchiveEntry& blob = (*entries)[10];
  EXPECT_EQ(blob.compressed_size, blob.size);  // stored: random data does not deflate

  auto conf = read_member(written->path, "top/bundle.conf");
  ASSERT_TRUE(conf.ok()) << conf.error().message;
  EXPECT_EQ(*conf, kConf);
  auto missing = read_member(written->path, "top/nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::not_found);
  ArchiveLimits small;
  small.max_conf_bytes = 4;
  auto too_big = read_member(written->path, "top/bundle.conf", small);
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.error().code, Errc::limit);
  EXPECT_NE(too_big.error().message.find("top/bundle.conf"), std::string::npos);
}

TEST(Archive, FindsTheTopFolder) {
  files::TempFolder work = temp_folder();
  constexpr std::array<std::string_view, 2> kMarkers{"bundle.conf", "runtime-config.sh"};
  auto top_of = [&](const std::vector<RawEntry>& raw) -> Result<std::string> {
    stdfs::path zip = work.path() / "t.zip";
    write_raw_zip(zip, raw);
    auto entries = list_entries(zip);
    if (!entries) return std::move(entries).error();
    return find_top_folder(zip, *entries, kMarkers);
  };
  auto root = top_of({{.path = "bundle.conf", .data = kConf}, {.path = "web/x", .data = "x"}});
  ASSERT_TRUE(root.ok()) << root.error().message;
  EXPECT_EQ(*root, "");
  auto single = top_of({{.path = "v1/", .type = AE_IFDIR}, {.path = "v1/runtime-config.sh"}});
  ASSERT_TRUE(single.ok()) << single.error().message;
  EXPECT_EQ(*single, "v1");
  auto two = top_of({{.path = "a/bundle.conf", .data = kConf}, {.path = "b/x", .data = "x"}});
  ASSERT_FALSE(two.ok());
  EXPECT_NE(two.error().message.find(
                "no bundle.conf or runtime-config.sh at the root or in a single top folder "
                "(top-level entries: a, b)"),
            std::string::npos)
      << two.error().message;
  auto deep = top_of({{.path = "a/b/bundle.conf", .data = kConf}});
  ASSERT_FALSE(deep.ok());
  EXPECT_NE(deep.error().message.find("in the top folder a"), std::string::npos);
  auto linked = top_of({{.path = "a/x", .data = kConf},
                        {.path = "a/bundle.conf", .type = AE_IFLNK, .symlink = "x"}});
  ASSERT_FALSE(linked.ok());
  EXPECT_NE(linked.error().message.find("a/bundle.conf is a symlink, expected a file"),
            std::string::npos);
}

// ---- The catalogue of hostile zips.

class HostileZip : public ::testing::Test {
 protected:
  files::TempFolder work_ = temp_folder();
  stdfs::path zip_ = work_.path() / "hostile.zip";

  // A good first entry, so a refusal happens after something was already written.
  std::vector<RawEntry> with_good_entries(std::vector<RawEntry> bad) {
    std::vector<RawEntry> all{{.path = "top/", .type = AE_IFDIR},
                              {.path = "top/bundle.conf", .data = kConf}};
    all.insert(all.end(), bad.begin(), bad.end());
    return all;
  }
};

TEST_F(HostileZip, ZipSlip) {
  write_raw_zip(zip_, with_good_entries({{.path = "top/../../x", .data = "owned"}}));
  expect_refused(zip_, Errc::invalid, {"top/../../x: '..' path element escapes the bundle"});
  EXPECT_FALSE(stdfs::exists(work_.path() / "x"));
}

TEST_F(HostileZip, PlainDotDot) {
  write_raw_zip(zip_, with_good_entries({{.path = "../x", .data = "owned"}}));
  expect_refused(zip_, Errc::invalid, {"../x: '..' path element escapes the bundle"});
}

TEST_F(HostileZip, AbsolutePath) {
  write_raw_zip(zip_, with_good_entries({{.path = "/tmp/baton-owned", .data = "owned"}}));
  expect_refused(zip_, Errc::invalid, {"/tmp/baton-owned: absolute path"});
  EXPECT_FALSE(stdfs::exists("/tmp/baton-owned"));
}

TEST_F(HostileZip, SymlinkEscape) {
  write_raw_zip(
      zip_, with_good_entries({{.path = "top/link", .type = AE_IFLNK, .symlink = "../../etc"}}));
  expect_refused(zip_, Errc::invalid,
                 {"top/link: symlink to \"../../etc\" points outside the bundle"});
}

TEST_F(HostileZip, AbsoluteSymlink) {
  write_raw_zip(zip_,
                with_good_entries({{.path = "top/link", .type = AE_IFLNK, .symlink = "/etc"}}));
  expect_refused(zip_, Errc::invalid, {"top/link: symlink to \"/etc\" is absolute"});
}

TEST_F(HostileZip, WritingThroughASymlink) {
  // The link itself stays inside; the entry after it would be written through it.
  write_raw_zip(zip_, with_good_entries({{.path = "top/dir", .type = AE_IFLNK, .symlink = "."},
                                         {.path = "top/dir/x", .data = "through"}}));
  expect_refused(zip_, Errc::invalid,
                 {"top/dir/x: lies under top/dir, which is a symlink (writing through a symlink)"});
}

TEST_F(HostileZip, WritingThroughASymlinkListedLater) {
  write_raw_zip(zip_, with_good_entries({{.path = "top/dir/x", .data = "first"},
                                         {.path = "top/dir", .type = AE_IFLNK, .symlink = "."}}));
  expect_refused(zip_, Errc::invalid, {"top/dir/x: lies under top/dir, which is a symlink"});
}

TEST_F(HostileZip, HardLinkEscape) {
  // Zip has no hard links: libarchive's zip writer stores the entry as a plain (empty) file and
  // its reader never reports one, so nothing can link outside. The rule that would refuse one
  // (the target must be a path of the archive) is the entry path rule.
  write_raw_zip(zip_, with_good_entries({{.path = "top/passwd", .hardlink = "../../etc/passwd"}}));
  stdfs::path out = work_.path() / "out";
  ASSERT_TRUE(extract(zip_, out).ok());
  stdfs::path extracted = out / "top" / "passwd";
  EXPECT_TRUE(stdfs::is_regular_file(stdfs::symlink_status(extracted)));
  EXPECT_EQ(stdfs::hard_link_count(extracted), 1u);
  EXPECT_EQ(read_file(extracted), "");
  EXPECT_FALSE(check_entry_path("../../etc/passwd").ok());
  remove_extracted(out);
}

TEST_F(HostileZip, DuplicateEntries) {
  write_raw_zip(zip_, with_good_entries(
                          {{.path = "top/a", .data = "one"}, {.path = "top/a", .data = "two"}}));
  expect_refused(zip_, Errc::invalid, {"top/a: duplicate entry"});
}

TEST_F(HostileZip, ZipBombRefusedByRatioBeforeInflating) {
  write_zero_bomb(zip_, "top/zeros", 1024);  // 1 GiB of zeros in about 1 MiB
  ASSERT_LT(stdfs::file_size(zip_), 2u << 20);
  expect_refused(zip_, Errc::limit,
                 {"top/zeros: compression ratio", "(1073741824 bytes), beyond the limit of 100:1"});
}

TEST_F(HostileZip, ZipBombWithinTheRatioLimitIsStillBoundedByTotalBytes) {
  write_zero_bomb(zip_, "top/zeros", 64);
  ArchiveLimits limits;
  limits.max_ratio = 10000;
  limits.max_total_bytes = 32 << 20;
  expect_refused(zip_, Errc::limit,
                 {"top/zeros: the entries so far inflate to 67108864 bytes, "
                  "beyond the limit of 33554432"},
                 limits);
}

TEST_F(HostileZip, DeclaredSizeThatLies) {
  // The central directory claims 1000 bytes; the data inflates to 4 MiB. libarchive hands out
  // what it inflated so far and is stopped by the count of bytes received.
  auto written = write_zip({ZipEntry{.path = "top/data", .content = text_bytes(4 << 20)}},
                           work_.path(), "liar");
  ASSERT_TRUE(written.ok()) << written.error().message;
  patch_headers(written->path, "top/data", 24, {0xe8, 0x03, 0x00, 0x00});
  expect_refused(written->path, Errc::limit,
                 {"top/data: inflates beyond its declared size of 1000 bytes"}, {}, false);
}

TEST_F(HostileZip, DeclaredSizeThatLiesWithinOneBuffer) {
  // Here libarchive notices the mismatch itself at the end of the entry.
  auto written = write_zip({ZipEntry{.path = "top/data", .content = text_bytes(200 * 1024)}},
                           work_.path(), "liar");
  ASSERT_TRUE(written.ok()) << written.error().message;
  patch_headers(written->path, "top/data", 24, {0xe8, 0x03, 0x00, 0x00}, 22);
  expect_refused(written->path, Errc::invalid,
                 {"top/data: cannot inflate: ZIP uncompressed data is wrong size"}, {}, false);
}

TEST_F(HostileZip, TooManyEntries) {
  std::vector<RawEntry> entries;
  for (int i = 0; i < 11; ++i)
    entries.push_back({.path = "top/f" + std::to_string(i)});
  write_raw_zip(zip_, entries);
  ArchiveLimits limits;
  limits.max_entries = 10;
  expect_refused(zip_, Errc::limit, {"11 entries, beyond the limit of 10"}, limits);
}

TEST_F(HostileZip, SpecialFiles) {
  auto written = write_zip({ZipEntry{.path = "top/fifo", .content = "x"}}, work_.path(), "fifo");
  ASSERT_TRUE(written.ok()) << written.error().message;
  std::uint32_t fifo = (S_IFIFO | 0644) << 16;
  patch_headers(written->path, "top/fifo", 38,
                {static_cast<unsigned char>(fifo), static_cast<unsigned char>(fifo >> 8),
                 static_cast<unsigned char>(fifo >> 16), static_cast<unsigned char>(fifo >> 24)});
  expect_refused(written->path, Errc::invalid, {"top/fifo: not a file, folder or symlink"});
}

TEST_F(HostileZip, NotAZipAndTruncatedZips) {
  write_file(zip_, "this is not a zip file at all, just text");
  expect_refused(zip_, Errc::invalid, {"not a zip file"});

  auto written = write_zip(sample_entries(work_.path() / "src"), work_.path(), "sample");
  ASSERT_TRUE(written.ok());
  std::string bytes = read_file(written->path);
  stdfs::remove(written->path);
  write_file(zip_, bytes.substr(0, bytes.size() / 2));
  expect_refused(zip_, Errc::invalid, {});
}

TEST_F(HostileZip, MissingDestinationParent) {
  write_raw_zip(zip_, with_good_entries({}));
  Status status = extract(zip_, work_.path() / "no" / "such" / "out");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, Errc::not_found);
  EXPECT_NE(status.error().message.find("no/such"), std::string::npos);
}

}  // namespace
}  // namespace baton::bundle
