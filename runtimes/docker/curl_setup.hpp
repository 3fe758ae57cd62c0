#pragma once
// Private to runtimes/docker's .cpp files (engine.cpp, loop.cpp): the curl options every Engine
// API request shares. Never include it from a header.

#include <curl/curl.h>

#include <mutex>
#include <string>
#include <string_view>

#include "runtimes/docker/engine.hpp"

namespace baton::runtimes::docker::detail {

inline void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Method, URL, socket and connect timeout; the caller adds the body and callbacks.
inline void setup(CURL* curl, const EngineOptions& options, const std::string& url,
                  std::string_view method) {
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, options.socket.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options.connect_timeout.count()));
  if (method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else if (method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
  } else {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, std::string(method).c_str());
  }
}

// The status from a header line ("HTTP/1.1 200 OK"), or 0 for other lines.
inline long status_of_line(std::string_view line) {
  if (!line.starts_with("HTTP/")) return 0;
  std::size_t space = line.find(' ');
  if (space == std::string_view::npos || space + 4 > line.size()) return 0;
  long status = 0;
  for (std::size_t i = space + 1; i < space + 4; ++i) {
    if (line[i] < '0' || line[i] > '9') return 0;
    status = status * 10 + (line[i] - '0');
  }
  return status;
}

inline std::string transport_error(const EngineOptions& options, CURLcode code,
                                   const char* detail) {
  std::string reason = detail != nullptr && detail[0] != '\0' ? detail : curl_easy_strerror(code);
  if (code == CURLE_COULDNT_CONNECT) {
    return "cannot reach dockerd at " + options.socket + ": " + reason;
  }
  return "dockerd at " + options.socket + ": " + reason;
}

}  // namespace baton::runtimes::docker::detail
