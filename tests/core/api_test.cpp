// Malformed requests, limits, server-sent events and logs fetched from (fake) agents.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <thread>

#include "http/server.hpp"
#include "support.hpp"

namespace baton::core::testing {
namespace {

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override { work = temp_folder("baton-core-work-"); }
  void TearDown() override { files::remove_tree(work); }
  stdfs::path work;
};

TEST_F(ApiTest, MalformedRequestsGetJsonErrorsAndTheCoreStaysUp) {
  auto options = TestCore::test_options();
  options.max_request_bytes = 4096;
  options.max_upload_bytes = 64 * 1024;
  TestCore core(options);
  http::Client client;
  auto send = [&](const std::string& method, const std::string& path, const std::string& body,
                  http::Headers headers = {}) {
    auto r = client.request(method, core.url(path), body, headers);
    if (!r) throw std::runtime_error(r.error().message);
    return *r;
  };
  auto error_of = [](const http::Response& r) {
    return json::parse(r.body, nullptr, false).value("error", std::string());
  };

  // Not multipart, a bad boundary, a body that never closes, garbage.
  http::Headers json_type{{"Content-Type", "application/json"}};
  auto r = send("POST", "/v2/bundles", "{}", json_type);
  EXPECT_EQ(r.status, 400);
  EXPECT_FALSE(error_of(r).empty());
  http::Headers multipart{{"Content-Type", "multipart/form-data; boundary=xyz"}};
  r = send("POST", "/v2/bundles", "--xyz\r\nContent-Disposition: form-data; name=\"bundle\"",
           multipart);
  EXPECT_EQ(r.status, 400) << r.body;
  r = send("POST", "/v2/bundles", "garbage without any boundary", multipart);
  EXPECT_EQ(r.status, 400) << r.body;
  http::Headers no_boundary{{"Content-Type", "multipart/form-data"}};
  EXPECT_EQ(send("POST", "/v2/bundles", "x", no_boundary).status, 400);
  // Over the upload limit.
  r = send("POST", "/v2/bundles", std::string(128 * 1024, 'x'), multipart);
  EXPECT_EQ(r.status, 413);
  // Over the in-memory request limit.
  EXPECT_EQ(send("POST", "/v2/agents", std::string(8192, ' ')).status, 413);
  // Huge headers.
  http::Headers huge{{"X-Filler", std::string(64 * 1024, 'h')}};
  auto big = client.request("GET", core.url("/v2/bundles"), {}, huge);
  if (big.ok()) {
    EXPECT_EQ(big->status, 431);
  }  // else the server closed the connection: refused either way
  // Wrong methods and unknown paths.
  r = send("PATCH", "/v2/bundles", "");
  EXPECT_EQ(r.status, 405);
  EXPECT_NE(r.headers["Allow"].find("GET"), std::string::npos);
  EXPECT_EQ(send("DELETE", "/v2/bundles", "").status, 405);
  EXPECT_EQ(send("POST", "/v2/bundles/abc", "").status, 405);
  r = send("GET", "/v3/nothing", "");
  EXPECT_EQ(r.status, 404);
  EXPECT_FALSE(error_of(r).empty());
  // Bad JSON to the agent routes.
  EXPECT_EQ(send("POST", "/v2/agents", "{\"name\":").status, 400);
  EXPECT_EQ(send("POST", "/v2/agents", "{\"name\": 5, \"address\": []}").status, 400);
  EXPECT_EQ(send("PUT", "/v2/agents/a/status", "\xff\xfe").status, 400);
  r = send("GET", "/v2/bundles/%00%01", "");
  EXPECT_TRUE(r.status == 400 || r.status == 404) << r.status;
  EXPECT_EQ(send("GET", "/v2/bundles/events?events=nope", "").status, 400);
  EXPECT_EQ(send("GET", "/v2/agents/a/assignment?waitMs=-5", "").status, 400);

  // Still serving, nothing left behind.
  EXPECT_EQ(send("GET", "/v2/bundles", "").status, 200);
  EXPECT_TRUE(stdfs::is_empty(core.data() / "tmp"));
}

TEST_F(ApiTest, AnUploadCutShortLeavesNoFiles) {
  TestCore core;
  MadeFile b = make_bundle(work, BundleSpec{.name = "cut", .payload = std::string(4096, 'p')});
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(core.service().port());
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  std::string body = "--cut\r\nContent-Disposition: form-data; name=\"bundle\"; filename=\"" +
                     b.file_name + "\"\r\n\r\n" + std::string(100000, 'x');
  std::string head =
      "POST /v2/bundles HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
      "boundary=cut\r\nContent-Length: 10000000\r\n\r\n";
  std::string all = head + body;
  ASSERT_EQ(::send(fd, all.data(), all.size(), MSG_NOSIGNAL), static_cast<ssize_t>(all.size()));
  // The part's file exists while the body arrives...
  ASSERT_TRUE(wait_until([&] { return !stdfs::is_empty(core.data() / "tmp"); }));
  ::close(fd);
  // ...and goes with the connection.
  EXPECT_TRUE(wait_until([&] { return stdfs::is_empty(core.data() / "tmp"); }));
  EXPECT_TRUE(stdfs::is_empty(core.data() / "files"));
  EXPECT_EQ(core.get("/v2/bundles").status, 200);
}

TEST_F(ApiTest, EventsStreamAsServerSentEvents) {
  TestCore core;
  MadeFile b = make_bundle(work, BundleSpec{.name = "watched"});
  std::string received;
  std::atomic<bool> subscribed{false};
  std::thread reader([&] {
    http::Client client(http::ClientOptions{.timeout = std::chrono::milliseconds(0)});
    auto r = client.stream("GET", core.url("/v2/bundles/events?events=bundleInstallationAdded"), {},
                           {}, [&](std::string_view chunk) {
                             subscribed = true;
                             received.append(chunk);
                             return received.find("data:") == std::string::npos;
                           });
    EXPECT_TRUE(r.ok());
    if (r.ok()) {
      EXPECT_EQ(r->status, 200);
      EXPECT_EQ(r->headers["Content-Type"], "text/event-stream");
    }
  });
  ASSERT_TRUE(wait_until([&] { return subscribed.load(); }));
  std::string id = core.load(b);
  reader.join();
  EXPECT_NE(received.find("event: bundleInstallationAdded\n"), std::string::npos) << received;
  EXPECT_NE(received.find("\"bundleId\":\"" + id + "\""), std::string::npos) << received;
}

TEST_F(ApiTest, EventStreamsGetHeartbeats) {
  TestCore core;  // heartbeats every 500 ms here (15 s by default)
  http::Client client(http::ClientOptions{.timeout = std::chrono::milliseconds(0)});
  std::string received;
  auto r =
      client.stream("GET", core.url("/v2/bundles/events"), {}, {}, [&](std::string_view chunk) {
        received.append(chunk);
        return std::count(received.begin(), received.end(), '\n') < 3;
      });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(received, "\n\n\n");
}

// The agent API the core reads logs from: GET /agent/v1/instances/{id}/logs.
class FakeAgentApi {
 public:
  FakeAgentApi() : guard_(io_.get_executor()) {
    http::Router router;
    router.add_async("GET", "/agent/v1/instances/{id}/logs",
                     [](const http::Request& request, http::ResponderPtr responder) {
                       std::string id = request.params.at("id");
                       std::string lines;
                       for (int i = 0; i < 3; ++i) {
                         lines += json{{"time", "2026-11-22T00:00:0" + std::to_string(i) + "." +
                                                    id.substr(0, 1) + "00000Z"},
                                       {"component", "web"},
                                       {"stream", "stdout"},
                                       {"line", id + " line " + std::to_string(i)}}
                                      .dump() +
                                  "\n";
                       }
                       if (request.query_value("follow").value_or("") == "true") {
                         responder->begin_stream(200, {{"Content-Type", "application/x-ndjson"}});
                         responder->write(lines);
                         responder->end();
                         return;
                       }
                       responder->send(http::Response::text(200, lines));
                     });
    auto started = http::Server::start(io_, http::ServerOptions{}, std::move(router));
    if (!started) throw std::runtime_error(started.error().message);
    server_ = std::move(*started);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~FakeAgentApi() {
    server_->stop();
    guard_.reset();
    thread_.join();
    server_.reset();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }

 private:
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
};

TEST_F(ApiTest, LogsAreFetchedFromTheAgentsAndMerged) {
  TestCore core;
  FakeAgentApi api;
  FakeAgent a(core.url(""), "agent-1"), b(core.url(""), "agent-2");
  a.registration.api_url = api.url();
  b.registration.api_url = api.url() + "/";
  b.registration.address = "127.0.0.2";
  ASSERT_EQ(a.register_agent().status, 200);
  ASSERT_EQ(b.register_agent().status, 200);
  std::string id = core.load(make_bundle(work, BundleSpec{.name = "chatty"}));
  ASSERT_EQ(core.request("PUT", "/v2/bundles/" + id + "?scale=2").status, 200);
  ASSERT_TRUE(wait_until([&] {
    a.run_assigned();
    b.run_assigned();
    return a.instances.size() + b.instances.size() == 2;
  }));
  auto r = core.get("/v2/bundles/" + id + "/logs?count=4");
  ASSERT_EQ(r.status, 200) << r.body;
  json lines = json::parse(r.body);
  ASSERT_EQ(lines.size(), 4u);
  for (std::size_t i = 1; i < lines.size(); ++i) {
    EXPECT_LE(lines[i - 1]["timestamp"].get<std::string>(),
              lines[i]["timestamp"].get<std::string>());
  }
  EXPECT_TRUE(lines[0]["host"] == "127.0.0.1" || lines[0]["host"] == "127.0.0.2");
  EXPECT_NE(lines[3]["message"].get<std::string>().find("line 2"), std::string::npos);

  // follow=true streams newline-delimited JSON until the agents end their streams.
  http::Client client(http::ClientOptions{.timeout = std::chrono::milliseconds(0)});
  std::string streamed;
  auto followed = client.stream("GET", core.url("/v2/bundles/" + id + "/logs?count=3&follow=true"),
                                {}, {}, [&](std::string_view chunk) {
                                  streamed.append(chunk);
                                  return true;
                                });
  ASSERT_TRUE(followed.ok()) << followed.error().message;
  EXPECT_EQ(followed->status, 200);
  EXPECT_EQ(std::count(streamed.begin(), streamed.end(), '\n'), 6);
  EXPECT_EQ(core.get("/v2/bundles/nothing/logs").status, 404);
}

TEST_F(ApiTest, LogsOfUnreachableAgentsAre503) {
  TestCore core;
  FakeAgent a(core.url(""), "agent-1");  // api_url points nowhere
  ASSERT_EQ(a.register_agent().status, 200);
  std::string id = core.load(make_bundle(work, BundleSpec{.name = "mute"}));
  EXPECT_EQ(core.get("/v2/bundles/" + id + "/logs").body, "[]");
  ASSERT_EQ(core.request("PUT", "/v2/bundles/" + id + "?scale=1").status, 200);
  ASSERT_TRUE(wait_until([&] {
    a.run_assigned();
    return a.instances.size() == 1;
  }));
  auto r = core.get("/v2/bundles/" + id + "/logs");
  EXPECT_EQ(r.status, 503) << r.body;
}

}  // namespace
}  // namespace baton::core::testing
