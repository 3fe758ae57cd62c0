#pragma once
// How the CLI proves itself to a core (docs/security.md): the CA that signs the core's
// certificate, a client certificate and key, a bearer token. Each comes from a flag (--ca,
// --cert, --key, --token), else the environment (BATON_CA, BATON_CERT, BATON_KEY, BATON_TOKEN),
// else the settings file ($BATON_HOME/settings.conf, else ~/.baton/settings.conf).

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "http/tls.hpp"

namespace baton::cli {

struct Credentials {
  std::string token;  // sent as Authorization: Bearer
  http::TlsClientSettings tls;
};

// The settings file: `name = value` lines, `#` comments; names host, port, ca, cert, key,
// token, token-file. Relative paths are relative to the file's folder.
struct Settings {
  std::filesystem::path file;  // where it was looked for
  std::map<std::string, std::string> values;
  std::optional<std::string> value(const std::string& name) const;
};

using SettingsLookup = std::function<std::optional<std::string>(std::string_view name)>;

// $BATON_HOME/settings.conf, else $HOME/.baton/settings.conf. A missing file is no settings;
// an unreadable or malformed one is an error naming the file and line.
Result<Settings> read_settings(const SettingsLookup& env);
Result<Settings> parse_settings(std::string_view text, const std::filesystem::path& file);

struct CredentialFlags {
  std::string ca, cert, key, token;  // empty: not given
};

// Flags, then environment, then settings, item by item. The files are checked (readable PEM, the
// key matching the certificate); errors name where the setting came from and the file.
Result<Credentials> resolve_credentials(const CredentialFlags& flags, const SettingsLookup& env,
                                        const Settings& settings);

}  // namespace baton::cli
