#include "cli/control_client.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <thread>

#include "bundle/bundle_name.hpp"
#include "cli/exit_codes.hpp"
#include "common/text.hpp"

namespace baton::cli {

using nlohmann::json;

namespace {

bool contains_nocase(std::string_view text, std::string_view word) {
  auto it = std::search(text.begin(), text.end(), word.begin(), word.end(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) ==
           std::tolower(static_cast<unsigned char>(b));
  });
  return it != text.end();
}

// curl says "Couldn't connect to server" for a refused connection and an unreachable host alike;
// a plain connect tells them apart. Empty when it connects now, or the name does not resolve.
std::string connect_failure(const CoreAddress& address) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(address.host.c_str(), std::to_string(address.port).c_str(), &hints, &found) !=
      0) {
    return "unknown host";
  }
  std::string reason;
  for (addrinfo* at = found; at != nullptr && reason.empty(); at = at->ai_next) {
    int fd = ::socket(at->ai_family, at->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    int error = 0;
    if (::connect(fd, at->ai_addr, at->ai_addrlen) != 0) {
      error = errno;
      if (error == EINPROGRESS) {
        pollfd wait{fd, POLLOUT, 0};
        if (::poll(&wait, 1, 2000) == 1) {
          socklen_t length = sizeof error;
          ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
        } else {
          error = ETIMEDOUT;
        }
      }
    }
    ::close(fd);
    if (error == ECONNREFUSED) {
      reason = "connection refused";
    } else if (error == ETIMEDOUT) {
      reason = "timed out";
    } else if (error != 0) {
      reason = std::strerror(error);
      if (!reason.empty()) reason[0] = static_cast<char>(std::tolower(reason[0]));
    } else {
      break;
    }
  }
  ::freeaddrinfo(found);
  return reason;
}

}  // namespace

int exit_code_for(const Error& error) {
  switch (error.code) {
    case Errc::unavailable:
      return kUnreachable;
    case Errc::not_found:
      return kNotFound;
    case Errc::ambiguous:
      return kUsage;
    default:
      return kFailed;
  }
}

std::string unreachable_reason(std::string_view client_message) {
  if (contains_nocase(client_message, "refused")) return "connection refused";
  if (contains_nocase(client_message, "timed out") || contains_nocase(client_message, "timeout")) {
    return "timed out";
  }
  if (contains_nocase(client_message, "resolve")) return "unknown host";
  if (contains_nocase(client_message, "no route")) return "no route to host";
  // "cannot reach <url>: <reason>": keep the reason.
  std::size_t colon = client_message.find(": ");
  if (colon != std::string_view::npos) return std::string(client_message.substr(colon + 2));
  return std::string(client_message);
}

Error response_error(const http::Response& response, std::string_view what) {
  std::string message = http::error_message(response);
  if (response.status == 300) {
    // The protocol lists the ids a prefix or name matched.
    std::vector<std::string> candidates;
    if (auto body = json::parse(response.body, nullptr, false); body.is_object()) {
      if (auto it = body.find("candidates"); it != body.end() && it->is_array()) {
        for (const auto& candidate : *it) {
          if (candidate.is_string()) candidates.push_back(candidate.get<std::string>());
        }
      }
    }
    if (!candidates.empty()) {
      message += " (candidates: " + text::join(candidates, ", ") + ")";
    }
    return make_error(Errc::ambiguous, message);
  }
  if (response.status == 401) {
    return make_error(Errc::invalid, message +
                                         " (give a credential: --token, BATON_TOKEN, --cert/--key "
                                         "or settings.conf; docs/security.md)");
  }
  Errc code = http::errc_for_status(response.status);
  if (code == Errc::unavailable) {
    // The core answered, so it is reachable; it cannot serve the request now.
    return make_error(Errc::internal, "the core cannot serve " + std::string(what) + " now (HTTP " +
                                          std::to_string(response.status) + "): " + message);
  }
  if (code == Errc::internal) {
    return make_error(Errc::internal, std::string(what) + " failed (HTTP " +
                                          std::to_string(response.status) + "): " + message);
  }
  return make_error(code, message);
}

namespace {

http::ClientOptions with_credentials(http::ClientOptions options, const Credentials& credentials) {
  if (!credentials.token.empty()) options.bearer_token = credentials.token;
  options.tls = credentials.tls;
  return options;
}

}  // namespace

ControlClient::ControlClient(CoreAddress address, http::ClientOptions options)
    : address_(std::move(address)),
      client_(with_credentials(std::move(options), address_.credentials)) {}

Error ControlClient::transport_error(Error error) const {
  if (error.code != Errc::unavailable) return error;
  if (error.message.starts_with("TLS with ")) {
    return make_error(Errc::unavailable,
                      "cannot talk to the core at " + address_.url() + ": " + error.message);
  }
  std::string reason = unreachable_reason(error.message);
  if (reason != "timed out" && reason != "unknown host") {
    if (std::string probed = connect_failure(address_); !probed.empty()) reason = probed;
  }
  return make_error(Errc::unavailable, "cannot reach the core at " + address_.url() + " (" +
                                           reason + "); start one with: baton sandbox run");
}

