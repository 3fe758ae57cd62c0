#include "core/api.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/sha256.hpp"
#include "common/text.hpp"
#include "http/client.hpp"

namespace baton::core {

using http::Request;
using http::ResponderPtr;
using http::Response;
using nlohmann::json;

// Bundle files for agents. The HTTP server's streamed responses have no flow control (a reader
// slower than the writer is dropped past 16 MiB queued), so a file goes out as one response
// whose body is read once and shared by every agent fetching it at the same time; the bytes of
// such buffers are bounded, and a request over the bound is answered 503 (the agent retries).
class FileServer {
 public:
  static constexpr std::uint64_t kBudget = std::uint64_t{4} << 30;

  Result<std::shared_ptr<const std::string>> acquire(const std::string& digest,
                                                     const stdfs::path& path) {
    std::unique_lock lock(mutex_);
    std::uint64_t live = 0;
    for (auto it = buffers_.begin(); it != buffers_.end();) {
      if (auto buffer = it->second.lock()) {
        if (it->first == digest) return buffer;
        live += buffer->size();
        ++it;
      } else {
        it = buffers_.erase(it);
      }
    }
    // Read outside the lock; the reservation keeps concurrent reads within the budget.
    std::error_code ec;
    std::uint64_t size = stdfs::file_size(path, ec);
    if (ec) return make_error(Errc::not_found, path.string() + ": " + ec.message());
    if (live + reading_ + size > kBudget) {
      return make_error(Errc::unavailable, "the core is serving too many bundle files; retry");
    }
    reading_ += size;
    lock.unlock();
    auto content = read_file(path, size);
    lock.lock();
    reading_ -= size;
    if (!content) return std::move(content).error();
    auto buffer = std::make_shared<const std::string>(std::move(*content));
    buffers_[digest] = buffer;
    return buffer;
  }

 private:
  static Result<std::string> read_file(const stdfs::path& path, std::uint64_t size) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      return make_error(Errc::io, path.string() + ": cannot open: " + std::strerror(errno));
    std::string out;
    out.resize(size);
    std::size_t done = 0;
    while (done < size) {
      ssize_t n = ::read(fd, out.data() + done, size - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::close(fd);
        return make_error(Errc::io, path.string() + ": short read");
      }
      done += static_cast<std::size_t>(n);
    }
    ::close(fd);
    return out;
  }

  std::mutex mutex_;
  std::map<std::string, std::weak_ptr<const std::string>> buffers_;
  std::uint64_t reading_ = 0;
};

std::shared_ptr<FileServer> make_file_server() {
  return std::make_shared<FileServer>();
}

