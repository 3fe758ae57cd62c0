#pragma once
// The C++ side of the runtime plugin SDK: write a class, let BATON_PLUGIN make the C tables.
//
//   class JvmRuntime : public baton::plugin::ProcessRuntime {
//    public:
//     static constexpr const char* kName = "jvm";  // the file-system-type
//     JvmRuntime(const baton::plugin::Host& host, const std::string& config_json);
//     baton::plugin::ProbeResult probe() override;
//     baton::plugin::Result<baton::plugin::Handle> start(const baton::plugin::Launch&) override;
//   };
//   BATON_PLUGIN("jvm", "1.0.0", JvmRuntime)
//
// Header-only over baton/runtime_plugin.h (the ABI) and the standard library (C++17): plugins
// build out of tree against the installed SDK alone. The types mirror baton::runtimes
// (runtimes/runtime.hpp). Methods return Result/Status values; anything they throw is caught at
// the boundary (an Error keeps its code, other exceptions become Errc::internal), so no exception
// ever crosses into the agent.

#include <chrono>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "baton/runtime_plugin.h"

namespace baton::plugin {

// ---- Results ------------------------------------------------------------------------------------

enum class Errc : std::int32_t {
  invalid = BATON_ERR_INVALID,
  not_found = BATON_ERR_NOT_FOUND,
  conflict = BATON_ERR_CONFLICT,
  ambiguous = BATON_ERR_AMBIGUOUS,
  unavailable = BATON_ERR_UNAVAILABLE,
  limit = BATON_ERR_LIMIT,
  io = BATON_ERR_IO,
  internal = BATON_ERR_INTERNAL,
};

// An expected failure; the message names the thing at fault (file, entry, launch id, port).
struct Error {
  Errc code = Errc::internal;
  std::string message;
};

inline Error make_error(Errc code, std::string message) {
  return Error{code, std::move(message)};
}

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}      // NOLINT: implicit
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT: implicit

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const Error& error() const& { return std::get<1>(state_); }
  Error&& error() && { return std::get<1>(std::move(state_)); }

 private:
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT: implicit

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const& { return *error_; }
  Error&& error() && { return std::move(*error_); }

 private:
  std::optional<Error> error_;
};

using Status = Result<void>;

// ---- Data (runtimes/runtime.hpp) ----------------------------------------------------------------

namespace stdfs = std::filesystem;

struct ProbeResult {
  bool available = false;
  std::string reason;                             // why not, when unavailable
  std::map<std::string, std::string> attributes;  // reported to the core
};

struct BundleContent {
  std::string digest;           // bundle file SHA-256 (64 hex)
  stdfs::path root;             // extracted top folder holding bundle.conf; read-only
  std::string descriptor_json;  // bundle.conf as JSON (keys as in bundle.conf)
};

enum class Protocol {
  http = BATON_PROTOCOL_HTTP,
  tcp = BATON_PROTOCOL_TCP,
  udp = BATON_PROTOCOL_UDP
};

struct PortBinding {
  std::string endpoint;
  Protocol protocol = Protocol::http;
  int bind_port = 0;
  int host_port = 0;
};

struct Limits {
  double cpus = 0;          // 0 = no limit
  std::int64_t memory = 0;  // bytes; 0 = no limit
};

struct Launch {
  std::string id;  // "<instance id>.<component>"
  std::string instance_id;
  std::string bundle_id;
  std::string bundle_digest;
  std::string component;
  std::string agent_name;
  stdfs::path bundle_root;
  stdfs::path work_dir;
  stdfs::path log_dir;
  stdfs::path state_dir;
  std::vector<std::string> command;  // start-command after `$NAME` expansion
  std::vector<std::pair<std::string, std::string>> environment;
  std::vector<PortBinding> ports;
  Limits limits;
  int stop_signal = 15;
  std::chrono::milliseconds stop_timeout{5000};
  stdfs::path notify_socket;  // "" = none
};

struct Handle {
  int pid = 0;        // main process on the host, 0 when not meaningful
  std::string state;  // recovery data, saved verbatim by the agent
};

struct ExitStatus {
  int code = -1;
  int signal = 0;
  bool oom_killed = false;
  std::string message;
};

