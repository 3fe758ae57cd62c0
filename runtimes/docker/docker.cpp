#include "runtimes/docker/docker.hpp"

#include <sys/stat.h>

#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <vector>

#include "common/sha256.hpp"
#include "common/text.hpp"
#include "runtimes/docker/bridge.hpp"
#include "runtimes/docker/engine.hpp"
#include "runtimes/docker/images.hpp"
#include "runtimes/docker/log_sink.hpp"
#include "runtimes/docker/loop.hpp"
#include "runtimes/docker/spec.hpp"
#include "runtimes/docker/streams.hpp"

namespace baton::runtimes::docker {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kFlushEvery = 500ms;  // partial-line check
constexpr auto kPartialIdle = 1000ms;
constexpr auto kLogsEndedCheck = 1000ms;
constexpr auto kOrphanRetry = 5000ms;

// A few threads that run tasks in order of posting; tasks left at stop() are dropped.
class Workers {
 public:
  explicit Workers(int count) {
    for (int i = 0; i < std::max(1, count); ++i)
      threads_.emplace_back([this] { run(); });
  }
  ~Workers() { stop(); }

  void post(std::function<void()> task) {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    tasks_.push_back(std::move(task));
    changed_.notify_one();
  }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      if (stopping_ && threads_.empty()) return;
      stopping_ = true;
      tasks_.clear();
      changed_.notify_all();
    }
    for (auto& thread : threads_)
      thread.join();
    threads_.clear();
  }

 private:
  void run() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
        if (stopping_) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

struct ContainerInfo {
  bool found = false;
  std::string id;
  std::string name;
  bool running = false;
  std::string status;  // created, running, exited, dead, ...
  int exit_code = 0;
  bool oom_killed = false;
  int pid = 0;
  std::map<std::string, std::string> labels;
};

