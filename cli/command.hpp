#pragma once
// The `baton` tool is CLI11 subcommands, one file per command group. Each group registers its
// subcommands on the app; a callback stores the process exit code in the Context.

#include <CLI/CLI.hpp>
#include <string>

#include "cli/exit_codes.hpp"

namespace baton::cli {

struct Context {
  int exit_code = kOk;
  // Global options (main.cpp), accepted before or after the subcommand.
  std::string host;       // --host; empty: BATON_HOST, CONDUCTR_HOST, 127.0.0.1
  int port = 0;           // --port; 0: BATON_PORT, CONDUCTR_PORT, 9005
  bool quiet = false;     // -q: print only ids
  bool json = false;      // --json: print the protocol's JSON
  bool long_ids = false;  // --long-ids: full bundle ids instead of the 7-character form
  // Credentials (cli/credentials.hpp); empty: BATON_CA, ..., then the settings file.
  std::string ca, cert, key, token;
};

void add_bundle_commands(CLI::App& app, Context& context);
// load, run, stop, unload, info, services, events, logs, members, agents, history, version.
void add_control_commands(CLI::App& app, Context& context);
// sandbox run|stop|ps|logs.
void add_sandbox_commands(CLI::App& app, Context& context);

}  // namespace baton::cli
