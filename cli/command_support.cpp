#include "cli/command_support.hpp"

#include <chrono>
#include <iostream>

#include "cli/control_client.hpp"

namespace baton::cli {

Result<CoreAddress> core_address(const Context& context) {
  std::optional<std::string> host;
  if (!context.host.empty()) host = context.host;
  std::optional<int> port;
  if (context.port != 0) port = context.port;
  auto env = process_environment();
  BATON_ASSIGN_OR_RETURN(auto settings, read_settings(env));
  BATON_ASSIGN_OR_RETURN(auto address, resolve_core_address(host, port, env, settings));
  BATON_ASSIGN_OR_RETURN(
      address.credentials,
      resolve_credentials(CredentialFlags{context.ca, context.cert, context.key, context.token},
                          env, settings));
  return address;
}

int fail(const std::string& message, int code) {
  std::cerr << "baton: " << message << "\n" << std::flush;
  return code;
}

int fail(const Error& error) {
  return fail(error.message, exit_code_for(error));
}

ViewOptions view_options(const Context& context) {
  return ViewOptions{.long_ids = context.long_ids, .now_ms = now_ms()};
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void print_json(const nlohmann::json& value) {
  std::cout << value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

}  // namespace baton::cli
