// The CLI's credentials: flags over environment over settings file, paths relative to the
// settings file, https:// hosts, and errors that name where a setting came from.

#include "cli/credentials.hpp"

#include <gtest/gtest.h>

#include <map>

#include "cli/core_address.hpp"
#include "common/files.hpp"
#include "tests/cli/support/certificates.hpp"

namespace baton::cli {
namespace {

namespace stdfs = std::filesystem;

SettingsLookup env_of(std::map<std::string, std::string> values) {
  return [values = std::move(values)](std::string_view name) -> std::optional<std::string> {
    auto it = values.find(std::string(name));
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

class CredentialsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    folder_ = new files::TempFolder(
        files::TempFolder::create(stdfs::temp_directory_path(), "baton-credentials-").value());
    pki_ = new baton::testing::Pki(
        baton::testing::make_pki(folder_->path() / "pki", {{"alice", "admin"}}));
  }
  static void TearDownTestSuite() {
    delete pki_;
    delete folder_;
  }
  static files::TempFolder* folder_;
  static baton::testing::Pki* pki_;
};

files::TempFolder* CredentialsTest::folder_ = nullptr;
baton::testing::Pki* CredentialsTest::pki_ = nullptr;

TEST_F(CredentialsTest, FlagsWinOverEnvironmentOverSettings) {
  auto settings = parse_settings(
      "# mine\nhost = https://core.example.com\nca = pki/ca.pem\n"
      "token = from-settings\n",
      folder_->path() / "settings.conf");
  ASSERT_TRUE(settings.ok()) << settings.error().message;
  auto from_file = resolve_credentials({}, env_of({}), *settings);
  ASSERT_TRUE(from_file.ok()) << from_file.error().message;
  EXPECT_EQ(from_file->token, "from-settings");
  EXPECT_EQ(from_file->tls.ca, folder_->path() / "pki" / "ca.pem");  // relative to the file

  auto from_env = resolve_credentials({}, env_of({{"BATON_TOKEN", "from-env"}}), *settings);
  ASSERT_TRUE(from_env.ok());
  EXPECT_EQ(from_env->token, "from-env");
  auto from_flag = resolve_credentials(CredentialFlags{.token = "from-flag"},
                                       env_of({{"BATON_TOKEN", "from-env"}}), *settings);
  ASSERT_TRUE(from_flag.ok());
  EXPECT_EQ(from_flag->token, "from-flag");

  auto address = resolve_core_address(std::nullopt, std::nullopt, env_of({}), *settings);
  ASSERT_TRUE(address.ok()) << address.error().message;
  EXPECT_EQ(address->url(), "https://core.example.com:443");
  auto flagged = resolve_core_address(std::string("https://10.0.0.1:9005"), std::nullopt,
                                      env_of({}), *settings);
  ASSERT_TRUE(flagged.ok());
  EXPECT_EQ(flagged->url(), "https://10.0.0.1:9005");
}

TEST_F(CredentialsTest, TokenFileAndClientCertificate) {
  ASSERT_TRUE(files::write_atomic(folder_->path() / "alice.token", "secret-from-file\n").ok());
  auto settings = parse_settings("token-file = alice.token\n", folder_->path() / "settings.conf");
  ASSERT_TRUE(settings.ok());
  auto credentials = resolve_credentials({},
                                         env_of({{"BATON_CERT", pki_->cert("alice").string()},
                                                 {"BATON_KEY", pki_->key("alice").string()}}),
                                         *settings);
  ASSERT_TRUE(credentials.ok()) << credentials.error().message;
  EXPECT_EQ(credentials->token, "secret-from-file");
  EXPECT_EQ(credentials->tls.certificate, pki_->cert("alice"));
}

TEST_F(CredentialsTest, ErrorsNameTheSourceAndTheFile) {
  Settings none;
  auto missing = resolve_credentials(CredentialFlags{.ca = "/no/such/ca.pem"}, env_of({}), none);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("--ca"), std::string::npos) << missing.error().message;
  EXPECT_NE(missing.error().message.find("/no/such/ca.pem"), std::string::npos);

  auto mismatch = resolve_credentials({},
                                      env_of({{"BATON_CERT", pki_->cert("alice").string()},
                                              {"BATON_KEY", pki_->key("server").string()}}),
                                      none);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.error().message.find("does not match"), std::string::npos)
      << mismatch.error().message;
  EXPECT_NE(mismatch.error().message.find("BATON_KEY"), std::string::npos);

  auto half =
      resolve_credentials(CredentialFlags{.cert = pki_->cert("alice").string()}, env_of({}), none);
  ASSERT_FALSE(half.ok());
  EXPECT_NE(half.error().message.find("--cert is given without a key"), std::string::npos)
      << half.error().message;

  auto bad = parse_settings("host = x\ncolour = blue\n", "/home/ann/.baton/settings.conf");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("/home/ann/.baton/settings.conf, line 2"), std::string::npos)
      << bad.error().message;
  auto no_settings =
      read_settings(env_of({{"BATON_HOME", (folder_->path() / "nowhere").string()}}));
  ASSERT_TRUE(no_settings.ok());
  EXPECT_TRUE(no_settings->values.empty());
}

}  // namespace
}  // namespace baton::cli
