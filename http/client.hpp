#pragma once
// A blocking HTTP client on libcurl. One Client per thread (it keeps its connection alive).
// Unix sockets are supported for the Docker Engine API.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "http/message.hpp"
#include "http/tls.hpp"

namespace baton::http {

struct ClientOptions {
  std::string unix_socket;  // when set, every request goes over this socket; URL host is ignored
  std::chrono::milliseconds connect_timeout{5000};
  // request(): the whole transfer. send_file/post_form/download: the longest stall (no byte
  // moving either way). stream(): not applied (a follow may be quiet for long). 0 = none.
  std::chrono::milliseconds timeout{30000};
  std::string bearer_token;  // sent as Authorization: Bearer <token>
  // For https:// URLs: the CA to trust, the client certificate. The files are checked before
  // the first request; an unusable one fails every request with Errc::invalid naming it.
  TlsClientSettings tls;
};

struct FormPart {
  std::string name;
  std::string file_name;       // empty for a plain field (a `path` part defaults to its name)
  std::string content;         // used when `path` is empty
  std::filesystem::path path;  // streamed from disk when set
  std::string content_type;    // empty: application/octet-stream for files, none for fields
};

// Called with bytes sent (or received, for download) and the total; return false to abort.
using Progress = std::function<bool(std::uint64_t done, std::uint64_t total)>;
// Called with each piece of a streamed response body; return false to stop the transfer.
using DataCallback = std::function<bool(std::string_view)>;

class Client {
 public:
  explicit Client(ClientOptions options = {});
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  // Errors: Errc::unavailable when the server cannot be reached or does not answer in time
  // ("cannot reach <url>: <curl's reason>"), Errc::invalid for a malformed URL or header,
  // Errc::io on another transfer failure. Any HTTP status is a successful Result.
  // A non-empty body without a Content-Type header is sent as application/json.
  Result<Response> request(std::string_view method, const std::string& url,
                           std::string_view body = {}, const Headers& headers = {});
  Result<Response> get(const std::string& url) { return request("GET", url); }

  // The body of a 2xx response goes to `on_data` as it arrives instead of into Response::body
  // (another status fills Response::body, for error_message()). Stopping through `on_data` is
  // a success.
  Result<Response> stream(std::string_view method, const std::string& url, std::string_view body,
                          const Headers& headers, const DataCallback& on_data);

  // Body read from a file (e.g. a Docker build context), never held in memory.
  Result<Response> send_file(std::string_view method, const std::string& url,
                             const std::filesystem::path& file, const Headers& headers = {},
                             const Progress& progress = {});

  // multipart/form-data, file parts streamed from disk.
  Result<Response> post_form(const std::string& url, const std::vector<FormPart>& parts,
                             const Progress& progress = {});

  // A 2xx body is written to `file` through a temporary sibling (fsynced, then renamed over
  // `file`). Anything else leaves no file and fails with errc_for_status(status) and the
  // server's error message (e.g. Errc::not_found for 404).
  Result<Response> download(const std::string& url, const std::filesystem::path& file,
                            const Progress& progress = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace baton::http