std::string string_at(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// One launch, shared by the calls and the callbacks that concern it. Fields below `phase` are
// guarded by the runtime's mutex.
struct LaunchState {
  std::string id;
  std::string name;  // container name
  std::string component;
  stdfs::path log_dir;
  std::string image;
  std::int64_t memory_limit = 0;
  int stop_signal = 15;
  std::shared_ptr<LogSink> sink;

  enum class Phase { starting, running, ended } phase = Phase::starting;
  std::string container;  // id, once created
  Clock::time_point created_at{};
  bool exit_seen = false;    // the wait answered, a die event came, or the container is gone
  bool finishing = false;    // finish() is queued or running
  bool reported = false;     // exited() went out (or must not: a failed start)
  bool needs_rearm = false;  // a stream broke: inspect and re-attach
  bool daemon_lost = false;  // a stream broke on a transport error (dockerd went away)
  bool logs_eof = false;     // the log stream ended normally: the output is all written
  std::string vanished_message;
  Loop::Id wait_id = 0, logs_id = 0, drain_timer = 0;
  std::uint64_t wait_gen = 0, logs_gen = 0;
  bool wait_active = false, logs_active = false;
};
using StatePtr = std::shared_ptr<LaunchState>;

class DockerRuntime final : public Runtime {
 public:
  DockerRuntime(RuntimeHost& host, Options options)
      : host_(host),
        options_(std::move(options)),
        owner_(options_.owner.empty() ? options_.agent_name : options_.owner),
        engine_(EngineOptions{.socket = options_.socket, .timeout = options_.api_timeout}),
        images_(engine_, owner_, "docker",
                [this](LogLevel level, std::string_view message) { host_.log(level, message); }),
        loop_(std::make_unique<Loop>(EngineOptions{.socket = options_.socket})),
        workers_(options_.finish_threads) {
    schedule_flush();
    supervisor_ = std::thread([this] { supervise(); });
  }

  ~DockerRuntime() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      wake_.notify_all();
    }
    supervisor_.join();
    engine_.cancel_all();
    workers_.stop();
    loop_.reset();
    // Containers keep running: a new runtime (a restarted agent) recovers them.
    std::lock_guard lock(mutex_);
    for (auto& [id, state] : launches_)
      state->sink->close();
  }

  std::string name() const override { return "docker"; }

  ProbeResult probe() override {
    ProbeResult result;
    struct stat info {};
    if (::stat(options_.socket.c_str(), &info) != 0) {
      result.reason = "no socket at " + options_.socket;
      return result;
    }
    auto reply = engine_.call("GET", "/version", {}, 3s);
    if (!reply) {
      result.reason = reply.error().message;
      return result;
    }
    if (!reply->ok()) {
      result.reason = "dockerd at " + options_.socket + " answered " +
                      std::to_string(reply->status) + ": " + daemon_message(*reply);
      return result;
    }
    json version = json::parse(reply->body, nullptr, false);
    if (!version.is_object()) {
      result.reason = "dockerd at " + options_.socket + ": /version is not JSON";
      return result;
    }
    const std::string api = string_at(version, "ApiVersion");
    result.attributes["version"] = string_at(version, "Version");
    result.attributes["api-version"] = api;
    result.attributes["socket"] = options_.socket;
    auto parts = text::split(api, '.');
    auto major = parts.size() == 2 ? text::parse_integer(parts[0]) : std::nullopt;
    auto minor = parts.size() == 2 ? text::parse_integer(parts[1]) : std::nullopt;
    if (!major || !minor || *major < 1 || (*major == 1 && *minor < 41)) {
      result.reason =
          "dockerd at " + options_.socket + " speaks API " + api + "; Baton needs 1.41 or later";
      return result;
    }
    Bridge bridge;
    {
      std::lock_guard lock(mutex_);
      bridge = bridge_;
    }
    if (bridge.ip.empty()) {
      bridge = fetch_bridge();
      std::lock_guard lock(mutex_);
      bridge_ = bridge;
    }
    if (!bridge.ip.empty()) result.attributes["bridge-ip"] = bridge.ip;
    if (!bridge.subnet.empty()) result.attributes["bridge-subnet"] = bridge.subnet;
    result.available = true;
    return result;
  }

  Status prepare(const BundleContent& bundle) override { return images_.prepare(bundle); }

  Result<Handle> start(const Launch& launch) override {
    if (launch.agent_name != options_.agent_name) {
      return make_error(Errc::invalid, "launch " + launch.id + " is for agent '" +
                                           launch.agent_name + "', this runtime serves '" +
                                           options_.agent_name + "'");
    }
    std::string bundle_name = images_.bundle_name(launch.bundle_digest);
    if (bundle_name.empty()) {
      for (const auto& [name, value] : launch.environment) {
        if (name == "BUNDLE_NAME") bundle_name = value;
      }
    }
    BATON_ASSIGN_OR_RETURN(PreparedImage image,
                           images_.find(launch.bundle_digest, launch.component, bundle_name));
    StatePtr state = make_state(launch);
    state->image = image.id;
    {
      std::lock_guard lock(mutex_);
      auto it = launches_.find(launch.id);
      if (it != launches_.end() && it->second->phase != LaunchState::Phase::ended) {
        return make_error(Errc::conflict,
                          "launch " + launch.id + " already runs in container " + it->second->name);
      }
      launches_[launch.id] = state;
    }
    auto fail = [&](Error error) -> Result<Handle> {
      abandon(state);
      return std::move(error).within("launch " + launch.id);
    };
    if (auto opened = state->sink->open(); !opened) return fail(std::move(opened).error());

    auto created = create_container(launch, image, bundle_name);
    if (!created) return fail(std::move(created).error());
    auto registered = std::make_shared<std::promise<Status>>();
    auto registration = registered->get_future();
    {
      std::lock_guard lock(mutex_);
      state->container = *created;
      state->created_at = Clock::now();
      add_wait(state, "next-exit", registered);
    }
    // The wait is registered (its answer's headers arrived) before the start: no exit is missed.
    if (registration.wait_for(options_.api_timeout) != std::future_status::ready) {
      return fail(make_error(Errc::unavailable, "dockerd at " + options_.socket +
                                                    " did not register the wait for container " +
                                                    state->name));
    }
    if (Status waiting = registration.get(); !waiting) return fail(std::move(waiting).error());
    auto started = engine_.call("POST", "/containers/" + *created + "/start");
    if (!started) return fail(std::move(started).error());
    if (!started->ok() && started->status != 304) {
      return fail(reply_error(*started, "starting container " + state->name));
    }
    int pid = 0;
    if (auto info = inspect(*created); info && info->found) pid = info->pid;
    {
      std::lock_guard lock(mutex_);
      state->phase = LaunchState::Phase::running;
      if (!state->reported) attach_logs(state, LogCursor{});
      maybe_finish(state);
    }
    return Handle{pid, handle_state(*state)};
  }

  Status stop(const std::string& launch_id, int signal,
              std::chrono::milliseconds timeout) override {
    std::string container;
    int stop_signal = 15;
    StatePtr state;
    {
      std::lock_guard lock(mutex_);
      auto it = launches_.find(launch_id);
      if (it == launches_.end()) return {};
      state = it->second;
      if (state->phase != LaunchState::Phase::running || state->exit_seen) return {};
      container = state->container;
      stop_signal = state->stop_signal;
    }
    if (timeout.count() < 0) timeout = 0ms;
    if (signal == stop_signal && timeout.count() % 1000 == 0) {
      // Docker sends the StopSignal set at create, waits, then kills: exactly the contract.
      Loop::Request request;
      request.method = "POST";
      request.path =
          "/containers/" + container + "/stop?t=" + std::to_string(timeout.count() / 1000);
      request.on_done = [this, container, launch_id](const Loop::Done& done) {
        if (done.completed() && (done.status == 204 || done.status == 304 || done.status == 404)) {
          return;
        }
        host_.log(LogLevel::warn,
                  "stopping container of " + launch_id + " failed (" +
                      (done.error.empty() ? std::to_string(done.status) : done.error) +
                      "): killing it");
        send_kill(container, 9);
      };
      loop_->add(std::move(request));
      return {};
    }
    send_kill(container, signal);
    loop_->after(timeout, [this, state, container] {
      bool alive = false;
      {
        std::lock_guard lock(mutex_);
        alive = state->phase == LaunchState::Phase::running && !state->exit_seen;
      }
      if (alive) send_kill(container, 9);
    });
    return {};
  }

  Status destroy(const std::string& launch_id) override {
    StatePtr state;
    std::string target = container_name(owner_, launch_id);
    bool report = false;
    {
      std::lock_guard lock(mutex_);
      auto it = launches_.find(launch_id);
      if (it != launches_.end()) {
        state = it->second;
        launches_.erase(it);
        report = !state->reported;
        state->reported = true;
        state->phase = LaunchState::Phase::ended;
        if (!state->container.empty()) target = state->container;
        cancel_streams(*state);
      }
    }
    auto removed = engine_.call("DELETE", "/containers/" + target + "?force=1&v=1");
    if (state) state->sink->close();
    if (report) {
      ExitStatus status;
      status.code = -1;
      status.signal = 9;
      status.message = "destroyed (container removed)";
      workers_.post([this, launch_id, status] { host_.exited(launch_id, status); });
    }
    if (!removed) return std::move(removed).error().within("removing container " + target);
    if (!removed->ok() && removed->status != 404) {
      return reply_error(*removed, "removing container " + target + " of launch " + launch_id);
    }
    return {};
  }

  Result<Handle> recover(const Launch& launch, const Handle& saved) override {
    if (launch.agent_name != options_.agent_name) {
      return make_error(Errc::invalid, "launch " + launch.id + " is for agent '" +
                                           launch.agent_name + "', this runtime serves '" +
                                           options_.agent_name + "'");
    }
    StatePtr state = make_state(launch);
    std::string target = state->name;
    json saved_state = json::parse(saved.state, nullptr, false);
    if (saved_state.is_object()) {
      if (std::string id = string_at(saved_state, "container"); !id.empty()) target = id;
      state->image = string_at(saved_state, "image");
    }
    if (auto opened = state->sink->open(); !opened) {
      return std::move(opened).error().within("launch " + launch.id);
    }
    auto info = inspect(target);
    LogCursor cursor;
    if (info && info->found && info->running)
      cursor = read_cursor(launch.log_dir, launch.component);
    std::lock_guard lock(mutex_);
    if (auto it = launches_.find(launch.id);
        it != launches_.end() && it->second->phase != LaunchState::Phase::ended) {
      return Handle{saved.pid, handle_state(*it->second)};
    }
    launches_[launch.id] = state;
    state->phase = LaunchState::Phase::running;
    state->container = target;
    if (!info) {
      // dockerd is away: adopt now, look again when it is back.
      state->needs_rearm = true;
      state->daemon_lost = true;
      reconcile_wanted_ = true;
      wake_.notify_all();
      return Handle{saved.pid, handle_state(*state)};
    }
    auto label = [&](std::string_view key) {
      auto it = info->labels.find(std::string(key));
      return it == info->labels.end() ? std::string() : it->second;
    };
    if (!info->found || label(kLabelLaunch) != launch.id || label(kLabelAgent) != owner_) {
      state->container.clear();  // whatever holds that id now is not this launch's
      state->exit_seen = true;
      state->vanished_message =
          "container " + state->name + " is gone (removed while the agent was down)";
      maybe_finish(state);
      return Handle{saved.pid, handle_state(*state)};
    }
    state->container = info->id;
    unknown_.erase(info->id);
    if (info->running) {
      add_wait(state, "not-running", nullptr);
      attach_logs(state, std::move(cursor));
    } else {
      state->exit_seen = true;  // ended while the agent was down; finish() drains its log
      maybe_finish(state);
    }
    return Handle{info->pid, handle_state(*state)};
  }

  Result<Stats> stats(const std::string& launch_id) override {
    std::string container;
    {
      std::lock_guard lock(mutex_);
      auto it = launches_.find(launch_id);
      if (it == launches_.end() || it->second->container.empty()) {
        return make_error(Errc::not_found, "launch " + launch_id + " is not running");
      }
      container = it->second->container;
    }
    BATON_ASSIGN_OR_RETURN(
        Reply reply,
        engine_.call("GET", "/containers/" + container + "/stats?stream=false&one-shot=true"));
    if (!reply.ok()) return reply_error(reply, "stats of launch " + launch_id);
    json parsed = json::parse(reply.body, nullptr, false);
    Stats stats;
    if (!parsed.is_object()) return stats;
    auto number = [](const json& object, std::initializer_list<const char*> path) -> std::int64_t {
      const json* at = &object;
      for (const char* key : path) {
        if (!at->is_object() || !at->contains(key)) return 0;
        at = &(*at)[key];
      }
      return at->is_number() ? at->get<std::int64_t>() : 0;
    };
    stats.cpu_seconds =
        static_cast<double>(number(parsed, {"cpu_stats", "cpu_usage", "total_usage"})) / 1e9;
    std::int64_t usage = number(parsed, {"memory_stats", "usage"});
    std::int64_t inactive = number(parsed, {"memory_stats", "stats", "inactive_file"});
    if (inactive == 0) inactive = number(parsed, {"memory_stats", "stats", "total_inactive_file"});
    stats.memory_bytes = std::max<std::int64_t>(0, usage - inactive);
    return stats;
  }

  Status release(const std::string& bundle_digest) override {
    return images_.release(bundle_digest);
  }

 private:
  struct Unknown {
    std::string name;
    std::string launch;
    Clock::time_point first_seen;
  };

  StatePtr make_state(const Launch& launch) {
    auto state = std::make_shared<LaunchState>();
    state->id = launch.id;
    state->name = container_name(owner_, launch.id);
    state->component = launch.component;
    state->log_dir = launch.log_dir;
    state->memory_limit = launch.limits.memory;
    state->stop_signal = launch.stop_signal;
    state->sink =
        std::make_shared<LogSink>(launch.log_dir, launch.component, options_.log_rotation);
    return state;
  }

  static std::string handle_state(const LaunchState& state) {
    return json{{"container", state.container}, {"name", state.name}, {"image", state.image}}
        .dump();
  }

  Result<std::string> create_container(const Launch& launch, PreparedImage image,
                                       const std::string& bundle_name) {
    const std::string name = container_name(owner_, launch.id);
    const std::string what = "creating container " + name;
    for (int attempt = 0;; ++attempt) {
      CreateOptions create;
      create.image = image.id;
      create.owner = owner_;
      for (const auto& [volume, target] : image.volumes) {
        create.mounts.push_back(Mount{"volume", volume_name(owner_, bundle_name, volume), target});
      }
      if (!launch.notify_socket.empty() && launch.notify_socket.is_absolute()) {
        std::error_code error;
        if (stdfs::exists(launch.notify_socket, error)) {
          create.mounts.push_back(
              Mount{"bind", launch.notify_socket.string(), launch.notify_socket.string()});
        }
      }
      auto reply = engine_.call("POST", "/containers/create?name=" + url_encode(name),
                                create_body(launch, create));
      // On any failure the caller removes `name`: the daemon may have made the container anyway.
      if (!reply) return std::move(reply).error().within(what);
      if (reply->status == 201) {
        json parsed = json::parse(reply->body, nullptr, false);
        std::string id = parsed.is_object() ? string_at(parsed, "Id") : std::string();
        if (id.empty()) {
          return make_error(Errc::io, what + ": dockerd answered 201 without an Id");
        }
        return id;
      }
      if (reply->status == 409 && attempt == 0) {
        // A leftover of an earlier run of this launch holds the name: it is ours to remove.
        host_.log(LogLevel::warn, what + ": the name is in use; removing the old container");
        remove_quietly(name);
        continue;
      }
      if (reply->status == 404 && attempt == 0) {
        host_.log(LogLevel::warn, what + ": image " + image.id + " is gone; making it again");
        auto repaired = images_.repair(launch.bundle_digest, launch.component);
        if (!repaired) {
          return make_error(Errc::not_found, what + ": image " + image.id + " of component " +
                                                 launch.component + " is gone and cannot be " +
                                                 "made again: " + repaired.error().message);
        }
        image.id = repaired->id;
        continue;
      }
      return reply_error(*reply, what);
    }
  }

  void remove_quietly(const std::string& container) {
    auto removed = engine_.call("DELETE", "/containers/" + url_encode(container) + "?force=1&v=1");
    if (removed && (removed->ok() || removed->status == 404)) return;
    host_.log(LogLevel::warn, "cannot remove container " + container + " now (" +
                                  (removed ? daemon_message(*removed) : removed.error().message) +
                                  "); it is removed later as an orphan");
  }

  // A failed start: nothing of it stays, and no exit is reported.
  void abandon(const StatePtr& state) {
    std::string target;
    {
      std::lock_guard lock(mutex_);
      state->reported = true;
      state->phase = LaunchState::Phase::ended;
      if (auto it = launches_.find(state->id); it != launches_.end() && it->second == state) {
        launches_.erase(it);
      }
      cancel_streams(*state);
      target = state->container.empty() ? state->name : state->container;
    }
    remove_quietly(target);
    state->sink->close();
  }

  Result<ContainerInfo> inspect(const std::string& container) {
    BATON_ASSIGN_OR_RETURN(Reply reply,
                           engine_.call("GET", "/containers/" + url_encode(container) + "/json"));
    ContainerInfo info;
    if (reply.status == 404) return info;
    if (!reply.ok()) return reply_error(reply, "inspecting container " + container);
    json parsed = json::parse(reply.body, nullptr, false);
    if (!parsed.is_object()) {
      return make_error(Errc::io, "inspecting container " + container + ": not JSON");
    }
    info.found = true;
    info.id = string_at(parsed, "Id");
    info.name = string_at(parsed, "Name");
    if (auto state = parsed.find("State"); state != parsed.end() && state->is_object()) {
      info.running = state->value("Running", false);
      info.status = string_at(*state, "Status");
      info.exit_code = state->value("ExitCode", 0);
      info.oom_killed = state->value("OOMKilled", false);
      info.pid = state->value("Pid", 0);
    }
    if (auto config = parsed.find("Config"); config != parsed.end() && config->is_object()) {
      if (auto labels = config->find("Labels"); labels != config->end() && labels->is_object()) {
        for (const auto& [key, value] : labels->items()) {
          if (value.is_string()) info.labels[key] = value.get<std::string>();
        }
      }
    }
    return info;
  }

  Bridge fetch_bridge() {
    auto reply = engine_.call("GET", "/networks/bridge", {}, 3s);
    if (!reply || !reply->ok()) return {};
    return bridge_of_network(reply->body);
  }

  // ---- streams (mutex_ held) ----

  void add_wait(const StatePtr& state, const char* condition,
                std::shared_ptr<std::promise<Status>> registered) {
    const std::uint64_t gen = ++state->wait_gen;
    Loop::Request request;
    request.method = "POST";
    request.path = "/containers/" + state->container + "/wait?condition=" + condition;
    auto settled = std::make_shared<bool>(false);
    auto settle = [registered, settled](Status status) {
      if (!registered || *settled) return;
      *settled = true;
      registered->set_value(std::move(status));
    };
    request.on_status = [settle, name = state->name](long status) {
      if (status == 200) {
        settle(Status());
      } else {
        settle(make_error(
            errc_for_status(status),
            "waiting for container " + name + ": dockerd answered " + std::to_string(status)));
      }
    };
    request.on_done = [this, state, gen, settle](const Loop::Done& done) {
      if (!done.completed() || done.status != 200) {
        settle(make_error(
            done.error.empty() ? errc_for_status(done.status) : Errc::unavailable,
            "waiting for container " + state->name + ": " +
                (done.error.empty() ? "dockerd answered " + std::to_string(done.status) + ": " +
                                          daemon_message(Reply{done.status, done.body})
                                    : done.error)));
      }
      on_wait_done(state, gen, done);
    };
    state->wait_active = true;
    state->wait_id = loop_->add(std::move(request));
  }

  void attach_logs(const StatePtr& state, LogCursor cursor) {
    const std::uint64_t gen = ++state->logs_gen;
    std::string path =
        "/containers/" + state->container + "/logs?follow=1&stdout=1&stderr=1&timestamps=1";
    if (cursor.since_ns > 0) path += "&since=" + api_time(cursor.since_ns);
    state->sink->begin(std::move(cursor));
    state->logs_eof = false;
    Loop::Request request;
    request.path = std::move(path);
    request.on_data = [this, sink = state->sink, name = state->name](std::string_view data) {
      if (sink->feed(data)) return true;
      host_.log(LogLevel::warn, "log stream of container " + name +
                                    " is not multiplexed; "
                                    "its output is not recorded");
      return false;
    };
    request.on_done = [this, state, gen](const Loop::Done& done) {
      on_logs_done(state, gen, done);
    };
    state->logs_active = true;
    state->logs_id = loop_->add(std::move(request));
  }

  void cancel_streams(LaunchState& state) {
    if (state.wait_active) loop_->cancel(state.wait_id);
    if (state.logs_active) loop_->cancel(state.logs_id);
    if (state.drain_timer != 0) loop_->cancel_timer(state.drain_timer);
    state.wait_active = state.logs_active = false;
    state.drain_timer = 0;
    ++state.wait_gen;
    ++state.logs_gen;
  }

  void send_kill(const std::string& container, int signal) {
    Loop::Request request;
    request.method = "POST";
    request.path = "/containers/" + container + "/kill?signal=" + std::to_string(signal);
    loop_->add(std::move(request));  // 409 (not running) and 404 (gone) need nothing
  }

  // Queues finish() once the exit is known and the log is drained (or its drain time is up).
  void maybe_finish(const StatePtr& state) {
    if (!state->exit_seen || state->finishing || state->reported ||
        state->phase != LaunchState::Phase::running) {
      return;
    }
    if (state->logs_active) {
      if (state->drain_timer == 0) {
        state->drain_timer = loop_->after(options_.log_drain, [this, state] {
          std::lock_guard lock(mutex_);
          state->drain_timer = 0;
          if (state->logs_active) loop_->cancel(state->logs_id);
        });
      }
      return;
    }
    state->finishing = true;
    workers_.post([this, state] { finish(state); });
  }

  // ---- loop thread callbacks ----

  void on_wait_done(const StatePtr& state, std::uint64_t gen, const Loop::Done& done) {
    std::lock_guard lock(mutex_);
    if (gen != state->wait_gen) return;
    state->wait_active = false;
    if (done.cancelled || state->phase == LaunchState::Phase::ended) return;
    if (done.completed() && (done.status == 200 || done.status == 404)) {
      state->exit_seen = true;
      maybe_finish(state);
      return;
    }
    state->needs_rearm = true;
    if (!done.error.empty()) state->daemon_lost = true;
    reconcile_wanted_ = true;
    wake_.notify_all();
  }

  void on_logs_done(const StatePtr& state, std::uint64_t gen, const Loop::Done& done) {
    std::lock_guard lock(mutex_);
    if (gen != state->logs_gen) return;
    state->logs_active = false;
    if (state->drain_timer != 0) {
      loop_->cancel_timer(state->drain_timer);
      state->drain_timer = 0;
    }
    if (state->phase == LaunchState::Phase::ended) return;
    if (done.cancelled) {
      maybe_finish(state);
      return;
    }
    if (done.completed() && done.status >= 200 && done.status < 300) {
      state->logs_eof = true;
      if (state->exit_seen) {
        maybe_finish(state);
        return;
      }
      // A follow ends when the container stops; the wait's answer is on its way. If it is not
      // there soon, something else ended the stream: look again.
      loop_->after(kLogsEndedCheck, [this, state, gen] {
        std::lock_guard lock(mutex_);
        if (gen != state->logs_gen || state->exit_seen || state->logs_active ||
            state->phase != LaunchState::Phase::running) {
          return;
        }
        state->needs_rearm = true;
        reconcile_wanted_ = true;
        wake_.notify_all();
      });
      return;
    }
    if (done.completed() && done.status == 404) {
      state->exit_seen = true;
      maybe_finish(state);
      return;
    }
    state->needs_rearm = true;
    if (!done.error.empty()) state->daemon_lost = true;
    reconcile_wanted_ = true;
    wake_.notify_all();
  }

  void on_event(const Event& event) {
    std::lock_guard lock(mutex_);
    last_event_ns_ = std::max(last_event_ns_, event.time_ns);
    if (event.type != "container") return;
    auto label = event.attributes.find(std::string(kLabelLaunch));
    if (label == event.attributes.end()) return;  // a build step, say
    auto it = launches_.find(label->second);
    StatePtr state = it == launches_.end() ? nullptr : it->second;
    const bool ours = state && state->container == event.id;
    const bool running = ours && state->phase == LaunchState::Phase::running && !state->exit_seen;
    if (event.action == "die" && running) {
      state->exit_seen = true;
      maybe_finish(state);
    } else if (event.action == "destroy") {
      unknown_.erase(event.id);
      if (running) {
        state->exit_seen = true;
        state->vanished_message = "container " + state->name + " was removed outside Baton";
        maybe_finish(state);
      }
    } else if (event.action == "create" && !ours &&
               !(state && state->phase == LaunchState::Phase::starting)) {
      auto name = event.attributes.find("name");
      unknown_.try_emplace(event.id, Unknown{name == event.attributes.end() ? "" : name->second,
                                             label->second, Clock::now()});
      wake_.notify_all();
    }
  }

  void schedule_flush() {
    loop_->after(kFlushEvery, [this] {
      std::vector<std::shared_ptr<LogSink>> sinks;
      {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        for (const auto& [id, state] : launches_) {
          if (state->logs_active) sinks.push_back(state->sink);
        }
      }
      for (const auto& sink : sinks)
        sink->flush_idle(kPartialIdle);
      schedule_flush();
    });
  }

  // ---- workers ----

  // The launch ended: its status, the rest of its log, its removal, the report.
  void finish(const StatePtr& state) {
    std::string container;
    std::string vanished;
    {
      std::lock_guard lock(mutex_);
      if (state->reported) return;
      container = state->container;
      vanished = !state->vanished_message.empty() ? state->vanished_message
                 : state->daemon_lost
                     ? "container " + state->name + " vanished while dockerd was down"
                     : "container " + state->name + " vanished (removed outside Baton)";
    }
    ExitStatus status;
    bool found = false;
    if (!container.empty()) {
      auto info = inspect(container);
      if (!info) {
        // dockerd is away: the reconciler finishes this when it is back.
        std::lock_guard lock(mutex_);
        state->finishing = false;
        state->daemon_lost = true;
        reconcile_wanted_ = true;
        wake_.notify_all();
        return;
      }
      if (info->found && info->running) {
        std::lock_guard lock(mutex_);  // not over after all (a stale event): watch it again
        state->finishing = false;
        state->exit_seen = false;
        state->needs_rearm = true;
        reconcile_wanted_ = true;
        wake_.notify_all();
        return;
      }
      found = info->found;
      if (found) {
        status = exit_status(info->exit_code, info->oom_killed, state->memory_limit);
        bool drained = false;
        {
          std::lock_guard lock(mutex_);
          drained = state->logs_eof;
        }
        if (!drained) drain_logs(state, container);
      }
    }
    if (!found) {
      status.code = -1;
      status.message = vanished;
    }
    if (found) remove_quietly(container);
    state->sink->close();
    {
      std::lock_guard lock(mutex_);
      if (state->reported) return;
      state->reported = true;
      state->phase = LaunchState::Phase::ended;
      if (auto it = launches_.find(state->id); it != launches_.end() && it->second == state) {
        launches_.erase(it);
      }
      cancel_streams(*state);
    }
    if (!status.success()) {
      host_.log(LogLevel::info, "launch " + state->id + " ended: " + status.message);
    }
    host_.exited(state->id, status);
  }

  // What the log stream did not deliver, from the daemon's stored log, without repeating lines.
  void drain_logs(const StatePtr& state, const std::string& container) {
    state->sink->flush_idle(0ms);
    LogCursor cursor = read_cursor(state->log_dir, state->component);
    std::string path = "/containers/" + container + "/logs?stdout=1&stderr=1&timestamps=1";
    if (cursor.since_ns > 0) path += "&since=" + api_time(cursor.since_ns);
    state->sink->begin(std::move(cursor));
    auto sink = state->sink;
    auto drained = engine_.stream("GET", path, {}, {}, 0,
                                  [&](std::string_view data) { return sink->feed(data); });
    if (!drained || !drained->ok()) {
      host_.log(LogLevel::warn, "the rest of the log of container " + state->name + " is lost: " +
                                    (drained ? daemon_message(*drained) : drained.error().message));
    }
  }

  // ---- supervisor thread: connection, events, reconciliation ----

  void supervise() {
    auto backoff = 250ms;
    auto next_reconcile = Clock::now();
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      if (!connected_) {
        lock.unlock();
        bool ok = connect();
        lock.lock();
        if (stopping_) break;
        if (!ok) {
          wake_.wait_for(lock, backoff, [&] { return stopping_; });
          backoff = std::min<std::chrono::milliseconds>(backoff * 2, 5s);
          continue;
        }
        backoff = 250ms;
        reconcile_wanted_ = true;
      }
      auto due = next_reconcile;
      for (const auto& [id, unknown] : unknown_) {
        due = std::min(due, unknown.first_seen + options_.orphan_grace);
      }
      if (reconcile_wanted_ || Clock::now() >= due) {
        reconcile_wanted_ = false;
        lock.unlock();
        reconcile();
        lock.lock();
        next_reconcile = Clock::now() + options_.reconcile_interval;
        continue;
      }
      wake_.wait_until(lock, due, [&] { return stopping_ || !connected_ || reconcile_wanted_; });
    }
  }

  bool connect() {
    auto reply = engine_.call("GET", "/version", {}, 5s);
    if (!reply || !reply->ok()) {
      std::lock_guard lock(mutex_);
      std::string reason =
          reply ? "dockerd at " + options_.socket + " answered " + std::to_string(reply->status)
                : reply.error().message;
      if (reason != down_reason_) {
        host_.log(LogLevel::warn, "docker runtime: " + reason);
        down_reason_ = reason;
      }
      return false;
    }
    Bridge bridge = fetch_bridge();
    std::lock_guard lock(mutex_);
    if (!down_reason_.empty()) {
      host_.log(LogLevel::info, "docker runtime: dockerd at " + options_.socket + " is back");
    }
    down_reason_.clear();
    bridge_ = bridge;
    if (events_active_) loop_->cancel(events_id_);
    const std::uint64_t gen = ++events_gen_;
    json filters = {{"type", {"container"}}, {"label", {std::string(kLabelAgent) + "=" + owner_}}};
    Loop::Request request;
    request.path = "/events?filters=" + url_encode(filters.dump());
    if (last_event_ns_ > 0) request.path += "&since=" + api_time(last_event_ns_);
    auto lines = std::make_shared<LineSplitter>();
    request.on_data = [this, lines](std::string_view data) {
      return lines->feed(data, [this](std::string_view line) {
        if (auto event = parse_event(line)) on_event(*event);
      });
    };
    request.on_done = [this, gen](const Loop::Done& done) {
      std::lock_guard lock(mutex_);
      if (gen != events_gen_) return;
      events_active_ = false;
      if (done.cancelled || stopping_) return;
      connected_ = false;
      std::string reason = done.error.empty()
                               ? "events stream ended (" + std::to_string(done.status) + ")"
                               : done.error;
      host_.log(LogLevel::warn, "docker runtime: " + reason + "; reconnecting");
      down_reason_ = reason;
      // Every launch's streams went with it, most likely: check each against the daemon.
      for (auto& [id, state] : launches_) {
        if (!done.error.empty()) state->daemon_lost = true;
      }
      wake_.notify_all();
    };
    events_active_ = true;
    events_id_ = loop_->add(std::move(request));
    connected_ = true;
    return true;
  }

  void reconcile() {
    auto asked = Clock::now();
    json filters = {{"label", {std::string(kLabelAgent) + "=" + owner_}}};
    auto listed =
        engine_.call("GET", "/containers/json?all=1&filters=" + url_encode(filters.dump()));
    if (!listed || !listed->ok()) {
      std::lock_guard lock(mutex_);
      if (!listed) {
        connected_ = false;
        down_reason_ = listed.error().message;
      }
      return;
    }
    json containers = json::parse(listed->body, nullptr, false);
    if (!containers.is_array()) return;
    std::vector<std::pair<std::string, std::string>> orphans;  // id, description
    std::vector<StatePtr> rearm;
    {
      std::lock_guard lock(mutex_);
      auto now = Clock::now();
      std::set<std::string> seen;
      for (const auto& container : containers) {
        if (!container.is_object()) continue;
        const std::string id = string_at(container, "Id");
        const std::string state_text = string_at(container, "State");
        std::string launch;
        if (auto labels = container.find("Labels");
            labels != container.end() && labels->is_object()) {
          launch = string_at(*labels, std::string(kLabelLaunch).c_str());
        }
        std::string name;
        if (auto names = container.find("Names"); names != container.end() && names->is_array() &&
                                                  !names->empty() && (*names)[0].is_string()) {
          name = (*names)[0].get<std::string>();
          if (name.starts_with("/")) name.erase(0, 1);
        }
        seen.insert(id);
        if (launch.empty()) continue;  // not a launch's (a build step's)
        auto it = launches_.find(launch);
        StatePtr state = it == launches_.end() ? nullptr : it->second;
        const bool known =
            state && (state->container == id ||
                      (state->phase == LaunchState::Phase::starting && name == state->name));
        if (known) {
          unknown_.erase(id);
          if (state->phase != LaunchState::Phase::running) continue;
          if (!state->exit_seen && state_text != "running" && state_text != "created" &&
              state_text != "restarting" && state_text != "paused") {
            state->exit_seen = true;  // the wait and the events missed it
          }
          if (state->exit_seen) {
            maybe_finish(state);
          } else if (state->needs_rearm) {
            rearm.push_back(state);
          }
          continue;
        }
        auto [entry, inserted] = unknown_.try_emplace(id, Unknown{name, launch, now});
        if (now - entry->second.first_seen >= options_.orphan_grace) {
          orphans.emplace_back(
              id, (name.empty() ? id.substr(0, 12) : name) + " (launch " + launch + ")");
        }
      }
      for (auto it = unknown_.begin(); it != unknown_.end();) {
        it = seen.count(it->first) == 0 ? unknown_.erase(it) : std::next(it);
      }
      for (auto& [id, state] : launches_) {
        if (state->phase != LaunchState::Phase::running || state->container.empty() ||
            state->created_at > asked) {
          continue;
        }
        if (seen.count(state->container) == 0 && !state->exit_seen) {
          state->exit_seen = true;  // gone without a trace: finish() says how
          state->needs_rearm = false;
        }
        if (state->exit_seen) maybe_finish(state);
        if (state->needs_rearm && !state->exit_seen &&
            std::find(rearm.begin(), rearm.end(), state) == rearm.end()) {
          rearm.push_back(state);
        }
      }
    }
    for (const auto& [id, description] : orphans) {
      auto removed = engine_.call("DELETE", "/containers/" + id + "?force=1&v=1");
      if (removed && (removed->ok() || removed->status == 404)) {
        host_.log(LogLevel::info,
                  "removed container " + description + ": no launch of this agent claims it");
        std::lock_guard lock(mutex_);
        unknown_.erase(id);
      } else {
        std::lock_guard lock(mutex_);  // try again in a while, not in a tight loop
        if (auto it = unknown_.find(id); it != unknown_.end()) {
          it->second.first_seen = Clock::now() - options_.orphan_grace + kOrphanRetry;
        }
      }
    }
    for (const auto& state : rearm)
      rearm_launch(state);
  }

  // A stream of a running launch broke: look at the container and attach what is missing.
  void rearm_launch(const StatePtr& state) {
    std::string container;
    bool need_logs = false;
    {
      std::lock_guard lock(mutex_);
      if (state->phase != LaunchState::Phase::running || state->exit_seen) return;
      container = state->container;
      need_logs = !state->logs_active;
    }
    auto info = inspect(container);
    if (!info) {
      std::lock_guard lock(mutex_);
      connected_ = false;
      down_reason_ = info.error().message;
      return;
    }
    LogCursor cursor;
    if (need_logs && info->found && info->running) {
      state->sink->flush_idle(0ms);
      cursor = read_cursor(state->log_dir, state->component);
    }
    std::lock_guard lock(mutex_);
    if (state->phase != LaunchState::Phase::running || state->exit_seen) return;
    if (!info->found || !info->running) {
      state->exit_seen = true;
      maybe_finish(state);
      return;
    }
    state->needs_rearm = false;
    if (!state->wait_active) add_wait(state, "not-running", nullptr);
    if (!state->logs_active) attach_logs(state, std::move(cursor));
  }

  RuntimeHost& host_;
  Options options_;
  std::string owner_;  // see Options::owner
  Engine engine_;
  Images images_;
  std::unique_ptr<Loop> loop_;
  Workers workers_;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::map<std::string, StatePtr> launches_;  // by launch id
  std::map<std::string, Unknown> unknown_;    // labelled containers no launch claims, by id
  bool connected_ = false;
  bool reconcile_wanted_ = false;
  std::string down_reason_;
  Bridge bridge_;
  std::int64_t last_event_ns_ = 0;
  Loop::Id events_id_ = 0;
  std::uint64_t events_gen_ = 0;
  bool events_active_ = false;
  std::thread supervisor_;
};

}  // namespace

std::string owner_for(const std::string& agent_name, const std::filesystem::path& data_folder) {
  std::error_code error;
  std::filesystem::path folder = std::filesystem::weakly_canonical(data_folder, error);
  if (error) folder = std::filesystem::absolute(data_folder);
  return agent_name + "." + sha256_hex(folder.string()).substr(0, 8);
}

RuntimePtr make_runtime(RuntimeHost& host, Options options) {
  return std::make_unique<DockerRuntime>(host, std::move(options));
}

}  // namespace baton::runtimes::docker
