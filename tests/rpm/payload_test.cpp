// Unpacking rpm payloads: what a good set of rpms becomes, and a catalogue of hostile or broken
// rpms, each refused with a message naming the rpm file and the entry, leaving nothing on disk.
#include "runtimes/rpm/payload.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <random>

#include "bundle/archive.hpp"
#include "common/files.hpp"
#include "tests/plugins/support.hpp"
#include "tests/rpm/rpm_writer.hpp"

namespace baton::runtimes::rpm {
namespace {

using namespace baton::testing;
using Type = CpioEntry::Type;

std::string random_bytes(std::size_t size) {
  std::mt19937_64 generator(42);
  std::string data(size, '\0');
  for (auto& c : data)
    c = static_cast<char>(generator());
  return data;
}

class PayloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto folder = files::TempFolder::create(stdfs::temp_directory_path(), "baton-payload-");
    ASSERT_TRUE(folder.ok());
    temp_.emplace(std::move(folder).value());
    stdfs::create_directories(rpms_ = temp_->path() / "rpms");
    stdfs::create_directories(roots_ = temp_->path() / "roots");
  }

  stdfs::path rpm(const std::string& name, const std::vector<CpioEntry>& entries,
                  Compression compression = Compression::gzip) {
    stdfs::path file = rpms_ / name;
    write_rpm(file, entries, compression);
    return file;
  }

  // Unpacking must fail with `code` and exactly `message` (PATH stands for the first rpm's path),
  // and leave the roots folder empty.
  void expect_refused(const std::vector<stdfs::path>& files, Errc code, const std::string& message,
                      const PayloadLimits& limits = {}) {
    auto status = extract_rpms(files, roots_ / "root", limits);
    ASSERT_FALSE(status.ok()) << message;
    EXPECT_EQ(status.error().code, code) << status.error().message;
    std::string expected = message;
    if (auto at = expected.find("PATH"); at != std::string::npos) {
      expected.replace(at, 4, files.front().string());
    }
    EXPECT_EQ(status.error().message, expected);
    EXPECT_TRUE(stdfs::is_empty(roots_)) << "something was left in " << roots_;
  }

  std::optional<files::TempFolder> temp_;
  stdfs::path rpms_;
  stdfs::path roots_;
};

