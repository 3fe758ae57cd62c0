#include "http/client.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>

#include "common/files.hpp"
#include "common/text.hpp"

namespace baton::http {

namespace {

namespace stdfs = std::filesystem;

constexpr std::size_t kMaxErrorBody = std::size_t{64} * 1024;  // of a failed download or stream

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool is_success(int status) {
  return status >= 200 && status < 300;
}

bool iequals(std::string_view a, std::string_view b) {
  CaseInsensitiveLess less;
  return !less(a, b) && !less(b, a);
}

// The state one transfer's callbacks share.
struct Transfer {
  Response response;
  const DataCallback* on_data = nullptr;  // stream(): 2xx bodies go here
  int out_fd = -1;                        // download(): 2xx bodies go here
  std::string out_name;
  std::string write_error;
  bool stopped_by_caller = false;

  int in_fd = -1;  // send_file()
  std::string in_name;
  std::string read_error;

  const Progress* progress = nullptr;
  bool upload = true;
  bool cancelled = false;
  std::uint64_t reported_done = ~std::uint64_t{0};
  std::uint64_t reported_total = ~std::uint64_t{0};
};

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  std::size_t n = size * count;
  std::string_view line = text::trim(std::string_view(data, n));
  if (line.substr(0, 5) == "HTTP/") {
    // A new status line (after 100 Continue, say) starts the headers afresh.
    transfer->response.headers.clear();
    std::size_t space = line.find(' ');
    if (space != std::string_view::npos) {
      auto status = text::parse_integer(line.substr(space + 1, 3));
      if (status) transfer->response.status = static_cast<int>(*status);
    }
    return n;
  }
  std::size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  std::string name(text::trim(line.substr(0, colon)));
  std::string value(text::trim(line.substr(colon + 1)));
  auto [it, inserted] = transfer->response.headers.emplace(std::move(name), value);
  if (!inserted) it->second += ", " + value;
  return n;
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  std::size_t n = size * count;
  bool success = is_success(transfer->response.status);
  if (transfer->on_data != nullptr && success) {
    if (!(*transfer->on_data)(std::string_view(data, n))) {
      transfer->stopped_by_caller = true;
      return 0;  // curl stops with CURLE_WRITE_ERROR
    }
    return n;
  }
  if (transfer->out_fd >= 0 && success) {
    const char* p = data;
    std::size_t left = n;
    while (left > 0) {
      ssize_t written = ::write(transfer->out_fd, p, left);
      if (written < 0) {
        if (errno == EINTR) continue;
        transfer->write_error = transfer->out_name + ": write failed: " + std::strerror(errno);
        return 0;
      }
      p += written;
      left -= static_cast<std::size_t>(written);
    }
    return n;
  }
  std::string& body = transfer->response.body;
  bool capped = transfer->on_data != nullptr || transfer->out_fd >= 0;
  if (capped) {
    body.append(data, std::min(n, kMaxErrorBody - std::min(kMaxErrorBody, body.size())));
  } else {
    body.append(data, n);
  }
  return n;
}

std::size_t on_read(char* buffer, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  for (;;) {
    ssize_t n = ::read(transfer->in_fd, buffer, size * count);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    transfer->read_error = transfer->in_name + ": read failed: " + std::strerror(errno);
    return CURL_READFUNC_ABORT;
  }
}

int on_progress(void* user, curl_off_t download_total, curl_off_t download_now,
                curl_off_t upload_total, curl_off_t upload_now) {
  auto* transfer = static_cast<Transfer*>(user);
  if (transfer->progress == nullptr || !*transfer->progress) return 0;
  auto done = static_cast<std::uint64_t>(transfer->upload ? upload_now : download_now);
  auto total = static_cast<std::uint64_t>(transfer->upload ? upload_total : download_total);
  if (done == transfer->reported_done && total == transfer->reported_total) return 0;
  transfer->reported_done = done;
  transfer->reported_total = total;
  if ((*transfer->progress)(done, total)) return 0;
  transfer->cancelled = true;
  return 1;
}

class SlistGuard {
 public:
  SlistGuard() = default;
  ~SlistGuard() { curl_slist_free_all(list_); }
  SlistGuard(const SlistGuard&) = delete;
  SlistGuard& operator=(const SlistGuard&) = delete;
  void add(const std::string& line) { list_ = curl_slist_append(list_, line.c_str()); }
  curl_slist* get() const { return list_; }

