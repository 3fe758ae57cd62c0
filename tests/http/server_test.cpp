#include "http/server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "common/files.hpp"
#include "common/sha256.hpp"
#include "http/client.hpp"
#include "support.hpp"

namespace baton::http {
namespace {

namespace stdfs = std::filesystem;
using testing::RawSocket;
using testing::RunningServer;
using testing::wait_until;

// Responders handed over by async handlers, for the test thread to complete.
class Parked {
 public:
  void add(ResponderPtr responder, Request request) {
    std::lock_guard lock(mutex_);
    items_.emplace_back(std::move(responder), std::move(request));
    changed_.notify_all();
  }
  // Waits for the next parked responder (test failure after 20 s).
  std::pair<ResponderPtr, Request> take() {
    std::unique_lock lock(mutex_);
    bool ready = changed_.wait_for(lock, std::chrono::seconds(20), [&] { return !items_.empty(); });
    if (!ready) return {};
    auto item = std::move(items_.front());
    items_.erase(items_.begin());
    return item;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::pair<ResponderPtr, Request>> items_;
};

Router basic_router() {
  Router router;
  router.add("GET", "/v2/bundles", [](const Request&) { return Response::json(200, "[]"); });
  router.add("GET", "/v2/bundles/events",
             [](const Request&) { return Response::text(200, "events"); });
  router.add("GET", "/v2/bundles/{id}", [](const Request& request) {
    return Response::text(200, "get " + request.params.at("id"));
  });
  router.add("DELETE", "/v2/bundles/{id}", [](const Request& request) {
    return Response::text(200, "unload " + request.params.at("id"));
  });
  router.add("GET", "/services/{name}/{rest...}", [](const Request& request) {
    std::string out = request.params.at("name");
    out += "|";
    out += request.params.at("rest");
    out += "|";
    for (const auto& [key, value] : request.query) {
      out += key;
      out += "=";
      out += value;
      out += ";";
    }
    return Response::text(200, out);
  });
  router.add("POST", "/echo", [](const Request& request) {
    Response response = Response::text(200, request.body);
    response.headers["X-Method"] = request.method;
    response.headers["X-Peer"] = request.peer_ip;
    response.headers["X-Path"] = request.path;
    if (auto type = request.header("content-type")) response.headers["X-Type"] = *type;
    return response;
  });
  router.add("GET", "/conflict", [](const Request&) {
    return error_response(make_error(Errc::conflict, "bundle 'web' has running instances"));
  });
  router.add("GET", "/throws",
             [](const Request&) -> Response { throw std::runtime_error("handler bug"); });
  router.add("GET", "/bad-header", [](const Request&) {
    Response response = Response::text(200, "ok");
    response.headers["X-Evil"] = "a\r\nInjected: yes";
    response.headers["Content-Length"] = "999";
    return response;
  });
  return router;
}

TEST(Server, RoutesCapturesAndErrors) {
  RunningServer running(basic_router());
  Client client;

  auto list = client.get(running.url("/v2/bundles"));
  ASSERT_TRUE(list.ok()) << list.error().message;
  EXPECT_EQ(list->status, 200);
  EXPECT_EQ(list->body, "[]");
  EXPECT_EQ(list->headers["content-type"], "application/json");

  EXPECT_EQ(client.get(running.url("/v2/bundles/events"))->body, "events");
  EXPECT_EQ(client.get(running.url("/v2/bundles/abc%20def"))->body, "get abc def");
  EXPECT_EQ(client.request("DELETE", running.url("/v2/bundles/abc"))->body, "unload abc");
  EXPECT_EQ(client.get(running.url("/services/web/a/b/c?x=1&y=a+b%21"))->body,
            "web|a/b/c|x=1;y=a b!;");
  EXPECT_EQ(client.get(running.url("/services/web"))->body, "web||");

  auto missing = client.get(running.url("/nothing/here"));
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(missing->headers["Content-Type"], "application/json");
  EXPECT_EQ(missing->body, "{\"error\":\"not found: /nothing/here\"}");

  auto wrong = client.request("PUT", running.url("/v2/bundles/abc"), "{}");
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(wrong->status, 405);
  EXPECT_EQ(wrong->headers["Allow"], "DELETE, GET");
  EXPECT_EQ(error_message(*wrong),
            "method PUT is not allowed for /v2/bundles/abc (allowed: DELETE, GET)");

  auto conflict = client.get(running.url("/conflict"));
  EXPECT_EQ(conflict->status, 409);
  EXPECT_EQ(conflict->body, "{\"error\":\"bundle 'web' has running instances\"}");

  auto thrown = client.get(running.url("/throws"));
  EXPECT_EQ(thrown->status, 500);
  EXPECT_EQ(error_message(*thrown), "internal error: handler bug");

  auto dots = client.get(running.url("/v2/bundles/%2E%2E"));
  EXPECT_EQ(dots->status, 400);

  auto head = client.request("HEAD", running.url("/v2/bundles/x"));
  ASSERT_TRUE(head.ok()) << head.error().message;
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->headers["Content-Length"], "5");
  EXPECT_EQ(head->body, "");

