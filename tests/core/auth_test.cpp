// Who may do what on the core: the tokens file, the level each route needs, and a real core
// over HTTPS refusing (401/403, nothing changed) and allowing per level, by token and by client
// certificate.

#include "core/auth.hpp"

#include <gtest/gtest.h>

#include "common/files.hpp"
#include "common/sha256.hpp"
#include "tests/cli/support/certificates.hpp"
#include "tests/core/support.hpp"

namespace baton::core::testing {
namespace {

const std::string kAdminToken = "admin-token-0123456789";
const std::string kReadToken = "read-token-0123456789";
const std::string kAgentToken = "agent-token-0123456789";

TEST(TokensTest, ParsesLevelsNamesAndDigests) {
  auto tokens = Tokens::parse(
      "# who may do what\n"
      "admin alice " +
          kAdminToken +
          "\n\n"
          "read  grafana sha256:" +
          sha256_hex(kReadToken) + "   # stored as a digest\n",
      "tokens");
  ASSERT_TRUE(tokens.ok()) << tokens.error().message;
  EXPECT_EQ(tokens->size(), 2u);
  auto alice = tokens->find(kAdminToken);
  ASSERT_TRUE(alice.has_value());
  EXPECT_EQ(alice->name, "alice");
  EXPECT_EQ(alice->level, Level::admin);
  auto grafana = tokens->find(kReadToken);
  ASSERT_TRUE(grafana.has_value());
  EXPECT_EQ(grafana->name, "grafana");
  EXPECT_EQ(grafana->level, Level::read);
  EXPECT_FALSE(tokens->find("nobody-knows-this-token").has_value());
  EXPECT_FALSE(tokens->find("").has_value());
}

TEST(TokensTest, ErrorsNameTheLineButNeverTheToken) {
  auto expect_error = [](const std::string& text, const std::string& part) {
    auto tokens = Tokens::parse(text, "tokens file /etc/baton/tokens");
    ASSERT_FALSE(tokens.ok()) << text;
    EXPECT_NE(tokens.error().message.find(part), std::string::npos) << tokens.error().message;
    EXPECT_NE(tokens.error().message.find("/etc/baton/tokens, line "), std::string::npos);
    EXPECT_EQ(tokens.error().message.find("short-secret"), std::string::npos);
  };
  expect_error("root alice " + kAdminToken, "unknown level 'root'");
  expect_error("admin alice", "expected '<level> <name> <token>'");
  expect_error("admin alice short-secret", "shorter than 16");
  expect_error("read bob sha256:abc", "64 lower-case hex");
  expect_error("admin a " + kAdminToken + "\nread b " + kAdminToken, "line 2");
}

TEST(NeedTest, EachRouteNeedsItsLevel) {
  EXPECT_EQ(need_of("GET", "/v2/bundles"), Need::read);
  EXPECT_EQ(need_of("GET", "/v2/bundles/abc/logs"), Need::read);
  EXPECT_EQ(need_of("GET", "/v2/agents"), Need::read);
  EXPECT_EQ(need_of("GET", "/v2/history"), Need::read);
  EXPECT_EQ(need_of("POST", "/v2/bundles"), Need::admin);
  EXPECT_EQ(need_of("PUT", "/v2/bundles/abc"), Need::admin);
  EXPECT_EQ(need_of("DELETE", "/v2/bundles/abc"), Need::admin);
  EXPECT_EQ(need_of("POST", "/v2/history/3/load"), Need::admin);
  EXPECT_EQ(need_of("PATCH", "/v2/whatever"), Need::admin);  // unknown: the strict side
  EXPECT_EQ(need_of("POST", "/v2/agents"), Need::agent);
  EXPECT_EQ(need_of("PUT", "/v2/agents/agent-1/status"), Need::agent);
  EXPECT_EQ(need_of("GET", "/v2/agents/agent-1/assignment"), Need::agent);
  EXPECT_EQ(need_of("GET", "/v2/bundles/files/" + std::string(64, 'a')), Need::agent);
  EXPECT_EQ(need_of("GET", "/v2/configurations/files/" + std::string(64, 'a')), Need::agent);
  EXPECT_EQ(need_of("GET", "/services/web/x"), Need::lookup);
  EXPECT_EQ(need_of("GET", "/v2/service-hosts/web"), Need::lookup);

  EXPECT_TRUE(satisfies(Level::admin, Need::read));
  EXPECT_FALSE(satisfies(Level::read, Need::admin));
  EXPECT_FALSE(satisfies(Level::agent, Need::read));
  EXPECT_FALSE(satisfies(Level::admin, Need::agent));
  EXPECT_TRUE(satisfies(Level::agent, Need::lookup));
}

TEST(CertificateTest, TheOuNamesTheLevel) {
  auto admin = certificate_credential({"CN=alice,OU=admin", "alice", {"admin"}});
  ASSERT_TRUE(admin.ok());
  EXPECT_EQ(admin->level, Level::admin);
  EXPECT_EQ(admin->name, "alice");
  auto none = certificate_credential({"CN=carol,OU=sales", "carol", {"sales"}});
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("CN=carol,OU=sales"), std::string::npos);
  EXPECT_FALSE(certificate_credential({"CN=x", "x", {"read", "admin"}}).ok());
}

// A core over HTTPS with a tokens file and client certificates.
class SecureCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    work_ = temp_folder("baton-auth-test-");
    pki_ = baton::testing::make_pki(work_ / "pki", {{"alice", "admin"}, {"bob", "read"}});
    ASSERT_TRUE(files::write_atomic(work_ / "tokens",
                                    "admin alice " + kAdminToken +
                                        "\nread grafana sha256:" + sha256_hex(kReadToken) +
                                        "\nagent agents " + kAgentToken + "\n")
                    .ok());
    CoreOptions options = TestCore::test_options();
    options.tls = {pki_.cert("server"), pki_.key("server"), {}};
    options.tokens = work_ / "tokens";
    core_ = std::make_unique<TestCore>(options);
  }
  void TearDown() override {
    core_.reset();
    files::remove_tree(work_);
  }

  http::Client client(const std::string& token = {}) {
    return http::Client(http::ClientOptions{
        .timeout = std::chrono::seconds(20), .bearer_token = token, .tls = {pki_.ca(), {}, {}}});
  }
  http::Response call(const std::string& token, const std::string& method,
                      const std::string& path) {
    auto answer = client(token).request(method, core_->url(path));
    if (!answer) throw std::runtime_error(answer.error().message);
    return *answer;
  }
  http::Response load(const std::string& token, const MadeFile& bundle) {
    auto answer = client(token).post_form(core_->url("/v2/bundles"), load_parts(bundle));
    if (!answer) throw std::runtime_error(answer.error().message);
    return *answer;
  }
  std::size_t stored_files() {
    std::size_t count = 0;
    std::error_code error;
    for (const char* folder : {"files", "tmp"}) {
      for ([[maybe_unused]] const auto& entry :
           stdfs::recursive_directory_iterator(core_->data() / folder, error)) {
        ++count;
      }
    }
    return count;
  }

  stdfs::path work_;
  baton::testing::Pki pki_;
  std::unique_ptr<TestCore> core_;
};