 private:
  curl_slist* list_ = nullptr;
};

class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

enum class Timeout { whole, stall, none };

}  // namespace

struct Client::Impl {
  explicit Impl(ClientOptions options_in) : options(std::move(options_in)) {
    global_init();
    curl = curl_easy_init();
  }
  ~Impl() {
    if (curl != nullptr) curl_easy_cleanup(curl);
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // Resets the handle (keeping its connections) and sets what every transfer needs.
  // `default_type` applies when `headers` has no Content-Type: "" removes the one curl would
  // add, nullptr leaves curl's (the form boundary).
  Status prepare(const std::string& url, const Headers& headers, const char* default_type,
                 Timeout timeout, Transfer& transfer, SlistGuard& header_list) {
    if (curl == nullptr) return make_error(Errc::internal, "curl_easy_init failed");
    if (!tls_checked) tls_checked = tls_files_in_use() ? check_client_files(options.tls) : Status();
    if (!*tls_checked) return tls_checked->error();
    curl_easy_reset(curl);
    error[0] = '\0';
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(options.connect_timeout.count()));
    long timeout_ms = static_cast<long>(options.timeout.count());
    if (timeout == Timeout::whole && timeout_ms > 0) {
      curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
    } else if (timeout == Timeout::stall && timeout_ms > 0) {
      curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
      curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, std::max(1L, (timeout_ms + 999) / 1000));
    }
    if (!options.unix_socket.empty()) {
      curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, options.unix_socket.c_str());
    }
    curl_easy_setopt(curl, CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_2);
    if (!options.tls.ca.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, options.tls.ca.c_str());
    if (!options.tls.certificate.empty()) {
      curl_easy_setopt(curl, CURLOPT_SSLCERT, options.tls.certificate.c_str());
      curl_easy_setopt(curl, CURLOPT_SSLKEY, options.tls.key.c_str());
    }
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, transfer.progress != nullptr ? 0L : 1L);

    bool has_type = false;
    for (const auto& [name, value] : headers) {
      if (name.find_first_of(":\r\n") != std::string::npos ||
          value.find_first_of("\r\n") != std::string::npos) {
        std::string message = "header '";
        message += name;
        message += "' for ";
        message += url;
        message += " holds a line break or a colon in its name";
        return make_error(Errc::invalid, std::move(message));
      }
      has_type = has_type || iequals(name, "Content-Type");
      // "Name;" is curl's way to send a header with an empty value.
      std::string line = name;
      if (value.empty()) {
        line += ';';
      } else {
        line += ": ";
        line += value;
      }
      header_list.add(line);
    }
    // Large bodies would otherwise wait a second for "100 Continue".
    header_list.add("Expect:");
    if (!has_type && default_type != nullptr) {
      header_list.add(*default_type == '\0' ? std::string("Content-Type:")
                                            : "Content-Type: " + std::string(default_type));
    }
    if (!options.bearer_token.empty() &&
        headers.find(std::string_view("Authorization")) == headers.end()) {
      header_list.add("Authorization: Bearer " + options.bearer_token);
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list.get());
    return {};
  }

  Result<Response> perform(std::string_view method, const std::string& url, Transfer& transfer) {
    CURLcode code = curl_easy_perform(curl);
    if (code == CURLE_WRITE_ERROR && transfer.stopped_by_caller) code = CURLE_OK;
    if (code != CURLE_OK) {
      std::string what = std::string(method) + " " + url;
      if (!transfer.write_error.empty()) return make_error(Errc::io, transfer.write_error);
      if (!transfer.read_error.empty()) return make_error(Errc::io, transfer.read_error);
      if (transfer.cancelled) return make_error(Errc::io, what + ": cancelled by the caller");
      std::string reason = error[0] != '\0' ? std::string(error) : curl_easy_strerror(code);
      switch (code) {
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_OPERATION_TIMEDOUT: {
          std::string via =
              options.unix_socket.empty() ? "" : " (unix socket " + options.unix_socket + ")";
          return make_error(Errc::unavailable, "cannot reach " + url + via + ": " + reason);
        }
        case CURLE_URL_MALFORMAT:
        case CURLE_UNSUPPORTED_PROTOCOL:
          return make_error(Errc::invalid, "malformed URL '" + url + "': " + reason);
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
          return make_error(Errc::unavailable,
                            "TLS with " + url + " failed: " + reason + tls_hint());
        default:
          return make_error(Errc::io, what + ": " + reason);
      }
    }
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    transfer.response.status = static_cast<int>(status);
    return std::move(transfer.response);
  }

  // Method and body of request() and stream().
  void set_method(std::string_view method, std::string_view body) {
    std::string verb(method);
    if (verb == "GET" && body.empty()) {
      curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    } else if (verb == "HEAD") {
      curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (!body.empty() || verb == "POST" || verb == "PUT" || verb == "PATCH") {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
      if (verb != "POST") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, verb.c_str());
    } else {
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, verb.c_str());
    }
  }

  bool tls_files_in_use() const {
    return !options.tls.ca.empty() || !options.tls.certificate.empty() || !options.tls.key.empty();
  }
  // Which files were in play, for an error: the message then names them.
  std::string tls_hint() const {
    std::string out;
    if (!options.tls.ca.empty()) out += "CA " + options.tls.ca.string();
    if (!options.tls.certificate.empty()) {
      out += std::string(out.empty() ? "" : ", ") + "client certificate " +
             options.tls.certificate.string();
    }
    return out.empty() ? " (no CA file given: the system's CAs were used)" : " (" + out + ")";
  }

  ClientOptions options;
  std::optional<Status> tls_checked;
  CURL* curl = nullptr;
  char error[CURL_ERROR_SIZE] = {};
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