  // Handlers cannot break the framing or inject headers.
  auto evil = client.get(running.url("/bad-header"));
  ASSERT_TRUE(evil.ok());
  EXPECT_EQ(evil->body, "ok");
  EXPECT_EQ(evil->headers.count("Injected"), 0u);
  EXPECT_EQ(evil->headers["X-Evil"], "a  Injected: yes");
}

TEST(Server, RequestCarriesBodyHeadersAndPeer) {
  RunningServer running(basic_router());
  Client client;
  auto echo = client.request("POST", running.url("/echo?x=1"), "{\"a\":1}",
                             {{"Content-Type", "application/json"}});
  ASSERT_TRUE(echo.ok());
  EXPECT_EQ(echo->body, "{\"a\":1}");
  EXPECT_EQ(echo->headers["X-Method"], "POST");
  EXPECT_EQ(echo->headers["X-Peer"], "127.0.0.1");
  EXPECT_EQ(echo->headers["X-Path"], "/echo");
  EXPECT_EQ(echo->headers["X-Type"], "application/json");
}

TEST(Server, KeepAliveReusesOneConnection) {
  RunningServer running(basic_router());
  Client client;
  for (int i = 0; i < 5; ++i) {
    auto response = client.request("POST", running.url("/echo"), "n" + std::to_string(i));
    ASSERT_TRUE(response.ok());
    EXPECT_EQ(response->body, "n" + std::to_string(i));
  }
  EXPECT_EQ(running.server().connections_accepted(), 1u);

  // Pipelined on a raw socket: both answered in order on the same connection.
  RawSocket socket(running.port());
  ASSERT_TRUE(
      socket.send("GET /v2/bundles/one HTTP/1.1\r\nHost: x\r\n\r\nGET /v2/bundles/two "
                  "HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string first = socket.read_response();
  std::string second = socket.read_response();
  EXPECT_NE(first.find("get one"), std::string::npos) << first;
  EXPECT_NE(second.find("get two"), std::string::npos) << second;

  // HTTP/1.0 without keep-alive: answered, then closed.
  RawSocket old(running.port());
  ASSERT_TRUE(old.send("GET /v2/bundles HTTP/1.0\r\n\r\n"));
  std::string all = old.read_all();
  EXPECT_EQ(all.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << all;
  EXPECT_NE(all.find("Connection: close"), std::string::npos);
}

TEST(Server, ChunkedRequestBodyAndContinue) {
  RunningServer running(basic_router());
  RawSocket socket(running.port());
  ASSERT_TRUE(
      socket.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
  std::string response = socket.read_response();
  EXPECT_EQ(response.rfind("HTTP/1.1 200 OK", 0), 0u) << response;
  EXPECT_EQ(response.substr(response.size() - 11), "hello world");

  ASSERT_TRUE(
      socket.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                  "Expect: 100-continue\r\n\r\n"));
  EXPECT_EQ(socket.read_response(), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(socket.send("body"));
  response = socket.read_response();
  EXPECT_EQ(response.rfind("HTTP/1.1 200 OK", 0), 0u) << response;
  EXPECT_EQ(response.substr(response.size() - 4), "body");
}

TEST(Server, BodyLimitGives413NamingTheLimit) {
  ServerOptions options;
  options.max_body_bytes = 1024;
  RunningServer running(basic_router(), options);
  Client client;
  auto fits = client.request("POST", running.url("/echo"), std::string(1024, 'a'));
  ASSERT_TRUE(fits.ok());
  EXPECT_EQ(fits->status, 200);

  auto big = client.request("POST", running.url("/echo"), std::string(100000, 'a'));
  ASSERT_TRUE(big.ok()) << big.error().message;
  EXPECT_EQ(big->status, 413);
  EXPECT_EQ(error_message(*big), "request body of 100000 bytes exceeds the limit of 1024 bytes");

  // Chunked: the limit is found while reading.
  RawSocket socket(running.port());
  std::string chunk(800, 'b');
  ASSERT_TRUE(
      socket.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "320\r\n" +
                  chunk + "\r\n320\r\n" + chunk + "\r\n0\r\n\r\n"));
  std::string response = socket.read_all();
  EXPECT_EQ(response.rfind("HTTP/1.1 413 Payload Too Large", 0), 0u) << response;
  EXPECT_NE(response.find("exceeds the limit of 1024 bytes"), std::string::npos);
  EXPECT_NE(response.find("Connection: close"), std::string::npos);

  EXPECT_EQ(client.get(running.url("/v2/bundles"))->status, 200);
}

TEST(Server, HeaderLimitGives431) {
  ServerOptions options;
  options.max_header_bytes = 4096;
  RunningServer running(basic_router(), options);
  Client client;
  auto big =
      client.request("GET", running.url("/v2/bundles"), {}, {{"X-Big", std::string(8000, 'h')}});
  ASSERT_TRUE(big.ok()) << big.error().message;
  EXPECT_EQ(big->status, 431);
  EXPECT_EQ(error_message(*big), "request header exceeds the limit of 4096 bytes");
  EXPECT_EQ(client.get(running.url("/v2/bundles"))->status, 200);
}

TEST(Server, MalformedRequestsGet400OrCloseAndTheServerStaysUp) {
  RunningServer running(basic_router(), {}, 2);
  std::vector<std::string> inputs = {
      "garbage\r\n\r\n",
      "GET / HTTP/9.9\r\n\r\n",
      "GET /v2/bundles HTTP/1.1\r\nNo colon here\r\n\r\n",
      "GET /v2/bundles HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
      "GET /v2/bundles HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
      "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n",
      "GET relative HTTP/1.1\r\n\r\n",
      std::string("GET /\0 HTTP/1.1\r\n\r\n", 19),
      "\r\n\r\n\r\n",
      "GET /v2/bundles HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab",  // then closed
  };
  std::mt19937 random(7);
  for (int i = 0; i < 20; ++i) {
    std::string noise(1 + random() % 3000, '\0');
    for (char& c : noise)
      c = static_cast<char>(random() & 0xff);
    inputs.push_back(noise);
  }
  for (const auto& input : inputs) {
    RawSocket socket(running.port());
    ASSERT_TRUE(socket.connected());
    socket.send(input);
    socket.shutdown_write();  // the server sees the end instead of waiting for more
    std::string answer = socket.read_response();
    if (!answer.empty()) {
      EXPECT_EQ(answer.rfind("HTTP/1.1 400 Bad Request", 0), 0u)
          << "input: " << ::testing::PrintToString(input) << "\nanswer: " << answer;
      EXPECT_NE(answer.find("{\"error\":"), std::string::npos);
    }
  }
  Client client;
  auto after = client.get(running.url("/v2/bundles"));
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->status, 200);
}

TEST(Server, AsyncLongPollCompletedFromAnotherThread) {
  Parked parked;
  Router router;
  router.add_async("GET", "/poll/{agent}", [&](const Request& request, ResponderPtr responder) {
    parked.add(std::move(responder), request);
  });
  RunningServer running(std::move(router), {}, 2);

  std::thread completer([&] {
    auto [responder, request] = parked.take();
    ASSERT_TRUE(responder);
    EXPECT_FALSE(responder->closed());
    responder->send(Response::json(200, "{\"agent\":\"" + request.params.at("agent") + "\"}"));
    responder->send(Response::json(500, "ignored"));  // only the first completion counts
    EXPECT_TRUE(responder->closed());
  });
  Client client;
  auto response = client.get(running.url("/poll/agent-1?wait=30"));
  completer.join();
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "{\"agent\":\"agent-1\"}");

  // The connection serves the next request as usual.
  std::thread again([&] { parked.take().first->send(Response::text(201, "second")); });
  auto second = client.get(running.url("/poll/agent-1"));
  again.join();
  EXPECT_EQ(second->status, 201);
  EXPECT_EQ(running.server().connections_accepted(), 1u);
}

TEST(Server, ResponderSeesTheClientGo) {
  Parked parked;
  Router router;
  router.add_async("GET", "/poll", [&](const Request& request, ResponderPtr responder) {
    parked.add(std::move(responder), request);
  });
  RunningServer running(std::move(router));
  std::atomic<int> closes{0};

  RawSocket socket(running.port());
  ASSERT_TRUE(socket.send("GET /poll HTTP/1.1\r\nHost: x\r\n\r\n"));
  ResponderPtr responder = parked.take().first;
  ASSERT_TRUE(responder);
  responder->on_close([&] { ++closes; });
  EXPECT_FALSE(responder->closed());
  socket.close();
  EXPECT_TRUE(wait_until([&] { return closes == 1 && responder->closed(); }));
  // A late on_close runs at once; later use is harmless.
  responder->on_close([&] { ++closes; });
  EXPECT_EQ(closes, 2);
  responder->send(Response::text(200, "too late"));
  EXPECT_TRUE(wait_until([&] { return running.server().connections_open() == 0; }));
}

TEST(Server, DroppedResponderAnswers500) {
  Router router;
  router.add_async("GET", "/drop", [](const Request&, const ResponderPtr&) {});
  RunningServer running(std::move(router));
  Client client;
  auto response = client.get(running.url("/drop"));
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 500);
  EXPECT_EQ(error_message(*response), "internal error: the request was dropped without an answer");
}

TEST(Server, EventStreamArrivesPieceByPiece) {
  Parked parked;
  Router router;
  router.add_async("GET", "/v2/bundles/events",
                   [&](const Request& request, ResponderPtr responder) {
                     parked.add(std::move(responder), request);
                   });
  RunningServer running(std::move(router), {}, 2);

  std::mutex mutex;
  std::string received;
  std::optional<Result<Response>> result;
  std::thread reader([&] {
    Client client;
    auto response = client.stream("GET", running.url("/v2/bundles/events"), {}, {},
                                  [&](std::string_view piece) {
                                    std::lock_guard lock(mutex);
                                    received += piece;
                                    return true;
                                  });
    std::lock_guard lock(mutex);
    result.emplace(std::move(response));
  });

  ResponderPtr responder = parked.take().first;
  ASSERT_TRUE(responder);
  responder->begin_stream(200,
                          {{"Content-Type", "text/event-stream"}, {"Cache-Control", "no-cache"}});
  std::string expected;
  for (int i = 0; i < 5; ++i) {
    std::string event = sse_event("bundleExecutionAdded", "{\"n\":" + std::to_string(i) + "}");
    expected += event;
    responder->write(event);
    // Each event reaches the client before the next is written and before end().
    ASSERT_TRUE(wait_until([&] {
      std::lock_guard lock(mutex);
      return received == expected;
    })) << "event "
        << i << " did not arrive on its own";
  }
  responder->end();
  reader.join();
  ASSERT_TRUE(result && result->ok());
  EXPECT_EQ((*result)->status, 200);
  EXPECT_EQ((*result)->headers["Content-Type"], "text/event-stream");
  EXPECT_EQ((*result)->headers["Transfer-Encoding"], "chunked");
  EXPECT_EQ(received, expected);
}

TEST(Server, StreamStopsWhenTheClientLeaves) {
  Parked parked;
  Router router;
  router.add_async("GET", "/logs", [&](const Request& request, ResponderPtr responder) {
    parked.add(std::move(responder), request);
  });
  RunningServer running(std::move(router));
  std::thread reader([&] {
    Client client;
    int pieces = 0;
    auto response = client.stream("GET", running.url("/logs"), {}, {}, [&](std::string_view) {
      return ++pieces < 2;  // leave after the second piece
    });
    EXPECT_TRUE(response.ok());
  });
  ResponderPtr responder = parked.take().first;
  ASSERT_TRUE(responder);
  std::atomic<bool> closed{false};
  responder->on_close([&] { closed = true; });
  responder->begin_stream(200, {{"Content-Type", "application/x-ndjson"}});
  responder->write("{\"line\":1}\n");
  // The client leaves after the second piece; the server notices while the stream is idle.
  ASSERT_TRUE(wait_until([&] {
    if (!closed) responder->write("{\"line\":2}\n");
    return closed.load();
  }));
  reader.join();
  EXPECT_TRUE(responder->closed());
}

// Writes the body to a temporary file while counting; memory stays at one piece.
class FileSink : public BodySink {
 public:
  struct Stats {
    std::atomic<std::uint64_t> bytes{0};
    std::atomic<std::size_t> largest_piece{0};
    std::atomic<int> finished{0};
    std::atomic<int> destroyed{0};
  };
  FileSink(stdfs::path path, Stats& stats) : path_(std::move(path)), out_(path_), stats_(stats) {}
  ~FileSink() override {
    ++stats_.destroyed;
    if (!finished_) stdfs::remove(path_);
  }
  Status write(std::string_view chunk) override {
    stats_.bytes += chunk.size();
    if (chunk.size() > stats_.largest_piece) stats_.largest_piece = chunk.size();
    sha_.update(chunk);
    out_.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    if (!out_) return make_error(Errc::io, path_.string() + ": write failed");
    return {};
  }
  Response finish() override {
    finished_ = true;
    ++stats_.finished;
    out_.close();
    return Response::json(200, "{\"bytes\":" + std::to_string(stats_.bytes.load()) +
                                   ",\"sha256\":\"" + sha_.finish_hex() + "\"}");
  }

