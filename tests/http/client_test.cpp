#include "http/client.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "common/files.hpp"
#include "common/sha256.hpp"
#include "http/multipart.hpp"
#include "http/server.hpp"
#include "support.hpp"

namespace baton::http {
namespace {

namespace stdfs = std::filesystem;
using testing::RunningServer;

files::TempFolder temp_folder() {
  auto folder = files::TempFolder::create(stdfs::temp_directory_path(), "baton-http-test-");
  if (!folder) throw std::runtime_error(folder.error().message);
  return std::move(folder).value();
}

void write_random_file(const stdfs::path& path, std::size_t size, unsigned seed) {
  std::ofstream out(path, std::ios::binary);
  std::mt19937 random(seed);
  std::string block(std::min<std::size_t>(size, 1 << 20), '\0');
  while (size > 0) {
    std::size_t n = std::min(size, block.size());
    for (std::size_t i = 0; i < n; ++i)
      block[i] = static_cast<char>(random() & 0xff);
    out.write(block.data(), static_cast<std::streamsize>(n));
    size -= n;
  }
}

std::size_t entries(const stdfs::path& folder) {
  return static_cast<std::size_t>(
      std::distance(stdfs::directory_iterator(folder), stdfs::directory_iterator()));
}

// A one-connection HTTP server on a unix socket, as the Docker Engine is: it records each
// request (head and Content-Length body) and answers with a fixed JSON body.
class UnixServer {
 public:
  explicit UnixServer(stdfs::path path) : path_(std::move(path)) {
    listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path_.c_str());
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(listener_, 4) != 0) {
      throw std::runtime_error("cannot listen on " + path_.string());
    }
    thread_ = std::thread([this] { serve(); });
  }
  ~UnixServer() {
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    thread_.join();
  }
  UnixServer(const UnixServer&) = delete;
  UnixServer& operator=(const UnixServer&) = delete;

  std::vector<std::string> heads() const {
    std::lock_guard lock(mutex_);
    return heads_;
  }
  std::vector<std::size_t> body_sizes() const {
    std::lock_guard lock(mutex_);
    return body_sizes_;
  }
  int connections() const {
    std::lock_guard lock(mutex_);
    return connections_;
  }

 private:
  void serve() {
    for (;;) {
      int fd = ::accept(listener_, nullptr, nullptr);
      if (fd < 0) return;
      {
        std::lock_guard lock(mutex_);
        ++connections_;
      }
      std::string data;
      char buffer[65536];
      for (;;) {
        std::size_t head_end = data.find("\r\n\r\n");
        if (head_end == std::string::npos) {
          ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
          if (n <= 0) break;
          data.append(buffer, static_cast<std::size_t>(n));
          continue;
        }
        std::string head = data.substr(0, head_end + 4);
        std::size_t length = 0;
        if (std::size_t at = head.find("Content-Length: "); at != std::string::npos) {
          length = std::stoul(head.substr(at + 16));
        }
        while (data.size() < head.size() + length) {
          ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
          if (n <= 0) break;
          data.append(buffer, static_cast<std::size_t>(n));
        }
        {
          std::lock_guard lock(mutex_);
          heads_.push_back(head);
          body_sizes_.push_back(length);
        }
        data.erase(0, head.size() + length);
        std::string body = "{\"ApiVersion\":\"1.41\"}";
        std::string answer =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + body;
        ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
      }
      ::close(fd);
    }
  }

  stdfs::path path_;
  int listener_ = -1;
  mutable std::mutex mutex_;
  std::vector<std::string> heads_;
  std::vector<std::size_t> body_sizes_;
  int connections_ = 0;
  std::thread thread_;
};