namespace {

constexpr std::size_t kMaxLogCount = 10000;
constexpr int kMaxFollows = 64;

const std::set<std::string>& event_names() {
  static const std::set<std::string> names{"bundleInstallationAdded", "bundleInstallationRemoved",
                                           "bundleExecutionAdded",    "bundleExecutionChanged",
                                           "bundleExecutionRemoved",  "bundleScaleChanged",
                                           "bundleErrorOccurred"};
  return names;
}

// A message body of the agent protocol: a JSON object of the given type.
template <class T>
Result<T> parse_message(std::string_view body, const std::string& what) {
  json parsed = json::parse(body, nullptr, false);
  if (parsed.is_discarded()) return make_error(Errc::invalid, what + ": not valid JSON");
  if (!parsed.is_object()) return make_error(Errc::invalid, what + ": expected a JSON object");
  return protocol::parse<T>(body, what);
}

Response failure(Core& core, const Error& error, std::string_view id) {
  if (error.code == Errc::ambiguous) {
    json body{{"error", error.message}, {"candidates", core.candidates(id)}};
    return Response::json(300, body.dump());
  }
  return http::error_response(error);
}

Response answer(Core& core, const Result<std::string>& result, std::string_view id = {}) {
  if (!result) return failure(core, result.error(), id);
  return Response::json(200, *result);
}

Result<std::size_t> count_of(const Request& request, std::size_t fallback) {
  auto text = request.query_value("count");
  if (!text) return fallback;
  auto n = text::parse_integer(*text);
  if (!n || *n < 0 || static_cast<std::size_t>(*n) > kMaxLogCount) {
    return make_error(Errc::invalid, "count must be a whole number from 0 to " +
                                         std::to_string(kMaxLogCount) + ", got '" +
                                         text->substr(0, 40) + "'");
  }
  return static_cast<std::size_t>(*n);
}

// Runs `work` on `queue`; answers 503 when the queue is stopping.
void on_queue(WorkQueue& queue, const ResponderPtr& responder, std::function<Response()> work) {
  bool queued = queue.submit([responder, work = std::move(work)] {
    try {
      responder->send(work());
    } catch (const std::exception& e) {
      responder->send(Response::error(500, std::string("internal error: ") + e.what()));
    }
  });
  if (!queued) responder->send(Response::error(503, "the core is stopping"));
}

// One log line of an agent (`{"time", "component", "stream", "line"}`) in the control
// protocol's shape (`{"timestamp", "host", "message"}`).
struct LogLine {
  std::string timestamp;
  json object;
};

std::optional<LogLine> convert_log_line(std::string_view text, const LogSource& source) {
  json in = json::parse(text, nullptr, false);
  if (in.is_discarded() || !in.is_object()) return std::nullopt;
  std::string timestamp;
  if (auto t = in.find("time"); t != in.end()) {
    if (t->is_string()) timestamp = t->get<std::string>();
    if (t->is_number_integer()) timestamp = iso_time(t->get<std::int64_t>());
  }
  std::string message;
  if (auto l = in.find("line"); l != in.end() && l->is_string()) message = l->get<std::string>();
  json out{{"timestamp", timestamp},
           {"host", source.host},
           {"message", message},
           {"instanceId", source.instance_id}};
  if (auto c = in.find("component"); c != in.end() && c->is_string()) out["component"] = *c;
  if (auto s = in.find("stream"); s != in.end() && s->is_string()) out["stream"] = *s;
  return LogLine{std::move(timestamp), std::move(out)};
}

std::string logs_url(const LogSource& source, std::size_t count, bool follow) {
  std::string base = source.api_url;
  while (!base.empty() && base.back() == '/')
    base.pop_back();
  return base + "/agent/v1/instances/" + http::url_encode(source.instance_id) +
         "/logs?count=" + std::to_string(count) + (follow ? "&follow=true" : "");
}

// How the core calls an agent's API: with its own credential (docs/security.md).
http::ClientOptions agent_client(const CoreOptions& options, std::chrono::milliseconds timeout) {
  return http::ClientOptions{.connect_timeout = std::chrono::seconds(3),
                             .timeout = timeout,
                             .bearer_token = options.agent_token,
                             .tls = options.agent_tls};
}

Response fetch_logs(const std::vector<LogSource>& sources, std::size_t count,
                    const http::ClientOptions& client_options) {
  http::Client client(client_options);
  std::vector<LogLine> lines;
  std::vector<std::string> errors;
  for (const auto& source : sources) {
    auto response = client.get(logs_url(source, count, false));
    if (!response) {
      errors.push_back(source.agent + ": " + response.error().message);
      continue;
    }
    if (response->status != 200) {
      errors.push_back(source.agent + ": " + http::error_message(*response));
      continue;
    }
    for (const auto& text : text::split(response->body, '\n')) {
      if (text::trim(text).empty()) continue;
      if (auto line = convert_log_line(text, source)) lines.push_back(std::move(*line));
    }
  }
  if (lines.empty() && !errors.empty() && errors.size() == sources.size()) {
    return Response::error(503, "cannot read the logs: " + text::join(errors, "; "));
  }
  std::stable_sort(lines.begin(), lines.end(),
                   [](const LogLine& a, const LogLine& b) { return a.timestamp < b.timestamp; });
  std::size_t skip = lines.size() > count ? lines.size() - count : 0;
  json out = json::array();
  for (std::size_t i = skip; i < lines.size(); ++i)
    out.push_back(std::move(lines[i].object));
  return Response::json(200, out.dump());
}

// Streams the lines of every instance as they are written, as newline-delimited JSON; the
// response ends when every agent ended its stream.
void follow_logs(const std::vector<LogSource>& sources, std::size_t count,
                 const ResponderPtr& responder, const std::shared_ptr<std::atomic<int>>& follows,
                 const http::ClientOptions& client_options) {
  http::Headers headers;
  headers.emplace("Content-Type", "application/x-ndjson");
  responder->begin_stream(200, std::move(headers));
  if (sources.empty()) {
    responder->end();
    return;
  }
  auto left = std::make_shared<std::atomic<int>>(static_cast<int>(sources.size()));
  for (const auto& source : sources) {
    follows->fetch_add(1);
    // Detached: a quiet follow blocks in curl until the agent writes or closes. The thread holds
    // only what it owns, so it may outlive the core object.
    std::thread([source, count, responder, left, follows, client_options] {
      {
        http::Client client(client_options);
        std::string pending;
        auto result = client.stream(
            "GET", logs_url(source, count, true), {}, {}, [&](std::string_view chunk) {
              pending.append(chunk);
              std::size_t start = 0;
              for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos;
                   start = nl + 1) {
                auto line =
                    convert_log_line(std::string_view(pending).substr(start, nl - start), source);
                if (line) responder->write(line->object.dump() + "\n");
              }
              pending.erase(0, start);
              return !responder->closed();
            });
        if (!result) {
          spdlog::debug("log follow of {}: {}", source.instance_id, result.error().message);
        }
      }  // the connection is closed before the response ends
      follows->fetch_sub(1);
      if (left->fetch_sub(1) == 1) responder->end();
    }).detach();
  }
}

