#include "agent/agent.hpp"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <future>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>

#include "agent/bundle_cache.hpp"
#include "agent/caller_process.hpp"
#include "agent/core_client.hpp"
#include "agent/instance.hpp"
#include "agent/local_callers.hpp"
#include "agent/runtime_watch.hpp"
#include "agent/state_writer.hpp"
#include "agent/worker_pool.hpp"
#include "common/files.hpp"
#include "common/text.hpp"
#include "http/bearer.hpp"
#include "http/client.hpp"
#include "http/server.hpp"
#include "logs/reader.hpp"

namespace baton::agent {

namespace asio = boost::asio;
namespace stdfs = std::filesystem;
using nlohmann::json;

namespace {

// Quiet time after the last state change before the agent returns freed heap to the system.
constexpr auto kTrimAfterQuiet = std::chrono::seconds(5);

// Instance ids become folder names: keep them to what the core hands out.
bool safe_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
          c == '_')) {
      return false;
    }
  }
  return true;
}

std::string log_line_json(const logs::Entry& entry) {
  json line{{"time", entry.time},
            {"component", entry.component},
            {"stream", std::string(logs::stream_name(entry.stream))},
            {"line", entry.text}};
  return line.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

// The service names an endpoint answers to (control-protocol.md, "Service lookup").
std::vector<std::string> service_names(const bundle::Endpoint& endpoint) {
  std::vector<std::string> names;
  if (!endpoint.service_name.empty()) names.push_back(endpoint.service_name);
  for (const auto& uri : endpoint.services) {
    auto scheme = uri.find("://");
    std::string_view rest = uri;
    if (scheme != std::string::npos) rest = rest.substr(scheme + 3);
    auto slash = rest.find('/');
    if (slash == std::string_view::npos) continue;
    rest = rest.substr(slash + 1);
    auto end = rest.find('/');
    std::string first(rest.substr(0, end));
    if (!first.empty()) names.push_back(first);
  }
  if (names.empty()) names.push_back(endpoint.name);
  return names;
}

std::chrono::milliseconds max_age(const http::Response& response,
                                  std::chrono::milliseconds fallback) {
  auto it = response.headers.find(std::string_view("Cache-Control"));
  if (it == response.headers.end()) return fallback;
  auto at = it->second.find("max-age=");
  if (at == std::string::npos) return fallback;
  auto value = text::parse_integer(
      text::trim(std::string_view(it->second).substr(at + 8, it->second.find(',', at) - at - 8)));
  if (!value || *value < 0) return fallback;
  return std::chrono::seconds(*value);
}

}  // namespace

struct Agent::Impl final : InstanceServices {
  Impl(AgentOptions options, runtimes::Registry& registry, RuntimeEvents& events)
      : options_(std::move(options)),
        registry_(registry),
        events_(events),
        ports_(options_.ports),
        writer_([](const std::string& message) { spdlog::error("{}", message); }),
        workers_(options_.workers),
        side_(2),
        rng_(std::random_device{}()) {}

  ~Impl() override { stop(); }

  // ---- InstanceServices ----
  asio::io_context& io() override { return io_; }
  void run_blocking(std::function<Completion()> task) override {
    workers_.post([this, task = std::move(task)] {
      Completion completion = task();
      asio::post(io_, std::move(completion));
    });
  }
  runtimes::Registry& runtimes() override { return registry_; }
  PortAllocator& ports() override { return ports_; }
  BundleCache& cache() override { return *cache_; }
  StateWriter& writer() override { return writer_; }
  const AgentOptions& options() const override { return options_; }
  std::string core_url() const override {
    if (core_) return core_->current_core();
    return options_.cores.empty() ? std::string() : options_.cores.front();
  }
  http::ClientOptions core_client_options(std::chrono::milliseconds connect,
                                          std::chrono::milliseconds timeout) const {
    return http::ClientOptions{.connect_timeout = connect,
                               .timeout = timeout,
                               .bearer_token = options_.token,
                               .tls = options_.core_tls};
  }
  std::string local_host() const {
    return options_.local_bind == "0.0.0.0" || options_.local_bind.empty() ? "127.0.0.1"
                                                                           : options_.local_bind;
  }
  std::string status_base() const override {
    return "http://" + local_host() + ":" + std::to_string(status_->port());
  }
  std::string locator_url() const override {
    return "http://" + local_host() + ":" + std::to_string(locator_->port()) + "/services";
  }
  std::optional<BridgeUrls> bridge_urls(const std::string& runtime) const override {
    auto it = bridge_of_.find(runtime);
    if (it == bridge_of_.end() || it->second != bridge_ip_ || !bridge_status_ || !bridge_locator_) {
      return std::nullopt;
    }
    return BridgeUrls{
        "http://" + bridge_ip_ + ":" + std::to_string(bridge_status_->port()),
        "http://" + bridge_ip_ + ":" + std::to_string(bridge_locator_->port()) + "/services"};
  }
  Status prepare(runtimes::Runtime& runtime, const runtimes::BundleContent& content) override {
    auto key = std::make_pair(runtime.name(), content.digest);
    std::unique_lock lock(prepared_mutex_);
    if (auto it = prepared_.find(key); it != prepared_.end()) {
      auto done = it->second;
      lock.unlock();
      return done.get();
    }
    std::promise<Status> promise;
    prepared_[key] = promise.get_future().share();
    lock.unlock();
    Status status = runtime.prepare(content);
    promise.set_value(status);
    if (!status) {
      lock.lock();
      prepared_.erase(key);
    }
    return status;
  }
  void token_added(const std::string& token, Instance* instance) override {
    tokens_[token] = instance;
  }
  void token_removed(const std::string& token) override { tokens_.erase(token); }
  void changed() override {
    if (publish_posted_) return;
    publish_posted_ = true;
    asio::post(io_, [this] {
      publish_posted_ = false;
      publish();
    });
  }
  void ready(const std::string& instance_id) override {
    if (options_.on_ready) options_.on_ready(instance_id);
  }
  void removed(const std::string& instance_id) override {
    asio::post(io_, [this, instance_id] {
      instances_.erase(instance_id);
      changed();
      if (!stopping_) reconcile();
    });
  }
  double jitter() override { return std::uniform_real_distribution<double>(0, 1)(rng_); }
  void log(bool warning, const std::string& message) override {
    if (warning) {
      spdlog::warn("{}", message);
    } else {
      spdlog::info("{}", message);
    }
  }