 private:
  stdfs::path path_;
  std::ofstream out_;
  Stats& stats_;
  Sha256 sha_;
  bool finished_ = false;
};

long peak_rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

TEST(Server, StreamedUploadNeverHoldsTheBody) {
  auto folder = files::TempFolder::create(stdfs::temp_directory_path(), "baton-http-test-");
  ASSERT_TRUE(folder.ok());
  stdfs::path source = folder->path() / "upload.bin";
  {
    std::ofstream out(source, std::ios::binary);
    std::mt19937 random(1);
    std::string block(1 << 20, '\0');
    for (int i = 0; i < 50; ++i) {
      for (char& c : block)
        c = static_cast<char>(random() & 0xff);
      out.write(block.data(), static_cast<std::streamsize>(block.size()));
    }
  }
  auto source_digest = sha256_file_hex(source);
  ASSERT_TRUE(source_digest.ok());

  FileSink::Stats stats;
  Router router;
  router.add_stream(
      "POST", "/v2/bundles/{name}",
      [&](const Request& request) -> Result<std::unique_ptr<BodySink>> {
        EXPECT_TRUE(request.body.empty());
        return std::unique_ptr<BodySink>(std::make_unique<FileSink>(
            folder->path() / (request.params.at("name") + ".part"), stats));
      },
      std::uint64_t{64} << 20);
  ServerOptions options;
  options.max_body_bytes = 1024;  // in-memory limit: the streamed route has its own
  RunningServer running(std::move(router), options);

  long rss_before = peak_rss_kib();
  Client client;
  std::uint64_t last_done = 0;
  std::uint64_t last_total = 0;
  auto response = client.send_file("POST", running.url("/v2/bundles/web"), source, {},
                                   [&](std::uint64_t done, std::uint64_t total) {
                                     last_done = done;
                                     last_total = total;
                                     return true;
                                   });
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->status, 200) << response->body;
  EXPECT_EQ(response->body, "{\"bytes\":52428800,\"sha256\":\"" + *source_digest + "\"}");
  EXPECT_EQ(stats.bytes, 52428800u);
  EXPECT_LE(stats.largest_piece, 64u * 1024);
  EXPECT_EQ(last_total, 52428800u);
  EXPECT_EQ(last_done, 52428800u);
  EXPECT_EQ(*sha256_file_hex(folder->path() / "web.part"), *source_digest);
  if (!kSanitized) {
    // Neither side held the 50 MB body (the sanitizer's quarantine would blur this).
    EXPECT_LT(peak_rss_kib() - rss_before, 20 * 1024);
  }
}

TEST(Server, StreamedUploadLimitsAndRefusals) {
  auto folder = files::TempFolder::create(stdfs::temp_directory_path(), "baton-http-test-");
  ASSERT_TRUE(folder.ok());
  FileSink::Stats stats;
  Router router;
  router.add_stream(
      "PUT", "/files/{name}",
      [&](const Request& request) -> Result<std::unique_ptr<BodySink>> {
        if (request.params.at("name") == "taken") {
          return make_error(Errc::conflict, "file 'taken' exists");
        }
        return std::unique_ptr<BodySink>(
            std::make_unique<FileSink>(folder->path() / request.params.at("name"), stats));
      },
      1000);
  RunningServer running(std::move(router));
  Client client;

  auto refused = client.request("PUT", running.url("/files/taken"), "data",
                                {{"Content-Type", "application/octet-stream"}});
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->status, 409);
  EXPECT_EQ(error_message(*refused), "file 'taken' exists");

