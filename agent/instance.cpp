#include "agent/instance.hpp"

#include <signal.h>
#include <string.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <random>
#include <set>

#include "agent/environment.hpp"
#include "agent/notify.hpp"
#include "agent/runtime_config.hpp"
#include "agent/state_writer.hpp"
#include "bundle/descriptor_parse.hpp"
#include "common/files.hpp"
#include "common/sha256.hpp"
#include "common/text.hpp"

namespace baton::agent {

namespace asio = boost::asio;
namespace stdfs = std::filesystem;
using protocol::InstanceState;

namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const std::set<std::string>& builtin_runtimes() {
  static const std::set<std::string> names = {"universal", "docker", "rpm"};
  return names;
}

// Everything a Launch needs, copied so worker threads never read the instance itself.
struct LaunchInputs {
  std::string instance_id;
  std::string bundle_id;
  std::string bundle_digest;
  std::string agent_name;
  stdfs::path bundle_root;
  stdfs::path folder;
  std::map<std::string, int> ports;
  std::string notify_socket;
  const bundle::Descriptor* descriptor = nullptr;  // owned by the instance, never replaced
  // Components whose runtime runs them behind a container bridge: their CONDUCTR_STATUS and
  // SERVICE_LOCATOR there.
  std::map<std::string, std::pair<std::string, std::string>> bridged;
};

using BridgeMap = std::map<std::string, InstanceServices::BridgeUrls>;  // by runtime

// The runtimes that run launches behind a bridge, now. io thread.
BridgeMap bridges_now(InstanceServices& services) {
  BridgeMap out;
  for (const auto& name : services.runtimes().names()) {
    if (auto urls = services.bridge_urls(name)) out[name] = *urls;
  }
  return out;
}

// Per bridged component: its CONDUCTR_STATUS and SERVICE_LOCATOR on the bridge.
std::map<std::string, std::pair<std::string, std::string>> bridged_components(
    const BridgeMap& bridges, const bundle::Descriptor& descriptor, const std::string& token) {
  std::map<std::string, std::pair<std::string, std::string>> out;
  for (const auto& component : descriptor.components) {
    if (auto it = bridges.find(component.file_system_type); it != bridges.end()) {
      out[component.name] = {it->second.status_base + "/i/" + token, it->second.locator_url};
    }
  }
  return out;
}

runtimes::Launch make_launch(const LaunchInputs& in, const bundle::Component& component,
                             const Environment& environment) {
  runtimes::Launch launch;
  launch.id = in.instance_id + "." + component.name;
  launch.instance_id = in.instance_id;
  launch.bundle_id = in.bundle_id;
  launch.bundle_digest = in.bundle_digest;
  launch.component = component.name;
  launch.agent_name = in.agent_name;
  launch.bundle_root = in.bundle_root;
  launch.work_dir = in.folder / "work";
  launch.log_dir = in.folder / "logs";
  launch.state_dir = in.folder / "runtime" / component.name;
  // `$NAME` is expanded with the values the component sees (a container's view, when bridged).
  Environment seen = environment;
  if (auto it = in.bridged.find(component.name); it != in.bridged.end()) {
    seen = container_view(environment, *in.descriptor, it->second.first, it->second.second);
  }
  auto lookup = [&](std::string_view name) { return find_variable(seen, name); };
  for (const auto& arg : component.start_command) {
    launch.command.push_back(text::expand_variables(arg, lookup));
  }
  launch.environment = std::move(seen);
  for (const auto& endpoint : component.endpoints) {
    auto it = in.ports.find(endpoint.name);
    int port = it == in.ports.end() ? endpoint.bind_port : it->second;
    launch.ports.push_back(runtimes::PortBinding{endpoint.name, endpoint.protocol, port, port});
  }
  launch.limits.cpus = in.descriptor->nr_of_cpus;
  launch.limits.memory = in.descriptor->memory;
  launch.stop_signal = signal_number(component.stop_signal);
  launch.stop_timeout = component.stop_timeout;
  launch.notify_socket = in.notify_socket;
  return launch;
}

}  // namespace

std::string random_token() {
  std::random_device random;
  std::uint8_t bytes[16];
  for (auto& byte : bytes)
    byte = static_cast<std::uint8_t>(random());
  return to_hex(bytes);
}

