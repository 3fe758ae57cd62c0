// The control commands: load, run, stop, unload, info, services, events, logs, members, agents,
// history, version. Each talks to a core over the control protocol (docs/control-protocol.md),
// prints ConductR-style tables and hints, and waits for target states where ConductR did.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/bundle_input.hpp"
#include "cli/command.hpp"
#include "cli/command_support.hpp"
#include "cli/control_client.hpp"
#include "cli/format.hpp"
#include "cli/progress.hpp"
#include "cli/views.hpp"
#include "cli/wait.hpp"
#include "common/files.hpp"
#include "common/text.hpp"
#include "http/message.hpp"

namespace baton::cli {

namespace {

using nlohmann::json;

// Uploads smaller than this finish before a bar would be worth drawing.
constexpr std::uint64_t kProgressBarMinBytes = 4 << 20;

std::string bundle_path(const std::string& id) {
  return "/v2/bundles/" + http::url_encode(id);
}

struct WaitArgs {
  bool no_wait = false;
  double wait_timeout = 60;  // seconds

  WaitSettings settings() const {
    WaitSettings settings;
    settings.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(wait_timeout * 1000));
    return settings;
  }
};

void add_wait_options(CLI::App* command, WaitArgs& args) {
  command->add_flag("--no-wait", args.no_wait, "Return once the core accepted the request");
  command
      ->add_option("--wait-timeout", args.wait_timeout,
                   "Seconds to wait for the target state (default 60)")
      ->check(CLI::PositiveNumber);
}

// The client for one command, or the exit code of why there is none.
struct Session {
  ControlClient client;
  ViewOptions view;
};

std::optional<Session> open_session(const Context& context, int& exit_code) {
  auto address = core_address(context);
  if (!address) {
    exit_code = fail(address.error().message, kUsage);
    return std::nullopt;
  }
  return Session{ControlClient(*address), view_options(context)};
}

std::string seconds_text(double seconds) {
  if (seconds == std::floor(seconds)) return std::to_string(static_cast<long long>(seconds)) + " s";
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", seconds);
  return text;
}

// A wait that ended without reaching its target: exit 5 with the last status.
int timed_out(const std::string& what, const std::string& last_status, double seconds,
              const std::string& hint) {
  std::string message = what + " not reached after " + seconds_text(seconds);
  if (!last_status.empty()) message += " (" + last_status + ")";
  if (!hint.empty()) message += "; " + hint;
  return fail(message, kTimeout);
}

StatusLine status_line() {
  return StatusLine(std::cerr, is_terminal(STDERR_FILENO), terminal_width(STDERR_FILENO));
}

// ---------------------------------------------------------------------------------------------
// load

struct LoadArgs {
  std::string bundle;
  std::string configuration;
  long long history = -1;
  WaitArgs wait;
};

// Agents that hold the bundle's file (the core lists itself among the installations too).
int agent_installations(const json& bundle) {
  int count = 0;
  for (const auto& installation : json_list(bundle, "bundleInstallations")) {
    std::string address = json_string(json_list(installation, "uniqueAddress"), "address");
    count += address.starts_with("baton-agent://") ? 1 : 0;
  }
  return count;
}

// True when an agent that is up shares a role with the bundle: the core copies the bundle to
// such agents ahead of time.
bool eligible_agent(const json& agents, const json& bundle) {
  const json& roles = json_list(json_list(bundle, "attributes"), "roles");
  for (const auto& agent : agents) {
    if (!json_bool(agent, "up", true)) continue;
    for (const auto& role : json_list(agent, "roles")) {
      if (std::find(roles.begin(), roles.end(), role) != roles.end()) return true;
    }
  }
  return false;
}

// Waits until the core lists the bundle and, when an agent can run it, until one holds its file.
int wait_for_installation(Session& session, const Context& context, const std::string& id,
                          const WaitArgs& args) {
  std::string shown = display_id(id, context.long_ids);
  json agents = json::array();
  if (auto listed = session.client.get("/v2/agents"); listed && listed->is_array())
    agents = *listed;
  EventWatcher watcher(session.client.address(), id);
  StatusLine line = status_line();
  std::string last;
  auto check = [&]() -> Result<WaitStep> {
    auto bundle = session.client.get(bundle_path(id));
    if (!bundle) {
      if (bundle.error().code == Errc::not_found) {
        return WaitStep{false, "Waiting for the core to list bundle " + shown};
      }
      return std::move(bundle).error();
    }
    bool installed = agent_installations(*bundle) > 0 || !eligible_agent(agents, *bundle);
    return WaitStep{installed, "Waiting for bundle " + shown + " (" + bundle_name(*bundle) +
                                   ") to be installed on an agent"};
  };
  auto end = wait_until(check, &watcher, line, args.settings(), &last);
  if (!end) return fail(end.error());
  if (*end == WaitEnd::timed_out) {
    return timed_out("installation of bundle " + shown, last, args.wait_timeout,
                     "check the agents with: baton agents");
  }
  return kOk;
}

int print_loaded(const Context& context, const json& answer, const std::string& id) {
  if (context.json) {
    print_json(answer);
  } else if (context.quiet) {
    std::cout << display_id(id, context.long_ids) << "\n";
  } else {
    std::string shown = display_id(id, context.long_ids);
    std::cout << "Bundle loaded.\nStart bundle with: baton run " << shown
              << "\nUnload bundle with: baton unload " << shown << "\n";
  }
  return kOk;
}

int run_load(const Context& context, const LoadArgs& args) {
  int code = kOk;
  auto session = open_session(context, code);
  if (!session) return code;

  json answer;
  if (args.history >= 0) {
    auto loaded =
        session->client.call("POST", "/v2/history/" + std::to_string(args.history) + "/load", {},
                             {{"X-Baton-User", user_at_host()}});
    if (!loaded) {
      Error error = std::move(loaded).error();
      if (error.code == Errc::conflict) {
        error.message += "\nLoad the files again with: baton load BUNDLE [CONFIG]";
      } else if (error.code == Errc::not_found) {
        error.message += "\nList what can be loaded again with: baton history";
      }
      return fail(error);
    }
    answer = *loaded;
  } else {
    if (args.bundle == "-" && args.configuration == "-") {
      return fail("standard input ('-') can carry the bundle or the configuration, not both",
                  kUsage);
    }
    auto work = files::TempFolder::create(std::filesystem::temp_directory_path(), "baton-load-");
    if (!work) return fail(work.error().message, kFailed);
    // Runtime names are the core's to judge: it knows which runtimes its agents offer.
    bundle::ParseOptions parse_options;
    parse_options.any_runtime = true;

    auto bundle =
        prepare_upload(args.bundle, UploadKind::bundle, work->path(), std::cin, parse_options);
    if (!bundle) return fail(bundle.error().message, kFailed);
    std::optional<UploadFile> configuration;
    if (!args.configuration.empty()) {
      auto prepared = prepare_upload(args.configuration, UploadKind::configuration, work->path(),
                                     std::cin, parse_options);
      if (!prepared) return fail(prepared.error().message, kFailed);
      configuration = std::move(*prepared);
    }

    std::vector<http::FormPart> parts;
    parts.push_back({.name = "bundleConf",
                     .file_name = "bundle.conf",
                     .content = bundle->conf,
                     .content_type = "text/plain"});
    if (configuration && configuration->has_conf) {
      parts.push_back({.name = "bundleConfOverlay",
                       .file_name = "bundle.conf",
                       .content = configuration->conf,
                       .content_type = "text/plain"});
    }
    parts.push_back({.name = "bundle",
                     .file_name = bundle->upload_name,
                     .path = bundle->path,
                     .content_type = "application/zip"});
    if (configuration) {
      parts.push_back({.name = "configuration",
                       .file_name = configuration->upload_name,
                       .path = configuration->path,
                       .content_type = "application/zip"});
    }

    std::uint64_t upload_bytes = bundle->bytes + (configuration ? configuration->bytes : 0);
    StatusLine bar(std::cerr, is_terminal(STDERR_FILENO) && upload_bytes >= kProgressBarMinBytes,
                   terminal_width(STDERR_FILENO));
    auto last_draw = std::chrono::steady_clock::time_point{};
    std::string label = "Uploading " + bundle->upload_name;
    http::Progress progress = [&](std::uint64_t done, std::uint64_t total) {
      auto now = std::chrono::steady_clock::now();
      if (now - last_draw >= std::chrono::milliseconds(100) || (total > 0 && done >= total)) {
        bar.update(render_progress_bar(label, done, total, bar.width() - 1));
        last_draw = now;
      }
      return true;
    };
    auto loaded = session->client.post_form("/v2/bundles", parts, progress);
    bar.clear();
    if (!loaded) return fail(loaded.error());
    answer = *loaded;
  }

  std::string id = json_string(answer, "bundleId");
  if (id.empty()) return fail("the core's answer to the load names no bundleId", kFailed);
  if (!args.wait.no_wait) {
    if (int waited = wait_for_installation(*session, context, id, args.wait); waited != kOk) {
      return waited;
    }
  }
  return print_loaded(context, answer, id);
}

// ---------------------------------------------------------------------------------------------
// run, stop

struct ScaleArgs {
  std::string id;
  int scale = 1;
  std::string affinity;
  WaitArgs wait;
};

int run_scale(const Context& context, const ScaleArgs& args, bool stopping) {
  int code = kOk;
  auto session = open_session(context, code);
  if (!session) return code;
  std::string path = bundle_path(args.id) + "?scale=" + std::to_string(args.scale);
  if (!args.affinity.empty()) path += "&affinity=" + http::url_encode(args.affinity);
  auto answer = session->client.call("PUT", path);
  if (!answer) return fail(answer.error());
  std::string id = json_string(*answer, "bundleId", args.id);
  std::string shown = display_id(id, context.long_ids);

  std::string name = "?";
  if (!args.wait.no_wait) {
    EventWatcher watcher(session->client.address(), id);
    StatusLine line = status_line();
    std::string last;
    auto check = [&]() -> Result<WaitStep> {
      BATON_ASSIGN_OR_RETURN(json bundle, session->client.get(bundle_path(id)));
      name = bundle_name(bundle);
      return scale_step(bundle, args.scale, shown);
    };
    auto end = wait_until(check, &watcher, line, args.wait.settings(), &last);
    if (!end) {
      if (end.error().code == Errc::invalid) {
        // The bundle failed: say where to look.
        return fail(end.error().message + "\nSee logs with: baton logs " + shown +
                        "\nSee events with: baton events " + shown,
                    kFailed);
      }
      return fail(end.error());
    }
    if (*end == WaitEnd::timed_out) {
      return timed_out(stopping ? "stop of bundle " + shown
                                : "scale " + std::to_string(args.scale) + " of bundle " + shown,
                       last, args.wait.wait_timeout, "check status with: baton info " + shown);
    }
  }

  if (context.json) {
    print_json(*answer);
  } else if (context.quiet) {
    std::cout << shown << "\n";
  } else if (args.wait.no_wait) {
    std::cout << (stopping ? "Bundle stop" : "Bundle run") << " request sent.\n"
              << "Check status with: baton info " << shown << "\n";
  } else if (stopping) {
    std::cout << "Bundle " << shown << " (" << name << ") stopped.\n"
              << "Unload bundle with: baton unload " << shown << "\n";
  } else {
    std::cout << "Bundle " << shown << " (" << name << ") has "
              << plural(args.scale, "instance", "instances") << " started.\n"
              << "Check status with: baton info\n"
              << "See logs with: baton logs " << shown << "\n";
  }
  return kOk;
}

// ---------------------------------------------------------------------------------------------
// unload

struct UnloadArgs {
  std::string id;
  bool purge = false;
  WaitArgs wait;
};

int run_unload(const Context& context, const UnloadArgs& args) {
  int code = kOk;
  auto session = open_session(context, code);
  if (!session) return code;
  std::string path = bundle_path(args.id) + (args.purge ? "?purge=true" : "");
  auto answer = session->client.call("DELETE", path);
  if (!answer) {
    Error error = std::move(answer).error();
    if (error.code == Errc::conflict) {
      error.message += "\nStop it first with: baton stop " + args.id;
    }
    return fail(error);
  }
  std::string id = json_string(*answer, "bundleId", args.id);
  std::string shown = display_id(id, context.long_ids);
  if (!args.wait.no_wait) {
    StatusLine line = status_line();
    std::string last;
    auto check = [&]() -> Result<WaitStep> {
      auto bundle = session->client.get(bundle_path(id));
      if (!bundle && bundle.error().code == Errc::not_found) return WaitStep{true, {}};
      if (!bundle) return std::move(bundle).error();
      return WaitStep{false, "Waiting for the core to unload bundle " + shown};
    };
    auto end = wait_until(check, nullptr, line, args.wait.settings(), &last);
    if (!end) return fail(end.error());
    if (*end == WaitEnd::timed_out) {
      return timed_out("unload of bundle " + shown, last, args.wait.wait_timeout, {});
    }
  }
  if (context.json) {
    print_json(*answer);
  } else if (context.quiet) {
    std::cout << shown << "\n";
  } else {
    std::cout << "Bundle " << shown << " unloaded.\n"
              << "Print bundle info with: baton info\n";
  }
  return kOk;
}

// ---------------------------------------------------------------------------------------------
// info, services

struct InfoArgs {
  std::string id;
};

int run_info(const Context& context, const InfoArgs& args) {
  int code = kOk;
  auto session = open_session(context, code);
  if (!session) return code;
  if (!args.id.empty()) {
    auto bundle = session->client.get(bundle_path(args.id));
    if (!bundle) return fail(bundle.error());
    if (context.json) {
      print_json(*bundle);
    } else if (context.quiet) {
      std::cout << display_id(json_string(*bundle, "bundleId"), context.long_ids) << "\n";
    } else {
      std::cout << bundle_detail(*bundle, session->view);
    }
    return kOk;
  }
  auto bundles = session->client.get("/v2/bundles");
  if (!bundles) return fail(bundles.error());
  if (!bundles->is_array())
    return fail("GET /v2/bundles: the core's answer is not a list", kFailed);
  if (context.json) {
    print_json(*bundles);
  } else if (context.quiet) {
    std::cout << bundle_ids(*bundles, session->view);
  } else {
    std::cout << bundles_table(*bundles, session->view);
  }
  return kOk;
}

int run_services(const Context& context) {
  int code = kOk;
  auto session = open_session(context, code);
  if (!session) return code;
  auto bundles = session->client.get("/v2/bundles");
  if (!bundles) return fail(bundles.error());
  if (!bundles->is_array())
    return fail("GET /v2/bundles: the core's answer is not a list", kFailed);
  if (context.json || context.quiet) {
    json rows = json::array();
    for (const auto& row : service_rows(*bundles)) {
      if (context.quiet) {
        std::cout << row.service << "\n";
        continue;
      }
      rows.push_back({{"service", row.service},
                      {"endpoint", row.endpoint},
                      {"protocol", row.protocol},
                      {"bundleId", row.bundle_id},
                      {"bundleName", row.bundle_name},
                      {"hosts", row.hosts}});
    }
    if (context.json) print_json(rows);
    return kOk;
  }
  std::cout << services_table(*bundles, session->view);
  return kOk;
}

// ---------------------------------------------------------------------------------------------
// events, logs

struct LinesArgs {
  std::string id;
  int count = 10;
  bool follow = false;
};

int run_events(const Context& context, const LinesArgs& args) {
  int code = kOk;
  auto session = open_session(context, code);
  if (!session) return code;
  auto events =
      session->client.get(bundle_path(args.id) + "/events?count=" + std::to_string(args.count));
  if (!events) return fail(events.error());
  if (context.json) {
    print_json(*events);
  } else {
    std::cout << events_table(events->is_array() ? *events : json::array());
  }
  return kOk;
}

int run_logs(const Context& context, const LinesArgs& args) {
  int code = kOk;
  auto session = open_session(context, code);
  if (!session) return code;
  std::string path = bundle_path(args.id) + "/logs?count=" + std::to_string(args.count);
  if (!args.follow) {
    auto lines = session->client.get(path);
    if (!lines) return fail(lines.error());
    if (context.json) {
      print_json(*lines);
    } else {
      std::cout << logs_table(lines->is_array() ? *lines : json::array());
    }
    return kOk;
  }
  // Newline-delimited JSON objects, printed as they arrive.
  std::string pending;
  auto on_data = [&](std::string_view piece) {
    pending.append(piece);
    std::size_t start = 0;
    for (std::size_t end; (end = pending.find('\n', start)) != std::string::npos; start = end + 1) {
      std::string_view text = text::trim(std::string_view(pending).substr(start, end - start));
      if (text.empty()) continue;
      json line = json::parse(text, nullptr, false);
      if (context.json) {
        std::cout << text << "\n";
      } else if (line.is_object()) {
        std::cout << log_line(line) << "\n";
      } else if (line.is_array()) {
        // A core that answers the first batch as one array.
        for (const auto& item : line)
          std::cout << log_line(item) << "\n";
      }
    }
    pending.erase(0, start);
    std::cout << std::flush;
    return static_cast<bool>(std::cout);
  };
  auto status = session->client.stream(path + "&follow=true", on_data);
  if (!status) return fail(status.error());
  return kOk;
}

// ---------------------------------------------------------------------------------------------
// members, agents, history, version

int run_listing(const Context& context, const std::string& path,
                std::string (*render)(const json&)) {
  int code = kOk;
  auto session = open_session(context, code);
  if (!session) return code;
  auto answer = session->client.get(path);
  if (!answer) return fail(answer.error());
  if (context.json) {
    print_json(*answer);
  } else {
    std::cout << render(*answer);
  }
  return kOk;
}

struct HistoryArgs {
  std::string name;
};

int run_history(const Context& context, const HistoryArgs& args) {
  int code = kOk;
  auto session = open_session(context, code);
  if (!session) return code;
  std::string path = "/v2/history";
  if (!args.name.empty()) path += "?name=" + http::url_encode(args.name);
  auto history = session->client.get(path);
  if (!history) return fail(history.error());
  if (context.json) {
    print_json(*history);
    return kOk;
  }
  if (context.quiet) {
    for (const auto& entry : *history)
      std::cout << json_int(entry, "sequence") << "\n";
    return kOk;
  }
  std::cout << history_table(history->is_array() ? *history : json::array(), session->view);
  if (history->is_array() && !history->empty()) {
    std::cout << "Load one again with: baton load --history SEQ\n";
  }
  return kOk;
}

int run_version(const Context& context) {
  std::string client = BATON_VERSION;
  int code = kOk;
  auto session = open_session(context, code);
  json core = nullptr;
  std::string core_text;
  if (session) {
    auto answer = session->client.raw("GET", "/v2/version");
    if (!answer) {
      core_text = "not reachable at " + session->client.address().url();
    } else if (answer->status == 200) {
      json body = json::parse(answer->body, nullptr, false);
      core = body.is_object() ? body : json(nullptr);
      std::string version = json_string(body, "version");
      core_text = (version.empty() ? "version not reported" : version) + " at " +
                  session->client.address().url();
    } else {
      // An older core without the route still tells who it is in its Server header.
      auto server = answer->headers.find(std::string_view("Server"));
      core_text = (server != answer->headers.end() ? server->second : "version not reported") +
                  std::string(" at ") + session->client.address().url();
    }
  }
  if (context.json) {
    print_json({{"client", client}, {"core", core}});
  } else {
    std::cout << "baton " << client << "\n";
    if (!core_text.empty()) std::cout << "core: " << core_text << "\n";
  }
  return kOk;
}

}  // namespace