  auto big = client.request("PUT", running.url("/files/big"), std::string(5000, 'x'));
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->status, 413);
  EXPECT_EQ(error_message(*big), "request body of 5000 bytes exceeds the limit of 1000 bytes");

  // Chunked over the limit: the sink is dropped without finish() and its file is gone.
  RawSocket socket(running.port());
  std::string chunk(700, 'c');
  ASSERT_TRUE(
      socket.send("PUT /files/chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
                  "\r\n\r\n2bc\r\n" +
                  chunk + "\r\n2bc\r\n" + chunk + "\r\n0\r\n\r\n"));
  std::string answer = socket.read_all();
  EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << answer;
  EXPECT_TRUE(wait_until([&] { return stats.destroyed == 1; }));
  EXPECT_EQ(stats.finished, 0);
  EXPECT_FALSE(stdfs::exists(folder->path() / "chunked"));

  auto fits = client.request("PUT", running.url("/files/small"), std::string(1000, 's'));
  ASSERT_TRUE(fits.ok());
  EXPECT_EQ(fits->status, 200);
  EXPECT_EQ(stdfs::file_size(folder->path() / "small"), 1000u);
}

TEST(Server, ConnectionLimit) {
  ServerOptions options;
  options.max_connections = 2;
  RunningServer running(basic_router(), options);
  RawSocket first(running.port());
  RawSocket second(running.port());
  ASSERT_TRUE(wait_until([&] { return running.server().connections_open() == 2; }));
  RawSocket third(running.port());
  std::string answer = third.read_all();
  EXPECT_EQ(answer.rfind("HTTP/1.1 503 Service Unavailable", 0), 0u) << answer;
  EXPECT_NE(answer.find("too many connections (limit 2)"), std::string::npos);
  first.close();
  ASSERT_TRUE(wait_until([&] { return running.server().connections_open() == 1; }));
  Client client;
  EXPECT_EQ(client.get(running.url("/v2/bundles"))->status, 200);
}