  // ---- lifecycle ----
  Status start();
  void stop();
  void load_instances();
  void remove_leftover(const stdfs::path& folder);
  Status start_servers();
  template <class F>
  auto on_io(F function) -> decltype(function()) {
    if (io_thread_.get_id() == std::this_thread::get_id() || !io_thread_.joinable()) {
      return function();
    }
    std::packaged_task<decltype(function())()> task(std::move(function));
    auto result = task.get_future();
    asio::post(io_, [&task] { task(); });
    return result.get();
  }

  // ---- io thread ----
  void publish();
  protocol::StatusReport report() const;
  void on_assignment(protocol::Assignment assignment);
  void reconcile();
  void pump_prefetch();
  void on_exit(const std::string& launch_id, runtimes::ExitStatus status);
  protocol::Registration registration();
  void on_runtimes_changed(const Probes& now, const Probes& before);
  void update_bridge(const Probes& probes);
  void discard_unused();

  // local router; `bridged`: its listener on a container bridge, where callers are checked
  http::Router local_router(bool bridged = false);
  http::Response signal(const http::Request& request);
  void signal_without_token(const http::Request& request, http::ResponderPtr responder);
  void lookup(const std::string& name, std::function<void(std::vector<std::string>)> done);
  std::vector<std::string> local_hosts(const std::string& name) const;
  // agent API
  http::Router api_router();
  void logs(const http::Request& request, http::ResponderPtr responder);
  struct Follow {
    Follow(asio::io_context& io, stdfs::path log_dir, http::ResponderPtr responder_in)
        : follower(std::move(log_dir)), responder(std::move(responder_in)), timer(io) {}
    logs::Follower follower;  // side pool only, one call at a time
    http::ResponderPtr responder;
    asio::steady_timer timer;
    void end() {
      timer.cancel();
      responder->end();
    }
  };
  void follow_poll(std::shared_ptr<Follow> follow);

  AgentOptions options_;
  runtimes::Registry& registry_;
  RuntimeEvents& events_;
  PortAllocator ports_;
  std::unique_ptr<BundleCache> cache_;
  StateWriter writer_;
  WorkerPool workers_;
  WorkerPool side_;  // service lookups and log reads: never behind a slow download
  std::mutex prepared_mutex_;
  std::map<std::pair<std::string, std::string>, std::shared_future<Status>> prepared_;

  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::thread io_thread_;
  std::unique_ptr<CoreClient> core_;
  std::unique_ptr<http::Server> api_;
  std::unique_ptr<http::Server> status_;
  std::unique_ptr<http::Server> locator_;
  std::unordered_map<std::string, Instance*> tokens_;
  std::map<std::string, std::unique_ptr<Instance>> instances_;
  std::optional<protocol::Assignment> assignment_;
  bool publish_posted_ = false;
  bool report_queued_ = false;  // a report waits in writer_'s queue
  bool report_again_ = false;   // changes since it was made: another report is due
  asio::steady_timer trim_timer_{io_};
  bool started_ = false;
  bool stopped_ = false;
  bool stopping_ = false;
  std::mt19937_64 rng_;
  std::deque<std::pair<std::string, std::string>> prefetch_queue_;
  bool prefetching_ = false;
  struct Lookup {
    std::vector<std::string> hosts;
    std::chrono::steady_clock::time_point expires;
    std::size_t next = 0;
    bool pending = false;
    std::vector<std::function<void(std::vector<std::string>)>> waiters;
  };
  std::map<std::string, Lookup> lookups_;
  std::set<std::shared_ptr<Follow>> follows_;
  std::unique_ptr<RuntimeWatch> watch_;
  std::set<std::string> discarding_;  // digests being dropped
  // Container bridges (io thread): the last bridge address each runtime reported, the one the
  // local router listens on too, its subnet (callers allowed there), and those listeners.
  std::map<std::string, std::string> bridge_of_;
  std::string bridge_ip_;
  std::string bridge_subnet_;
  std::vector<std::string> own_addresses_;  // this machine's, also allowed there
  std::unique_ptr<http::Server> bridge_status_;
  std::unique_ptr<http::Server> bridge_locator_;
  std::vector<std::unique_ptr<http::Server>> retired_;  // replaced listeners, stopped
};

// ---- start / stop ----

