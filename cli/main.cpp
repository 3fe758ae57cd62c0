// `baton`: the command-line tool. Commands live in cli/*_command.cpp.
#include <iostream>

#include "cli/command.hpp"

int main(int argc, char** argv) {
  CLI::App app{"baton: run application bundles across machines"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("baton ") + BATON_VERSION);
  // Global options may also follow the subcommand (`baton info --json`): subcommands created
  // after this inherit fallthrough and hand options they do not know to the app.
  app.fallthrough();
  baton::cli::Context context;
  app.add_option("--host", context.host,
                 "The core's host (or http[s]://host:port); env BATON_HOST, CONDUCTR_HOST; "
                 "default 127.0.0.1");
  app.add_option("--port", context.port,
                 "The core's control port; env BATON_PORT, CONDUCTR_PORT; default 9005")
      ->check(CLI::Range(1, 65535));
  app.add_option("--ca", context.ca,
                 "PEM CA that signs the core's certificate (https://); env BATON_CA");
  app.add_option("--cert", context.cert, "PEM client certificate (mutual TLS); env BATON_CERT");
  app.add_option("--key", context.key, "The PEM private key of --cert; env BATON_KEY");
  app.add_option("--token", context.token,
                 "Bearer token for the core; env BATON_TOKEN (or token-file in settings.conf)");
  app.add_flag("-q,--quiet", context.quiet, "Print only bundle ids");
  app.add_flag("--json", context.json, "Print the control protocol's JSON");
  app.add_flag("--long-ids", context.long_ids, "Print full bundle ids");
  baton::cli::add_bundle_commands(app, context);
  baton::cli::add_control_commands(app, context);
  baton::cli::add_sandbox_commands(app, context);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    int code = app.exit(error);
    return code == 0 ? baton::cli::kOk : baton::cli::kUsage;
  }
  return context.exit_code;
}
