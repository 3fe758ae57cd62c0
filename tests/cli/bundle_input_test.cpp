#include "cli/bundle_input.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "bundle/bundle_name.hpp"
#include "common/files.hpp"
#include "common/sha256.hpp"

namespace baton::cli {
namespace {

constexpr const char* kConf = R"(version = "1"
name = "hello"
compatibilityVersion = "2"
system = "hello"
nrOfCpus = 0.1
memory = 32M
diskSpace = 1M
roles = ["web"]
components {
  hello {
    description = "test"
    file-system-type = "universal"
    start-command = ["hello/bin/run"]
    endpoints { web { bind-protocol = "http", bind-port = 0 } }
  }
}
)";

class BundleInput : public ::testing::Test {
 protected:
  void SetUp() override {
    auto temp = files::TempFolder::create(std::filesystem::temp_directory_path(), "cli-input-");
    ASSERT_TRUE(temp) << temp.error().message;
    temp_.emplace(std::move(*temp));
    root_ = temp_->path();
    std::filesystem::create_directories(root_ / "hello" / "hello" / "bin");
    write(root_ / "hello" / "bundle.conf", kConf);
    write(root_ / "hello" / "hello" / "bin" / "run", "#!/bin/sh\nexit 0\n");
    std::filesystem::create_directories(root_ / "prod");
    write(root_ / "prod" / "bundle.conf", "roles = [\"db\"]\n");
    std::filesystem::create_directories(root_ / "work");
  }

  static void write(const std::filesystem::path& file, const std::string& content) {
    std::ofstream(file, std::ios::binary) << content;
  }

  Result<UploadFile> prepare(const std::string& argument, UploadKind kind, std::istream& input) {
    return prepare_upload(argument, kind, root_ / "work", input, {});
  }

  std::optional<files::TempFolder> temp_;
  std::filesystem::path root_;
  std::istringstream no_input_;
};

TEST_F(BundleInput, FolderIsZippedUnderItsDigestName) {
  auto upload = prepare((root_ / "hello").string(), UploadKind::bundle, no_input_);
  ASSERT_TRUE(upload) << upload.error().message;
  EXPECT_EQ(upload->upload_name, "hello-v2-" + upload->digest + ".zip");
  EXPECT_EQ(upload->path.filename().string(), upload->upload_name);
  EXPECT_EQ(*sha256_file_hex(upload->path), upload->digest);
  EXPECT_TRUE(upload->has_conf);
  EXPECT_NE(upload->conf.find("name = \"hello\""), std::string::npos);
  EXPECT_NE(upload->conf.find("compatibilityVersion"), std::string::npos);
  EXPECT_GT(upload->bytes, 0u);
}

TEST_F(BundleInput, DigestNamedFileIsSentAsIs) {
  auto made = prepare((root_ / "hello").string(), UploadKind::bundle, no_input_);
  ASSERT_TRUE(made);
  auto upload = prepare(made->path.string(), UploadKind::bundle, no_input_);
  ASSERT_TRUE(upload) << upload.error().message;
  EXPECT_EQ(upload->path, made->path);
  EXPECT_EQ(upload->upload_name, made->upload_name);
}

TEST_F(BundleInput, OtherFileNamesGetTheDigestName) {
  auto made = prepare((root_ / "hello").string(), UploadKind::bundle, no_input_);
  ASSERT_TRUE(made);
  std::filesystem::copy_file(made->path, root_ / "my bundle.zip");
  auto upload = prepare((root_ / "my bundle.zip").string(), UploadKind::bundle, no_input_);
  ASSERT_TRUE(upload) << upload.error().message;
  EXPECT_EQ(upload->upload_name, made->upload_name);
  EXPECT_EQ(upload->digest, made->digest);
}

TEST_F(BundleInput, StandardInputIsSpooledAndHashed) {
  auto made = prepare((root_ / "hello").string(), UploadKind::bundle, no_input_);
  ASSERT_TRUE(made);
  std::ifstream zip(made->path, std::ios::binary);
  std::stringstream bytes;
  bytes << zip.rdbuf();
  std::istringstream input(bytes.str());
  auto upload = prepare("-", UploadKind::bundle, input);
  ASSERT_TRUE(upload) << upload.error().message;
  EXPECT_EQ(upload->upload_name, made->upload_name);
  EXPECT_TRUE(std::filesystem::exists(upload->path));
}

TEST_F(BundleInput, ConfigurationFolderKeepsItsName) {
  auto upload = prepare((root_ / "prod").string(), UploadKind::configuration, no_input_);
  ASSERT_TRUE(upload) << upload.error().message;
  EXPECT_EQ(upload->upload_name, "prod-" + upload->digest + ".zip");
  EXPECT_TRUE(upload->has_conf);
  EXPECT_EQ(upload->conf, "roles = [\"db\"]\n");
}

TEST_F(BundleInput, RefusalsNameTheArgument) {
  auto missing = prepare((root_ / "nope.zip").string(), UploadKind::bundle, no_input_);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, (root_ / "nope.zip").string() + ": no such file or folder");

  write(root_ / "junk.zip", "not a zip");
  auto junk = prepare((root_ / "junk.zip").string(), UploadKind::bundle, no_input_);
  ASSERT_FALSE(junk);
  EXPECT_EQ(junk.error().message.rfind((root_ / "junk.zip").string(), 0), 0u)
      << junk.error().message;

  std::istringstream garbage("garbage");
  auto from_stdin = prepare("-", UploadKind::bundle, garbage);
  ASSERT_FALSE(from_stdin);
  EXPECT_EQ(from_stdin.error().message.rfind("standard input: ", 0), 0u)
      << from_stdin.error().message;

  std::filesystem::create_directories(root_ / "empty");
  auto empty = prepare((root_ / "empty").string(), UploadKind::bundle, no_input_);
  ASSERT_FALSE(empty);
}

TEST(Spool, CopiesAndHashes) {
  auto temp = files::TempFolder::create(std::filesystem::temp_directory_path(), "cli-spool-");
  ASSERT_TRUE(temp);
  std::string data(3 << 20, 'x');
  std::istringstream input(data);
  auto digest = spool(input, temp->path() / "out");
  ASSERT_TRUE(digest) << digest.error().message;
  EXPECT_EQ(*digest, sha256_hex(data));
  EXPECT_EQ(std::filesystem::file_size(temp->path() / "out"), data.size());
}

}  // namespace
}  // namespace baton::cli
