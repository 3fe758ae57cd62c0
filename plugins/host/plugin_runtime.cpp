#include "plugins/host/plugin_runtime.hpp"

#include <dlfcn.h>

#include <cstring>
#include <utility>
#include <vector>

#include "bundle/descriptor_parse.hpp"
#include "logs/writer.hpp"

namespace baton::plugins {

namespace {

std::string text(const char* value) {
  return value ? std::string(value) : std::string();
}

void write(baton_output* output, std::string_view data) {
  if (output && output->write && !data.empty()) output->write(output, data.data(), data.size());
}

// A baton_output appending into a std::string (never throws into the plugin).
class StringOutput {
 public:
  StringOutput() : output_{this, &StringOutput::append} {}
  StringOutput(const StringOutput&) = delete;
  StringOutput& operator=(const StringOutput&) = delete;
  baton_output* get() { return &output_; }
  std::string& text() { return text_; }

 private:
  static void append(baton_output* output, const char* data, size_t size) {
    auto* self = static_cast<StringOutput*>(output->context);
    try {
      if (data && size > 0) self->text_.append(data, size);
    } catch (...) {
      // Out of memory: the text is cut short.
    }
  }
  baton_output output_;
  std::string text_;
};

class AttributeSink {
 public:
  explicit AttributeSink(std::map<std::string, std::string>& into)
      : sink_{&into, &AttributeSink::set} {}
  baton_attributes* get() { return &sink_; }

 private:
  static void set(baton_attributes* sink, const char* key, const char* value) {
    try {
      if (key)
        (*static_cast<std::map<std::string, std::string>*>(sink->context))[key] = text(value);
    } catch (...) {
      // Out of memory: the attribute is dropped.
    }
  }
  baton_attributes sink_;
};

baton_status to_status(Errc code) {
  switch (code) {
    case Errc::invalid:
      return BATON_ERR_INVALID;
    case Errc::not_found:
      return BATON_ERR_NOT_FOUND;
    case Errc::conflict:
      return BATON_ERR_CONFLICT;
    case Errc::ambiguous:
      return BATON_ERR_AMBIGUOUS;
    case Errc::unavailable:
      return BATON_ERR_UNAVAILABLE;
    case Errc::limit:
      return BATON_ERR_LIMIT;
    case Errc::io:
      return BATON_ERR_IO;
    case Errc::internal:
      return BATON_ERR_INTERNAL;
  }
  return BATON_ERR_INTERNAL;
}

Errc to_errc(baton_status status) {
  switch (status) {
    case BATON_ERR_INVALID:
      return Errc::invalid;
    case BATON_ERR_NOT_FOUND:
      return Errc::not_found;
    case BATON_ERR_CONFLICT:
      return Errc::conflict;
    case BATON_ERR_AMBIGUOUS:
      return Errc::ambiguous;
    case BATON_ERR_UNAVAILABLE:
      return Errc::unavailable;
    case BATON_ERR_LIMIT:
      return Errc::limit;
    case BATON_ERR_IO:
      return Errc::io;
    default:
      return Errc::internal;
  }
}

baton_status fail(baton_output* output, const Error& error) {
  write(output, error.message);
  return to_status(error.code);
}

std::int32_t to_c(bundle::Protocol protocol) {
  switch (protocol) {
    case bundle::Protocol::http:
      return BATON_PROTOCOL_HTTP;
    case bundle::Protocol::tcp:
      return BATON_PROTOCOL_TCP;
    case bundle::Protocol::udp:
      return BATON_PROTOCOL_UDP;
  }
  return BATON_PROTOCOL_TCP;
}

bundle::Protocol from_c(std::int32_t protocol) {
  switch (protocol) {
    case BATON_PROTOCOL_HTTP:
      return bundle::Protocol::http;
    case BATON_PROTOCOL_UDP:
      return bundle::Protocol::udp;
    default:
      return bundle::Protocol::tcp;
  }
}

// A baton_launch pointing into a runtimes::Launch, which must outlive it unchanged.
class LaunchView {
 public:
  explicit LaunchView(const runtimes::Launch& launch)
      : paths_{launch.bundle_root.string(), launch.work_dir.string(), launch.log_dir.string(),
               launch.state_dir.string(), launch.notify_socket.string()} {
    for (const auto& arg : launch.command)
      command_.push_back(arg.c_str());
    for (const auto& [name, value] : launch.environment)
      environment_.push_back(baton_env_var{name.c_str(), value.c_str()});
    for (const auto& port : launch.ports) {
      ports_.push_back(baton_port_binding{port.endpoint.c_str(), to_c(port.protocol),
                                          port.bind_port, port.host_port});
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

runtimes::Launch to_launch(const baton_launch& in) {
  runtimes::Launch out;
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
  for (std::size_t i = 0; in.command && i < in.command_count; ++i)
    out.command.push_back(text(in.command[i]));
  for (std::size_t i = 0; in.environment && i < in.environment_count; ++i)
    out.environment.emplace_back(text(in.environment[i].name), text(in.environment[i].value));
  for (std::size_t i = 0; in.ports && i < in.port_count; ++i) {
    const baton_port_binding& port = in.ports[i];
    out.ports.push_back(runtimes::PortBinding{text(port.endpoint), from_c(port.protocol),
                                              port.bind_port, port.host_port});
  }
  out.limits = runtimes::Limits{in.cpus, in.memory};
  out.stop_signal = in.stop_signal;
  out.stop_timeout = std::chrono::milliseconds(in.stop_timeout_ms);
  out.notify_socket = text(in.notify_socket);
  return out;
}

runtimes::LogLevel to_level(std::int32_t level) {
  switch (level) {
    case BATON_LOG_DEBUG:
      return runtimes::LogLevel::debug;
    case BATON_LOG_INFO:
      return runtimes::LogLevel::info;
    case BATON_LOG_WARN:
      return runtimes::LogLevel::warn;
    default:
      return runtimes::LogLevel::error;
  }
}

}  // namespace

// ---- Library
// -------------------------------------------------------------------------------------

Result<std::shared_ptr<Library>> Library::open(const stdfs::path& file) {
  ::dlerror();
  void* handle = ::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* cause = ::dlerror();
    return make_error(Errc::invalid, "plugin " + file.string() +
                                         ": cannot load: " + (cause ? cause : "dlopen failed"));
  }
  return std::shared_ptr<Library>(new Library(file, handle));
}

Library::~Library() {
  ::dlclose(handle_);
}

void* Library::symbol(const char* name) const {
  ::dlerror();
  return ::dlsym(handle_, name);
}

// ---- The plugin's baton_host
// ----------------------------------------------------------------------

struct PluginRuntime::LaunchLog {
  std::mutex mutex;  // guards writer
  stdfs::path file;  // <log_dir>/<component>.log; empty when the launch had no log folder
  std::unique_ptr<logs::Writer> writer;