Status Agent::Impl::start() {
  if (options_.name.empty()) return make_error(Errc::invalid, "agent name is empty (--name)");
  if (options_.data.empty()) return make_error(Errc::invalid, "no data folder (--data)");
  std::error_code error;
  stdfs::create_directories(options_.data / "instances", error);
  if (error) {
    return make_error(
        Errc::io, "data folder " + (options_.data / "instances").string() + ": " + error.message());
  }
  cache_ = std::make_unique<BundleCache>(
      CacheOptions{options_.data / "cache", options_.cache_bytes},
      [this](const std::string& digest, const std::string& source, const stdfs::path& destination) {
        std::string core = core_url();
        if (core.empty())
          return Status(make_error(Errc::unavailable, "no core to fetch " + digest));
        std::string path = source.empty() ? "/v2/bundles/files/" + digest : source;
        http::Client client(core_client_options(std::chrono::seconds(5), std::chrono::seconds(60)));
        auto response = client.download(core + path, destination);
        if (!response) return Status(std::move(response).error().within("bundle file " + digest));
        return Status();
      });
  BATON_TRY(cache_->open());
  cache_->on_evict([this](const std::string& digest) {
    {
      std::lock_guard lock(prepared_mutex_);
      std::erase_if(prepared_, [&](const auto& item) { return item.first.second == digest; });
    }
    // Every runtime, not only those that prepared it in this run: an earlier run of the agent
    // may have (images outlive the agent). release() is a no-op for digests a runtime never saw.
    for (const auto& name : registry_.names()) {
      if (auto status = registry_.find(name)->release(digest); !status) {
        spdlog::warn("runtime {}: releasing bundle {}: {}", name, digest, status.error().message);
      }
    }
  });
  watch_ = std::make_unique<RuntimeWatch>(
      registry_, options_.runtime_probe_interval, [this](const Probes& now, const Probes& before) {
        asio::post(io_, [this, now, before] { on_runtimes_changed(now, before); });
      });
  watch_->probe_now();
  BATON_TRY(start_servers());
  update_bridge(watch_->latest());

  CoreClientOptions core_options;
  core_options.cores = options_.cores;
  core_options.agent_name = options_.name;
  core_options.poll_wait = options_.poll_wait;
  core_options.token = options_.token;
  core_options.tls = options_.core_tls;
  core_ = std::make_unique<CoreClient>(
      io_, core_options,
      CoreClient::Callbacks{
          .registration = [this] { return registration(); },
          .assignment = [this](protocol::Assignment a) { on_assignment(std::move(a)); },
          .log =
              [](bool warning, const std::string& message) {
                if (warning) {
                  spdlog::warn("core: {}", message);
                } else {
                  spdlog::info("core: {}", message);
                }
              }});

  load_instances();
  events_.attach([this](const std::string& launch_id, runtimes::ExitStatus status) {
    asio::post(io_, [this, launch_id, status = std::move(status)]() mutable {
      on_exit(launch_id, std::move(status));
    });
  });
  work_.emplace(io_.get_executor());
  io_thread_ = std::thread([this] { io_.run(); });
  started_ = true;
  on_io([this] {
    for (auto& [id, instance] : instances_)
      instance->recover();
    publish();
    return 0;
  });
  core_->start();
  watch_->start();
  spdlog::info(
      "agent {} at {} (API :{}, status :{}, service locator :{}, ports {}), {} instance(s) "
      "recovered",
      options_.name, options_.address, api_->port(), status_->port(), locator_->port(),
      options_.ports.to_string(), instances_.size());
  return {};
}

void Agent::Impl::load_instances() {
  std::error_code error;
  for (const auto& entry : stdfs::directory_iterator(options_.data / "instances", error)) {
    const stdfs::path folder = entry.path();
    const std::string name = folder.filename().string();
    auto record = load_record(folder / kRecordFileName);
    if (!record || record->assigned.instance_id != name || !safe_id(name)) {
      spdlog::warn("removing leftover instance folder {}: {}", folder.string(),
                   record ? "its instance.json names another instance" : record.error().message);
      remove_leftover(folder);
      continue;
    }
    auto instance = std::make_unique<Instance>(*this, folder, std::move(record).value());
    instances_[name] = std::move(instance);
  }
}

void Agent::Impl::remove_leftover(const stdfs::path& folder) {
  // Without a valid instance.json the components are unknown: every runtime destroys whatever
  // launch a runtime folder names (destroy is idempotent for ids it never saw).
  std::vector<std::string> launch_ids;
  std::error_code error;
  const std::string id = folder.filename().string();
  for (const auto& entry : stdfs::directory_iterator(folder / "runtime", error)) {
    launch_ids.push_back(id + "." + entry.path().filename().string());
  }
  workers_.post([this, folder, launch_ids] {
    for (const auto& name : registry_.names()) {
      auto* runtime = registry_.find(name);
      for (const auto& launch_id : launch_ids)
        (void)runtime->destroy(launch_id);
    }
    writer_.remove(folder);
  });
}