int signal_number(std::string_view name) {
  if (auto number = text::parse_integer(name); number && *number > 0 && *number < 65) {
    return static_cast<int>(*number);
  }
  std::string upper = text::to_upper(name);
  if (upper.rfind("SIG", 0) == 0) upper = upper.substr(3);
  static const std::pair<const char*, int> kSignals[] = {
      {"HUP", SIGHUP},   {"INT", SIGINT},     {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
      {"USR1", SIGUSR1}, {"USR2", SIGUSR2},   {"TERM", SIGTERM}, {"STOP", SIGSTOP},
      {"CONT", SIGCONT}, {"WINCH", SIGWINCH}, {"PWR", SIGPWR}};
  for (const auto& [signal_name, number] : kSignals) {
    if (upper == signal_name) return number;
  }
  return SIGTERM;
}

std::string describe_exit(const std::string& component, const runtimes::ExitStatus& status) {
  std::string text = "component " + component;
  if (!status.message.empty()) return text + ": " + status.message;
  if (status.oom_killed) return text + " was killed at its memory limit";
  if (status.signal != 0) {
    const char* name = ::sigabbrev_np(status.signal);
    return text + " was killed by " +
           (name != nullptr ? "SIG" + std::string(name)
                            : "signal " + std::to_string(status.signal));
  }
  if (status.code >= 0) return text + " exited with code " + std::to_string(status.code);
  return text + " ended (exit status unknown)";
}

struct Instance::Timers {
  explicit Timers(asio::io_context& io) : start(io), backoff(io), stop_guard(io) {}
  asio::steady_timer start;
  asio::steady_timer backoff;
  asio::steady_timer stop_guard;
};

struct Instance::Fetched {
  Status status;
  std::shared_ptr<Lease> bundle;
  std::shared_ptr<Lease> configuration;
  std::optional<bundle::Descriptor> descriptor;
};

struct Instance::Launched {
  Status status;
  Environment environment;
  std::map<std::string, runtimes::Handle> handles;  // started or recovered launches
  std::map<std::string, std::string> lost;          // recover() failed: component -> why
  std::shared_ptr<Fetched> fetched;                 // recovery only
};

namespace {

// Fetch, verify and extract the bundle (and configuration), read the descriptor, and lay out the
// instance folder. Worker thread.
std::shared_ptr<Instance::Fetched> fetch_content(InstanceServices& services,
                                                 const protocol::AssignedInstance& assigned,
                                                 const stdfs::path& folder);

}  // namespace

// ---- construction ----

Instance::Instance(InstanceServices& services, stdfs::path folder,
                   protocol::AssignedInstance assigned)
    : services_(services),
      folder_(std::move(folder)),
      budget_(services.options().restart),
      timers_(std::make_unique<Timers>(services.io())) {
  record_.assigned = std::move(assigned);
  record_.token = random_token();
  record_.state = InstanceState::fetching;
}

Instance::Instance(InstanceServices& services, stdfs::path folder, InstanceRecord record)
    : services_(services),
      folder_(std::move(folder)),
      record_(std::move(record)),
      budget_(services.options().restart),
      timers_(std::make_unique<Timers>(services.io())) {
  budget_.restore(record_.failures);
  for (const auto& launch : record_.launches) {
    LaunchState state;
    state.runtime = launch.runtime;
    state.active = launch.active;
    state.handle = launch.handle;
    launches_[launch.component] = std::move(state);
  }
  if (record_.state == InstanceState::stopped || record_.state == InstanceState::failed) return;
  auto restored = services_.ports().restore(id(), record_.assigned.bundle_name, record_.ports);
  if (!restored) restore_error_ = restored.error().message;
  services_.token_added(record_.token, this);
  token_registered_ = true;
  if (!record_.notify_socket.empty()) {
    if (auto status = open_notify_socket(); !status) services_.log(true, status.error().message);
  }
}

Instance::~Instance() {
  cancel_readiness();
  if (notify_) notify_->close();
  if (token_registered_) services_.token_removed(record_.token);
}

// ---- plumbing ----

void Instance::enqueue(std::function<InstanceServices::Completion()> task) {
  operations_.push_back(std::move(task));
  if (!operation_running_) next_operation();
}

void Instance::next_operation() {
  if (operations_.empty()) {
    operation_running_ = false;
    return;
  }
  operation_running_ = true;
  auto task = std::move(operations_.front());
  operations_.pop_front();
  services_.run_blocking([this, task = std::move(task)]() -> InstanceServices::Completion {
    auto completion = task();
    return [this, completion = std::move(completion)] {
      if (completion) completion();
      next_operation();
    };
  });
}

void Instance::save() {
  record_.launches.clear();
  for (const auto& [component, launch] : launches_) {
    record_.launches.push_back(
        LaunchRecord{component, launch.runtime, launch.active || launch.starting, launch.handle});
  }
  record_.failures = budget_.failures();
  ++saves_;
  services_.writer().write(folder_ / kRecordFileName, to_json(record_).dump(1) + "\n");
}

void Instance::set_state(InstanceState state) {
  if (record_.state == state) return;
  record_.state = state;
  services_.changed();
}

bool Instance::any_active() const {
  for (const auto& [component, launch] : launches_) {
    if (launch.active) return true;
  }
  return false;
}

bool Instance::any_starting() const {
  for (const auto& [component, launch] : launches_) {
    if (launch.starting) return true;
  }
  return false;
}

bool Instance::active() const {
  return phase_ != Phase::stopped && phase_ != Phase::failed && phase_ != Phase::gone;
}

Status Instance::open_notify_socket() {
  std::string address = (folder_ / "notify.sock").string();
  if (address.size() > max_socket_path()) {
    address = "@baton/" + services_.options().name + "/" + id();
  }
  auto socket = NotifySocket::open(services_.io(), address,
                                   [this](const NotifyMessage& message, int /*sender_pid*/) {
                                     if (message.ready) on_signal("notify");
                                   });
  if (!socket) return std::move(socket).error().within("instance " + id());
  notify_ = std::move(socket).value();
  record_.notify_socket = notify_->address();
  return {};
}

protocol::InstanceStatus Instance::status() const {
  protocol::InstanceStatus s;
  s.instance_id = id();
  s.bundle_id = bundle_id();
  s.state = record_.state;
  for (const auto& [component, launch] : launches_) {
    if ((launch.active || launch.starting) && launch.handle.pid > 0) {
      s.pid = launch.handle.pid;
      break;
    }
  }
  for (const auto& [endpoint, port] : record_.ports) {
    protocol::EndpointBinding binding;
    binding.bind_port = port;
    binding.host_port = port;
    if (descriptor_) {
      for (const bundle::Endpoint* e : descriptor_->endpoints()) {
        if (e->name == endpoint) binding.protocol = bundle::to_string(e->protocol);
      }
    }
    s.endpoints[endpoint] = binding;
  }
  s.started_at = record_.started_at;
  s.restarts = record_.restarts;
  s.error = record_.error;
  return s;
}

// ---- fetch ----

namespace {

std::shared_ptr<Instance::Fetched> fetch_content(InstanceServices& services,
                                                 const protocol::AssignedInstance& assigned,
                                                 const stdfs::path& folder) {
  auto out = std::make_shared<Instance::Fetched>();
  auto fail = [&](Error error) {
    out->status = std::move(error);
    out->bundle.reset();
    out->configuration.reset();
    return out;
  };
  auto bundle_lease = services.cache().acquire(assigned.bundle_digest, assigned.bundle_file);
  if (!bundle_lease) return fail(std::move(bundle_lease).error());
  out->bundle = std::make_shared<Lease>(std::move(bundle_lease).value());
  if (!assigned.configuration_digest.empty()) {
    auto lease =
        services.cache().acquire(assigned.configuration_digest, assigned.configuration_file);
    if (!lease) return fail(std::move(lease).error().within("configuration"));
    out->configuration = std::make_shared<Lease>(std::move(lease).value());
  }
  bundle::ParseOptions options;
  for (const auto& name : services.runtimes().names()) {
    if (builtin_runtimes().count(name) == 0) options.extra_runtimes.insert(name);
  }
  const stdfs::path conf = out->bundle->root() / "bundle.conf";
  auto text = files::read(conf, 1 << 20);
  if (!text) return fail(std::move(text).error());
  const std::string source = out->bundle->zip().filename().string() + ":bundle.conf";
  std::optional<std::string> overlay;
  std::string overlay_source;
  if (out->configuration) {
    const stdfs::path overlay_file = out->configuration->root() / "bundle.conf";
    std::error_code error;
    if (stdfs::exists(overlay_file, error)) {
      auto overlay_text = files::read(overlay_file, 1 << 20);
      if (!overlay_text) return fail(std::move(overlay_text).error());
      overlay = std::move(overlay_text).value();
      overlay_source = out->configuration->zip().filename().string() + ":bundle.conf";
    }
  }
  auto descriptor = overlay ? bundle::parse_descriptor_with_overlay(*text, source, *overlay,
                                                                    overlay_source, options)
                            : bundle::parse_descriptor(*text, source, options);
  if (!descriptor) return fail(std::move(descriptor).error());
  out->descriptor = std::move(descriptor).value();

  std::error_code error;
  for (const char* sub : {"work", "logs", "runtime"}) {
    stdfs::create_directories(folder / sub, error);
    if (error) {
      return fail(make_error(
          Errc::io, "instance folder " + (folder / sub).string() + ": " + error.message()));
    }
  }
  // The working folder mirrors the bundle's top folder with symlinks, so components that use
  // paths relative to it (as ConductR ran them) find their files, and can still write here.
  for (const auto& entry : stdfs::directory_iterator(out->bundle->root(), error)) {
    stdfs::path link = folder / "work" / entry.path().filename();
    std::error_code exists_error;
    if (stdfs::exists(stdfs::symlink_status(link, exists_error))) continue;
    stdfs::create_symlink(entry.path(), link, exists_error);
  }
  return out;
}

}  // namespace

void Instance::begin() {
  phase_ = Phase::fetching;
  set_state(InstanceState::fetching);
  std::error_code error;
  stdfs::create_directories(folder_, error);
  // No record yet: nothing runs and no port is held until launch() saves one. An agent killed
  // before that finds a folder without instance.json, removes it as a leftover, and no longer
  // reports the instance, so the core places it again - as it would after a "fetching" record.
  services_.changed();
  auto assigned = record_.assigned;
  auto folder = folder_;
  InstanceServices* services = &services_;
  enqueue([this, services, assigned, folder]() -> InstanceServices::Completion {
    auto fetched = fetch_content(*services, assigned, folder);
    return [this, fetched] { this->fetched(fetched); };
  });
}

void Instance::fetched(std::shared_ptr<Fetched> result) {
  if (phase_ != Phase::fetching || shut_down_) return;
  if (!result->status) {
    fail(result->status.error().message);
    return;
  }
  descriptor_ = std::move(result->descriptor);
  bundle_lease_ = result->bundle;
  configuration_lease_ = result->configuration;
  for (const auto& component : descriptor_->components) {
    launches_[component.name].runtime = component.file_system_type;
  }
  if (record_.ports.empty()) {
    std::vector<PortRequest> requests;
    for (const bundle::Endpoint* endpoint : descriptor_->endpoints()) {
      requests.push_back(PortRequest{endpoint->name, endpoint->bind_port});
    }
    if (!requests.empty()) {
      auto ports = services_.ports().allocate(id(), record_.assigned.bundle_name, requests);
      if (!ports) {
        fail(ports.error().message);
        return;
      }
      record_.ports = std::move(ports).value();
    }
  }
  if (!notify_) {
    if (auto status = open_notify_socket(); !status) {
      fail(status.error().message);
      return;
    }
  }
  if (!token_registered_) {
    services_.token_added(record_.token, this);
    token_registered_ = true;
  }
  launch();
}

// ---- launch ----

void Instance::launch() {
  if (shut_down_) return;
  phase_ = Phase::launching;
  ended_ = false;
  ready_ = false;
  early_signal_ = false;
  set_state(InstanceState::starting);
  const AgentOptions& options = services_.options();
  record_.control_url = services_.core_url();
  EnvironmentInput input;
  input.descriptor = &*descriptor_;
  input.bundle_id = bundle_id();
  input.host_ip = options.address;
  input.control_url = record_.control_url;
  input.status_url = services_.status_base() + "/i/" + record_.token;
  input.locator_url = services_.locator_url();
  input.ports = record_.ports;
  input.peers = record_.assigned.peers;
  input.notify_socket = record_.notify_socket;
  input.pass_env = options.pass_env;
  Environment environment = build_environment(input);

  LaunchInputs inputs{id(),          bundle_id(),           record_.assigned.bundle_digest,
                      options.name,  bundle_lease_->root(), folder_,
                      record_.ports, record_.notify_socket, &*descriptor_};
  inputs.bridged = bridged_components(bridges_now(services_), *descriptor_, record_.token);
  for (auto& [component, launch] : launches_) {
    launch.starting = true;
    launch.pending_exit.reset();
    launch.handle = {};
  }
  save();
  std::optional<stdfs::path> script;
  if (configuration_lease_) {
    std::error_code error;
    auto candidate = configuration_lease_->root() / std::string(kRuntimeConfigName);
    if (stdfs::exists(candidate, error)) script = candidate;
  }
  InstanceServices* services = &services_;
  auto timeout = options.runtime_config_timeout;
  enqueue([this, services, inputs, environment, script, timeout]() -> InstanceServices::Completion {
    auto out = std::make_shared<Launched>();
    out->environment = environment;
    if (script) {
      auto exports =
          run_runtime_config(*script, environment, RuntimeConfigOptions{.timeout = timeout});
      if (!exports) {
        out->status = std::move(exports).error();
        return [this, out] { launched(out); };
      }
      out->environment = merge_exports(std::move(out->environment), *exports);
    }
    const bundle::Descriptor& descriptor = *inputs.descriptor;
    std::vector<std::pair<const bundle::Component*, runtimes::Runtime*>> plan;
    for (const auto& component : descriptor.components) {
      auto runtime = services->runtimes().get(component.file_system_type);
      if (!runtime) {
        out->status = std::move(runtime).error().within("component " + component.name);
        return [this, out] { launched(out); };
      }
      plan.emplace_back(&component, *runtime);
    }
    std::set<runtimes::Runtime*> prepared;
    for (const auto& [component, runtime] : plan) {
      if (!prepared.insert(runtime).second) continue;
      auto status = services->prepare(
          *runtime, runtimes::BundleContent{inputs.bundle_digest, inputs.bundle_root, &descriptor});
      if (!status) {
        out->status = std::move(status).error().within("runtime " + runtime->name());
        return [this, out] { launched(out); };
      }
    }
    for (const auto& [component, runtime] : plan) {
      runtimes::Launch launch = make_launch(inputs, *component, out->environment);
      (void)runtime->destroy(launch.id);  // what a previous run of this launch left
      files::remove_tree(launch.state_dir);
      std::error_code error;
      stdfs::create_directories(launch.state_dir, error);
      stdfs::create_directories(launch.log_dir, error);
      auto handle = runtime->start(launch);
      if (!handle) {
        out->status = std::move(handle).error();
        for (const auto& [started, started_handle] : out->handles) {
          (void)services->runtimes()
              .find(descriptor.component(started)->file_system_type)
              ->destroy(inputs.instance_id + "." + started);
        }
        out->handles.clear();
        break;
      }
      out->handles[component->name] = std::move(handle).value();
    }
    return [this, out] { launched(out); };
  });
}

void Instance::launched(std::shared_ptr<Launched> result) {
  for (auto& [component, launch] : launches_) {
    if (!launch.starting) continue;
    launch.starting = false;
    auto it = result->handles.find(component);
    if (it != result->handles.end()) {
      launch.active = true;
      launch.handle = it->second;
    } else {
      launch.pending_exit.reset();
    }
  }
  if (result->status) record_.environment = result->environment;
  // On the way to running, readiness may complete in this same turn (no check, or a signal that
  // came early) and save again: the record is then written once, with the handles and the state.
  // The write skipped would have been queued microseconds before that one; an agent killed before
  // either lands finds launch()'s record, which marks every launch active, and recover() re-adopts
  // a live shim through its state folder's socket without the saved handle.
  const bool to_running = !shut_down_ && phase_ == Phase::launching && result->status;
  const std::uint64_t saves_before = saves_;
  if (!to_running) save();
  if (shut_down_) return;
  if (phase_ != Phase::launching) {  // a stop, failure or removal came meanwhile
    for (auto& [component, launch] : launches_) {
      if (launch.pending_exit) {
        launch.pending_exit.reset();
        launch.active = false;
      }
    }
    if (!any_active()) all_exited();
    return;
  }
  if (!result->status) {
    fail(result->status.error().message);
    return;
  }
  phase_ = Phase::running;
  for (auto& [component, launch] : launches_) {
    if (!launch.pending_exit) continue;
    auto exit = std::move(*launch.pending_exit);
    launch.pending_exit.reset();
    launch.active = false;
    handle_exit(component, exit);
  }
  if (phase_ == Phase::running && !ready_) start_readiness();
  if (saves_ == saves_before) save();
}

// ---- readiness ----

void Instance::start_readiness() {
  if (shut_down_) return;
  ReadinessPlan plan = plan_readiness(*descriptor_, record_.ports, services_.options().address);
  if ((early_signal_ && plan.accepts_signal) || plan.ready_when_running) {
    become_ready(early_signal_ ? "signal" : "running");
    return;
  }
  if (!plan.targets.empty()) {
    poller_ = ReadinessPoller::start(services_.io(), plan, [this] { become_ready("polling"); });
  }
  auto timeout = descriptor_->start_timeout;
  timers_->start.expires_after(timeout);
  timers_->start.async_wait([this, timeout](const boost::system::error_code& error) {
    if (error || phase_ != Phase::running || ready_) return;
    restart("not ready within " + std::to_string(timeout.count()) + " ms (start-timeout)");
  });
}

void Instance::on_signal(std::string_view source) {
  if (phase_ == Phase::launching) {
    early_signal_ = true;
    return;
  }
  if (phase_ != Phase::running || ready_) return;
  if (descriptor_ && descriptor_->readiness.mode == bundle::Readiness::Mode::none) return;
  become_ready(source);
}

void Instance::become_ready(std::string_view source) {
  if (phase_ != Phase::running || ready_) return;
  ready_ = true;
  cancel_readiness();
  record_.started_at = now_ms();
  set_state(InstanceState::started);
  save();
  services_.ready(id());
  services_.log(false, "instance " + id() + " of " + record_.assigned.bundle_name + " started (" +
                           std::string(source) + ")");
}

void Instance::cancel_readiness() {
  if (poller_) {
    poller_->cancel();
    poller_.reset();
  }
  if (timers_) timers_->start.cancel();
}

// ---- exits ----

void Instance::on_exit(const std::string& component, runtimes::ExitStatus status) {
  auto it = launches_.find(component);
  if (it == launches_.end()) return;
  LaunchState& launch = it->second;
  if (launch.starting) {
    launch.pending_exit = std::move(status);
    return;
  }
  if (!launch.active) return;  // a launch destroyed after a failed start
  launch.active = false;
  save();
  handle_exit(component, status);
}

void Instance::handle_exit(const std::string& component, const runtimes::ExitStatus& status) {
  switch (phase_) {
    case Phase::running:
    case Phase::launching:
      if (status.success()) {
        services_.log(false,
                      "instance " + id() + ": component " + component + " exited with code 0");
        if (!any_active() && !any_starting()) {
          cause_.clear();
          phase_ = Phase::stopping;
          ended_ = false;
          cancel_readiness();
          all_exited();
        } else {
          save();
        }
      } else {
        restart(describe_exit(component, status));
      }
      break;
    case Phase::restarting:
    case Phase::stopping:
    case Phase::failing:
    case Phase::removing:
      if (!any_active() && !any_starting()) all_exited();
      break;
    default:
      break;
  }
}

void Instance::restart(std::string cause) {
  services_.log(true, "instance " + id() + " of " + record_.assigned.bundle_name + ": " + cause);
  cause_ = std::move(cause);
  record_.error = cause_;
  phase_ = Phase::restarting;
  ended_ = false;
  ready_ = false;
  cancel_readiness();
  set_state(InstanceState::starting);
  save();
  if (any_active() || any_starting()) {
    stop_launches();
  } else {
    all_exited();
  }
}

void Instance::fail(std::string cause) {
  services_.log(true,
                "instance " + id() + " of " + record_.assigned.bundle_name + " failed: " + cause);
  cause_ = std::move(cause);
  record_.error = cause_;
  phase_ = Phase::failing;
  ended_ = false;
  ready_ = false;
  cancel_readiness();
  if (timers_) timers_->backoff.cancel();
  save();
  services_.changed();
  if (any_active() || any_starting()) {
    stop_launches();
  } else {
    all_exited();
  }
}

void Instance::remove() {
  if (phase_ == Phase::removing || phase_ == Phase::gone) return;
  services_.log(false, "instance " + id() + " of " + record_.assigned.bundle_name +
                           ": no longer assigned, removing it");
  phase_ = Phase::removing;
  ended_ = false;
  ready_ = false;
  cancel_readiness();
  timers_->backoff.cancel();
  set_state(InstanceState::stopping);
  if (any_active() || any_starting()) {
    stop_launches();
  } else {
    all_exited();
  }
}

void Instance::stop_launches() {
  std::vector<std::tuple<std::string, runtimes::Runtime*, int, std::chrono::milliseconds>> stops;
  std::chrono::milliseconds longest{5000};
  for (const auto& [component, launch] : launches_) {
    runtimes::Runtime* runtime = services_.runtimes().find(launch.runtime);
    if (runtime == nullptr) continue;
    int signal = SIGTERM;
    std::chrono::milliseconds timeout{5000};
    if (descriptor_) {
      if (const bundle::Component* c = descriptor_->component(component)) {
        signal = signal_number(c->stop_signal);
        timeout = c->stop_timeout;
      }
    }
    longest = std::max(longest, timeout);
    stops.emplace_back(id() + "." + component, runtime, signal, timeout);
  }
  enqueue([stops]() -> InstanceServices::Completion {
    for (const auto& [launch_id, runtime, signal, timeout] : stops) {
      if (auto status = runtime->stop(launch_id, signal, timeout); !status) {
        (void)runtime->destroy(launch_id);  // cannot ask it to stop: kill it
      }
    }
    return {};
  });
  // A runtime that never reports the exit must not hold the instance forever.
  timers_->stop_guard.expires_after(longest + std::chrono::seconds(10));
  timers_->stop_guard.async_wait([this](const boost::system::error_code& error) {
    if (error || shut_down_ || !any_active()) return;
    if (phase_ != Phase::restarting && phase_ != Phase::stopping && phase_ != Phase::failing &&
        phase_ != Phase::removing) {
      return;
    }
    services_.log(true, "instance " + id() + ": launches did not report their exit after stop");
    for (auto& [component, launch] : launches_)
      launch.active = false;
    all_exited();
  });
}

void Instance::destroy_launches(std::function<void()> then) {
  std::vector<std::pair<std::string, runtimes::Runtime*>> targets;
  for (const auto& [component, launch] : launches_) {
    if (runtimes::Runtime* runtime = services_.runtimes().find(launch.runtime)) {
      targets.emplace_back(id() + "." + component, runtime);
    }
  }
  enqueue([targets, then = std::move(then)]() -> InstanceServices::Completion {
    for (const auto& [launch_id, runtime] : targets)
      (void)runtime->destroy(launch_id);
    return then;
  });
}

void Instance::release_resources() {
  cancel_readiness();
  if (timers_) {
    timers_->backoff.cancel();
    timers_->stop_guard.cancel();
  }
  services_.ports().release(id());
  record_.ports.clear();
  if (notify_) {
    notify_->close();
    notify_.reset();
  }
  if (token_registered_) {
    services_.token_removed(record_.token);
    token_registered_ = false;
  }
  bundle_lease_.reset();
  configuration_lease_.reset();
}

void Instance::all_exited() {
  if (ended_) return;
  if (timers_) timers_->stop_guard.cancel();
  switch (phase_) {
    case Phase::restarting: {
      ended_ = true;
      auto delay = budget_.on_failure(now_ms(), services_.jitter());
      if (!delay) {
        const RestartPolicy& policy = budget_.policy();
        phase_ = Phase::failing;
        ended_ = false;
        record_.error = cause_ + "; restarted " + std::to_string(policy.limit) + " times within " +
                        std::to_string(policy.window.count() / 1000) + " s, giving up";
        cause_ = record_.error;
        all_exited();
        return;
      }
      ++record_.restarts;
      save();
      services_.changed();
      if (shut_down_) return;
      timers_->backoff.expires_after(*delay);
      timers_->backoff.async_wait([this](const boost::system::error_code& error) {
        if (error || phase_ != Phase::restarting || shut_down_) return;
        launch();
      });
      return;
    }
    case Phase::stopping:
      ended_ = true;
      phase_ = Phase::stopped;
      release_resources();
      destroy_launches({});
      set_state(InstanceState::stopped);
      save();
      services_.log(false, "instance " + id() + " of " + record_.assigned.bundle_name + " stopped");
      return;
    case Phase::failing:
      ended_ = true;
      phase_ = Phase::failed;
      release_resources();
      destroy_launches({});
      set_state(InstanceState::failed);
      save();
      services_.changed();
      return;
    case Phase::removing:
      ended_ = true;
      destroy_launches([this] {
        release_resources();
        phase_ = Phase::gone;
        // Dropped from the reports once its folder is gone, so nothing of it outlives its report.
        services_.writer().remove(folder_,
                                  [services = &services_, id = id()] { services->removed(id); });
      });
      return;
    default:
      return;
  }
}

// ---- recovery and shutdown ----

void Instance::recover() {
  if (record_.state == InstanceState::stopped) {
    phase_ = Phase::stopped;
    return;
  }
  if (record_.state == InstanceState::failed) {
    phase_ = Phase::failed;
    return;
  }
  phase_ = Phase::launching;
  ready_ = record_.state == InstanceState::started;
  std::vector<std::tuple<std::string, std::string, runtimes::Handle>> adopt;  // component, runtime
  for (auto& [component, launch] : launches_) {
    if (!launch.active) continue;
    launch.active = false;
    launch.starting = true;
    adopt.emplace_back(component, launch.runtime, launch.handle);
  }
  auto assigned = record_.assigned;
  auto folder = folder_;
  auto ports = record_.ports;
  auto environment = record_.environment;
  auto notify_socket = record_.notify_socket;
  const std::string agent_name = services_.options().name;
  const std::string token = record_.token;
  BridgeMap bridges = bridges_now(services_);
  InstanceServices* services = &services_;
  enqueue([this, services, assigned, folder, ports, environment, notify_socket, agent_name, adopt,
           token, bridges]() -> InstanceServices::Completion {
    auto out = std::make_shared<Launched>();
    out->fetched = fetch_content(*services, assigned, folder);
    if (!out->fetched->status) {
      out->status = out->fetched->status;
      return [this, out] { recovered(out); };
    }
    LaunchInputs inputs{assigned.instance_id,
                        assigned.bundle_id,
                        assigned.bundle_digest,
                        agent_name,
                        out->fetched->bundle->root(),
                        folder,
                        ports,
                        notify_socket,
                        &*out->fetched->descriptor};
    inputs.bridged = bridged_components(bridges, *out->fetched->descriptor, token);
    for (const auto& [component, runtime_name, handle] : adopt) {
      const bundle::Component* c = out->fetched->descriptor->component(component);
      runtimes::Runtime* runtime = services->runtimes().find(runtime_name);
      if (c == nullptr || runtime == nullptr) {
        out->lost[component] = c == nullptr ? "no longer in the bundle" : "unknown runtime";
        continue;
      }
      auto recovered = runtime->recover(make_launch(inputs, *c, environment), handle);
      if (recovered) {
        out->handles[component] = std::move(recovered).value();
      } else {
        out->lost[component] = recovered.error().message;
      }
    }
    return [this, out] { recovered(out); };
  });
}

void Instance::recovered(std::shared_ptr<Launched> result) {
  std::vector<std::pair<std::string, runtimes::ExitStatus>> exits;
  for (auto& [component, launch] : launches_) {
    if (!launch.starting) continue;
    launch.starting = false;
    if (auto it = result->handles.find(component); it != result->handles.end()) {
      launch.active = true;
      launch.handle = it->second;
      if (launch.pending_exit) {
        exits.emplace_back(component, std::move(*launch.pending_exit));
        launch.pending_exit.reset();
      }
    } else if (auto lost = result->lost.find(component); lost != result->lost.end()) {
      launch.active = true;  // handled as an exit below
      runtimes::ExitStatus status;
      status.message = "lost while the agent was down: " + lost->second;
      exits.emplace_back(component, std::move(status));
    } else {
      launch.active = true;  // could not even ask the runtime: it may still run
    }
  }
  if (result->fetched && result->fetched->status) {
    descriptor_ = std::move(result->fetched->descriptor);
    bundle_lease_ = result->fetched->bundle;
    configuration_lease_ = result->fetched->configuration;
    for (const auto& component : descriptor_->components) {
      launches_[component.name].runtime = component.file_system_type;
    }
  }
  save();
  if (shut_down_) return;
  if (phase_ != Phase::launching) {  // removed meanwhile
    for (auto& [component, status] : exits)
      launches_[component].active = false;
    if (!any_active()) all_exited();
    return;
  }
  if (!result->status) {
    fail("cannot recover after an agent restart: " + result->status.error().message);
    return;
  }
  if (!restore_error_.empty()) {
    fail(restore_error_);
    return;
  }
  services_.log(false, "instance " + id() + " of " + record_.assigned.bundle_name + " recovered (" +
                           protocol::to_string(record_.state) + ")");
  switch (record_.state) {
    case InstanceState::fetching: {
      phase_ = Phase::fetching;
      auto fetched = std::make_shared<Fetched>();
      fetched->bundle = bundle_lease_;
      fetched->configuration = configuration_lease_;
      fetched->descriptor = descriptor_;
      this->fetched(fetched);
      return;
    }
    case InstanceState::stopping:
      phase_ = Phase::stopping;
      ended_ = false;
      for (auto& [component, status] : exits)
        launches_[component].active = false;
      if (any_active()) {
        stop_launches();
      } else {
        all_exited();
      }
      return;
    default:
      break;
  }
  phase_ = Phase::running;
  for (auto& [component, status] : exits) {
    launches_[component].active = false;
    handle_exit(component, status);
  }
  if (phase_ != Phase::running) return;
  if (!any_active()) {
    launch();  // it was waiting to restart when the agent went down
  } else if (!ready_) {
    start_readiness();
  } else {
    set_state(InstanceState::started);
  }
}

void Instance::shutdown() {
  shut_down_ = true;
  cancel_readiness();
  if (timers_) {
    timers_->backoff.cancel();
    timers_->stop_guard.cancel();
  }
  if (notify_) {
    notify_->close();
    notify_.reset();
  }
  save();
}

}  // namespace baton::agent
