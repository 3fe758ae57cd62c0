// `baton`: the command-line tool. Commands live in cli/*_command.cpp.
#include <iostream>

#include "cli/command.hpp"

int main(int argc, char** argv) {
  CLI::App app{"baton: run application bundles across machines"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("baton ") + BATON_VERSION);
  baton::cli::Context context;
  baton::cli::add_bundle_commands(app, context);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    int code = app.exit(error);
    return code == 0 ? baton::cli::kOk : baton::cli::kUsage;
  }
  return context.exit_code;
}