  void flush() {
    std::lock_guard lock(mutex);
    if (writer) (void)writer->flush_partials();
  }
};

// The functions of baton_host; `context` is the PluginRuntime. None lets an exception out.
struct HostCalls {
  static PluginRuntime& self(const baton_host* host) {
    return *static_cast<PluginRuntime*>(host->context);
  }

  static void log(const baton_host* host, std::int32_t level, const char* message) {
    try {
      self(host).host_->log(to_level(level), message ? message : "");
    } catch (...) {
      // A log line is not worth an exception in the plugin.
    }
  }

  static void exited(const baton_host* host, const char* launch_id,
                     const baton_exit_status* status) {
    try {
      PluginRuntime& runtime = self(host);
      std::string id = text(launch_id);
      if (auto log = runtime.find(id)) log->flush();
      runtimes::ExitStatus out;
      if (status) {
        out.code = status->code;
        out.signal = status->signal;
        out.oom_killed = status->oom_killed != 0;
        out.message = text(status->message);
      } else {
        out.message = "ended (the runtime gave no status)";
      }
      runtime.host_->exited(id, std::move(out));
    } catch (...) {
      // Out of memory: nothing sensible is left to do.
    }
  }

  static baton_status append_log(const baton_host* host, const char* launch_id, std::int32_t stream,
                                 const char* data, size_t size, baton_output* error) {
    try {
      PluginRuntime& runtime = self(host);
      std::string id = text(launch_id);
      auto log = runtime.find(id);
      if (!log) return fail(error, runtime.unknown_launch(id));
      if (stream != BATON_STREAM_STDOUT && stream != BATON_STREAM_STDERR) {
        return fail(error, make_error(Errc::invalid, "append_log for launch " + id +
                                                         ": no stream " + std::to_string(stream)));
      }
      std::lock_guard lock(log->mutex);
      if (log->file.empty()) {
        return fail(error, make_error(Errc::invalid, "launch " + id + " has no log folder"));
      }
      if (!log->writer) {
        std::error_code ignored;
        stdfs::create_directories(log->file.parent_path(), ignored);
        auto writer =
            std::make_unique<logs::Writer>(log->file.string(), runtime.services_.log_rotation);
        if (auto opened = writer->open(); !opened) return fail(error, opened.error());
        log->writer = std::move(writer);
      }
      auto written =
          log->writer->write(stream == BATON_STREAM_STDOUT ? logs::Stream::out : logs::Stream::err,
                             std::string_view(data ? data : "", data ? size : 0));
      return written ? BATON_OK : fail(error, written.error());
    } catch (const std::exception& thrown) {
      return fail(error, make_error(Errc::internal, std::string("append_log: ") + thrown.what()));
    }
  }