Status Agent::Impl::start_servers() {
  auto start_one = [&](const std::string& address, int port, http::Router router,
                       std::unique_ptr<http::Server>& out,
                       http::ServerOptions server_options = {}) -> Status {
    server_options.address = address;
    server_options.port = static_cast<unsigned short>(port);
    auto server = http::Server::start(io_, server_options, std::move(router));
    if (!server) return std::move(server).error();
    out = std::move(server).value();
    return {};
  };
  BATON_TRY(start_one(options_.local_bind, options_.status_port, local_router(), status_));
  if (options_.locator_port == options_.status_port && options_.status_port != 0) {
    return make_error(Errc::invalid, "--status-port and --locator-port are both " +
                                         std::to_string(options_.status_port));
  }
  BATON_TRY(start_one(options_.local_bind, options_.locator_port, local_router(), locator_));
  // The agent API: the cores' credential when one is configured (docs/security.md).
  http::ServerOptions api_options;
  api_options.tls = options_.api_tls;
  if (!options_.core_token.empty()) {
    api_options.authorize = [token = options_.core_token](
                                const http::Request& request) -> std::optional<http::Response> {
      auto sent = http::bearer_token(request);
      if (!sent) {
        return http::unauthorized(
            "the agent API needs the core's credential: Authorization: "
            "Bearer <token> (--core-token-file)",
            false);
      }
      if (!http::same_secret(*sent, token)) {
        return http::unauthorized("the bearer token is not the core's token of this agent", true);
      }
      return std::nullopt;
    };
  }
  BATON_TRY(
      start_one(options_.api_bind, options_.api_port, api_router(), api_, std::move(api_options)));
  return {};
}

void Agent::Impl::stop() {
  if (!started_ || stopped_) {
    if (!started_) {
      // Servers may be bound although start() failed later.
      if (watch_) watch_->stop();
      for (auto* server : {&api_, &status_, &locator_, &bridge_status_, &bridge_locator_}) {
        if (*server) (*server)->stop();
      }
      workers_.drain();
      side_.drain();
      api_.reset();
      status_.reset();
      locator_.reset();
      bridge_status_.reset();
      bridge_locator_.reset();
      retired_.clear();
      instances_.clear();
      writer_.drain();
    }
    return;
  }
  stopped_ = true;
  watch_->stop();
  core_->stop();
  events_.detach();
  on_io([this] {
    stopping_ = true;
    for (auto* server : {&api_, &status_, &locator_, &bridge_status_, &bridge_locator_}) {
      if (*server) (*server)->stop();
    }
    for (const auto& follow : follows_)
      follow->end();
    follows_.clear();
    for (auto& [id, instance] : instances_)
      instance->shutdown();
    return 0;
  });
  workers_.drain();
  side_.drain();
  on_io([] { return 0; });  // completions the workers posted ran
  work_.reset();
  io_.stop();
  io_thread_.join();
  instances_.clear();
  tokens_.clear();
  api_.reset();
  status_.reset();
  locator_.reset();
  bridge_status_.reset();
  bridge_locator_.reset();
  retired_.clear();
  writer_.drain();  // before core_ goes: queued reports still reach it
  core_.reset();
  spdlog::info("agent {} stopped", options_.name);
}

// ---- reporting ----

protocol::StatusReport Agent::Impl::report() const {
  protocol::StatusReport report;
  protocol::Resources used;
  for (const auto& [id, instance] : instances_) {
    report.instances.push_back(instance->status());
    if (instance->active() && instance->descriptor() != nullptr) {
      used.cpus += instance->descriptor()->nr_of_cpus;
      used.memory += instance->descriptor()->memory;
      used.disk += instance->descriptor()->disk_space;
    }
  }
  report.bundles = cache_->held();
  report.resources_available.cpus = std::max(0.0, options_.resources.cpus - used.cpus);
  report.resources_available.memory =
      std::max<std::int64_t>(0, options_.resources.memory - used.memory);
  report.resources_available.disk = std::max<std::int64_t>(0, options_.resources.disk - used.disk);
  return report;
}

void Agent::Impl::publish() {
  if (!core_) return;
  // One report in the writer's queue at a time: while one waits there, later changes only mark
  // that another is due, built once it went. A burst of starts (500 instances, each several state
  // changes) queued hundreds of full reports, tens of MB that malloc then kept.
  if (report_queued_) {
    report_again_ = true;
    return;
  }
  report_queued_ = true;
  writer_.then([this, core = core_.get(), report = report()]() mutable {
    core->publish(std::move(report));
    asio::post(io_, [this] {
      report_queued_ = false;
      if (std::exchange(report_again_, false)) publish();
    });
  });
  // Once the instances have been quiet for a while, give what a burst freed back to the system.
  trim_timer_.expires_after(kTrimAfterQuiet);
  trim_timer_.async_wait([](const boost::system::error_code& error) {
    if (!error) ::malloc_trim(0);
  });
}

protocol::Registration Agent::Impl::registration() {
  protocol::Registration r;
  r.name = options_.name;
  r.address = options_.address;
  std::string api_host = options_.api_bind == "0.0.0.0" || options_.api_bind.empty()
                             ? options_.address
                             : options_.api_bind;
  if (api_host.find(':') != std::string::npos) api_host = "[" + api_host + "]";
  r.api_url = (options_.api_tls.enabled() ? "https://" : "http://") + api_host + ":" +
              std::to_string(api_->port());
  r.roles = options_.roles;
  r.resources = options_.resources;
  // The watch's last round: probing here would hold up registration behind a slow runtime.
  for (const auto& [name, probe] : watch_->latest()) {
    r.runtimes[name] = protocol::RuntimeInfo{probe.available, probe.reason, probe.attributes};
  }
  return r;
}