Result<Response> Client::request(std::string_view method, const std::string& url,
                                 std::string_view body, const Headers& headers) {
  Transfer transfer;
  SlistGuard header_list;
  BATON_TRY(impl_->prepare(url, headers, body.empty() ? "" : "application/json", Timeout::whole,
                           transfer, header_list));
  impl_->set_method(method, body);
  return impl_->perform(method, url, transfer);
}

Result<Response> Client::stream(std::string_view method, const std::string& url,
                                std::string_view body, const Headers& headers,
                                const DataCallback& on_data) {
  Transfer transfer;
  transfer.on_data = &on_data;
  SlistGuard header_list;
  BATON_TRY(impl_->prepare(url, headers, body.empty() ? "" : "application/json", Timeout::none,
                           transfer, header_list));
  impl_->set_method(method, body);
  return impl_->perform(method, url, transfer);
}

Result<Response> Client::send_file(std::string_view method, const std::string& url,
                                   const std::filesystem::path& file, const Headers& headers,
                                   const Progress& progress) {
  FdGuard fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    int err = errno;
    if (err == ENOENT) return make_error(Errc::not_found, file.string() + ": no such file");
    return make_error(Errc::io, file.string() + ": cannot open: " + std::strerror(err));
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
    return make_error(Errc::invalid, file.string() + ": not a regular file");
  }
  Transfer transfer;
  transfer.in_fd = fd.get();
  transfer.in_name = file.string();
  transfer.progress = progress ? &progress : nullptr;
  transfer.upload = true;
  SlistGuard header_list;
  BATON_TRY(impl_->prepare(url, headers, "application/octet-stream", Timeout::stall, transfer,
                           header_list));
  CURL* curl = impl_->curl;
  curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(info.st_size));
  curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
  curl_easy_setopt(curl, CURLOPT_READDATA, &transfer);
  std::string verb(method);
  if (verb != "PUT") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, verb.c_str());
  return impl_->perform(method, url, transfer);
}

