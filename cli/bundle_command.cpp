// `baton bundle create|verify|inspect`: make bundle files and look inside them, without a core.
#include <chrono>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "bundle/bundle_file.hpp"
#include "bundle/bundle_name.hpp"
#include "cli/command.hpp"
#include "cli/command_support.hpp"
#include "common/text.hpp"

namespace baton::cli {

namespace {

using bundle::BundleFile;
using bundle::ConfigurationFile;
using bundle::Descriptor;
using bundle::ResolvedBundle;

struct ParseArgs {
  std::vector<std::string> allowed_runtimes;

  bundle::ParseOptions options() const {
    bundle::ParseOptions options;
    options.extra_runtimes.insert(allowed_runtimes.begin(), allowed_runtimes.end());
    return options;
  }
};

void add_runtime_option(CLI::App* command, ParseArgs& args) {
  command
      ->add_option("--allow-runtime", args.allowed_runtimes,
                   "Accept this file-system-type too (a runtime plugin); repeatable")
      ->allow_extra_args(false);
}

struct CreateArgs {
  ParseArgs parse;
  std::string folder;
  std::string output = ".";
  bool configuration = false;
  std::string name, compatibility_version, system, system_version;
  std::string nr_of_cpus, memory, disk_space;
  std::vector<std::string> roles, tags, env;
  CLI::App* command = nullptr;