  // The process service: runtimes::Runtime calls on the agent's universal runtime.
  static runtimes::Runtime* processes(PluginRuntime& runtime, baton_output* error) {
    if (runtime.services_.processes == nullptr) {
      fail(error, make_error(Errc::unavailable, "runtime " + runtime.name_ +
                                                    ": this agent offers no process service "
                                                    "(the universal runtime is not loaded)"));
    }
    return runtime.services_.processes;
  }

  static baton_status process_start(const baton_host* host, const baton_launch* launch,
                                    std::int32_t* pid, baton_output* state, baton_output* error) {
    try {
      PluginRuntime& runtime = self(host);
      runtimes::Runtime* processes = HostCalls::processes(runtime, error);
      if (!processes) return BATON_ERR_UNAVAILABLE;
      if (!launch) return fail(error, make_error(Errc::invalid, "process_start without a launch"));
      runtimes::Launch converted = to_launch(*launch);
      if (!runtime.find(converted.id)) return fail(error, runtime.unknown_launch(converted.id));
      auto handle = processes->start(converted);
      if (!handle) return fail(error, handle.error());
      if (pid) *pid = handle->pid;
      write(state, handle->state);
      return BATON_OK;
    } catch (const std::exception& thrown) {
      return fail(error,
                  make_error(Errc::internal, std::string("process_start: ") + thrown.what()));
    }
  }

  static baton_status process_stop(const baton_host* host, const char* launch_id,
                                   std::int32_t signal, std::int64_t timeout_ms,
                                   baton_output* error) {
    try {
      PluginRuntime& runtime = self(host);
      runtimes::Runtime* processes = HostCalls::processes(runtime, error);
      if (!processes) return BATON_ERR_UNAVAILABLE;
      std::string id = text(launch_id);
      if (!runtime.find(id)) return BATON_OK;  // not this runtime's: unknown, not an error
      auto stopped = processes->stop(id, signal, std::chrono::milliseconds(timeout_ms));
      return stopped ? BATON_OK : fail(error, stopped.error());
    } catch (const std::exception& thrown) {
      return fail(error, make_error(Errc::internal, std::string("process_stop: ") + thrown.what()));
    }
  }

  static baton_status process_destroy(const baton_host* host, const char* launch_id,
                                      baton_output* error) {
    try {
      PluginRuntime& runtime = self(host);
      runtimes::Runtime* processes = HostCalls::processes(runtime, error);
      if (!processes) return BATON_ERR_UNAVAILABLE;
      std::string id = text(launch_id);
      if (!runtime.find(id)) return BATON_OK;
      auto destroyed = processes->destroy(id);
      return destroyed ? BATON_OK : fail(error, destroyed.error());
    } catch (const std::exception& thrown) {
      return fail(error,
                  make_error(Errc::internal, std::string("process_destroy: ") + thrown.what()));
    }
  }

  static baton_status process_recover(const baton_host* host, const baton_launch* launch,
                                      std::int32_t saved_pid, const char* saved_state,
                                      std::int32_t* pid, baton_output* state, baton_output* error) {
    try {
      PluginRuntime& runtime = self(host);
      runtimes::Runtime* processes = HostCalls::processes(runtime, error);
      if (!processes) return BATON_ERR_UNAVAILABLE;
      if (!launch) {
        return fail(error, make_error(Errc::invalid, "process_recover without a launch"));
      }
      runtimes::Launch converted = to_launch(*launch);
      if (!runtime.find(converted.id)) return fail(error, runtime.unknown_launch(converted.id));
      auto handle = processes->recover(converted, runtimes::Handle{saved_pid, text(saved_state)});
      if (!handle) return fail(error, handle.error());
      if (pid) *pid = handle->pid;
      write(state, handle->state);
      return BATON_OK;
    } catch (const std::exception& thrown) {
      return fail(error,
                  make_error(Errc::internal, std::string("process_recover: ") + thrown.what()));
    }
  }