void Agent::Impl::on_runtimes_changed(const Probes& now, const Probes& before) {
  if (stopping_) return;
  std::vector<std::string> changes;
  for (const auto& [name, probe] : now) {
    auto was = before.find(name);
    if (was != before.end() && was->second.available == probe.available) continue;
    if (probe.available) {
      spdlog::info("runtime {} is available", name);
      changes.push_back(name + " available");
      continue;
    }
    // Its launches keep their state: the runtime re-adopts them, or reports their exits, when
    // it is back (docs/runtimes.md).
    std::vector<std::string> affected;
    for (const auto& [id, instance] : instances_) {
      if (instance->removing() || !instance->active() || instance->descriptor() == nullptr) {
        continue;
      }
      for (const auto& component : instance->descriptor()->components) {
        if (component.file_system_type == name) {
          affected.push_back(id);
          break;
        }
      }
    }
    spdlog::warn("runtime {} is unavailable: {}{}", name, probe.reason,
                 affected.empty() ? std::string()
                                  : "; its launches of instance(s) " + text::join(affected, ", ") +
                                        " are checked again when it is back");
    changes.push_back(name + " unavailable (" + probe.reason + ")");
  }
  update_bridge(now);
  if (core_) {
    core_->register_again(changes.empty() ? "runtime attributes changed"
                                          : "runtime " + text::join(changes, ", "));
  }
}

void Agent::Impl::update_bridge(const Probes& probes) {
  // The last address each runtime reported stays while it is unavailable: the bridge usually
  // outlives its daemon, and containers it brings back still call there.
  std::string wanted, subnet;
  for (const auto& [name, probe] : probes) {
    auto ip = probe.attributes.find("bridge-ip");
    if (ip == probe.attributes.end() || ip->second.empty()) continue;
    bridge_of_[name] = ip->second;
    if (!wanted.empty()) continue;
    wanted = ip->second;
    auto mask = probe.attributes.find("bridge-subnet");
    subnet = mask == probe.attributes.end() ? std::string() : mask->second;
  }
  if (wanted.empty()) return;
  if (subnet.empty()) subnet = wanted + "/32";  // only the host itself on that address
  bridge_subnet_ = subnet;
  own_addresses_ = own_ipv4_addresses();
  if (wanted == bridge_ip_ && bridge_status_ && bridge_locator_) return;
  for (auto* server : {&bridge_status_, &bridge_locator_}) {
    if (*server) {
      (*server)->stop();
      retired_.push_back(std::move(*server));
    }
  }
  bridge_ip_.clear();
  // The loopback ports when free there too, so a container's URLs look like a host process's.
  auto listen = [&](unsigned short port) -> Result<std::unique_ptr<http::Server>> {
    http::ServerOptions server_options;
    server_options.address = wanted;
    server_options.port = port;
    auto server = http::Server::start(io_, server_options, local_router(true));
    if (server || port == 0) return server;
    server_options.port = 0;
    return http::Server::start(io_, server_options, local_router(true));
  };
  auto refused = [&](const Error& error) {
    spdlog::warn(
        "cannot listen on the container bridge {}: {}; containers cannot signal "
        "readiness or look up services there",
        wanted, error.message);
  };
  auto status = listen(status_->port());
  if (!status) return refused(status.error());
  auto locator = listen(locator_->port());
  if (!locator) {
    (*status)->stop();
    retired_.push_back(std::move(status).value());
    return refused(locator.error());
  }
  bridge_status_ = std::move(status).value();
  bridge_locator_ = std::move(locator).value();
  bridge_ip_ = wanted;
  spdlog::info(
      "status :{} and service locator :{} also on the container bridge {} (callers from "
      "{})",
      bridge_status_->port(), bridge_locator_->port(), bridge_ip_, bridge_subnet_);
}

// ---- assignment ----

void Agent::Impl::on_assignment(protocol::Assignment assignment) {
  if (stopping_) return;
  assignment_ = std::move(assignment);
  reconcile();
  for (const auto& digest : assignment_->prefetch) {
    if (cache_->holds(digest)) continue;
    bool queued = false;
    for (const auto& [d, s] : prefetch_queue_)
      queued = queued || d == digest;
    if (!queued) prefetch_queue_.emplace_back(digest, "/v2/bundles/files/" + digest);
  }
  pump_prefetch();
}

void Agent::Impl::reconcile() {
  if (!assignment_ || stopping_) return;
  std::set<std::string> wanted;
  for (const auto& assigned : assignment_->instances) {
    wanted.insert(assigned.instance_id);
    if (instances_.count(assigned.instance_id) != 0) continue;
    if (!safe_id(assigned.instance_id)) {
      spdlog::warn("assignment: instance id '{}' is not usable as a folder name; skipped",
                   assigned.instance_id);
      continue;
    }
    spdlog::info("instance {} of {} assigned", assigned.instance_id, assigned.bundle_name);
    auto instance = std::make_unique<Instance>(
        *this, options_.data / "instances" / assigned.instance_id, assigned);
    Instance* raw = instance.get();
    instances_[assigned.instance_id] = std::move(instance);
    raw->begin();
  }
  for (auto& [id, instance] : instances_) {
    if (wanted.count(id) == 0) instance->remove();
  }
  discard_unused();
  changed();
}