TEST_F(PayloadTest, UnpacksEveryRpmOfAComponentIntoOneReadOnlyRoot) {
  auto app = rpm("app.rpm",
                 {{.path = "./usr", .type = Type::folder, .mode = 0755},
                  {.path = "./usr/bin", .type = Type::folder, .mode = 0755},
                  {.path = "./usr/bin/app", .data = "#!/bin/sh\necho app\n", .mode = 04755},
                  {.path = "./usr/bin/app-link", .type = Type::symlink, .target = "app"},
                  {.path = "./usr/share/app/a", .data = "", .ino = 77, .nlink = 2},
                  {.path = "./usr/share/app/b", .data = "shared\n", .ino = 77, .nlink = 2},
                  {.path = "./usr/lib64/libapp.so.1", .data = "ELF?"}},
                 Compression::xz);
  auto lib = rpm("lib.rpm",
                 {{.path = "./usr/bin", .type = Type::folder, .mode = 0755},
                  {.path = "./usr/lib64/libapp.so", .type = Type::symlink, .target = "libapp.so.1"},
                  {.path = "./usr/share/doc/lib/README", .data = "read me\n"}},
                 Compression::zstd);
  ASSERT_TRUE(extract_rpms({app, lib}, roots_ / "root").ok());
  stdfs::path root = roots_ / "root";
  EXPECT_EQ(read_text(root / "usr/bin/app"), "#!/bin/sh\necho app\n");
  EXPECT_EQ(stdfs::read_symlink(root / "usr/bin/app-link"), "app");
  EXPECT_EQ(stdfs::read_symlink(root / "usr/lib64/libapp.so"), "libapp.so.1");
  EXPECT_EQ(read_text(root / "usr/share/app/a"), "shared\n");
  EXPECT_TRUE(stdfs::equivalent(root / "usr/share/app/a", root / "usr/share/app/b"));
  EXPECT_EQ(read_text(root / "usr/share/doc/lib/README"), "read me\n");
  // Read-only, executable bits kept, no set-uid.
  struct stat info {};
  ASSERT_EQ(::stat((root / "usr/bin/app").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0555u);
  ASSERT_EQ(::stat((root / "usr/bin").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0555u);
  // Only the root is left: no temporary folder.
  EXPECT_EQ(std::distance(stdfs::directory_iterator(roots_), stdfs::directory_iterator()), 1);
  remove_tree(root);
  EXPECT_FALSE(stdfs::exists(root));
}

TEST_F(PayloadTest, RefusesPathsThatLeaveTheRoot) {
  expect_refused({rpm("dotdot.rpm", {{.path = "./usr/../../etc/cron.d/evil", .data = "x"}})},
                 Errc::invalid,
                 "PATH: usr/../../etc/cron.d/evil: '..' path element escapes the root");
  expect_refused({rpm("absolute.rpm", {{.path = "/etc/passwd", .data = "root::0:0::/:/bin/sh\n"}})},
                 Errc::invalid, "PATH: /etc/passwd: absolute path");
}

TEST_F(PayloadTest, RefusesSymlinksThatEscape) {
  expect_refused(
      {rpm("abs-link.rpm",
           {{.path = "./usr/bin/sh", .type = Type::symlink, .target = "/etc/shadow"}})},
      Errc::invalid,
      "PATH: usr/bin/sh: symlink to \"/etc/shadow\" is absolute (it would point outside the root)");
  expect_refused({rpm("up-link.rpm",
                      {{.path = "./usr/etc", .type = Type::symlink, .target = "../../../etc"}})},
                 Errc::invalid,
                 "PATH: usr/etc: symlink to \"../../../etc\" points outside the root");
  // Writing through a symlink the same rpm (or an earlier one) made.
  expect_refused(
      {rpm("through.rpm", {{.path = "./usr/lib", .type = Type::symlink, .target = "share"},
                           {.path = "./usr/lib/evil.so", .data = "x"}})},
      Errc::invalid, "PATH: usr/lib/evil.so: lies under usr/lib, a symlink of through.rpm");
  auto first = rpm("first.rpm", {{.path = "./opt", .type = Type::symlink, .target = "usr"}});
  auto second = rpm("second.rpm", {{.path = "./opt/x", .data = "x"}});
  auto status = extract_rpms({first, second}, roots_ / "root");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().message,
            second.string() + ": opt/x: lies under opt, a symlink of first.rpm");
  EXPECT_TRUE(stdfs::is_empty(roots_));
}

TEST_F(PayloadTest, RefusesHardLinksToAnythingButAnEarlierFile) {
  expect_refused(
      {rpm("hard-dir.rpm", {{.path = "./usr", .type = Type::folder, .ino = 5, .nlink = 2},
                            {.path = "./usr/x", .data = "x", .ino = 5, .nlink = 2}})},
      Errc::invalid, "PATH: usr/x: hard link to usr, which is not an earlier file of the rpm");
}

TEST_F(PayloadTest, RefusesDevicesAndFifos) {
  expect_refused({rpm("fifo.rpm", {{.path = "./run/pipe", .type = Type::fifo}})}, Errc::invalid,
                 "PATH: run/pipe: not a file, folder, symlink or hard link (device, fifo or "
                 "socket)");
}

TEST_F(PayloadTest, RefusesTwoRpmsShippingOneFile) {
  auto a = rpm("a.rpm", {{.path = "./etc/app.conf", .data = "a"}});
  auto b = rpm("b.rpm", {{.path = "./etc/app.conf", .data = "b"}});
  auto status = extract_rpms({a, b}, roots_ / "root");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, Errc::conflict);
  EXPECT_EQ(status.error().message, b.string() + ": etc/app.conf: also shipped by a.rpm");
  EXPECT_TRUE(stdfs::is_empty(roots_));
}

