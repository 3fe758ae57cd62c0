#include "cli/credentials.hpp"

#include "common/files.hpp"
#include "common/text.hpp"
#include "http/bearer.hpp"

namespace baton::cli {

namespace {

namespace stdfs = std::filesystem;

const char* const kSettingNames[] = {"host", "port", "ca", "cert", "key", "token", "token-file"};

// One item: its value and where it came from ("--ca", "BATON_CA", "<file>: ca").
struct Source {
  std::string value;
  std::string origin;
  bool from_settings = false;
};

std::optional<Source> pick(const std::string& flag_value, const char* flag, const char* variable,
                           const char* setting, const SettingsLookup& env,
                           const Settings& settings) {
  if (!flag_value.empty()) return Source{flag_value, flag};
  if (auto value = env(variable)) return Source{*value, variable};
  if (auto value = settings.value(setting)) {
    return Source{*value, settings.file.string() + ": " + setting, true};
  }
  return std::nullopt;
}

stdfs::path path_of(const Source& source, const Settings& settings) {
  stdfs::path path = source.value;
  if (source.from_settings && path.is_relative()) return settings.file.parent_path() / path;
  return path;
}

}  // namespace

std::optional<std::string> Settings::value(const std::string& name) const {
  auto it = values.find(name);
  if (it == values.end()) return std::nullopt;
  return it->second;
}

Result<Settings> parse_settings(std::string_view text, const stdfs::path& file) {
  Settings settings;
  settings.file = file;
  std::size_t number = 0;
  for (const std::string& raw : text::split(text, '\n')) {
    ++number;
    std::string_view line = text::trim(raw);
    if (line.empty() || line.front() == '#') continue;
    auto equals = line.find('=');
    const std::string where = file.string() + ", line " + std::to_string(number);
    if (equals == std::string_view::npos) {
      return make_error(Errc::invalid, where + ": expected 'name = value'");
    }
    std::string name(text::trim(line.substr(0, equals)));
    std::string value(text::trim(line.substr(equals + 1)));
    bool known = false;
    for (const char* known_name : kSettingNames)
      known = known || name == known_name;
    if (!known) {
      return make_error(Errc::invalid, where + ": unknown setting '" + name.substr(0, 40) +
                                           "' (host, port, ca, cert, key, token, token-file)");
    }
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    settings.values[name] = value;
  }
  return settings;
}

Result<Settings> read_settings(const SettingsLookup& env) {
  stdfs::path file;
  if (auto home = env("BATON_HOME")) {
    file = stdfs::path(*home) / "settings.conf";
  } else if (auto user_home = env("HOME")) {
    file = stdfs::path(*user_home) / ".baton" / "settings.conf";
  } else {
    return Settings{};
  }
  std::error_code error;
  if (!stdfs::exists(file, error)) return Settings{file, {}};
  auto text = files::read(file, 1 << 20);
  if (!text) return make_error(Errc::invalid, "settings file " + text.error().message);
  return parse_settings(*text, file);
}

Result<Credentials> resolve_credentials(const CredentialFlags& flags, const SettingsLookup& env,
                                        const Settings& settings) {
  Credentials out;
  auto ca = pick(flags.ca, "--ca", "BATON_CA", "ca", env, settings);
  auto cert = pick(flags.cert, "--cert", "BATON_CERT", "cert", env, settings);
  auto key = pick(flags.key, "--key", "BATON_KEY", "key", env, settings);
  if (ca) out.tls.ca = path_of(*ca, settings);
  if (cert) out.tls.certificate = path_of(*cert, settings);
  if (key) out.tls.key = path_of(*key, settings);
  if (cert.has_value() != key.has_value()) {
    const Source& given = cert ? *cert : *key;
    return make_error(Errc::invalid, given.origin + " is given without " +
                                         (cert ? "a key (--key, BATON_KEY or key)"
                                               : "a certificate (--cert, BATON_CERT or cert)"));
  }
  if (ca || cert) {
    if (auto checked = http::check_client_files(out.tls); !checked) {
      std::string origins = ca ? ca->origin : "";
      if (cert) origins += (origins.empty() ? "" : ", ") + cert->origin + ", " + key->origin;
      return make_error(Errc::invalid, origins + ": " + checked.error().message);
    }
  }
  if (auto token = pick(flags.token, "--token", "BATON_TOKEN", "token", env, settings)) {
    out.token = std::string(text::trim(token->value));
  } else if (auto token_file = settings.value("token-file")) {
    Source source{*token_file, settings.file.string() + ": token-file", true};
    auto read = http::read_token_file(path_of(source, settings));
    if (!read) return make_error(Errc::invalid, source.origin + ": " + read.error().message);
    out.token = *read;
  }
  return out;
}

}  // namespace baton::cli
