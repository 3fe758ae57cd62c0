#pragma once
// Cleaning up after a test that failed half-way: components outlive their agent by design, so a
// test that stops early would leave them holding ports and files for the tests after it.

#include <filesystem>

namespace baton::testing {

// SIGKILLs every process whose command line names something under `folder` or whose working
// folder is inside it (never this process). Returns how many it killed.
int kill_processes_within(const std::filesystem::path& folder);

}  // namespace baton::testing
