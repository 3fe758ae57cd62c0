#pragma once
// What the control and sandbox commands share: the core's address from the global options,
// error reporting ("baton: <message>" on stderr, an exit code back), views' options.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/command.hpp"
#include "cli/core_address.hpp"
#include "cli/views.hpp"
#include "common/result.hpp"

namespace baton::cli {

Result<CoreAddress> core_address(const Context& context);

// Prints "baton: <message>" to stderr and returns `code`.
int fail(const std::string& message, int code);
// The same for a control request's error, with its exit code (exit_code_for).
int fail(const Error& error);

ViewOptions view_options(const Context& context);
std::int64_t now_ms();

// Pretty JSON on stdout.
void print_json(const nlohmann::json& value);

}  // namespace baton::cli
