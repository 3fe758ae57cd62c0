#pragma once
// The `baton` tool's exit codes, documented in docs/cli.md.

namespace baton::cli {

enum ExitCode : int {
  kOk = 0,
  kFailed = 1,       // the operation failed: invalid bundle, refused request, failed instance
  kUsage = 2,        // bad command line, or an id that matches several bundles
  kUnreachable = 3,  // no core answered at the address given
  kNotFound = 4,     // unknown bundle id or name
  kTimeout = 5,      // the target state was not reached within --wait-timeout
};

}  // namespace baton::cli
