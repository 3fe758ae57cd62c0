#pragma once
// A configuration bundle's runtime-config.sh, run just before an instance starts:
//   /bin/sh -c '. ./runtime-config.sh; env -0'
// in the configuration's extracted folder with the instance's environment. The variables it
// exports (new or changed) join the instance environment. Blocking: call it on a worker thread.

#include <chrono>
#include <filesystem>

#include "agent/environment.hpp"
#include "common/result.hpp"

namespace baton::agent {

inline constexpr std::string_view kRuntimeConfigName = "runtime-config.sh";

struct RuntimeConfigOptions {
  std::chrono::milliseconds timeout{30000};
  std::size_t max_output_bytes = 1 << 20;  // env -0 output
  std::size_t stderr_tail_bytes = 2000;    // quoted in the error
};

// Sources `script` (in its folder) with `environment` and returns the variables it exported or
// changed. Errors name the script and carry the tail of its stderr (exit status, signal,
// timeout). Output the script writes to stdout is treated as stderr.
Result<Environment> run_runtime_config(const std::filesystem::path& script,
                                       const Environment& environment,
                                       const RuntimeConfigOptions& options = {});

// `base` with `exports` applied (sorted, CONTAINER_ENV recomputed).
Environment merge_exports(Environment base, const Environment& exports);

}  // namespace baton::agent