struct Stats {
  double cpu_seconds = 0;
  std::int64_t memory_bytes = 0;
};

enum class LogLevel {
  debug = BATON_LOG_DEBUG,
  info = BATON_LOG_INFO,
  warn = BATON_LOG_WARN,
  error = BATON_LOG_ERROR
};
enum class Stream { out = BATON_STREAM_STDOUT, err = BATON_STREAM_STDERR };

// ---- Conversions between the C structs and the types above --------------------------------------

namespace detail {

inline std::string text(const char* value) {
  return value ? std::string(value) : std::string();
}

inline void write(baton_output* output, std::string_view data) {
  if (output && output->write && !data.empty()) output->write(output, data.data(), data.size());
}

// A baton_output that appends into a std::string.
class StringOutput {
 public:
  StringOutput() : output_{this, &StringOutput::append} {}
  StringOutput(const StringOutput&) = delete;
  StringOutput& operator=(const StringOutput&) = delete;
  baton_output* get() { return &output_; }
  std::string& text() { return text_; }

 private:
  static void append(baton_output* output, const char* data, std::size_t size) {
    auto* self = static_cast<StringOutput*>(output->context);
    try {
      self->text_.append(data, size);
    } catch (...) {
      // Out of memory: the text is cut short rather than an exception crossing C.
    }
  }
  baton_output output_;
  std::string text_;
};

inline Errc to_errc(baton_status status) {
  if (status >= BATON_ERR_INVALID && status <= BATON_ERR_INTERNAL) return static_cast<Errc>(status);
  return Errc::internal;
}

inline Error to_error(baton_status status, std::string message, std::string_view what) {
  if (message.empty()) message = std::string(what) + " failed without a message";
  if (status < BATON_ERR_INVALID || status > BATON_ERR_INTERNAL) {
    message += " (unknown status " + std::to_string(status) + ")";
  }
  return Error{to_errc(status), std::move(message)};
}

inline Launch to_launch(const baton_launch& in) {
  Launch out;
  out.id = text(in.id);
  out.instance_id = text(in.instance_id);
  out.bundle_id = text(in.bundle_id);
  out.bundle_digest = text(in.bundle_digest);
  out.component = text(in.component);
  out.agent_name = text(in.agent_name);
  out.bundle_root = text(in.bundle_root);
  out.work_dir = text(in.work_dir);
  out.log_dir = text(in.log_dir);
  out.state_dir = text(in.state_dir);
  for (std::size_t i = 0; i < in.command_count; ++i)
    out.command.push_back(text(in.command[i]));
  for (std::size_t i = 0; i < in.environment_count; ++i) {
    out.environment.emplace_back(text(in.environment[i].name), text(in.environment[i].value));
  }
  for (std::size_t i = 0; i < in.port_count; ++i) {
    const baton_port_binding& port = in.ports[i];
    out.ports.push_back(PortBinding{text(port.endpoint), static_cast<Protocol>(port.protocol),
                                    port.bind_port, port.host_port});
  }
  out.limits = Limits{in.cpus, in.memory};
  out.stop_signal = in.stop_signal;
  out.stop_timeout = std::chrono::milliseconds(in.stop_timeout_ms);
  out.notify_socket = text(in.notify_socket);
  return out;
}

// A baton_launch pointing into a Launch, which must outlive it and stay unchanged.
class LaunchView {
 public:
  explicit LaunchView(const Launch& launch)
      : paths_{launch.bundle_root.string(), launch.work_dir.string(), launch.log_dir.string(),
               launch.state_dir.string(), launch.notify_socket.string()} {
    for (const auto& arg : launch.command)
      command_.push_back(arg.c_str());
    for (const auto& [name, value] : launch.environment) {
      environment_.push_back(baton_env_var{name.c_str(), value.c_str()});
    }
    for (const auto& port : launch.ports) {
      ports_.push_back(baton_port_binding{port.endpoint.c_str(),
                                          static_cast<std::int32_t>(port.protocol), port.bind_port,
                                          port.host_port});
    }
    view_.id = launch.id.c_str();
    view_.instance_id = launch.instance_id.c_str();
    view_.bundle_id = launch.bundle_id.c_str();
    view_.bundle_digest = launch.bundle_digest.c_str();
    view_.component = launch.component.c_str();
    view_.agent_name = launch.agent_name.c_str();
    view_.bundle_root = paths_[0].c_str();
    view_.work_dir = paths_[1].c_str();
    view_.log_dir = paths_[2].c_str();
    view_.state_dir = paths_[3].c_str();
    view_.command = command_.data();
    view_.command_count = command_.size();
    view_.environment = environment_.data();
    view_.environment_count = environment_.size();
    view_.ports = ports_.data();
    view_.port_count = ports_.size();
    view_.cpus = launch.limits.cpus;
    view_.memory = launch.limits.memory;
    view_.stop_signal = launch.stop_signal;
    view_.stop_timeout_ms = static_cast<std::int64_t>(launch.stop_timeout.count());
    view_.notify_socket = paths_[4].c_str();
  }
  LaunchView(const LaunchView&) = delete;
  LaunchView& operator=(const LaunchView&) = delete;
  const baton_launch* get() const { return &view_; }