TEST(Client, UnixSocketRequestsAreWellFormed) {
  auto folder = temp_folder();
  UnixServer server(folder.path() / "docker.sock");
  ClientOptions options;
  options.unix_socket = (folder.path() / "docker.sock").string();
  options.bearer_token = "s3cret";
  Client client(options);
  ASSERT_TRUE(client.get("http://localhost/v1.41/version").ok());
  std::string large(2 << 20, 'x');
  ASSERT_TRUE(client.request("POST", "http://localhost/v1.41/containers/create", large).ok());
  ASSERT_TRUE(client.request("DELETE", "http://localhost/v1.41/containers/abc?force=1").ok());
  ASSERT_TRUE(testing::wait_until([&] { return server.heads().size() == 3; }));
  auto heads = server.heads();
  EXPECT_EQ(server.connections(), 1);  // keep-alive over the socket
  EXPECT_EQ(heads[0].rfind("GET /v1.41/version HTTP/1.1\r\n", 0), 0u) << heads[0];
  EXPECT_NE(heads[0].find("Authorization: Bearer s3cret\r\n"), std::string::npos);
  EXPECT_EQ(heads[1].rfind("POST /v1.41/containers/create HTTP/1.1\r\n", 0), 0u);
  EXPECT_EQ(heads[1].find("Expect:"), std::string::npos) << heads[1];
  EXPECT_NE(heads[1].find("Content-Type: application/json\r\n"), std::string::npos);
  EXPECT_EQ(server.body_sizes()[1], large.size());
  EXPECT_EQ(heads[2].rfind("DELETE /v1.41/containers/abc?force=1 HTTP/1.1\r\n", 0), 0u);
  EXPECT_EQ(heads[2].find("Content-Type"), std::string::npos);
}

TEST(Client, UnreachableNamesTheUrl) {
  unsigned short port = testing::unused_port();
  std::string url = "http://127.0.0.1:" + std::to_string(port) + "/v2/bundles";
  Client client;
  auto response = client.get(url);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code, Errc::unavailable);
  EXPECT_EQ(response.error().message.rfind("cannot reach " + url + ": ", 0), 0u)
      << response.error().message;

  ClientOptions options;
  options.unix_socket = "/nonexistent/docker.sock";
  Client docker(options);
  auto down = docker.get("http://localhost/v1.41/version");
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().code, Errc::unavailable);
  EXPECT_NE(down.error().message.find("unix socket /nonexistent/docker.sock"), std::string::npos);

  auto malformed = client.get("nope://x");
  ASSERT_FALSE(malformed.ok());
  EXPECT_EQ(malformed.error().code, Errc::invalid);

  auto bad_header = client.request("GET", "http://127.0.0.1:1/", {}, {{"X-A", "b\r\nc"}});
  ASSERT_FALSE(bad_header.ok());
  EXPECT_EQ(bad_header.error().code, Errc::invalid);
}

TEST(Client, TimeoutIsUnavailable) {
  Router router;
  std::vector<ResponderPtr> kept;
  std::mutex mutex;
  router.add_async("GET", "/never", [&](const Request&, ResponderPtr responder) {
    std::lock_guard lock(mutex);
    kept.push_back(std::move(responder));
  });
  RunningServer running(std::move(router));
  ClientOptions options;
  options.timeout = std::chrono::milliseconds(200);
  Client client(options);
  auto response = client.get(running.url("/never"));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code, Errc::unavailable);
  EXPECT_NE(response.error().message.find("cannot reach " + running.url("/never")),
            std::string::npos);
  running.stop();
}