TEST_F(SecureCoreTest, NoCredentialIs401AndChangesNothing) {
  EXPECT_TRUE(core_->service().url().starts_with("https://"));
  auto listing = call("", "GET", "/v2/bundles");
  EXPECT_EQ(listing.status, 401);
  EXPECT_EQ(listing.headers.count("WWW-Authenticate"), 1u);
  EXPECT_NE(http::error_message(listing).find("GET /v2/bundles needs a credential of level read"),
            std::string::npos)
      << listing.body;

  MadeFile b = make_bundle(work_, BundleSpec{.name = "guarded"});
  const std::size_t before = stored_files();
  auto anonymous = load("", b);
  EXPECT_EQ(anonymous.status, 401);
  auto unknown = load("not-a-token-anyone-has", b);
  EXPECT_EQ(unknown.status, 401);
  EXPECT_NE(unknown.headers.at("WWW-Authenticate").find("invalid_token"), std::string::npos);
  EXPECT_NE(http::error_message(unknown).find("not known"), std::string::npos);
  auto reader = load(kReadToken, b);
  EXPECT_EQ(reader.status, 403);
  EXPECT_NE(http::error_message(reader).find("credential grafana (level read)"), std::string::npos)
      << reader.body;
  EXPECT_NE(http::error_message(reader).find("needs level admin"), std::string::npos);
  auto agent = load(kAgentToken, b);
  EXPECT_EQ(agent.status, 403);
  // No file kept, no bundle loaded, no history entry.
  EXPECT_EQ(stored_files(), before);
  EXPECT_EQ(call(kReadToken, "GET", "/v2/bundles").body, "[]");
  EXPECT_EQ(call(kReadToken, "GET", "/v2/history").body, "[]");
}