Result<http::Response> ControlClient::raw(std::string_view method, const std::string& path) {
  auto response = client_.request(method, url(path));
  if (!response) return transport_error(std::move(response).error());
  return response;
}

Result<json> ControlClient::call(std::string_view method, const std::string& path,
                                 std::string_view body, const http::Headers& headers) {
  auto response = client_.request(method, url(path), body, headers);
  if (!response) return transport_error(std::move(response).error());
  std::string what = std::string(method) + " " + path;
  if (response->status < 200 || response->status >= 300) return response_error(*response, what);
  if (text::trim(response->body).empty()) return json();
  json parsed = json::parse(response->body, nullptr, false);
  if (parsed.is_discarded()) {
    return make_error(Errc::internal, what + ": the core's answer is not JSON: " +
                                          std::string(text::trim(response->body.substr(0, 200))));
  }
  return parsed;
}

Result<json> ControlClient::post_form(const std::string& path,
                                      const std::vector<http::FormPart>& parts,
                                      const http::Progress& progress) {
  auto response = client_.post_form(url(path), parts, progress);
  if (!response) return transport_error(std::move(response).error());
  std::string what = "POST " + path;
  if (response->status < 200 || response->status >= 300) return response_error(*response, what);
  json parsed = json::parse(response->body, nullptr, false);
  if (parsed.is_discarded()) {
    return make_error(Errc::internal, what + ": the core's answer is not JSON");
  }
  return parsed;
}

Status ControlClient::stream(const std::string& path, const http::DataCallback& on_data) {
  auto response = client_.stream("GET", url(path), {}, {}, on_data);
  if (!response) return transport_error(std::move(response).error());
  if (response->status < 200 || response->status >= 300) {
    return response_error(*response, "GET " + path);
  }
  return {};
}

std::vector<SseParser::Event> SseParser::feed(std::string_view piece) {
  std::vector<Event> events;
  for (char c : piece) {
    if (c != '\n') {
      line_ += c;
      continue;
    }
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    if (line_.empty()) {
      if (has_data_) events.push_back({name_.empty() ? "message" : name_, data_});
      name_.clear();
      data_.clear();
      has_data_ = false;
    } else if (line_.front() != ':') {
      std::size_t colon = line_.find(':');
      std::string field = line_.substr(0, colon);
      std::string value = colon == std::string::npos ? "" : line_.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.erase(0, 1);
      if (field == "event") {
        name_ = value;
      } else if (field == "data") {
        if (has_data_) data_ += '\n';
        data_ += value;
        has_data_ = true;
      }
    }
    line_.clear();
  }
  return events;
}

EventWatcher::EventWatcher(CoreAddress address, std::string bundle_id)
    : state_(std::make_shared<State>()) {
  // Detached: a blocked read cannot be interrupted, and the stream only speaks every 15 s
  // (the heartbeat). The thread owns what it uses and ends at its next piece of data after
  // stop, or with the process.
  std::thread([state = state_, address = std::move(address), bundle_id = std::move(bundle_id)] {
    ControlClient client(address, http::ClientOptions{.connect_timeout = std::chrono::seconds(5)});
    SseParser parser;
    auto on_data = [&](std::string_view piece) {
      std::lock_guard lock(state->mutex);
      if (state->stop) return false;
      state->connected = true;
      for (const auto& event : parser.feed(piece)) {
        json data = json::parse(event.data, nullptr, false);
        std::string id =
            data.is_object() && data.contains("bundleId") && data["bundleId"].is_string()
                ? data["bundleId"].get<std::string>()
                : std::string();
        if (bundle_id.empty() || id.empty() || bundle::id_matches(id, bundle_id) ||
            id == bundle_id) {
          ++state->events;
        }
      }
      state->changed.notify_all();
      return true;
    };
    (void)client.stream("/v2/bundles/events", on_data);
    std::lock_guard lock(state->mutex);
    state->ended = true;
    state->changed.notify_all();
  }).detach();
}

EventWatcher::~EventWatcher() {
  std::lock_guard lock(state_->mutex);
  state_->stop = true;
}

std::uint64_t EventWatcher::wait(std::uint64_t seen, std::chrono::milliseconds timeout) {
  std::unique_lock lock(state_->mutex);
  state_->changed.wait_for(lock, timeout, [&] { return state_->events != seen; });
  return state_->events;
}

std::uint64_t EventWatcher::count() const {
  std::lock_guard lock(state_->mutex);
  return state_->events;
}

bool EventWatcher::streaming() const {
  std::lock_guard lock(state_->mutex);
  return state_->connected && !state_->ended;
}

}  // namespace baton::cli