TEST(Client, DownloadWritesTheFileOrNothing) {
  auto folder = temp_folder();
  stdfs::path served = folder.path() / "served.zip";
  write_random_file(served, 3 << 20, 3);
  auto served_content = files::read(served);
  ASSERT_TRUE(served_content.ok());
  auto shared = std::make_shared<const std::string>(*served_content);
  Router router;
  router.add("GET", "/bundles/{digest}", [&](const Request& request) {
    if (request.params.at("digest") != "abc") {
      return Response::error(404,
                             "no bundle file with digest '" + request.params.at("digest") + "'");
    }
    Response response;
    response.headers["Content-Type"] = "application/zip";
    response.shared_body = shared;
    return response;
  });
  RunningServer running(std::move(router));

  stdfs::path target_folder = folder.path() / "cache";
  stdfs::create_directories(target_folder);
  Client client;
  std::uint64_t last_done = 0;
  auto ok = client.download(running.url("/bundles/abc"), target_folder / "abc.zip",
                            [&](std::uint64_t done, std::uint64_t) {
                              last_done = done;
                              return true;
                            });
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->status, 200);
  EXPECT_TRUE(ok->body.empty());
  EXPECT_EQ(last_done, 3u << 20);
  EXPECT_EQ(*sha256_file_hex(target_folder / "abc.zip"), *sha256_file_hex(served));
  EXPECT_EQ(entries(target_folder), 1u);  // no temporary sibling left

  auto missing = client.download(running.url("/bundles/def"), target_folder / "def.zip");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::not_found);
  EXPECT_NE(missing.error().message.find("no bundle file with digest 'def'"), std::string::npos)
      << missing.error().message;
  EXPECT_FALSE(stdfs::exists(target_folder / "def.zip"));
  EXPECT_EQ(entries(target_folder), 1u);

  // A failed download leaves an existing file alone.
  auto again = client.download(running.url("/bundles/xyz"), target_folder / "abc.zip");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(*sha256_file_hex(target_folder / "abc.zip"), *sha256_file_hex(served));

  // Cancelled through progress: no file.
  auto cancelled = client.download(running.url("/bundles/abc"), target_folder / "c.zip",
                                   [](std::uint64_t done, std::uint64_t) { return done == 0; });
  ASSERT_FALSE(cancelled.ok());
  EXPECT_NE(cancelled.error().message.find("cancelled"), std::string::npos);
  EXPECT_EQ(entries(target_folder), 1u);
}

// The core's `POST /v2/bundles`, reduced: a stream route feeding the multipart parser, which
// writes file parts to disk and keeps fields in memory.
class FormSink : public BodySink {
 public:
  FormSink(std::string_view boundary, stdfs::path folder) : folder_(std::move(folder)) {
    MultipartParser::Callbacks callbacks;
    callbacks.on_part_begin = [this](const MultipartPart& part) -> Status {
      current_ = part;
      if (!part.file_name.empty()) {
        out_.open(folder_ / part.file_name, std::ios::binary);
        if (!out_) return make_error(Errc::io, "cannot create " + part.file_name);
      }
      return {};
    };
    callbacks.on_part_data = [this](std::string_view data) -> Status {
      largest_ = std::max(largest_, data.size());
      if (current_.file_name.empty()) {
        fields_[current_.name] += data;
      } else {
        out_.write(data.data(), static_cast<std::streamsize>(data.size()));
      }
      return {};
    };
    callbacks.on_part_end = [this]() -> Status {
      if (!current_.file_name.empty()) {
        out_.close();
        files_ += current_.name + "=" + current_.file_name + ";";
      }
      return {};
    };
    parser_.emplace(boundary, std::move(callbacks));
  }
  Status write(std::string_view chunk) override { return parser_->feed(chunk); }
  Response finish() override {
    if (auto done = parser_->finish(); !done.ok()) return error_response(done.error());
    std::string body = "{\"files\":\"" + files_ +
                       "\",\"bundleConf\":" + json_quote(fields_["bundleConf"]) +
                       ",\"largest\":" + std::to_string(largest_) + "}";
    return Response::json(200, body);
  }

 private:
  stdfs::path folder_;
  std::optional<MultipartParser> parser_;
  MultipartPart current_;
  std::ofstream out_;
  std::map<std::string, std::string> fields_;
  std::string files_;
  std::size_t largest_ = 0;
};