void add_control_commands(CLI::App& app, Context& context) {
  auto load_args = std::make_shared<LoadArgs>();
  CLI::App* load = app.add_subcommand(
      "load", "Load a bundle (a zip, a folder, or - for standard input) and its configuration");
  load->add_option("BUNDLE", load_args->bundle, "Bundle zip, folder or -");
  load->add_option("CONFIG", load_args->configuration, "Configuration zip, folder or -");
  load->add_option("--history", load_args->history,
                   "Load the combination with this sequence number again (see baton history)")
      ->check(CLI::NonNegativeNumber);
  add_wait_options(load, load_args->wait);
  load->callback([&context, load_args, load] {
    bool by_history = load->count("--history") > 0;
    if (by_history == !load_args->bundle.empty()) {
      context.exit_code = fail("load: give a BUNDLE or --history SEQ (one of them)", kUsage);
      return;
    }
    context.exit_code = run_load(context, *load_args);
  });

  auto run_args = std::make_shared<ScaleArgs>();
  CLI::App* run = app.add_subcommand("run", "Run a bundle's instances (set its scale)");
  run->add_option("ID", run_args->id, "Bundle id, id prefix (7+ hex) or name[:tag]")->required();
  run->add_option("--scale", run_args->scale, "Number of instances (default 1)")
      ->check(CLI::PositiveNumber);
  run->add_option("--affinity", run_args->affinity, "Run on the agents that run this other bundle");
  add_wait_options(run, run_args->wait);
  run->callback([&context, run_args] { context.exit_code = run_scale(context, *run_args, false); });

  auto stop_args = std::make_shared<ScaleArgs>();
  CLI::App* stop = app.add_subcommand("stop", "Stop every instance of a bundle (scale 0)");
  stop->add_option("ID", stop_args->id, "Bundle id, id prefix or name[:tag]")->required();
  add_wait_options(stop, stop_args->wait);
  stop->callback([&context, stop_args] {
    stop_args->scale = 0;
    context.exit_code = run_scale(context, *stop_args, true);
  });

  auto unload_args = std::make_shared<UnloadArgs>();
  CLI::App* unload = app.add_subcommand("unload", "Unload a stopped bundle");
  unload->add_option("ID", unload_args->id, "Bundle id, id prefix or name[:tag]")->required();
  unload->add_flag("--purge", unload_args->purge,
                   "Also drop its files from the core's history archive");
  add_wait_options(unload, unload_args->wait);
  unload->callback(
      [&context, unload_args] { context.exit_code = run_unload(context, *unload_args); });

  auto info_args = std::make_shared<InfoArgs>();
  CLI::App* info = app.add_subcommand("info", "List bundles, or show one bundle in detail");
  info->add_option("ID", info_args->id, "Bundle id, id prefix or name[:tag]");
  info->callback([&context, info_args] { context.exit_code = run_info(context, *info_args); });

  CLI::App* services = app.add_subcommand("services", "List the services the bundles offer");
  services->callback([&context] { context.exit_code = run_services(context); });

  auto events_args = std::make_shared<LinesArgs>();
  CLI::App* events = app.add_subcommand("events", "Show a bundle's recent events");
  events->add_option("ID", events_args->id, "Bundle id, id prefix or name[:tag]")->required();
  events->add_option("-n,--lines", events_args->count, "Number of events (default 10)")
      ->check(CLI::PositiveNumber);
  events->callback(
      [&context, events_args] { context.exit_code = run_events(context, *events_args); });

  auto logs_args = std::make_shared<LinesArgs>();
  CLI::App* logs = app.add_subcommand("logs", "Show a bundle's log lines from every agent");
  logs->add_option("ID", logs_args->id, "Bundle id, id prefix or name[:tag]")->required();
  logs->add_option("-n,--lines", logs_args->count, "Number of lines (default 10)")
      ->check(CLI::PositiveNumber);
  logs->add_flag("-f,--follow", logs_args->follow, "Keep printing new lines as they come");
  logs->callback([&context, logs_args] { context.exit_code = run_logs(context, *logs_args); });

  CLI::App* members = app.add_subcommand("members", "List the cores");
  members->callback(
      [&context] { context.exit_code = run_listing(context, "/v2/members", members_table); });

  CLI::App* agents = app.add_subcommand("agents", "List the agents");
  agents->callback(
      [&context] { context.exit_code = run_listing(context, "/v2/agents", agents_table); });

  auto history_args = std::make_shared<HistoryArgs>();
  CLI::App* history = app.add_subcommand(
      "history", "List every bundle/configuration combination loaded, newest first");
  history->add_option("NAME", history_args->name, "Only this bundle name");
  history->callback(
      [&context, history_args] { context.exit_code = run_history(context, *history_args); });

  CLI::App* version = app.add_subcommand("version", "Print the CLI's and the core's versions");
  version->callback([&context] { context.exit_code = run_version(context); });
}

}  // namespace baton::cli
