// HTTPS and mutual TLS on the real server and client, with certificates made by openssl for the
// test; the authorize hook refusing before any handler runs; TLS files that name themselves.

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>

#include "common/files.hpp"
#include "http/client.hpp"
#include "http/server.hpp"
#include "tests/cli/support/certificates.hpp"
#include "tests/http/support.hpp"

namespace baton::http::testing {
namespace {

namespace stdfs = std::filesystem;

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    folder_ = new files::TempFolder(
        files::TempFolder::create(stdfs::temp_directory_path(), "baton-tls-test-").value());
    pki_ = new baton::testing::Pki(
        baton::testing::make_pki(folder_->path(), {{"alice", "admin"}, {"bob", "read"}}));
  }
  static void TearDownTestSuite() {
    delete pki_;
    delete folder_;
  }

  // Echoes who called: the client certificate's CN and OUs.
  static Router whoami_router(std::atomic<int>* calls = nullptr) {
    Router router;
    router.add("GET", "/whoami", [calls](const Request& request) {
      if (calls != nullptr) ++*calls;
      std::string body = "anonymous";
      if (request.client_certificate) {
        body = request.client_certificate->common_name;
        for (const auto& unit : request.client_certificate->organizational_units)
          body += "/" + unit;
      }
      return Response::text(200, body);
    });
    return router;
  }

  static ServerOptions tls_options(bool mutual) {
    ServerOptions options;
    options.tls.certificate = pki_->cert("server");
    options.tls.key = pki_->key("server");
    if (mutual) options.tls.client_ca = pki_->ca();
    return options;
  }

  static std::string https(const RunningServer& server, const std::string& host = "127.0.0.1") {
    return "https://" + host + ":" + std::to_string(server.port()) + "/whoami";
  }

  static ClientOptions client(const std::string& name = "") {
    ClientOptions options;
    options.timeout = std::chrono::seconds(20);
    options.tls.ca = pki_->ca();
    if (!name.empty()) {
      options.tls.certificate = pki_->cert(name);
      options.tls.key = pki_->key(name);
    }
    return options;
  }

  static files::TempFolder* folder_;
  static baton::testing::Pki* pki_;
};

files::TempFolder* TlsTest::folder_ = nullptr;
baton::testing::Pki* TlsTest::pki_ = nullptr;

TEST_F(TlsTest, ServesHttpsToClientsThatTrustItsCa) {
  RunningServer server(whoami_router(), tls_options(false));
  for (const std::string host : {"127.0.0.1", "localhost"}) {
    Client trusting(client());
    auto answer = trusting.get(https(server, host));
    ASSERT_TRUE(answer.ok()) << answer.error().message;
    EXPECT_EQ(answer->status, 200);
    EXPECT_EQ(answer->body, "anonymous");
  }
  // Keep-alive over TLS: several requests on one client.
  Client again(client());
  for (int i = 0; i < 3; ++i) {
    auto answer = again.get(https(server));
    ASSERT_TRUE(answer.ok()) << answer.error().message;
  }

  // A client that does not trust the CA refuses the server, and says which CA it used.
  ClientOptions other = client();
  other.tls.ca = pki_->other_ca();
  auto refused = Client(other).get(https(server));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("TLS with"), std::string::npos) << refused.error().message;
  EXPECT_NE(refused.error().message.find(pki_->other_ca().string()), std::string::npos)
      << refused.error().message;

  // Plain HTTP to the TLS port gets no answer.
  auto plain = Client(ClientOptions{.timeout = std::chrono::seconds(5)})
                   .get("http://127.0.0.1:" + std::to_string(server.port()) + "/whoami");
  EXPECT_TRUE(!plain.ok() || plain->status != 200);
}

TEST_F(TlsTest, MutualTlsRequiresAClientCertificateFromTheCa) {
  std::atomic<int> calls{0};
  RunningServer server(whoami_router(&calls), tls_options(true));

  auto alice = Client(client("alice")).get(https(server));
  ASSERT_TRUE(alice.ok()) << alice.error().message;
  EXPECT_EQ(alice->body, "alice/admin");
  auto bob = Client(client("bob")).get(https(server));
  ASSERT_TRUE(bob.ok()) << bob.error().message;
  EXPECT_EQ(bob->body, "bob/read");
  EXPECT_EQ(calls.load(), 2);

  // No certificate, or one from another CA: the handshake fails, no handler runs.
  auto none = Client(client()).get(https(server));
  EXPECT_FALSE(none.ok());
  ClientOptions intruder = client();
  intruder.tls.certificate = pki_->cert("intruder");
  intruder.tls.key = pki_->key("intruder");
  auto stranger = Client(intruder).get(https(server));
  EXPECT_FALSE(stranger.ok());
  EXPECT_EQ(calls.load(), 2);
}