  bool given(const char* option) const { return command->count(option) > 0; }
};

int run_create(const CreateArgs& args) {
  bundle::CreateOptions options;
  options.output_folder = args.output;
  options.configuration = args.configuration;
  options.parse = args.parse.options();
  bundle::DescriptorOverrides& overrides = options.overrides;
  if (args.given("--name")) overrides.name = args.name;
  if (args.given("--compatibility-version")) {
    overrides.compatibility_version = args.compatibility_version;
  }
  if (args.given("--system")) overrides.system = args.system;
  if (args.given("--system-version")) overrides.system_version = args.system_version;
  if (args.given("--nr-of-cpus")) overrides.nr_of_cpus = args.nr_of_cpus;
  if (args.given("--memory")) overrides.memory = args.memory;
  if (args.given("--disk-space")) overrides.disk_space = args.disk_space;
  overrides.roles = args.roles;
  overrides.tags = args.tags;
  for (const std::string& pair : args.env) {
    std::size_t equals = pair.find('=');
    if (equals == std::string::npos || equals == 0) {
      return fail("--env " + pair + ": expected NAME=VALUE", kUsage);
    }
    options.environment.emplace_back(pair.substr(0, equals), pair.substr(equals + 1));
  }
  auto created = bundle::create_bundle(args.folder, options);
  if (!created) return fail(created.error().message, kFailed);
  std::cout << created->path.string() << "\n";
  return kOk;
}

struct Opened {
  BundleFile bundle;
  std::optional<ConfigurationFile> configuration;
  ResolvedBundle resolved;
};

Result<Opened> open_and_resolve(const std::string& file, const std::string& configuration,
                                const ParseArgs& parse) {
  BATON_ASSIGN_OR_RETURN(BundleFile opened, bundle::open_bundle(file));
  std::optional<ConfigurationFile> config;
  if (!configuration.empty()) {
    BATON_ASSIGN_OR_RETURN(config, bundle::open_configuration(configuration));
  }
  BATON_ASSIGN_OR_RETURN(ResolvedBundle resolved,
                         bundle::resolve(opened, config ? &*config : nullptr, parse.options()));
  return Opened{std::move(opened), std::move(config), std::move(resolved)};
}

std::vector<std::string> component_names(const Descriptor& descriptor) {
  std::vector<std::string> names;
  for (const bundle::Component& component : descriptor.components)
    names.push_back(component.name);
  return names;
}

struct ReadArgs {
  ParseArgs parse;
  std::string file;
  std::string configuration;
  bool json = false;
};

int run_verify(const ReadArgs& args) {
  auto opened = open_and_resolve(args.file, args.configuration, args.parse);
  if (!opened) return fail(opened.error().message, kFailed);
  const ResolvedBundle& resolved = opened->resolved;
  const Descriptor& descriptor = resolved.descriptor;
  std::cout << "ok: " << descriptor.name << " v" << descriptor.compatibility_version << ", id "
            << bundle::short_id(resolved.bundle_id) << ", digest " << resolved.bundle_digest;
  if (!resolved.configuration_digest.empty()) {
    std::cout << ", configuration digest " << resolved.configuration_digest;
  }
  std::cout << ", components: " << text::join(component_names(descriptor), ", ") << "\n";
  return kOk;
}

std::string seconds(std::chrono::milliseconds duration) {
  std::ostringstream out;
  out << static_cast<double>(duration.count()) / 1000.0 << "s";
  return out.str();
}

std::string acl_text(const bundle::Acl& acl) {
  std::string out = bundle::to_string(acl.protocol);
  std::vector<std::string> parts;
  for (const bundle::HttpRequestRule& rule : acl.http_requests) {
    std::string part = rule.match + " " + rule.value;
    if (rule.method) part += " " + *rule.method;
    if (rule.rewrite) part += " -> " + *rule.rewrite;
    parts.push_back(part);
  }
  for (int port : acl.ports)
    parts.push_back(std::to_string(port));
  return out + " [" + text::join(parts, "; ") + "]";
}

void print_human(const Opened& opened) {
  const ResolvedBundle& resolved = opened.resolved;
  const Descriptor& d = resolved.descriptor;
  auto line = [](const std::string& label, const std::string& value) {
    std::cout << label << std::string(label.size() < 22 ? 22 - label.size() : 1, ' ') << value
              << "\n";
  };
  line("bundle", opened.bundle.path.filename().string());
  if (opened.configuration) line("configuration", opened.configuration->path.filename().string());
  line("id", resolved.bundle_id + " (" + bundle::short_id(resolved.bundle_id) + ")");
  line("digest", resolved.bundle_digest);
  if (!resolved.configuration_digest.empty()) {
    line("configuration digest", resolved.configuration_digest);
  }
  line("name", d.name);
  line("compatibility version", d.compatibility_version);
  line("system", d.system + " (version " + d.system_version + ")");
  line("tags", text::join(d.tags, ", "));
  line("roles", text::join(d.roles, ", "));
  std::ostringstream resources;
  resources << "cpus " << d.nr_of_cpus << ", memory " << d.memory << " bytes, disk space "
            << d.disk_space << " bytes";
  line("resources", resources.str());
  line("readiness", std::string(bundle::to_string(d.readiness.mode)) +
                        (d.readiness.endpoint.empty() ? "" : " " + d.readiness.endpoint));
  line("start timeout", seconds(d.start_timeout));
  if (!d.annotations.empty()) line("annotations", d.annotations.dump());
  std::cout << "components\n";
  for (const bundle::Component& component : d.components) {
    std::cout << "  " << component.name << " (" << component.file_system_type << ")\n";
    if (!component.description.empty()) {
      std::cout << "    description: " << component.description << "\n";
    }
    if (!component.start_command.empty()) {
      std::cout << "    start command: " << text::join(component.start_command, " ") << "\n";
    }
    std::cout << "    stop: " << component.stop_signal << ", then SIGKILL after "
              << seconds(component.stop_timeout) << "\n";
    for (const bundle::Endpoint& endpoint : component.endpoints) {
      std::cout << "    endpoint " << endpoint.name << ": " << bundle::to_string(endpoint.protocol)
                << ", bind-port "
                << (endpoint.bind_port == 0 ? std::string("allocated")
                                            : std::to_string(endpoint.bind_port));
      if (!endpoint.service_name.empty()) std::cout << ", service-name " << endpoint.service_name;
      for (const bundle::Acl& acl : endpoint.acls)
        std::cout << ", acl " << acl_text(acl);
      for (const std::string& service : endpoint.services)
        std::cout << ", service " << service;
      std::cout << "\n";
    }
    for (const auto& [volume, mount] : component.volumes) {
      std::cout << "    volume " << volume << ": " << mount << "\n";
    }
  }
}

int run_inspect(const ReadArgs& args, bool json) {
  auto opened = open_and_resolve(args.file, args.configuration, args.parse);
  if (!opened) return fail(opened.error().message, kFailed);
  if (!json) {
    print_human(*opened);
    return kOk;
  }
  const ResolvedBundle& resolved = opened->resolved;
  nlohmann::json out = bundle::to_json(resolved.descriptor);
  out["bundleId"] = resolved.bundle_id;
  out["bundleDigest"] = resolved.bundle_digest;
  out["configurationDigest"] = resolved.configuration_digest.empty()
                                   ? nlohmann::json(nullptr)
                                   : nlohmann::json(resolved.configuration_digest);
  print_json(out);
  return kOk;
}

}  // namespace

void add_bundle_commands(CLI::App& app, Context& context) {
  CLI::App* group = app.add_subcommand("bundle", "Make, verify and inspect bundle files");
  group->require_subcommand(1);

  auto create_args = std::make_shared<CreateArgs>();
  CLI::App* create = group->add_subcommand(
      "create",
      "Zip a folder holding bundle.conf into <name>-v<version>-<digest>.zip; prints its path");
  create_args->command = create;
  create->add_option("DIR", create_args->folder, "The folder to bundle")->required();
  create->add_option("-o,--output", create_args->output,
                     "Folder to write the zip to (default: the current folder)");
  create->add_flag("--configuration", create_args->configuration,
                   "Make a configuration bundle (partial bundle.conf and/or runtime-config.sh)");
  create->add_option("--name", create_args->name, "Set the bundle's name");
  create->add_option("--compatibility-version", create_args->compatibility_version,
                     "Set compatibilityVersion");
  create->add_option("--system", create_args->system, "Set system");
  create->add_option("--system-version", create_args->system_version, "Set systemVersion");
  create->add_option("--role", create_args->roles, "Replace the roles; repeatable")
      ->allow_extra_args(false);
  create->add_option("--tag", create_args->tags, "Add a tag; repeatable")->allow_extra_args(false);
  create->add_option("--nr-of-cpus", create_args->nr_of_cpus, "Set nrOfCpus");
  create->add_option("--memory", create_args->memory, "Set memory (bytes, or e.g. 64M)");
  create->add_option("--disk-space", create_args->disk_space, "Set diskSpace (bytes, or e.g. 1G)");
  create
      ->add_option("--env", create_args->env,
                   "Export NAME=VALUE from runtime-config.sh; repeatable")
      ->allow_extra_args(false);
  add_runtime_option(create, create_args->parse);
  create->callback([&context, create_args] { context.exit_code = run_create(*create_args); });

  auto verify_args = std::make_shared<ReadArgs>();
  CLI::App* verify = group->add_subcommand(
      "verify", "Check a bundle (and configuration): digest, entries, descriptor");
  verify->add_option("FILE", verify_args->file, "The bundle zip")->required();
  verify->add_option("CONFIG", verify_args->configuration, "A configuration zip");
  add_runtime_option(verify, verify_args->parse);
  verify->callback([&context, verify_args] { context.exit_code = run_verify(*verify_args); });

  auto inspect_args = std::make_shared<ReadArgs>();
  CLI::App* inspect = group->add_subcommand(
      "inspect", "Show the resolved descriptor of a bundle (and configuration)");
  inspect->add_option("FILE", inspect_args->file, "The bundle zip")->required();
  inspect->add_option("CONFIG", inspect_args->configuration, "A configuration zip");
  inspect->add_flag("--json", inspect_args->json, "Print JSON (bundle.conf keys plus ids)");
  add_runtime_option(inspect, inspect_args->parse);
  // `baton --json bundle inspect` works too (the global flag).
  inspect->callback([&context, inspect_args] {
    context.exit_code = run_inspect(*inspect_args, inspect_args->json || context.json);
  });
}

}  // namespace baton::cli