void Agent::Impl::discard_unused() {
  for (const auto& digest : assignment_->discard) {
    if (discarding_.count(digest) != 0 || !cache_->holds(digest)) continue;
    // An instance still being removed may use it: the removal's reconcile() comes back here.
    bool used = std::any_of(instances_.begin(), instances_.end(), [&](const auto& item) {
      const protocol::AssignedInstance& a = item.second->assigned();
      return a.bundle_digest == digest || a.configuration_digest == digest;
    });
    if (used) continue;
    discarding_.insert(digest);
    workers_.post([this, digest] {
      bool dropped = cache_->discard(digest);  // the eviction callback releases the runtimes
      asio::post(io_, [this, digest, dropped] {
        discarding_.erase(digest);
        if (!dropped) return;
        spdlog::info("dropped bundle file {}: the core no longer has it loaded", digest);
        changed();
      });
    });
  }
}

void Agent::Impl::pump_prefetch() {
  if (prefetching_ || prefetch_queue_.empty() || stopping_) return;
  prefetching_ = true;
  auto [digest, source] = prefetch_queue_.front();
  prefetch_queue_.pop_front();
  workers_.post([this, digest = digest, source = source] {
    auto status = cache_->prefetch(digest, source);
    if (!status) spdlog::warn("prefetch {}: {}", digest, status.error().message);
    asio::post(io_, [this] {
      prefetching_ = false;
      changed();
      pump_prefetch();
    });
  });
}

void Agent::Impl::on_exit(const std::string& launch_id, runtimes::ExitStatus status) {
  auto dot = launch_id.find('.');
  if (dot == std::string::npos) return;
  auto it = instances_.find(launch_id.substr(0, dot));
  if (it == instances_.end()) return;
  it->second->on_exit(launch_id.substr(dot + 1), std::move(status));
}

// ---- local router: readiness and service locator ----

http::Response Agent::Impl::signal(const http::Request& request) {
  if (request.query_value("isStarted").value_or("") != "true") {
    return http::Response::error(400, "expected ?isStarted=true");
  }
  auto it = tokens_.find(request.params.at("token"));
  if (it == tokens_.end()) return http::Response::error(404, "unknown instance token");
  Instance& instance = *it->second;
  const std::string& bundle_id = request.params.at("bundleId");
  if (bundle_id != instance.bundle_id()) {
    return http::Response::error(400, "bundle " + bundle_id + " is not the bundle of instance " +
                                          instance.id() + " (" + instance.bundle_id() + ")");
  }
  instance.on_signal("$CONDUCTR_STATUS");
  return http::Response::json(200, json{{"instanceId", instance.id()}}.dump());
}

// ConductR's token-less route names a bundle, not an instance: the caller must prove it is one
// of that bundle's starting instances on this agent by being its process (docs/security.md).
void Agent::Impl::signal_without_token(const http::Request& request, http::ResponderPtr responder) {
  if (request.query_value("isStarted").value_or("") != "true") {
    responder->send(http::Response::error(400, "expected ?isStarted=true"));
    return;
  }
  struct Candidate {
    std::string id;
    std::string bundle_id;
    std::vector<int> roots;  // main processes, and their baton-shim parents
  };
  std::vector<Candidate> candidates;
  for (auto& [id, instance] : instances_) {
    if (instance->removing()) continue;
    candidates.push_back(Candidate{id, instance->bundle_id(), instance->main_pids()});
  }
  const std::string bundle_id = request.params.at("bundleId");
  const std::string caller = request.peer_ip + ":" + std::to_string(request.peer_port);
  bool posted = side_.post([this, candidates = std::move(candidates), bundle_id, caller, responder,
                            peer_ip = request.peer_ip, peer_port = request.peer_port,
                            server_port = request.local_port]() mutable {
    auto pids = tcp_client_processes(peer_ip, peer_port, server_port);
    for (auto& candidate : candidates) {
      std::vector<int> shims;
      for (int pid : candidate.roots) {
        auto parent = parent_of(pid);
        if (parent && *parent > 1 && process_name(*parent) == "baton-shim")
          shims.push_back(*parent);
      }
      candidate.roots.insert(candidate.roots.end(), shims.begin(), shims.end());
    }
    std::optional<pid_t> caller_pid;
    const Candidate* owner = nullptr;
    for (pid_t pid : pids) {
      caller_pid = caller_pid.value_or(pid);
      for (pid_t ancestor : ancestry(pid)) {
        for (const auto& candidate : candidates) {
          if (std::find(candidate.roots.begin(), candidate.roots.end(), ancestor) !=
              candidate.roots.end()) {
            owner = &candidate;
            caller_pid = pid;
          }
        }
        if (owner != nullptr) break;
      }
      if (owner != nullptr) break;
    }
    std::string owner_id = owner ? owner->id : "";
    std::string owner_bundle = owner ? owner->bundle_id : "";
    asio::post(io_, [this, responder, bundle_id, caller, caller_pid, owner_id, owner_bundle] {
      const std::string hint =
          "; signal $CONDUCTR_STATUS/bundles/$BUNDLE_ID, which names the instance";
      if (!caller_pid) {
        responder->send(http::Response::error(
            403, "caller " + caller + " cannot be identified as a process of this machine" + hint));
        return;
      }
      const std::string who = "caller pid " + std::to_string(*caller_pid);
      if (owner_id.empty()) {
        responder->send(http::Response::error(
            403, who +
                     " is not a process of an instance on this agent, so it may not mark bundle " +
                     bundle_id + " started" + hint));
        return;
      }
      if (owner_bundle != bundle_id) {
        responder->send(http::Response::error(
            403, who + " belongs to instance " + owner_id + " of bundle " + owner_bundle +
                     ", not to bundle " + bundle_id + ": it may not mark that bundle started"));
        return;
      }
      auto it = instances_.find(owner_id);
      if (it == instances_.end() || it->second->removing()) {
        responder->send(http::Response::error(404, "instance " + owner_id + " is being removed"));
        return;
      }
      Instance& instance = *it->second;
      if (instance.state() == protocol::InstanceState::started) {
        responder->send(http::Response::json(200, json{{"instanceId", owner_id}}.dump()));
        return;
      }
      if (instance.state() != protocol::InstanceState::starting) {
        responder->send(http::Response::error(
            409, "instance " + owner_id + " of bundle " + bundle_id + " is " +
                     std::string(protocol::to_string(instance.state())) + ", not starting"));
        return;
      }
      instance.on_signal("/bundles/{id} without token, from " + who);
      responder->send(http::Response::json(200, json{{"instanceId", owner_id}}.dump()));
    });
  });
  if (!posted) responder->send(http::Response::error(503, "the agent is stopping"));
}