TEST_F(PayloadTest, RefusesPayloadsBeyondTheLimits) {
  PayloadLimits limits;
  limits.max_total_bytes = 1 << 20;
  expect_refused({rpm("big.rpm", {{.path = "./usr/share/big", .data = random_bytes(2 << 20)}})},
                 Errc::limit,
                 "PATH: usr/share/big: 2097152 bytes would take the component's rpms past "
                 "1048576 bytes",
                 limits);

  limits = PayloadLimits{};
  limits.max_entries = 3;
  expect_refused({rpm("many.rpm", {{.path = "./a", .data = "1"},
                                   {.path = "./b", .data = "2"},
                                   {.path = "./c", .data = "3"},
                                   {.path = "./d", .data = "4"}})},
                 Errc::limit, "PATH: d: more than 3 entries in the component's rpms", limits);

  // 8 MiB of zeros packs into a few KiB: refused while unpacking, past 1 MiB.
  auto bomb = rpm("bomb.rpm", {{.path = "./zeros", .data = std::string(8 << 20, '\0')}});
  auto size = stdfs::file_size(bomb);
  expect_refused({bomb}, Errc::limit,
                 "PATH: zeros: the rpm unpacks to more than 100 times its size of " +
                     std::to_string(size) + " bytes");
}

TEST_F(PayloadTest, RefusesFilesThatAreNotRpms) {
  auto text = rpms_ / "notes.rpm";
  write_text(text, "these are not the packages you are looking for\n");
  expect_refused({text}, Errc::invalid, "PATH: not an rpm package (no rpm lead)");

  // A good rpm cut short in its payload.
  auto whole = rpm("whole.rpm", {{.path = "./usr/share/data", .data = random_bytes(256 << 10)}});
  std::string bytes = read_text(whole);
  auto cut = rpms_ / "cut.rpm";
  write_text(cut, bytes.substr(0, bytes.size() / 2));
  auto status = extract_rpms({cut}, roots_ / "root");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, Errc::invalid);
  EXPECT_EQ(status.error().message.rfind(cut.string() + ": usr/share/data: cannot read: ", 0), 0u)
      << status.error().message;
  EXPECT_TRUE(stdfs::is_empty(roots_));

  // The lead and nothing after it.
  auto empty = rpms_ / "lead-only.rpm";
  write_text(empty, rpm_preamble());
  status = extract_rpms({empty}, roots_ / "root");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().message.rfind(empty.string() + ": ", 0), 0u) << status.error().message;
  EXPECT_TRUE(stdfs::is_empty(roots_));
}

TEST_F(PayloadTest, NeverReplacesAnExistingRoot) {
  auto app = rpm("app.rpm", {{.path = "./x", .data = "x"}});
  ASSERT_TRUE(extract_rpms({app}, roots_ / "root").ok());
  auto again = extract_rpms({app}, roots_ / "root");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Errc::conflict);
  remove_tree(roots_ / "root");
}

// The rules are the bundles' rules (bundle/archive.hpp): both must agree on every case.
TEST(PayloadRules, AgreeWithTheBundleRules) {
  const std::vector<std::string> paths = {"a",
                                          "a/b/c",
                                          "/abs",
                                          "../x",
                                          "a/../b",
                                          "a/./b",
                                          "a//b",
                                          "a/",
                                          "",
                                          ".hidden",
                                          "a/..b",
                                          "..",
                                          ".",
                                          "a/b/..",
                                          std::string(300, 'n'),
                                          "x/" + std::string(255, 'y'),
                                          std::string("nul\0in", 6)};
  for (const auto& path : paths) {
    EXPECT_EQ(check_entry_path(path).ok(), bundle::check_entry_path(path).ok()) << path;
  }
  const std::vector<std::pair<std::string, std::string>> links = {
      {"a", "b"},    {"a/b", "../c"},      {"a/b", "../../c"}, {"a/b/c", "../../d"},
      {"a", "/etc"}, {"a/b", "x/../../c"}, {"a/b", "./c"},     {"a/b", "../x/../y"},
      {"a", ""},     {"a/b/c", "../.."},   {"a", "."},         {"a/b", "..//c"}};
  for (const auto& [link, target] : links) {
    EXPECT_EQ(check_symlink_target(link, target).ok(),
              bundle::check_symlink_target(link, target).ok())
        << link << " -> " << target;
  }
}

}  // namespace
}  // namespace baton::runtimes::rpm