TEST_F(TlsTest, AuthorizeRefusesBeforeTheHandlerAndTheBody) {
  std::atomic<int> calls{0};
  ServerOptions options = tls_options(false);
  options.authorize = [](const Request& request) -> std::optional<Response> {
    if (request.header("Authorization") == std::optional<std::string>("Bearer let-me-in")) {
      return std::nullopt;
    }
    auto refusal = Response::error(401, "who are you?");
    refusal.headers["WWW-Authenticate"] = "Bearer realm=\"test\"";
    return refusal;
  };
  Router router = whoami_router(&calls);
  std::atomic<int> sinks{0};
  router.add_stream(
      "POST", "/upload",
      [&sinks](const Request&) -> Result<std::unique_ptr<BodySink>> {
        ++sinks;
        return make_error(Errc::internal, "not reached");
      },
      std::size_t{1} << 30);
  RunningServer server(std::move(router), options);

  Client anonymous(client());
  auto refused = anonymous.get(https(server));
  ASSERT_TRUE(refused.ok()) << refused.error().message;
  EXPECT_EQ(refused->status, 401);
  EXPECT_EQ(error_message(*refused), "who are you?");
  EXPECT_EQ(refused->headers.count("WWW-Authenticate"), 1u);
  // A large upload is refused without the sink being made.
  auto big = folder_->path() / "big.bin";
  ASSERT_TRUE(files::write_atomic(big, std::string(4 << 20, 'x')).ok());
  auto upload = anonymous.send_file(
      "POST", "https://127.0.0.1:" + std::to_string(server.port()) + "/upload", big);
  // The refusal goes out before the body is read; over TLS the close that follows may reach the
  // client before it read the answer, so the answer may be lost: the sink never is made.
  if (upload.ok()) {
    EXPECT_EQ(upload->status, 401);
  }
  EXPECT_EQ(sinks.load(), 0);
  EXPECT_EQ(calls.load(), 0);

  ClientOptions with_token = client();
  with_token.bearer_token = "let-me-in";
  auto allowed = Client(with_token).get(https(server));
  ASSERT_TRUE(allowed.ok()) << allowed.error().message;
  EXPECT_EQ(allowed->status, 200);
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(TlsTest, UnusableFilesNameThemselves) {
  boost::asio::io_context io;
  ServerOptions missing;
  missing.tls.certificate = folder_->path() / "nothing.pem";
  missing.tls.key = pki_->key("server");
  auto no_file = Server::start(io, missing, Router());
  ASSERT_FALSE(no_file.ok());
  EXPECT_NE(no_file.error().message.find("nothing.pem"), std::string::npos)
      << no_file.error().message;

  ServerOptions mismatched;
  mismatched.tls.certificate = pki_->cert("server");
  mismatched.tls.key = pki_->key("alice");
  auto wrong_key = Server::start(io, mismatched, Router());
  ASSERT_FALSE(wrong_key.ok());
  EXPECT_NE(wrong_key.error().message.find("does not match"), std::string::npos)
      << wrong_key.error().message;
  EXPECT_NE(wrong_key.error().message.find(pki_->key("alice").string()), std::string::npos);

  ServerOptions not_a_ca = tls_options(false);
  not_a_ca.tls.client_ca = pki_->key("bob");  // a key, not a certificate
  auto bad_ca = Server::start(io, not_a_ca, Router());
  ASSERT_FALSE(bad_ca.ok());
  EXPECT_NE(bad_ca.error().message.find(pki_->key("bob").string()), std::string::npos)
      << bad_ca.error().message;

  // The client checks its files before the first request.
  ClientOptions bad_client = client();
  bad_client.tls.key = pki_->key("bob");
  bad_client.tls.certificate = pki_->cert("alice");
  auto refused = Client(bad_client).get("https://127.0.0.1:1/whoami");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::invalid);
  EXPECT_NE(refused.error().message.find("does not match"), std::string::npos)
      << refused.error().message;
  ClientOptions no_ca = client();
  no_ca.tls.ca = folder_->path() / "missing-ca.pem";
  auto missing_ca = Client(no_ca).get("https://127.0.0.1:1/whoami");
  ASSERT_FALSE(missing_ca.ok());
  EXPECT_NE(missing_ca.error().message.find("missing-ca.pem"), std::string::npos);
}

}  // namespace
}  // namespace baton::http::testing