std::string raw_rest(const Request& request, std::string_view prefix) {
  // The part of the raw (still %-encoded) target after "/services/<name>", query included.
  std::string_view target = request.target;
  std::string_view path = target.substr(0, target.find('?'));
  std::string_view query = target.find('?') == std::string_view::npos
                               ? std::string_view()
                               : target.substr(target.find('?'));
  std::size_t skip = prefix.size();
  std::size_t next = path.find('/', skip);
  std::string rest =
      next == std::string_view::npos ? std::string() : std::string(path.substr(next));
  if (rest.empty()) rest = "/";
  return rest + std::string(query);
}

}  // namespace

http::Router make_router(ApiContext& ctx) {
  Core& core = ctx.core;
  const CoreOptions& options = core.options();
  auto follows = std::make_shared<std::atomic<int>>(0);
  http::Router router;

  // --- Bundles
  router.add_stream("POST", "/v2/bundles",
                    upload_sink_factory(core.files().tmp_folder(),
                                        [&core](LoadInput in) { return core.load(std::move(in)); }),
                    options.max_upload_bytes);

  router.add("GET", "/v2/bundles",
             [&core](const Request&) { return Response::json(200, core.bundles_json()); });

  router.add_async(
      "GET", "/v2/bundles/events", [&core](const Request& request, ResponderPtr responder) {
        std::set<std::string> filter;
        if (auto names = request.query_value("events")) {
          for (const auto& part : text::split(*names, ',')) {
            std::string name(text::trim(part));
            if (name.empty()) continue;
            if (!event_names().count(name)) {
              responder->send(Response::error(400, "unknown event '" + name.substr(0, 60) + "'"));
              return;
            }
            filter.insert(std::move(name));
          }
        }
        core.events().subscribe(responder, std::move(filter));
      });

  router.add("GET", "/v2/bundles/{id}", [&core](const Request& request) {
    const std::string& id = request.params.at("id");
    return answer(core, core.bundle_json(id), id);
  });

  router.add_async(
      "PUT", "/v2/bundles/{id}", [&ctx](const Request& request, ResponderPtr responder) {
        std::string id = request.params.at("id");
        auto scale = request.query_value("scale");
        if (!scale) {
          responder->send(Response::error(
              400, "PUT /v2/bundles/" + id.substr(0, 80) + ": missing query parameter scale"));
          return;
        }
        auto affinity = request.query_value("affinity");
        on_queue(ctx.control, responder, [&core = ctx.core, id, scale, affinity] {
          return answer(core, core.scale(id, *scale, affinity), id);
        });
      });

  router.add_async("DELETE", "/v2/bundles/{id}",
                   [&ctx](const Request& request, ResponderPtr responder) {
                     std::string id = request.params.at("id");
                     bool purge = request.query_value("purge").value_or("") == "true";
                     on_queue(ctx.control, responder, [&core = ctx.core, id, purge] {
                       return answer(core, core.unload(id, purge), id);
                     });
                   });

  router.add("GET", "/v2/bundles/{id}/events", [&core](const Request& request) {
    const std::string& id = request.params.at("id");
    auto count = count_of(request, 10);
    if (!count) return http::error_response(count.error());
    return answer(core, core.bundle_events_json(id, *count), id);
  });

  router.add_async(
      "GET", "/v2/bundles/{id}/logs",
      [&ctx, follows](const Request& request, ResponderPtr responder) {
        std::string id = request.params.at("id");
        auto count = count_of(request, 10);
        if (!count) {
          responder->send(http::error_response(count.error()));
          return;
        }
        auto sources = ctx.core.log_sources(id);
        if (!sources) {
          responder->send(failure(ctx.core, sources.error(), id));
          return;
        }
        if (request.query_value("follow").value_or("") == "true") {
          if (follows->load() + static_cast<int>(sources->size()) > kMaxFollows) {
            responder->send(Response::error(503, "too many log follows open; retry later"));
            return;
          }
          follow_logs(*sources, *count, responder, follows,
                      agent_client(ctx.core.options(), std::chrono::milliseconds(0)));
          return;
        }
        on_queue(ctx.remote, responder,
                 [sources = std::move(*sources), n = *count,
                  client_options = agent_client(ctx.core.options(), std::chrono::seconds(10))] {
                   return fetch_logs(sources, n, client_options);
                 });
      });

  // --- Files for agents
  auto serve_file = [&ctx](const Request& request, ResponderPtr responder) {
    std::string digest = request.params.at("digest");
    if (!is_sha256_hex(digest)) {
      responder->send(Response::error(
          400, "'" + digest.substr(0, 80) + "' is not a digest (64 lower-case hex)"));
      return;
    }
    auto path = ctx.core.file_path(digest);
    if (!path) {
      responder->send(Response::error(404, "the core holds no file " + digest));
      return;
    }
    on_queue(ctx.remote, responder, [server = ctx.file_server, digest, path = *path] {
      auto buffer = server->acquire(digest, path);
      if (!buffer) return http::error_response(buffer.error());
      Response response;
      response.status = 200;
      response.headers.emplace("Content-Type", "application/zip");
      response.shared_body = std::move(*buffer);
      return response;
    });
  };
  router.add_async("GET", "/v2/bundles/files/{digest}", serve_file);
  router.add_async("GET", "/v2/configurations/files/{digest}", serve_file);

  // --- Cluster
  // What `baton version` asks: the core's build and the protocol it speaks.
  router.add("GET", "/v2/version", [](const Request&) {
    return Response::json(200, json{{"version", BATON_VERSION}, {"protocol", "v2"}}.dump());
  });
  router.add("GET", "/v2/members",
             [&core](const Request&) { return Response::json(200, core.members_json()); });
  router.add("GET", "/v2/agents",
             [&core](const Request&) { return Response::json(200, core.agents_json()); });

  // --- Agents (docs/protocol.md)
  router.add_async("POST", "/v2/agents", [&ctx](const Request& request, ResponderPtr responder) {
    auto registration = parse_message<protocol::Registration>(request.body, "registration");
    if (!registration) {
      responder->send(http::error_response(registration.error()));
      return;
    }
    on_queue(ctx.control, responder, [&core = ctx.core, reg = std::move(*registration)]() mutable {
      return answer(core, core.register_agent(std::move(reg)));
    });
  });

  router.add_async("PUT", "/v2/agents/{name}/status",
                   [&ctx](const Request& request, ResponderPtr responder) {
                     std::string name = request.params.at("name");
                     auto report = parse_message<protocol::StatusReport>(
                         request.body, "status report of " + name.substr(0, 80));
                     if (!report) {
                       responder->send(http::error_response(report.error()));
                       return;
                     }
                     on_queue(ctx.control, responder,
                              [&core = ctx.core, name, report = std::move(*report)]() mutable {
                                return answer(core, core.report_status(name, std::move(report)));
                              });
                   });

  router.add_async(
      "GET", "/v2/agents/{name}/assignment",
      [&core](const Request& request, ResponderPtr responder) {
        const CoreOptions& o = core.options();
        std::uint64_t index = 0;
        auto wait = o.default_poll_wait;
        if (auto text = request.query_value("index")) {
          auto n = text::parse_integer(*text);
          if (!n || *n < 0) {
            responder->send(Response::error(
                400, "index must be a whole number, got '" + text->substr(0, 40) + "'"));
            return;
          }
          index = static_cast<std::uint64_t>(*n);
        }
        if (auto text = request.query_value("waitMs")) {
          auto n = text::parse_integer(*text);
          if (!n || *n < 0) {
            responder->send(Response::error(
                400, "waitMs must be a whole number, got '" + text->substr(0, 40) + "'"));
            return;
          }
          wait = std::min(std::chrono::milliseconds(*n), o.max_poll_wait);
        }
        core.poll_assignment(request.params.at("name"), index, wait, std::move(responder));
      });

  // --- History
  router.add("GET", "/v2/history", [&core](const Request& request) {
    return Response::json(200, core.history_json(request.query_value("name")));
  });
  router.add_async("POST", "/v2/history/{sequence}/load",
                   [&ctx](const Request& request, ResponderPtr responder) {
                     std::string sequence = request.params.at("sequence");
                     std::string by = requester(request);
                     on_queue(ctx.control, responder, [&core = ctx.core, sequence, by] {
                       return answer(core, core.reload_history(sequence, by));
                     });
                   });

  // --- Service lookup
  int max_age = options.service_max_age_seconds;
  router.add("GET", "/services/{name}/{rest...}", [&core, max_age](const Request& request) {
    const std::string& name = request.params.at("name");
    auto address = core.service_address(name);
    if (!address) {
      return Response::error(404,
                             "no started instance offers service '" + name.substr(0, 80) + "'");
    }
    Response response = Response::redirect(307, *address + raw_rest(request, "/services/"));
    response.headers.emplace("Cache-Control", "max-age=" + std::to_string(max_age));
    return response;
  });
  router.add("GET", "/v2/service-hosts/{name}", [&core](const Request& request) {
    return Response::json(200, json(core.service_hosts(request.params.at("name"))).dump());
  });
  return router;
}

}  // namespace baton::core