 private:
  std::string paths_[5];
  std::vector<const char*> command_;
  std::vector<baton_env_var> environment_;
  std::vector<baton_port_binding> ports_;
  baton_launch view_{};
};

}  // namespace detail

// ---- The agent's services ----------------------------------------------------------------------

// A copyable view of the baton_host table given to the runtime's constructor; valid until the
// runtime is destroyed. Every method may be called from any thread.
class Host {
 public:
  explicit Host(const baton_host* host) : host_(host) {}

  std::string runtime_name() const { return detail::text(host_->runtime_name); }
  // Private to this runtime, kept across agent restarts; empty when the agent has none.
  stdfs::path data_dir() const { return detail::text(host_->data_dir); }

  void log(LogLevel level, const std::string& message) const {
    host_->log(host_, static_cast<std::int32_t>(level), message.c_str());
  }
  // For launches the plugin runs itself (not through the process service).
  void exited(const std::string& launch_id, const ExitStatus& status) const {
    baton_exit_status out{status.code, status.signal, status.oom_killed ? 1 : 0,
                          status.message.c_str()};
    host_->exited(host_, launch_id.c_str(), &out);
  }
  Status append_log(const std::string& launch_id, Stream stream, std::string_view data) const {
    detail::StringOutput error;
    baton_status status =
        host_->append_log(host_, launch_id.c_str(), static_cast<std::int32_t>(stream), data.data(),
                          data.size(), error.get());
    if (status != BATON_OK) return detail::to_error(status, error.text(), "append_log");
    return {};
  }

  // The process service (see baton_host in runtime_plugin.h): `launch` is usually a copy of the
  // launch being started with its command and environment changed.
  Result<Handle> process_start(const Launch& launch) const {
    detail::LaunchView view(launch);
    std::int32_t pid = 0;
    detail::StringOutput state, error;
    baton_status status = host_->process_start(host_, view.get(), &pid, state.get(), error.get());
    if (status != BATON_OK) return detail::to_error(status, error.text(), "process_start");
    return Handle{pid, std::move(state.text())};
  }
  Status process_stop(const std::string& launch_id, int signal,
                      std::chrono::milliseconds timeout) const {
    detail::StringOutput error;
    baton_status status = host_->process_stop(
        host_, launch_id.c_str(), signal, static_cast<std::int64_t>(timeout.count()), error.get());
    if (status != BATON_OK) return detail::to_error(status, error.text(), "process_stop");
    return {};
  }
  Status process_destroy(const std::string& launch_id) const {
    detail::StringOutput error;
    baton_status status = host_->process_destroy(host_, launch_id.c_str(), error.get());
    if (status != BATON_OK) return detail::to_error(status, error.text(), "process_destroy");
    return {};
  }
  Result<Handle> process_recover(const Launch& launch, const Handle& saved) const {
    detail::LaunchView view(launch);
    std::int32_t pid = 0;
    detail::StringOutput state, error;
    baton_status status = host_->process_recover(host_, view.get(), saved.pid, saved.state.c_str(),
                                                 &pid, state.get(), error.get());
    if (status != BATON_OK) return detail::to_error(status, error.text(), "process_recover");
    return Handle{pid, std::move(state.text())};
  }
  Result<Stats> process_stats(const std::string& launch_id) const {
    baton_stats stats{};
    detail::StringOutput error;
    baton_status status = host_->process_stats(host_, launch_id.c_str(), &stats, error.get());
    if (status != BATON_OK) return detail::to_error(status, error.text(), "process_stats");
    return Stats{stats.cpu_seconds, stats.memory_bytes};
  }