TEST(Server, IdleKeepAliveConnectionsTimeOut) {
  ServerOptions options;
  options.idle_timeout = std::chrono::milliseconds(100);
  RunningServer running(basic_router(), options);
  RawSocket socket(running.port());
  ASSERT_TRUE(socket.send("GET /v2/bundles HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_NE(socket.read_response().find("200 OK"), std::string::npos);
  EXPECT_EQ(socket.read_all(), "");  // closed by the server after the idle timeout
  EXPECT_TRUE(wait_until([&] { return running.server().connections_open() == 0; }));
}

TEST(Server, SlowRequestsTimeOut) {
  ServerOptions options;
  options.read_timeout = std::chrono::milliseconds(100);
  RunningServer running(basic_router(), options);
  RawSocket socket(running.port());
  ASSERT_TRUE(socket.send("GET /v2/bundles HTTP/1.1\r\nHo"));
  EXPECT_EQ(socket.read_all(), "");
}

TEST(Server, StopClosesEverythingAndTheIoContextRunsOut) {
  Parked parked;
  Router router;
  router.add_async("GET", "/poll", [&](const Request& request, ResponderPtr responder) {
    parked.add(std::move(responder), request);
  });
  RunningServer running(std::move(router), {}, 2);
  std::atomic<bool> closed{false};
  RawSocket idle(running.port());
  RawSocket polling(running.port());
  ASSERT_TRUE(polling.send("GET /poll HTTP/1.1\r\nHost: x\r\n\r\n"));
  ResponderPtr responder = parked.take().first;
  ASSERT_TRUE(responder);
  responder->on_close([&] { closed = true; });
  running.stop();  // joins the io threads: returns only if the io_context ran out
  EXPECT_TRUE(closed);
  EXPECT_TRUE(responder->closed());
  responder->send(Response::text(200, "after stop"));  // harmless
  EXPECT_EQ(polling.read_all(), "");
  EXPECT_EQ(idle.read_all(), "");
}

TEST(Server, StartErrorsNameTheAddress) {
  RunningServer running(basic_router());
  ServerOptions taken;
  taken.port = running.port();
  Error in_use = testing::start_error(taken);
  EXPECT_EQ(in_use.code, Errc::unavailable);
  EXPECT_NE(in_use.message.find("cannot listen on 127.0.0.1:" + std::to_string(running.port())),
            std::string::npos)
      << in_use.message;

  ServerOptions bad;
  bad.address = "not-an-address";
  Error invalid = testing::start_error(bad);
  EXPECT_EQ(invalid.code, Errc::invalid);
  EXPECT_NE(invalid.message.find("not-an-address:0"), std::string::npos) << invalid.message;
}

TEST(Server, ConcurrentClientsOnTwoIoThreads) {
  Router router;
  router.add("POST", "/echo/{n}", [](const Request& request) {
    return Response::text(200, request.params.at("n") + ":" + request.body);
  });
  std::mutex helpers_mutex;
  std::vector<std::thread> helpers;  // complete async requests from threads of their own
  router.add_async("GET", "/later/{n}", [&](const Request& request, const ResponderPtr& responder) {
    std::lock_guard lock(helpers_mutex);
    helpers.emplace_back([responder, n = request.params.at("n")] {
      responder->send(Response::text(200, "later " + n));
    });
  });
  auto cached = std::make_shared<const std::string>(100 * 1024, 'j');
  router.add("GET", "/cached", [&](const Request&) { return Response::json(200, cached); });
  RunningServer running(std::move(router), {}, 2);

  constexpr int kThreads = 8;
  constexpr int kRequests = 200;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Client client;
      for (int i = 0; i < kRequests; ++i) {
        std::string n = std::to_string(t * kRequests + i);
        Result<Response> response = Response{};
        std::string expected;
        switch (i % 3) {
          case 0:
            response = client.request("POST", running.url("/echo/" + n), "body-" + n);
            expected = n;
            expected += ":body-";
            expected += n;
            break;
          case 1:
            response = client.get(running.url("/later/" + n));
            expected = "later " + n;
            break;
          default:
            response = client.get(running.url("/cached"));
            expected = *cached;
        }
        if (!response.ok() || response->status != 200 || response->body != expected) ++wrong;
      }
    });
  }
  for (auto& thread : threads)
    thread.join();
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(running.server().connections_accepted(), static_cast<std::uint64_t>(kThreads));
  std::lock_guard lock(helpers_mutex);
  for (auto& helper : helpers)
    helper.join();
}

}  // namespace
}  // namespace baton::http
