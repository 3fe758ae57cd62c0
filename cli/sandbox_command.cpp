// `baton sandbox run|stop|ps|logs`: a core and agents on this machine for development and tests
// (cli/sandbox.hpp has the layout). `run` starts only what is missing and waits until the core
// answers and every agent registered; `stop` ends the agents, the core and everything they ran.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/command.hpp"
#include "cli/command_support.hpp"
#include "cli/control_client.hpp"
#include "cli/format.hpp"
#include "cli/process.hpp"
#include "cli/progress.hpp"
#include "cli/sandbox.hpp"
#include "cli/views.hpp"
#include "common/files.hpp"
#include "common/text.hpp"

namespace baton::cli {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr auto kLockTimeout = std::chrono::seconds(60);
constexpr auto kDaemonStopGrace = std::chrono::seconds(10);
constexpr auto kShimStopGrace = std::chrono::seconds(20);
constexpr std::size_t kLogLinesOnFailure = 15;

const char* program_of(const SandboxMember& member) {
  return member.is_core() ? "baton-core" : "baton-agent";
}

// The member's daemon when it runs: its pid file names a live process of the right program.
std::optional<ProcessId> running_daemon(const SandboxMember& member) {
  auto id = read_pid_file(member.pid_file);
  if (!id || !process_alive(*id)) return std::nullopt;
  auto arguments = process_arguments(id->pid);
  if (arguments.empty() || stdfs::path(arguments[0]).filename() != program_of(member)) {
    return std::nullopt;
  }
  return id;
}

Result<stdfs::path> sandbox_root() {
  BATON_ASSIGN_OR_RETURN(stdfs::path home, baton_home(process_environment()));
  return home / "sandbox";
}

std::string agent_name_of(const json& agent) {
  std::string address = json_string(agent, "address");
  std::size_t scheme = address.find("://");
  std::string name = scheme == std::string::npos ? address : address.substr(scheme + 3);
  if (name.empty()) name = json_string(agent, "name");
  return name;
}

// ---------------------------------------------------------------------------------------------
// run

struct RunArgs {
  int agents = 0;  // 0: as last time (default 1)
  int core_port = 0;
  int ports_from = 0;
  std::vector<std::string> roles;
  std::vector<std::string> core_options;
  std::vector<std::string> agent_options;
  std::vector<std::string> plugin_dirs;
  double wait_timeout = 60;
  CLI::App* command = nullptr;
};

std::vector<std::string> core_arguments(const stdfs::path& program, const SandboxMember& member,
                                        const SandboxSettings& settings) {
  std::vector<std::string> argv{program.string(),
                                "--bind",
                                "127.0.0.1",
                                "--port",
                                std::to_string(settings.core_port),
                                "--data",
                                (member.folder / "data").string()};
  argv.insert(argv.end(), settings.core_options.begin(), settings.core_options.end());
  return argv;
}

std::vector<std::string> agent_arguments(const stdfs::path& program, const SandboxMember& member,
                                         const SandboxSettings& settings, const CoreAddress& core,
                                         const std::vector<stdfs::path>& plugin_dirs) {
  PortSpan ports = agent_port_span(member.agent_index, settings.ports_from);
  // Everything on loopback; the agent's own servers on any free port (it reports them), its
  // endpoints from a range no other agent of the sandbox uses.
  std::vector<std::string> argv{program.string(),
                                "--name",
                                member.name,
                                "--core",
                                core.url(),
                                "--data",
                                (member.folder / "data").string(),
                                "--address",
                                "127.0.0.1",
                                "--api-bind",
                                "127.0.0.1",
                                "--api-port",
                                "0",
                                "--status-port",
                                "0",
                                "--locator-port",
                                "0",
                                "--ports",
                                std::to_string(ports.first) + "-" + std::to_string(ports.last),
                                "--pass-env",
                                std::string(kSandboxVariable)};
  if (!settings.roles.empty()) {
    argv.push_back("--roles");
    argv.push_back(text::join(settings.roles, ","));
  }
  for (const auto& folder : plugin_dirs) {
    argv.push_back("--plugins-dir");
    argv.push_back(folder.string());
  }
  argv.insert(argv.end(), settings.agent_options.begin(), settings.agent_options.end());
  return argv;
}

struct Started {
  SandboxMember member;
  ProcessId id;
};

// A daemon that ended while we waited for it: its exit and the end of its log.
Error died(const Started& started, const std::string& how) {
  std::string message = program_of(started.member) + std::string(" (") + started.member.name +
                        ") " + how + " during start-up; its log " +
                        started.member.log_file.string();
  std::string tail = tail_lines(started.member.log_file, kLogLinesOnFailure);
  if (!tail.empty()) message += " ends with:\n" + tail;
  while (!message.empty() && message.back() == '\n')
    message.pop_back();
  return make_error(Errc::unavailable, message);
}

Status check_alive(const std::vector<Started>& started) {
  for (const auto& daemon : started) {
    if (auto how = reap_child(daemon.id.pid)) return died(daemon, *how);
    if (!process_alive(daemon.id)) return died(daemon, "ended");
  }
  return {};
}

Result<Started> start_daemon(const SandboxMember& member, std::vector<std::string> argv,
                             const stdfs::path& root) {
  std::error_code ec;
  stdfs::create_directories(member.folder, ec);
  if (ec) return make_error(Errc::io, member.folder.string() + ": cannot create: " + ec.message());
  {
    std::ofstream log(member.log_file, std::ios::app);
    log << "---- " << format_time(now_ms()) << " baton sandbox run: " << text::join(argv, " ")
        << "\n";
  }
  DaemonSpec spec{std::move(argv),
                  member.folder,
                  member.log_file,
                  {{std::string(kSandboxVariable), root.string()}}};
  BATON_ASSIGN_OR_RETURN(ProcessId id, spawn_daemon(spec));
  BATON_TRY(write_pid_file(member.pid_file, id));
  return Started{member, id};
}

int run_sandbox_run(const Context& context, const RunArgs& args) {
  auto root = sandbox_root();
  if (!root) return fail(root.error().message, kUsage);
  std::error_code ec;
  stdfs::create_directories(*root, ec);
  if (ec) return fail(root->string() + ": cannot create: " + ec.message(), kFailed);
  auto lock = SandboxLock::acquire(SandboxLayout(*root).lock_file(), kLockTimeout);
  if (!lock) return fail(lock.error().message, kFailed);
  SandboxLayout layout(*root);

  SandboxSettings settings;
  if (auto saved = files::read(layout.settings_file())) {
    settings = SandboxSettings::from_json(json::parse(*saved, nullptr, false));
  }
  SandboxMember core_member = layout.core();
  std::optional<ProcessId> core_running = running_daemon(core_member);
  if (args.command->count("--core-port") > 0 && args.core_port != settings.core_port &&
      core_running) {
    return fail("the sandbox's core runs on port " + std::to_string(settings.core_port) +
                    "; stop the sandbox first to move it: baton sandbox stop",
                kFailed);
  }
  if (args.command->count("--core-port") > 0) settings.core_port = args.core_port;
  // Running agents keep their span until they restart; the new one applies to those started now.
  if (args.command->count("--ports-from") > 0) settings.ports_from = args.ports_from;
  if (args.agents > 0) settings.agents = args.agents;
  if (settings.agents < 1) settings.agents = 1;
  if (!args.roles.empty()) settings.roles = args.roles;
  if (args.command->count("--core-option") > 0) settings.core_options = args.core_options;
  if (args.command->count("--agent-option") > 0) settings.agent_options = args.agent_options;
  if (args.command->count("--plugins-dir") > 0) {
    settings.plugin_dirs.clear();
    for (const auto& folder : args.plugin_dirs) {
      std::error_code ec;
      stdfs::path absolute = stdfs::absolute(folder, ec).lexically_normal();
      if (ec || !stdfs::is_directory(absolute, ec)) {
        return fail("--plugins-dir " + folder + ": no such folder", kUsage);
      }
      settings.plugin_dirs.push_back(absolute.string());
    }
  }

  stdfs::path bin = process_exe(::getpid()).parent_path();
  stdfs::path core_program = bin / "baton-core";
  stdfs::path agent_program = bin / "baton-agent";
  for (const auto& program : {core_program, agent_program}) {
    if (::access(program.c_str(), X_OK) != 0) {
      return fail(program.filename().string() + " not found next to baton (in " + bin.string() +
                      "); build it, or run the baton from the folder that holds it",
                  kFailed);
    }
  }

  // The plugins Baton ships first, then the user's: a runtime name offered twice is taken from
  // the first folder (the agent logs the refusal of the other).
  std::vector<stdfs::path> plugin_dirs;
  if (std::error_code ec; stdfs::is_directory(shipped_plugins_dir(bin), ec)) {
    plugin_dirs.push_back(shipped_plugins_dir(bin));
  }
  plugin_dirs.insert(plugin_dirs.end(), settings.plugin_dirs.begin(), settings.plugin_dirs.end());

  CoreAddress core{"127.0.0.1", settings.core_port};
  ControlClient client(core, http::ClientOptions{.connect_timeout = std::chrono::seconds(2),
                                                 .timeout = std::chrono::seconds(5)});
  std::vector<Started> started;
  std::vector<std::string> kept;
  if (core_running) {
    kept.push_back("core");
  } else {
    // Someone else's core on the port would take our agents' registrations.
    if (client.get("/v2/members")) {
      return fail("port " + std::to_string(settings.core_port) +
                      " already serves a core that is not this sandbox's; choose another with "
                      "--core-port",
                  kFailed);
    }
    auto daemon =
        start_daemon(core_member, core_arguments(core_program, core_member, settings), *root);
    if (!daemon) return fail(daemon.error().message, kFailed);
    started.push_back(*daemon);
  }

  auto deadline =
      Clock::now() + std::chrono::milliseconds(static_cast<long long>(args.wait_timeout * 1000));
  StatusLine line(std::cerr, is_terminal(STDERR_FILENO), terminal_width(STDERR_FILENO));
  auto wait_for = [&](const std::function<bool()>& ready, const std::string& what) -> Status {
    for (;;) {
      BATON_TRY(check_alive(started));
      if (ready()) return {};
      if (Clock::now() >= deadline) {
        return make_error(Errc::unavailable,
                          what + " not ready after " +
                              std::to_string(static_cast<long long>(args.wait_timeout)) +
                              " s; see the logs with: baton sandbox logs");
      }
      line.update("Waiting for " + what);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  };
  if (auto ready =
          wait_for([&] { return client.get("/v2/members").ok(); }, "the core at " + core.url());
      !ready) {
    line.clear();
    return fail(ready.error().message, kFailed);
  }

  std::vector<std::string> agent_names;
  for (int index = 1; index <= settings.agents; ++index) {
    SandboxMember member = layout.agent(index);
    agent_names.push_back(member.name);
    if (running_daemon(member)) {
      kept.push_back(member.name);
      continue;
    }
    auto daemon = start_daemon(
        member, agent_arguments(agent_program, member, settings, core, plugin_dirs), *root);
    if (!daemon) {
      line.clear();
      return fail(daemon.error().message, kFailed);
    }
    started.push_back(*daemon);
  }

  json agents = json::array();
  auto all_registered = [&] {
    auto answer = client.get("/v2/agents");
    if (!answer || !answer->is_array()) return false;
    agents = *answer;
    for (const auto& name : agent_names) {
      bool up = std::any_of(agents.begin(), agents.end(), [&](const json& agent) {
        return agent_name_of(agent) == name && json_bool(agent, "up", true);
      });
      if (!up) return false;
    }
    return true;
  };
  if (auto ready = wait_for(all_registered, plural(settings.agents, "agent", "agents") +
                                                " to register with the core");
      !ready) {
    line.clear();
    return fail(ready.error().message, kFailed);
  }
  line.clear();
  if (auto saved = files::write_atomic(layout.settings_file(), settings.to_json().dump(2) + "\n");
      !saved) {
    return fail(saved.error().message, kFailed);
  }

  if (context.json) {
    json started_names = json::array();
    for (const auto& daemon : started)
      started_names.push_back(daemon.member.name);
    print_json({{"core", core.url()},
                {"agents", agent_names},
                {"started", started_names},
                {"kept", kept},
                {"folder", root->string()}});
    return kOk;
  }
  if (context.quiet) {
    std::cout << core.url() << "\n";
    return kOk;
  }
  std::cout << "Sandbox running: core at " << core.url() << ", "
            << plural(settings.agents, "agent", "agents") << " (" << text::join(agent_names, ", ")
            << ").\n";
  if (!started.empty() && !kept.empty()) {
    std::vector<std::string> names;
    for (const auto& daemon : started)
      names.push_back(daemon.member.name);
    std::cout << "Started " << text::join(names, ", ") << "; " << text::join(kept, ", ")
              << " kept running.\n";
  } else if (started.empty()) {
    std::cout << "Everything was running already.\n";
  }
  std::cout << "State and logs: " << root->string() << "\n";
  if (settings.core_port != kDefaultCorePort) {
    std::cout << "Point baton at it with: export BATON_PORT=" << settings.core_port << "\n";
  }
  std::cout << "Load a bundle with: baton load BUNDLE\n";
  return kOk;
}

// ---------------------------------------------------------------------------------------------
// stop

// SIGTERM, a grace period, then SIGKILL; what is left afterwards.
std::vector<ProcessId> terminate(const std::vector<ProcessId>& ids,
                                 std::chrono::milliseconds grace) {
  for (const auto& id : ids)
    signal_process(id, SIGTERM);
  auto left = wait_gone(ids, grace);
  for (const auto& id : left)
    signal_process(id, SIGKILL);
  return wait_gone(left, std::chrono::seconds(5));
}

int run_sandbox_stop(const Context& context) {
  auto root = sandbox_root();
  if (!root) return fail(root.error().message, kUsage);
  SandboxLayout layout(*root);
  if (!stdfs::exists(*root)) {
    if (!context.quiet) std::cout << "No sandbox at " << root->string() << ".\n";
    return kOk;
  }
  auto lock = SandboxLock::acquire(layout.lock_file(), kLockTimeout);
  if (!lock) return fail(lock.error().message, kFailed);

  std::vector<std::string> stopped;
  std::vector<SandboxMember> members = layout.members();
  // Agents first (they stop asking for work), then the core.
  std::vector<ProcessId> agents;
  for (const auto& member : members) {
    if (member.is_core()) continue;
    if (auto id = running_daemon(member)) {
      agents.push_back(*id);
      stopped.push_back(member.name);
    }
  }
  terminate(agents, kDaemonStopGrace);
  if (auto id = running_daemon(layout.core())) {
    terminate({*id}, kDaemonStopGrace);
    stopped.insert(stopped.begin(), "core");
  }

  // The shims outlive their agents by design: ask each to stop its component (its stop signal,
  // then SIGKILL after the component's stop timeout), then end whatever is left.
  pid_t self = ::getpid();
  std::vector<ProcessId> shims;
  std::size_t components = 0;
  for (const auto& process : find_sandbox_processes(*root, self)) {
    if (process.is_shim) shims.push_back(process.id);
    ++components;
  }
  for (const auto& id : shims)
    signal_process(id, SIGTERM);
  wait_gone(shims, kShimStopGrace);
  std::vector<SandboxProcess> left;
  for (int round = 0; round < 20; ++round) {
    left = find_sandbox_processes(*root, self);
    if (left.empty()) break;
    std::vector<ProcessId> ids;
    for (const auto& process : left) {
      signal_process(process.id, SIGKILL);
      ids.push_back(process.id);
    }
    wait_gone(ids, std::chrono::seconds(2));
  }
  left = find_sandbox_processes(*root, self);
  for (const auto& member : members) {
    std::error_code ec;
    if (!running_daemon(member)) stdfs::remove(member.pid_file, ec);
  }
  if (!left.empty()) {
    std::string list;
    for (const auto& process : left) {
      list += "\n  " + std::to_string(process.id.pid) + " " + process.command;
    }
    return fail("these processes of the sandbox survived SIGKILL:" + list, kFailed);
  }
  if (context.quiet) return kOk;
  if (stopped.empty() && components == 0) {
    std::cout << "The sandbox was not running.\n";
  } else {
    std::cout << "Sandbox stopped";
    if (!stopped.empty()) std::cout << ": " << text::join(stopped, ", ");
    if (components > 0) {
      std::cout << (stopped.empty() ? ": " : " and ")
                << plural(static_cast<std::int64_t>(components), "component process",
                          "component processes");
    }
    std::cout << ".\nStart it again with: baton sandbox run\n";
  }
  return kOk;
}

// ---------------------------------------------------------------------------------------------
// ps

int run_sandbox_ps(const Context& context) {
  auto root = sandbox_root();
  if (!root) return fail(root.error().message, kUsage);
  SandboxLayout layout(*root);
  SandboxSettings settings;
  if (auto saved = files::read(layout.settings_file())) {
    settings = SandboxSettings::from_json(json::parse(*saved, nullptr, false));
  }
  CoreAddress core{"127.0.0.1", settings.core_port};
  ControlClient client(core, http::ClientOptions{.connect_timeout = std::chrono::seconds(2),
                                                 .timeout = std::chrono::seconds(5)});
  json agents = json::array();
  std::optional<ProcessId> core_id = running_daemon(layout.core());
  bool core_answers = false;
  if (core_id) {
    core_answers = client.get("/v2/members").ok();
    if (auto answer = client.get("/v2/agents"); answer && answer->is_array()) agents = *answer;
  }

  json rows = json::array();
  Table table({{"NAME"}, {"PID", Align::right}, {"STATE"}, {"URL"}, {"LOG"}});
  for (const auto& member : layout.members()) {
    auto id = member.is_core() ? core_id : running_daemon(member);
    std::string state = "stopped";
    std::string url;
    if (id) {
      state = "running";
      if (member.is_core()) {
        url = core.url();
        if (!core_answers) state = "not answering";
      } else {
        auto it = std::find_if(agents.begin(), agents.end(), [&](const json& agent) {
          return agent_name_of(agent) == member.name;
        });
        if (it == agents.end()) {
          state = "running, not registered";
        } else {
          url = json_string(*it, "apiUrl");
          if (!json_bool(*it, "up", true)) state = "running, down";
        }
      }
    }
    rows.push_back({{"name", member.name},
                    {"pid", id ? json(id->pid) : json(nullptr)},
                    {"state", state},
                    {"url", url.empty() ? json(nullptr) : json(url)},
                    {"log", member.log_file.string()}});
    table.add_row({member.name, id ? std::to_string(id->pid) : "-", state, url.empty() ? "-" : url,
                   member.log_file.string()});
  }
  std::vector<SandboxProcess> others;
  for (auto& process : find_sandbox_processes(*root, ::getpid())) {
    bool daemon = std::any_of(rows.begin(), rows.end(), [&](const json& row) {
      return row["pid"].is_number() && row["pid"].get<pid_t>() == process.id.pid;
    });
    if (!daemon) others.push_back(std::move(process));
  }
  if (context.json) {
    json components = json::array();
    for (const auto& process : others) {
      components.push_back(
          {{"pid", process.id.pid}, {"command", process.command}, {"shim", process.is_shim}});
    }
    print_json({{"folder", root->string()}, {"daemons", rows}, {"components", components}});
    return kOk;
  }
  std::cout << table.render();
  if (!others.empty()) {
    Table processes({{"PID", Align::right}, {"COMMAND"}});
    for (const auto& process : others) {
      processes.add_row({std::to_string(process.id.pid), process.command});
    }
    std::cout << "\nComponent processes (ended by baton sandbox stop):\n" << processes.render();
  }
  return kOk;
}

// ---------------------------------------------------------------------------------------------
// logs

struct LogsArgs {
  std::string name = "core";
  int lines = 100;
  bool follow = false;
};

int run_sandbox_logs(const Context& context, const LogsArgs& args) {
  (void)context;
  auto root = sandbox_root();
  if (!root) return fail(root.error().message, kUsage);
  SandboxLayout layout(*root);
  auto member = layout.member(args.name);
  if (!member) {
    return fail("no sandbox member '" + args.name + "': use core or agent-N", kUsage);
  }
  if (!stdfs::exists(member->log_file)) {
    return fail(member->name + " has no log yet (" + member->log_file.string() +
                    "); start the sandbox with: baton sandbox run",
                kNotFound);
  }
  std::cout << tail_lines(member->log_file, static_cast<std::size_t>(args.lines)) << std::flush;
  if (!args.follow) return kOk;
  std::ifstream in(member->log_file, std::ios::binary);
  in.seekg(0, std::ios::end);
  std::streamoff position = in.tellg();
  std::vector<char> buffer(64 * 1024);
  for (;;) {
    std::error_code ec;
    auto size = static_cast<std::streamoff>(stdfs::file_size(member->log_file, ec));
    if (!ec && size < position) {
      // Truncated or replaced: start from its beginning.
      in = std::ifstream(member->log_file, std::ios::binary);
      position = 0;
    }
    if (!ec && size > position) {
      in.clear();
      in.seekg(position);
      while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size())) ||
             in.gcount() > 0) {
        std::cout.write(buffer.data(), in.gcount());
        position += in.gcount();
      }
      std::cout << std::flush;
      if (!std::cout) return kOk;  // the reader went away
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace

void add_sandbox_commands(CLI::App& app, Context& context) {
  CLI::App* sandbox =
      app.add_subcommand("sandbox", "Run a core and agents on this machine (development, tests)");
  sandbox->require_subcommand(1);

  auto run_args = std::make_shared<RunArgs>();
  CLI::App* run = sandbox->add_subcommand(
      "run", "Start the sandbox's core and agents (only what is not running)");
  run_args->command = run;
  run->add_option("--agents", run_args->agents, "Number of agents (default: as last time, or 1)")
      ->check(CLI::Range(1, kMaxSandboxAgents));
  run->add_option("--core-port", run_args->core_port, "The core's control port (default 9005)")
      ->check(CLI::Range(1, 65535));
  run->add_option("--ports-from", run_args->ports_from,
                  "First endpoint port of agent-1; agent N gets 1000 ports from " +
                      std::to_string(kDefaultSandboxPortsFrom) + " + (N-1)*1000 by default")
      ->check(CLI::Range(1024, kMaxSandboxPortsFrom));
  run->add_option("--roles", run_args->roles, "The agents' roles (default: web)")->delimiter(',');
  run->add_option("--core-option", run_args->core_options,
                  "An extra baton-core argument, e.g. --core-option=--down-after-ms=3000; "
                  "repeatable");
  run->add_option("--agent-option", run_args->agent_options,
                  "An extra baton-agent argument; repeatable");
  run->add_option("--plugins-dir", run_args->plugin_dirs,
                  "A folder of runtime plugins (*.so) for the agents, besides the plugins Baton "
                  "ships (" BATON_PLUGINS_SUBDIR
                  " next to baton's bin folder); repeatable, kept "
                  "for later runs; agents already running keep what they loaded");
  run->add_option("--wait-timeout", run_args->wait_timeout,
                  "Seconds to wait for the core and agents (default 60)")
      ->check(CLI::PositiveNumber);
  run->callback([&context, run_args] { context.exit_code = run_sandbox_run(context, *run_args); });

  CLI::App* stop =
      sandbox->add_subcommand("stop", "Stop the agents, the core and every process they started");
  stop->callback([&context] { context.exit_code = run_sandbox_stop(context); });

  CLI::App* ps = sandbox->add_subcommand("ps", "List the sandbox's processes");
  ps->callback([&context] { context.exit_code = run_sandbox_ps(context); });

  auto logs_args = std::make_shared<LogsArgs>();
  CLI::App* logs = sandbox->add_subcommand("logs", "Print a sandbox member's log");
  logs->add_option("NAME", logs_args->name, "core (default) or agent-N");
  logs->add_option("-n,--lines", logs_args->lines, "Lines from the end (default 100)")
      ->check(CLI::PositiveNumber);
  logs->add_flag("-f,--follow", logs_args->follow, "Keep printing what is appended");
  logs->callback(
      [&context, logs_args] { context.exit_code = run_sandbox_logs(context, *logs_args); });
}

}  // namespace baton::cli