TEST(Client, MultipartUploadEndToEnd) {
  auto folder = temp_folder();
  stdfs::path received = folder.path() / "received";
  stdfs::create_directories(received);
  Router router;
  router.add_stream(
      "POST", "/v2/bundles",
      [&](const Request& request) -> Result<std::unique_ptr<BodySink>> {
        BATON_ASSIGN_OR_RETURN(
            std::string boundary,
            MultipartParser::boundary_of(request.header("Content-Type").value_or("")));
        return std::unique_ptr<BodySink>(std::make_unique<FormSink>(boundary, received));
      },
      std::uint64_t{1} << 30);
  RunningServer running(std::move(router));

  stdfs::path bundle = folder.path() / "web-v1-0123.zip";
  stdfs::path configuration = folder.path() / "config.zip";
  write_random_file(bundle, (8 << 20) + 17, 11);
  write_random_file(configuration, 1000, 12);
  std::vector<FormPart> parts = {
      {.name = "bundleConf", .content = "name = \"web\"\n"},
      {.name = "bundle", .path = bundle},
      {.name = "configuration",
       .file_name = "renamed.zip",
       .path = configuration,
       .content_type = "application/zip"},
  };
  Client client;
  std::uint64_t last_done = 0;
  std::uint64_t last_total = 0;
  auto response = client.post_form(running.url("/v2/bundles"), parts,
                                   [&](std::uint64_t done, std::uint64_t total) {
                                     last_done = done;
                                     last_total = total;
                                     return true;
                                   });
  ASSERT_TRUE(response.ok()) << response.error().message;
  ASSERT_EQ(response->status, 200) << response->body;
  EXPECT_NE(response->body.find("\"files\":\"bundle=web-v1-0123.zip;configuration=renamed.zip;\""),
            std::string::npos)
      << response->body;
  EXPECT_NE(response->body.find("\"bundleConf\":\"name = \\\"web\\\"\\n\""), std::string::npos);
  EXPECT_EQ(*sha256_file_hex(received / "web-v1-0123.zip"), *sha256_file_hex(bundle));
  EXPECT_EQ(*sha256_file_hex(received / "renamed.zip"), *sha256_file_hex(configuration));
  EXPECT_GT(last_total, std::uint64_t{8} << 20);
  EXPECT_EQ(last_done, last_total);

  // A missing file part is refused before anything is sent.
  parts[1].path = folder.path() / "missing.zip";
  auto missing = client.post_form(running.url("/v2/bundles"), parts);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::not_found);
  EXPECT_NE(missing.error().message.find("missing.zip"), std::string::npos);

  // Not multipart: the sink factory refuses with the parser's message.
  auto plain = client.request("POST", running.url("/v2/bundles"), "{}");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->status, 400);
  EXPECT_EQ(error_message(*plain), "Content-Type 'application/json' is not multipart/form-data");
}

TEST(Client, SendFileProgressCanCancel) {
  auto folder = temp_folder();
  stdfs::path file = folder.path() / "context.tar";
  write_random_file(file, 4 << 20, 5);
  Router router;
  router.add_stream(
      "POST", "/build",
      [](const Request&) -> Result<std::unique_ptr<BodySink>> {
        struct Discard : BodySink {
          Status write(std::string_view) override { return {}; }
          Response finish() override { return Response::json(200, "{}"); }
        };
        return std::unique_ptr<BodySink>(std::make_unique<Discard>());
      },
      std::uint64_t{1} << 30);
  RunningServer running(std::move(router));
  Client client;
  auto cancelled =
      client.send_file("POST", running.url("/build"), file, {{"Content-Type", "application/x-tar"}},
                       [](std::uint64_t done, std::uint64_t) { return done < (1 << 20); });
  ASSERT_FALSE(cancelled.ok());
  EXPECT_NE(cancelled.error().message.find("cancelled by the caller"), std::string::npos);

  auto missing = client.send_file("POST", running.url("/build"), folder.path() / "nope.tar");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::not_found);
  EXPECT_NE(missing.error().message.find("nope.tar"), std::string::npos);

  auto sent = client.send_file("POST", running.url("/build"), file);
  ASSERT_TRUE(sent.ok()) << sent.error().message;
  EXPECT_EQ(sent->status, 200);
}

}  // namespace
}  // namespace baton::http