std::vector<std::string> Agent::Impl::local_hosts(const std::string& name) const {
  std::vector<std::string> hosts;
  for (const auto& [id, instance] : instances_) {
    if (instance->state() != protocol::InstanceState::started ||
        instance->descriptor() == nullptr) {
      continue;
    }
    for (const bundle::Endpoint* endpoint : instance->descriptor()->endpoints()) {
      auto names = service_names(*endpoint);
      if (std::find(names.begin(), names.end(), name) == names.end()) continue;
      auto port = instance->ports().find(endpoint->name);
      if (port != instance->ports().end()) {
        hosts.push_back(options_.address + ":" + std::to_string(port->second));
      }
    }
  }
  return hosts;
}

void Agent::Impl::lookup(const std::string& name,
                         std::function<void(std::vector<std::string>)> done) {
  Lookup& entry = lookups_[name];
  if (!entry.pending && std::chrono::steady_clock::now() < entry.expires) {
    done(entry.hosts);
    return;
  }
  entry.waiters.push_back(std::move(done));
  if (entry.pending) return;
  entry.pending = true;
  std::string core = core_url();
  auto fallback = options_.locator_max_age;
  bool posted = side_.post([this, name, core, fallback] {
    std::optional<std::vector<std::string>> hosts;
    std::chrono::milliseconds age = fallback;
    if (!core.empty()) {
      http::Client client(core_client_options(std::chrono::seconds(2), std::chrono::seconds(5)));
      auto response = client.get(core + "/v2/service-hosts/" + http::url_encode(name));
      if (response && response->status == 200) {
        try {
          hosts = json::parse(response->body).get<std::vector<std::string>>();
          age = max_age(*response, fallback);
        } catch (const json::exception&) {
        }
      } else if (response && response->status == 404) {
        hosts.emplace();
      }
    }
    asio::post(io_, [this, name, hosts = std::move(hosts), age]() mutable {
      Lookup& entry = lookups_[name];
      entry.pending = false;
      auto now = std::chrono::steady_clock::now();
      if (hosts) {
        entry.hosts = std::move(*hosts);
        // An empty answer is kept briefly: a service that appears should be found soon.
        entry.expires =
            now + (entry.hosts.empty() ? std::min(age, std::chrono::milliseconds(1000)) : age);
      } else {  // the core cannot be asked: what runs here is the best answer
        entry.hosts = local_hosts(name);
        entry.expires = now + std::chrono::milliseconds(1000);
      }
      auto waiters = std::move(entry.waiters);
      entry.waiters.clear();
      for (auto& waiter : waiters)
        waiter(entry.hosts);
    });
  });
  if (!posted) {
    entry.pending = false;
    auto waiters = std::move(entry.waiters);
    entry.waiters.clear();
    for (auto& waiter : waiters)
      waiter({});
  }
}

http::Router Agent::Impl::local_router(bool bridged) {
  // On the bridge listener only processes of this machine may call (local_callers.hpp); the
  // loopback listeners cannot be reached from elsewhere.
  auto refused = [this, bridged](const http::Request& request) -> std::optional<http::Response> {
    if (!bridged || is_local_caller(request.peer_ip, bridge_subnet_, own_addresses_)) {
      return std::nullopt;
    }
    return http::Response::error(403, not_local_message(request.peer_ip, bridge_subnet_));
  };
  auto plain = [refused](http::Handler handler) -> http::Handler {
    return [refused, handler = std::move(handler)](const http::Request& request) {
      if (auto answer = refused(request)) return std::move(*answer);
      return handler(request);
    };
  };
  auto async = [refused](http::AsyncHandler handler) -> http::AsyncHandler {
    return [refused, handler = std::move(handler)](const http::Request& request,
                                                   http::ResponderPtr responder) {
      if (auto answer = refused(request)) return responder->send(std::move(*answer));
      handler(request, std::move(responder));
    };
  };
  http::Router router;
  router.add("PUT", "/i/{token}/bundles/{bundleId}",
             plain([this](const http::Request& request) { return signal(request); }));
  router.add_async("PUT", "/bundles/{bundleId}",
                   async([this](const http::Request& request, http::ResponderPtr responder) {
                     signal_without_token(request, std::move(responder));
                   }));
  router.add_async(
      "GET", "/services/{name}/{rest...}",
      async([this](const http::Request& request, http::ResponderPtr responder) {
        std::string name = request.params.at("name");
        std::string rest = request.params.count("rest") != 0 ? request.params.at("rest") : "";
        auto q = request.target.find('?');
        std::string query = q == std::string::npos ? "" : request.target.substr(q);
        lookup(name, [this, name, rest, query, responder](std::vector<std::string> hosts) {
          if (hosts.empty()) {
            responder->send(
                http::Response::error(404, "no started instance offers service " + name));
            return;
          }
          Lookup& entry = lookups_[name];
          const std::string& host = hosts[entry.next++ % hosts.size()];
          auto response = http::Response::redirect(307, "http://" + host + "/" + rest + query);
          response.headers["Cache-Control"] =
              "max-age=" + std::to_string(options_.locator_max_age.count() / 1000);
          responder->send(std::move(response));
        });
      }));
  router.add_async("GET", "/v2/service-hosts/{name}",
                   async([this](const http::Request& request, http::ResponderPtr responder) {
                     lookup(request.params.at("name"), [responder](std::vector<std::string> hosts) {
                       responder->send(http::Response::json(200, json(hosts).dump()));
                     });
                   }));
  return router;
}