Result<Response> Client::post_form(const std::string& url, const std::vector<FormPart>& parts,
                                   const Progress& progress) {
  Transfer transfer;
  transfer.progress = progress ? &progress : nullptr;
  transfer.upload = true;
  SlistGuard header_list;
  // The Content-Type (with its boundary) comes from curl's mime code.
  Headers none;
  BATON_TRY(impl_->prepare(url, none, nullptr, Timeout::stall, transfer, header_list));
  CURL* curl = impl_->curl;

  std::unique_ptr<curl_mime, decltype(&curl_mime_free)> mime(curl_mime_init(curl), curl_mime_free);
  for (const FormPart& part : parts) {
    curl_mimepart* mime_part = curl_mime_addpart(mime.get());
    curl_mime_name(mime_part, part.name.c_str());
    if (!part.path.empty()) {
      std::error_code ec;
      if (!stdfs::is_regular_file(part.path, ec)) {
        return make_error(stdfs::exists(part.path, ec) ? Errc::invalid : Errc::not_found,
                          part.path.string() + ": no such file (form part '" + part.name + "')");
      }
      curl_mime_filedata(mime_part, part.path.c_str());
      std::string file_name =
          part.file_name.empty() ? part.path.filename().string() : part.file_name;
      curl_mime_filename(mime_part, file_name.c_str());
      curl_mime_type(mime_part, part.content_type.empty() ? "application/octet-stream"
                                                          : part.content_type.c_str());
    } else {
      curl_mime_data(mime_part, part.content.data(), part.content.size());
      if (!part.file_name.empty()) {
        curl_mime_filename(mime_part, part.file_name.c_str());
        curl_mime_type(mime_part, part.content_type.empty() ? "application/octet-stream"
                                                            : part.content_type.c_str());
      } else if (!part.content_type.empty()) {
        curl_mime_type(mime_part, part.content_type.c_str());
      }
    }
  }
  curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime.get());
  return impl_->perform("POST", url, transfer);
}

Result<Response> Client::download(const std::string& url, const std::filesystem::path& file,
                                  const Progress& progress) {
  stdfs::path folder = file.has_parent_path() ? file.parent_path() : stdfs::path(".");
  std::string pattern = (folder / ("." + file.filename().string() + ".part-XXXXXX")).string();
  std::vector<char> temp_name(pattern.begin(), pattern.end());
  temp_name.push_back('\0');
  FdGuard fd(::mkostemp(temp_name.data(), O_CLOEXEC));
  if (fd.get() < 0) {
    return make_error(Errc::io,
                      file.string() + ": cannot create a temporary file: " + std::strerror(errno));
  }
  stdfs::path temp(temp_name.data());
  auto discard = [&] {
    ::close(fd.release());
    ::unlink(temp.c_str());
  };

  Transfer transfer;
  transfer.out_fd = fd.get();
  transfer.out_name = temp.string();
  transfer.progress = progress ? &progress : nullptr;
  transfer.upload = false;
  SlistGuard header_list;
  Headers none;
  if (auto prepared = impl_->prepare(url, none, nullptr, Timeout::stall, transfer, header_list);
      !prepared) {
    discard();
    return std::move(prepared).error();
  }
  curl_easy_setopt(impl_->curl, CURLOPT_HTTPGET, 1L);
  auto response = impl_->perform("GET", url, transfer);
  if (!response) {
    discard();
    return std::move(response).error();
  }
  if (!is_success(response->status)) {
    discard();
    return make_error(errc_for_status(response->status), "GET " + url + ": HTTP " +
                                                             std::to_string(response->status) +
                                                             ": " + error_message(*response));
  }
  if (::fsync(fd.get()) != 0) {
    std::string reason = std::strerror(errno);
    discard();
    return make_error(Errc::io, temp.string() + ": fsync failed: " + reason);
  }
  ::close(fd.release());
  if (::rename(temp.c_str(), file.c_str()) != 0) {
    std::string reason = std::strerror(errno);
    ::unlink(temp.c_str());
    return make_error(Errc::io, file.string() + ": rename failed: " + reason);
  }
  BATON_TRY(files::sync_folder(folder));
  return response;
}

}  // namespace baton::http
