#pragma once
// Which file a start-command runs: `dir/prog` is inside the bundle (never outside it), `/abs` is
// the host's, a bare `prog` is looked up in the launch's own PATH.

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "common/result.hpp"

namespace baton::runtimes::universal {

namespace stdfs = std::filesystem;

// Errors name the start-command's program as written and the path tried, e.g.
// "start-command visualizer/bin/visualizer: no such file in the bundle (/x/visualizer/bin/...)".
Result<stdfs::path> resolve_program(
    const std::string& program, const stdfs::path& bundle_root,
    const std::vector<std::pair<std::string, std::string>>& environment);

}  // namespace baton::runtimes::universal