  static baton_status process_stats(const baton_host* host, const char* launch_id,
                                    baton_stats* stats, baton_output* error) {
    try {
      PluginRuntime& runtime = self(host);
      runtimes::Runtime* processes = HostCalls::processes(runtime, error);
      if (!processes) return BATON_ERR_UNAVAILABLE;
      std::string id = text(launch_id);
      if (!runtime.find(id)) return fail(error, runtime.unknown_launch(id));
      auto result = processes->stats(id);
      if (!result) return fail(error, result.error());
      if (stats) *stats = baton_stats{result->cpu_seconds, result->memory_bytes};
      return BATON_OK;
    } catch (const std::exception& thrown) {
      return fail(error,
                  make_error(Errc::internal, std::string("process_stats: ") + thrown.what()));
    }
  }
};

// ---- PluginRuntime
// --------------------------------------------------------------------------------

PluginRuntime::PluginRuntime(LibraryPtr library, const baton_runtime& table,
                             std::unique_ptr<runtimes::RuntimeHost> host, HostServices services,
                             const stdfs::path& data_dir)
    : library_(std::move(library)),
      table_(table),
      name_(text(table.name)),
      host_(std::move(host)),
      services_(services),
      data_dir_(data_dir.string()) {
  c_host_.context = this;
  c_host_.runtime_name = name_.c_str();
  c_host_.data_dir = data_dir_.c_str();
  c_host_.log = &HostCalls::log;
  c_host_.exited = &HostCalls::exited;
  c_host_.append_log = &HostCalls::append_log;
  c_host_.process_start = &HostCalls::process_start;
  c_host_.process_stop = &HostCalls::process_stop;
  c_host_.process_destroy = &HostCalls::process_destroy;
  c_host_.process_recover = &HostCalls::process_recover;
  c_host_.process_stats = &HostCalls::process_stats;
}

Result<std::unique_ptr<PluginRuntime>> PluginRuntime::create(
    LibraryPtr library, const baton_runtime& table, std::unique_ptr<runtimes::RuntimeHost> host,
    HostServices services, const std::string& config, const stdfs::path& data_dir) {
  std::unique_ptr<PluginRuntime> runtime(
      new PluginRuntime(std::move(library), table, std::move(host), services, data_dir));
  StringOutput error;
  runtime->self_ = table.create(&runtime->c_host_, config.c_str(), error.get());
  if (runtime->self_ == nullptr) {
    return make_error(Errc::invalid, "plugin " + runtime->file().string() + ": runtime " +
                                         runtime->name_ + " refused to start: " +
                                         (error.text().empty() ? "create() failed without a message"
                                                               : error.text()));
  }
  return runtime;
}

PluginRuntime::~PluginRuntime() {
  if (self_) table_.destroy_runtime(self_);
  std::lock_guard lock(mutex_);
  for (auto& [id, log] : launches_)
    log->flush();
}

Error PluginRuntime::plugin_error(baton_status status, std::string message,
                                  const char* call) const {
  if (message.empty()) {
    message =
        "runtime " + name_ + " (" + file().string() + "): " + call + " failed without a message";
  }
  if (status < BATON_ERR_INVALID || status > BATON_ERR_INTERNAL) {
    message += " (the plugin returned the unknown status " + std::to_string(status) + ")";
  }
  return make_error(to_errc(status), std::move(message));
}

Error PluginRuntime::unknown_launch(const std::string& launch_id) const {
  return make_error(Errc::not_found,
                    "launch " + launch_id + " is not a launch of the " + name_ + " runtime");
}

void PluginRuntime::adopt(const std::string& launch_id, const stdfs::path& log_file) {
  std::lock_guard lock(mutex_);
  auto& log = launches_[launch_id];
  if (!log || (log->file != log_file && !log_file.empty())) {
    if (log) log->flush();
    log = std::make_shared<LaunchLog>();
    log->file = log_file;
  }
}

void PluginRuntime::forget(const std::string& launch_id) {
  std::shared_ptr<LaunchLog> log;
  {
    std::lock_guard lock(mutex_);
    auto it = launches_.find(launch_id);
    if (it == launches_.end()) return;
    log = std::move(it->second);
    launches_.erase(it);
  }
  log->flush();
}

std::shared_ptr<PluginRuntime::LaunchLog> PluginRuntime::find(const std::string& launch_id) {
  std::lock_guard lock(mutex_);
  auto it = launches_.find(launch_id);
  return it == launches_.end() ? nullptr : it->second;
}

runtimes::ProbeResult PluginRuntime::probe() {
  runtimes::ProbeResult result;
  StringOutput reason;
  AttributeSink attributes(result.attributes);
  result.available = table_.probe(self_, reason.get(), attributes.get()) != 0;
  if (!result.available) {
    result.reason = reason.text().empty() ? "the plugin gave no reason" : reason.text();
  }
  return result;
}

Status PluginRuntime::prepare(const runtimes::BundleContent& bundle) {
  std::string descriptor =
      bundle.descriptor ? bundle::to_json(*bundle.descriptor).dump() : std::string("{}");
  std::string root = bundle.root.string();
  baton_bundle view{bundle.digest.c_str(), root.c_str(), descriptor.c_str()};
  StringOutput error;
  baton_status status = table_.prepare(self_, &view, error.get());
  if (status != BATON_OK) return plugin_error(status, std::move(error.text()), "prepare");
  return {};
}

Result<runtimes::Handle> PluginRuntime::start(const runtimes::Launch& launch) {
  adopt(launch.id, launch.log_dir.empty() ? stdfs::path()
                                          : launch.log_dir / logs::file_name(launch.component));
  LaunchView view(launch);
  std::int32_t pid = 0;
  StringOutput state, error;
  baton_status status = table_.start(self_, view.get(), &pid, state.get(), error.get());
  if (status != BATON_OK) {
    forget(launch.id);
    return plugin_error(status, std::move(error.text()), "start");
  }
  return runtimes::Handle{pid, std::move(state.text())};
}

Status PluginRuntime::stop(const std::string& launch_id, int signal,
                           std::chrono::milliseconds timeout) {
  StringOutput error;
  baton_status status = table_.stop(self_, launch_id.c_str(), signal,
                                    static_cast<std::int64_t>(timeout.count()), error.get());
  if (status != BATON_OK) return plugin_error(status, std::move(error.text()), "stop");
  return {};
}

Status PluginRuntime::destroy(const std::string& launch_id) {
  // A launch of an earlier agent that was never recovered is still this runtime's to destroy.
  adopt(launch_id, stdfs::path());
  StringOutput error;
  baton_status status = table_.destroy(self_, launch_id.c_str(), error.get());
  forget(launch_id);
  if (status != BATON_OK) return plugin_error(status, std::move(error.text()), "destroy");
  return {};
}

Result<runtimes::Handle> PluginRuntime::recover(const runtimes::Launch& launch,
                                                const runtimes::Handle& saved) {
  adopt(launch.id, launch.log_dir.empty() ? stdfs::path()
                                          : launch.log_dir / logs::file_name(launch.component));
  LaunchView view(launch);
  std::int32_t pid = 0;
  StringOutput state, error;
  baton_status status = table_.recover(self_, view.get(), saved.pid, saved.state.c_str(), &pid,
                                       state.get(), error.get());
  if (status != BATON_OK) {
    forget(launch.id);
    return plugin_error(status, std::move(error.text()), "recover");
  }
  return runtimes::Handle{pid, std::move(state.text())};
}

Result<runtimes::Stats> PluginRuntime::stats(const std::string& launch_id) {
  baton_stats stats{};
  StringOutput error;
  baton_status status = table_.stats(self_, launch_id.c_str(), &stats, error.get());
  if (status != BATON_OK) return plugin_error(status, std::move(error.text()), "stats");
  return runtimes::Stats{stats.cpu_seconds, stats.memory_bytes};
}

Status PluginRuntime::release(const std::string& bundle_digest) {
  StringOutput error;
  baton_status status = table_.release(self_, bundle_digest.c_str(), error.get());
  if (status != BATON_OK) return plugin_error(status, std::move(error.text()), "release");
  return {};
}

}  // namespace baton::plugins