// ---- agent API ----

http::Router Agent::Impl::api_router() {
  http::Router router;
  router.add("GET", "/agent/v1/instances", [this](const http::Request&) {
    json list = json::array();
    for (const auto& [id, instance] : instances_)
      list.push_back(instance->status());
    return http::Response::json(200, list.dump());
  });
  router.add_async("GET", "/agent/v1/instances/{id}/logs",
                   [this](const http::Request& request, http::ResponderPtr responder) {
                     logs(request, std::move(responder));
                   });
  return router;
}

void Agent::Impl::logs(const http::Request& request, http::ResponderPtr responder) {
  const std::string id = request.params.at("id");
  const stdfs::path folder = options_.data / "instances" / id;
  std::error_code error;
  if (!safe_id(id) || (instances_.count(id) == 0 && !stdfs::exists(folder, error))) {
    responder->send(http::Response::error(404, "no instance " + id + " on this agent"));
    return;
  }
  std::size_t count = 100;
  if (auto text = request.query_value("count")) {
    auto value = text::parse_integer(*text);
    if (!value || *value < 0) {
      responder->send(http::Response::error(400, "count '" + *text + "': expected a number"));
      return;
    }
    count = static_cast<std::size_t>(std::min<long long>(*value, 100000));
  }
  const bool follow = request.query_value("follow").value_or("") == "true";
  const stdfs::path log_dir = folder / "logs";
  if (!follow) {
    side_.post([log_dir, count, responder] {
      auto lines = logs::tail(log_dir, count);
      if (!lines) {
        responder->send(http::error_response(lines.error()));
        return;
      }
      std::string body;
      for (const auto& line : *lines)
        body += log_line_json(line);
      http::Response response;
      response.status = 200;
      response.headers["Content-Type"] = "application/x-ndjson";
      response.body = std::move(body);
      responder->send(std::move(response));
    });
    return;
  }
  auto state = std::make_shared<Follow>(io_, log_dir, responder);
  follows_.insert(state);
  responder->on_close([this, weak = std::weak_ptr<Follow>(state)] {
    asio::post(io_, [this, weak] {
      if (auto follow = weak.lock()) {
        follow->timer.cancel();
        follows_.erase(follow);
      }
    });
  });
  responder->begin_stream(200, http::Headers{{"Content-Type", "application/x-ndjson"}});
  side_.post([this, state, count] {
    auto lines = state->follower.backlog(count);
    std::string chunk;
    if (lines) {
      for (const auto& line : *lines)
        chunk += log_line_json(line);
    }
    if (!chunk.empty()) state->responder->write(std::move(chunk));
    asio::post(io_, [this, state] { follow_poll(state); });
  });
}

void Agent::Impl::follow_poll(std::shared_ptr<Follow> follow) {
  if (stopping_ || follow->responder->closed() || follows_.count(follow) == 0) {
    follows_.erase(follow);
    return;
  }
  follow->timer.expires_after(options_.log_follow_interval);
  follow->timer.async_wait([this, follow](const boost::system::error_code& error) {
    if (error || stopping_) return;
    bool posted = side_.post([this, follow] {
      auto lines = follow->follower.poll();
      std::string chunk;
      if (lines) {
        for (const auto& line : *lines)
          chunk += log_line_json(line);
      }
      if (!chunk.empty()) follow->responder->write(std::move(chunk));
      asio::post(io_, [this, follow] { follow_poll(follow); });
    });
    if (!posted) follows_.erase(follow);
  });
}

// ---- Agent ----

Agent::Agent(AgentOptions options, runtimes::Registry& runtimes, RuntimeEvents& events)
    : impl_(std::make_unique<Impl>(std::move(options), runtimes, events)) {}

Agent::~Agent() {
  stop();
}

Status Agent::start() {
  auto status = impl_->start();
  if (!status) impl_->stop();
  return status;
}

void Agent::stop() {
  impl_->stop();
}

unsigned short Agent::api_port() const {
  return impl_->api_ ? impl_->api_->port() : 0;
}
unsigned short Agent::status_port() const {
  return impl_->status_ ? impl_->status_->port() : 0;
}
unsigned short Agent::locator_port() const {
  return impl_->locator_ ? impl_->locator_->port() : 0;
}

std::vector<protocol::InstanceStatus> Agent::instances() const {
  return impl_->on_io([this] { return impl_->report().instances; });
}

bool Agent::registered() const {
  return impl_->core_ && impl_->core_->registered();
}

}  // namespace baton::agent
