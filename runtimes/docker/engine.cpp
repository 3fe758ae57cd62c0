#include "runtimes/docker/engine.hpp"

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/text.hpp"
#include "runtimes/docker/curl_setup.hpp"

namespace baton::runtimes::docker {

namespace {

constexpr std::size_t kMaxErrorBody = 64 * 1024;
constexpr std::size_t kMaxPooledHandles = 8;

struct Transfer {
  long status = 0;
  std::string body;  // call(), or a non-2xx stream answer
  const Engine::Sink* sink = nullptr;
  const Engine::Source* source = nullptr;
  std::string source_error;
  Errc source_errc = Errc::io;
  bool source_failed = false;
  std::atomic<bool>* cancelled = nullptr;
};

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  std::size_t n = size * count;
  if (long status = detail::status_of_line(std::string_view(data, n)); status != 0) {
    transfer->status = status;
  }
  return n;
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  std::size_t n = size * count;
  const bool success = transfer->status >= 200 && transfer->status < 300;
  if (transfer->sink != nullptr && success) {
    return (*transfer->sink)(std::string_view(data, n)) ? n : 0;
  }
  if (transfer->sink != nullptr && transfer->body.size() + n > kMaxErrorBody) return n;
  transfer->body.append(data, n);
  return n;
}

std::size_t on_read(char* out, std::size_t size, std::size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  auto got = (*transfer->source)(out, size * count);
  if (!got) {
    transfer->source_failed = true;
    transfer->source_errc = got.error().code;
    transfer->source_error = got.error().message;
    return CURL_READFUNC_ABORT;
  }
  return *got;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* transfer = static_cast<Transfer*>(user);
  return transfer->cancelled != nullptr && transfer->cancelled->load() ? 1 : 0;
}

}  // namespace

struct Engine::Impl {
  std::mutex mutex;
  std::vector<CURL*> idle;
  std::atomic<bool> cancelled{false};

  ~Impl() {
    for (CURL* curl : idle)
      curl_easy_cleanup(curl);
  }

  CURL* take() {
    {
      std::lock_guard lock(mutex);
      if (!idle.empty()) {
        CURL* curl = idle.back();
        idle.pop_back();
        curl_easy_reset(curl);  // keeps the live connection
        return curl;
      }
    }
    return curl_easy_init();
  }

  void give_back(CURL* curl) {
    std::lock_guard lock(mutex);
    if (idle.size() < kMaxPooledHandles) {
      idle.push_back(curl);
    } else {
      curl_easy_cleanup(curl);
    }
  }
};

Engine::Engine(EngineOptions options) : options_(std::move(options)), impl_(new Impl) {
  detail::global_init();
}

Engine::~Engine() = default;

std::string Engine::url(std::string_view path) const {
  return "http://docker/" + options_.api_version + std::string(path);
}

void Engine::cancel_all() {
  impl_->cancelled = true;
}

Result<Reply> Engine::call(std::string_view method, std::string_view path, std::string_view body,
                           std::chrono::milliseconds timeout) {
  CURL* curl = impl_->take();
  if (curl == nullptr) return make_error(Errc::internal, "curl_easy_init failed");
  const std::string target = url(path);
  detail::setup(curl, options_, target, method);
  Transfer transfer;
  char error_text[CURL_ERROR_SIZE] = {};
  curl_slist* headers = curl_slist_append(nullptr, "Expect:");
  if (!body.empty()) headers = curl_slist_append(headers, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  if (method != "GET") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.empty() ? "" : body.data());
  }
  auto limit = timeout.count() > 0 ? timeout : options_.timeout;
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(limit.count()));
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_text);
  transfer.cancelled = &impl_->cancelled;
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &transfer);
  CURLcode code = impl_->cancelled ? CURLE_ABORTED_BY_CALLBACK : curl_easy_perform(curl);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);
  if (code != CURLE_OK) {
    curl_easy_cleanup(curl);  // the connection is in an unknown state
    return make_error(Errc::unavailable, std::string(method) + " " + std::string(path) + ": " +
                                             detail::transport_error(options_, code, error_text));
  }
  impl_->give_back(curl);
  return Reply{transfer.status, std::move(transfer.body)};
}

Result<Reply> Engine::stream(std::string_view method, std::string_view path,
                             std::string_view content_type, const Source& source, std::int64_t size,
                             const Sink& sink) {
  CURL* curl = curl_easy_init();  // a stream may end mid-way: never reuse its connection
  if (curl == nullptr) return make_error(Errc::internal, "curl_easy_init failed");
  const std::string target = url(path);
  detail::setup(curl, options_, target, method);
  Transfer transfer;
  transfer.sink = &sink;
  transfer.cancelled = &impl_->cancelled;
  char error_text[CURL_ERROR_SIZE] = {};
  curl_slist* headers = curl_slist_append(nullptr, "Expect:");
  if (source) {
    transfer.source = &source;
    headers = curl_slist_append(headers, ("Content-Type: " + std::string(content_type)).c_str());
    if (size < 0) headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(curl, CURLOPT_READDATA, &transfer);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(size));
  } else if (method != "GET") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t{0});
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_text);
  CURLcode code = impl_->cancelled ? CURLE_ABORTED_BY_CALLBACK : curl_easy_perform(curl);
  curl_easy_cleanup(curl);
  curl_slist_free_all(headers);
  const std::string what = std::string(method) + " " + std::string(path);
  if (transfer.source_failed) {
    return make_error(transfer.source_errc, what + ": " + transfer.source_error);
  }
  if (code == CURLE_WRITE_ERROR && transfer.status >= 200 && transfer.status < 300) {
    return Reply{transfer.status, {}};  // the sink stopped it
  }
  if (code == CURLE_ABORTED_BY_CALLBACK) {
    return make_error(Errc::unavailable, what + ": cancelled (the runtime is shutting down)");
  }
  if (code != CURLE_OK) {
    return make_error(Errc::unavailable,
                      what + ": " + detail::transport_error(options_, code, error_text));
  }
  return Reply{transfer.status, std::move(transfer.body)};
}

std::string url_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string daemon_message(const Reply& reply) {
  auto parsed = nlohmann::json::parse(reply.body, nullptr, false);
  if (parsed.is_object()) {
    if (auto it = parsed.find("message"); it != parsed.end() && it->is_string()) {
      return it->get<std::string>();
    }
  }
  std::string text(text::trim(reply.body));
  if (text.size() > 500) text = text.substr(0, 500) + "...";
  if (text.empty()) text = "no message";
  return text;
}

Errc errc_for_status(long status) {
  switch (status) {
    case 400:
      return Errc::invalid;
    case 404:
      return Errc::not_found;
    case 409:
      return Errc::conflict;
    default:
      return status >= 500 ? Errc::io : Errc::invalid;
  }
}

Error reply_error(const Reply& reply, std::string_view what) {
  return make_error(errc_for_status(reply.status), std::string(what) + ": dockerd answered " +
                                                       std::to_string(reply.status) + ": " +
                                                       daemon_message(reply));
}

}  // namespace baton::runtimes::docker