  const baton_host* raw() const { return host_; }

 private:
  const baton_host* host_;
};

// ---- What a plugin implements -------------------------------------------------------------------

// One runtime. A class deriving from it also declares `static constexpr const char* kName` (the
// file-system-type) and a constructor `(const Host& host, const std::string& config_json)`; a
// constructor that throws refuses the plugin with the exception's message. Calls follow the
// threading rules of runtime_plugin.h.
class Runtime {
 public:
  virtual ~Runtime() = default;
  virtual ProbeResult probe() = 0;
  // Once per bundle digest before its first start.
  virtual Status prepare(const BundleContent&) { return {}; }
  virtual Result<Handle> start(const Launch& launch) = 0;
  virtual Status stop(const std::string& launch_id, int signal,
                      std::chrono::milliseconds timeout) = 0;
  virtual Status destroy(const std::string& launch_id) = 0;
  virtual Result<Handle> recover(const Launch& launch, const Handle& saved) = 0;
  virtual Result<Stats> stats(const std::string& launch_id) = 0;
  virtual Status release(const std::string&) { return {}; }
};

// A runtime whose launches each run one program through the host's process service: only
// probe() and start() (which calls host().process_start) are left to write.
class ProcessRuntime : public Runtime {
 public:
  explicit ProcessRuntime(const Host& host) : host_(host) {}

  Status stop(const std::string& launch_id, int signal,
              std::chrono::milliseconds timeout) override {
    return host_.process_stop(launch_id, signal, timeout);
  }
  Status destroy(const std::string& launch_id) override { return host_.process_destroy(launch_id); }
  // Re-adopts the program; override to check or rebuild what start() prepared first.
  Result<Handle> recover(const Launch& launch, const Handle& saved) override {
    return host_.process_recover(launch, saved);
  }
  Result<Stats> stats(const std::string& launch_id) override {
    return host_.process_stats(launch_id);
  }

 protected:
  const Host& host() const { return host_; }

 private:
  Host host_;
};

// ---- The C tables (used by BATON_PLUGIN) --------------------------------------------------------

namespace detail {

inline baton_status fail(baton_output* output, const Error& error) {
  write(output, error.message.empty() ? std::string_view("failed without a message")
                                      : std::string_view(error.message));
  return static_cast<baton_status>(error.code);
}

// Runs `body` (returning Status or Result<T>) and turns any exception into a status.
template <class Body>
baton_status guarded(baton_output* error, Body&& body) noexcept {
  try {
    return body();
  } catch (const Error& thrown) {
    return fail(error, thrown);
  } catch (const std::exception& thrown) {
    return fail(error, Error{Errc::internal, std::string("exception: ") + thrown.what()});
  } catch (...) {
    return fail(error, Error{Errc::internal, "unknown exception"});
  }
}

inline baton_status answer(const Status& status, baton_output* error) {
  return status ? BATON_OK : fail(error, status.error());
}

inline baton_status answer(const Result<Handle>& handle, std::int32_t* pid, baton_output* state,
                           baton_output* error) {
  if (!handle) return fail(error, handle.error());
  if (pid) *pid = handle->pid;
  write(state, handle->state);
  return BATON_OK;
}

template <class R>
struct Trampolines {
  static R& self(void* runtime) { return *static_cast<R*>(runtime); }

