#pragma once
// The `baton` tool is CLI11 subcommands, one file per command group. Each group registers its
// subcommands on the app; a callback stores the process exit code in the Context.

#include <CLI/CLI.hpp>

namespace baton::cli {

// Exit codes, documented in docs/cli.md.
enum ExitCode : int {
  kOk = 0,
  kFailed = 1,       // the operation failed: invalid bundle, refused request, failed instance
  kUsage = 2,        // bad command line
  kUnreachable = 3,  // no core answered at the address given
  kNotFound = 4,     // unknown bundle id or name
  kTimeout = 5,      // the target state was not reached within --wait-timeout
};

struct Context {
  int exit_code = kOk;
};

void add_bundle_commands(CLI::App& app, Context& context);

}  // namespace baton::cli