TEST_F(SecureCoreTest, EachLevelDoesWhatItMay) {
  MadeFile b = make_bundle(work_, BundleSpec{.name = "leveled"});
  auto loaded = load(kAdminToken, b);
  ASSERT_EQ(loaded.status, 200) << loaded.body;
  std::string id = json::parse(loaded.body).at("bundleId");

  // read: looks, may not scale; the refused scale changes nothing.
  EXPECT_EQ(call(kReadToken, "GET", "/v2/bundles/" + id).status, 200);
  EXPECT_EQ(call(kReadToken, "GET", "/v2/agents").status, 200);
  EXPECT_EQ(call(kReadToken, "GET", "/v2/members").status, 200);
  EXPECT_EQ(call(kReadToken, "GET", "/v2/bundles/" + id + "/events").status, 200);
  EXPECT_EQ(call(kReadToken, "GET", "/v2/service-hosts/leveled").status, 200);
  auto scale = call(kReadToken, "PUT", "/v2/bundles/" + id + "?scale=3");
  EXPECT_EQ(scale.status, 403);
  EXPECT_NE(http::error_message(scale).find("may not PUT /v2/bundles/" + id), std::string::npos)
      << scale.body;
  auto shown = json::parse(call(kReadToken, "GET", "/v2/bundles/" + id).body);
  EXPECT_EQ(shown.at("bundleScale").at("scale"), 0);
  EXPECT_EQ(call(kReadToken, "DELETE", "/v2/bundles/" + id).status, 403);

  // agent: the agent protocol and lookups, not the control API.
  EXPECT_EQ(call(kAgentToken, "GET", "/v2/bundles").status, 403);
  EXPECT_EQ(call(kAgentToken, "GET", "/v2/service-hosts/leveled").status, 200);
  EXPECT_EQ(call(kAgentToken, "GET", "/v2/bundles/files/" + b.digest).status, 200);
  EXPECT_EQ(call(kReadToken, "GET", "/v2/bundles/files/" + b.digest).status, 403);
  EXPECT_EQ(call("", "POST", "/v2/agents").status, 401);
  EXPECT_EQ(call(kReadToken, "POST", "/v2/agents").status, 403);
  EXPECT_EQ(json::parse(call(kReadToken, "GET", "/v2/agents").body).size(), 0u);

  // admin: changes.
  auto scaled = call(kAdminToken, "PUT", "/v2/bundles/" + id + "?scale=2");
  EXPECT_EQ(scaled.status, 200) << scaled.body;
  shown = json::parse(call(kAdminToken, "GET", "/v2/bundles/" + id).body);
  EXPECT_EQ(shown.at("bundleScale").at("scale"), 2);
}

TEST_F(SecureCoreTest, ClientCertificatesCarryTheirLevel) {
  CoreOptions options = TestCore::test_options();
  options.tls = {pki_.cert("server"), pki_.key("server"), pki_.ca()};
  TestCore mutual(options);
  auto with_cert = [&](const std::string& name) {
    return http::Client(http::ClientOptions{.timeout = std::chrono::seconds(20),
                                            .tls = {pki_.ca(), pki_.cert(name), pki_.key(name)}});
  };
  MadeFile b = make_bundle(work_, BundleSpec{.name = "certified"});
  auto bob = with_cert("bob");
  auto refused = bob.post_form(mutual.url("/v2/bundles"), load_parts(b));
  ASSERT_TRUE(refused.ok()) << refused.error().message;
  EXPECT_EQ(refused->status, 403);
  EXPECT_NE(http::error_message(*refused).find("credential bob (level read)"), std::string::npos);
  auto alice = with_cert("alice");
  auto loaded = alice.post_form(mutual.url("/v2/bundles"), load_parts(b));
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  EXPECT_EQ(loaded->status, 200) << loaded->body;
  auto listing = bob.get(mutual.url("/v2/bundles"));
  ASSERT_TRUE(listing.ok());
  EXPECT_EQ(listing->status, 200);
  // Without a certificate the handshake fails: nothing is answered.
  EXPECT_FALSE(client().get(mutual.url("/v2/bundles")).ok());
}

TEST(SecureCoreStartTest, UnusableFilesStopTheStart) {
  auto work = temp_folder("baton-auth-start-");
  CoreOptions options = TestCore::test_options();
  options.data = work / "data";
  options.tokens = work / "missing-tokens";
  auto started = CoreService::start(options);
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.error().message.find("missing-tokens"), std::string::npos);
  options.tokens.clear();
  options.tls.certificate = work / "missing.pem";
  options.tls.key = work / "missing.key";
  started = CoreService::start(options);
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.error().message.find("missing.pem"), std::string::npos)
      << started.error().message;
  files::remove_tree(work);
}

}  // namespace
}  // namespace baton::core::testing