  static void* create(const baton_host* host, const char* config, baton_output* error) noexcept {
    try {
      return new R(Host(host), std::string(config ? config : "{}"));
    } catch (const Error& thrown) {
      write(error, thrown.message);
    } catch (const std::exception& thrown) {
      write(error, thrown.what());
    } catch (...) {
      write(error, "unknown exception");
    }
    return nullptr;
  }
  static void destroy_runtime(void* runtime) noexcept {
    try {
      delete static_cast<R*>(runtime);
    } catch (...) {
      // A destructor that throws: nothing sensible is left to do.
    }
  }
  static std::int32_t probe(void* runtime, baton_output* reason,
                            baton_attributes* attributes) noexcept {
    try {
      ProbeResult result = self(runtime).probe();
      if (attributes && attributes->set) {
        for (const auto& [key, value] : result.attributes) {
          attributes->set(attributes, key.c_str(), value.c_str());
        }
      }
      if (!result.available) write(reason, result.reason);
      return result.available ? 1 : 0;
    } catch (const std::exception& thrown) {
      write(reason, std::string("probe threw: ") + thrown.what());
    } catch (...) {
      write(reason, "probe threw an unknown exception");
    }
    return 0;
  }
  static baton_status prepare(void* runtime, const baton_bundle* bundle,
                              baton_output* error) noexcept {
    return guarded(error, [&] {
      BundleContent content{text(bundle->digest), text(bundle->root),
                            text(bundle->descriptor_json)};
      return answer(self(runtime).prepare(content), error);
    });
  }
  static baton_status start(void* runtime, const baton_launch* launch, std::int32_t* pid,
                            baton_output* state, baton_output* error) noexcept {
    return guarded(
        error, [&] { return answer(self(runtime).start(to_launch(*launch)), pid, state, error); });
  }
  static baton_status stop(void* runtime, const char* launch_id, std::int32_t signal,
                           std::int64_t timeout_ms, baton_output* error) noexcept {
    return guarded(error, [&] {
      return answer(
          self(runtime).stop(text(launch_id), signal, std::chrono::milliseconds(timeout_ms)),
          error);
    });
  }
  static baton_status destroy(void* runtime, const char* launch_id, baton_output* error) noexcept {
    return guarded(error, [&] { return answer(self(runtime).destroy(text(launch_id)), error); });
  }
  static baton_status recover(void* runtime, const baton_launch* launch, std::int32_t saved_pid,
                              const char* saved_state, std::int32_t* pid, baton_output* state,
                              baton_output* error) noexcept {
    return guarded(error, [&] {
      Handle saved{saved_pid, text(saved_state)};
      return answer(self(runtime).recover(to_launch(*launch), saved), pid, state, error);
    });
  }
  static baton_status stats(void* runtime, const char* launch_id, baton_stats* out,
                            baton_output* error) noexcept {
    return guarded(error, [&] {
      Result<Stats> stats = self(runtime).stats(text(launch_id));
      if (!stats) return fail(error, stats.error());
      if (out) *out = baton_stats{stats->cpu_seconds, stats->memory_bytes};
      return static_cast<baton_status>(BATON_OK);
    });
  }
  static baton_status release(void* runtime, const char* digest, baton_output* error) noexcept {
    return guarded(error, [&] { return answer(self(runtime).release(text(digest)), error); });
  }

  static constexpr baton_runtime table() {
    return baton_runtime{R::kName, &create,  &destroy_runtime, &probe, &prepare, &start,
                         &stop,    &destroy, &recover,         &stats, &release};
  }
};

template <class... Rs>
struct Tables {
  static_assert(sizeof...(Rs) > 0, "BATON_PLUGIN needs at least one runtime class");
  static constexpr baton_runtime value[sizeof...(Rs)] = {Trampolines<Rs>::table()...};
  static constexpr std::size_t count = sizeof...(Rs);
};

}  // namespace detail
}  // namespace baton::plugin

// Defines the plugin's entry function for the runtime classes listed (each derived from
// baton::plugin::Runtime, with kName and a (const Host&, const std::string&) constructor). Use it
// once per plugin, at namespace scope of one source file.
#define BATON_PLUGIN(plugin_name, plugin_version, ...)                                         \
  extern "C" BATON_PLUGIN_EXPORT const baton_plugin* baton_plugin_entry(void) {                \
    static const baton_plugin plugin = {BATON_PLUGIN_ABI_VERSION, plugin_name, plugin_version, \
                                        ::baton::plugin::detail::Tables<__VA_ARGS__>::count,   \
                                        ::baton::plugin::detail::Tables<__VA_ARGS__>::value};  \
    return &plugin;                                                                            \
  }
