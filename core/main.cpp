// baton-core: the scheduler service. Prints "baton-core listening on http://<host>:<port>" as the
// first line of stdout once it serves, then runs until SIGINT or SIGTERM.

#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <thread>

#include "core/service.hpp"
#include "http/bearer.hpp"

int main(int argc, char** argv) {
  baton::core::CoreOptions options;
  CLI::App app{"baton-core: the scheduler service of Baton"};
  std::string data;
  long long down_after_ms = options.down_after.count();
  long long heartbeat_ms = options.heartbeat.count();
  std::string log_level = "info";
  app.add_option("--bind", options.bind, "address to listen on")->capture_default_str();
  app.add_option("--port", options.port, "control port; 0 = any free port")->capture_default_str();
  app.add_option("--data", data, "data folder (store, bundle files)")->required();
  app.add_option("--threads", options.threads, "HTTP threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--max-request-bytes", options.max_request_bytes, "largest in-memory request body")
      ->capture_default_str();
  app.add_option("--max-upload-bytes", options.max_upload_bytes, "largest bundle upload")
      ->capture_default_str();
  app.add_option("--down-after-ms", down_after_ms, "an agent silent this long is down")
      ->check(CLI::Range(100LL, 3600000LL))
      ->capture_default_str();
  app.add_option("--heartbeat-ms", heartbeat_ms, "status interval asked of agents")
      ->check(CLI::Range(10LL, 3600000LL))
      ->capture_default_str();
  app.add_option("--history-bytes", options.history_bytes,
                 "bytes of files of unloaded bundles kept for reloads")
      ->capture_default_str();
  app.add_option("--restart-limit", options.restart_limit,
                 "failed starts of a bundle before it shows an error")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->capture_default_str();
  // Who may do what (docs/security.md).
  std::string tls_cert, tls_key, tls_client_ca, tokens, token_file, agent_ca, agent_cert, agent_key;
  app.add_option("--tls-cert", tls_cert, "serve HTTPS with this PEM certificate (and chain)");
  app.add_option("--tls-key", tls_key, "the PEM private key of --tls-cert");
  app.add_option("--tls-client-ca", tls_client_ca,
                 "require client certificates signed by this PEM CA (mutual TLS); the level is "
                 "the certificate's OU (read, admin or agent)");
  app.add_option("--tokens", tokens,
                 "bearer tokens file: lines '<level> <name> <token>' (token or sha256:<hex>)");
  app.add_option("--token-file", token_file,
                 "file holding the core's own token, sent when it calls agents' APIs (logs)");
  app.add_option("--agent-ca", agent_ca, "PEM CA that signs the agents' API certificates (https)");
  app.add_option("--agent-cert", agent_cert,
                 "PEM client certificate the core presents to agents' APIs");
  app.add_option("--agent-key", agent_key, "the PEM private key of --agent-cert");
  CLI11_PARSE(app, argc, argv);
  options.data = data;
  options.down_after = std::chrono::milliseconds(down_after_ms);
  options.heartbeat = std::chrono::milliseconds(heartbeat_ms);

  auto logger = spdlog::stderr_color_mt("baton-core");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(log_level));

  // Signals are taken by one thread with sigwait; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  options.tls = {tls_cert, tls_key, tls_client_ca};
  options.tokens = tokens;
  options.agent_tls = {agent_ca, agent_cert, agent_key};
  if (tls_cert.empty() != tls_key.empty()) {
    spdlog::error("cannot start: --tls-cert and --tls-key go together");
    return 1;
  }
  if (!token_file.empty()) {
    auto token = baton::http::read_token_file(token_file);
    if (!token) {
      spdlog::error("cannot start: --token-file: {}", token.error().message);
      return 1;
    }
    options.agent_token = *token;
  }
  if (!agent_ca.empty() || !agent_cert.empty() || !agent_key.empty()) {
    if (auto checked = baton::http::check_client_files(options.agent_tls); !checked) {
      spdlog::error("cannot start: --agent-ca/--agent-cert/--agent-key: {}",
                    checked.error().message);
      return 1;
    }
  }
  auto service = baton::core::CoreService::start(options);
  if (!service) {
    spdlog::error("cannot start: {}", service.error().message);
    return 1;
  }
  std::printf("baton-core listening on %s\n", (*service)->url().c_str());
  std::fflush(stdout);
  spdlog::info("listening on {} (data {})", (*service)->url(), options.data.string());

  int received = 0;
  sigwait(&signals, &received);
  spdlog::info("signal {}: stopping", received);
  (*service)->stop();
  return 0;
}
