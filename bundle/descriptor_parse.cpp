#include "bundle/descriptor_parse.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "bundle/hocon_tree.hpp"
#include "common/text.hpp"

namespace baton::bundle {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

// Names become parts of file names: "<name>-v<compatibilityVersion>-<digest>.zip" must stay
// within bundle_name's stem limit.
constexpr std::size_t kMaxNameLength = 128;
constexpr std::size_t kMaxVersionLength = 64;
// Longer than anything sensible, short enough that sums of a few never overflow.
constexpr std::int64_t kMaxDurationMs = 1'000'000'000'000;  // about 31 years
constexpr long long kMaxRetryCount = 1'000'000;
constexpr std::string_view kBundleStatus = "bundle-status";
constexpr std::array<std::string_view, 3> kBuiltinRuntimes{"docker", "rpm", "universal"};
constexpr std::array<std::string_view, 2> kConductrOnlyRuntimes{"oci-bundle", "oci-image"};
constexpr std::array<std::string_view, 10> kSignals{"SIGHUP",  "SIGINT",  "SIGQUIT", "SIGABRT",
                                                    "SIGKILL", "SIGUSR1", "SIGUSR2", "SIGALRM",
                                                    "SIGTERM", "SIGWINCH"};
constexpr std::string_view kNameRule =
    "letters, digits, '.', '_' or '-', not starting with '.' or '-'";

// ---------------------------------------------------------------------------------------------
// Sizes and durations, as HOCON writes them.

struct Decimal {
  std::int64_t whole = 0;
  std::int64_t fraction = 0;  // the digits after the point
  std::int64_t scale = 1;     // 10^(number of those digits)
  std::string_view unit;      // what follows, blanks trimmed
};

// "1.5 GiB" -> {1, 5, 10, "GiB"}; nullopt when it does not start with a plain decimal.
std::optional<Decimal> split_decimal(std::string_view text) {
  text = text::trim(text);
  Decimal out;
  std::size_t i = 0;
  std::size_t digits = 0;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i, ++digits) {
    if (out.whole > (std::numeric_limits<std::int64_t>::max() - 9) / 10) return std::nullopt;
    out.whole = out.whole * 10 + (text[i] - '0');
  }
  if (i < text.size() && text[i] == '.') {
    ++i;
    std::size_t fraction_digits = 0;
    for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
      if (++fraction_digits > 9) continue;  // finer than a nanosecond or a byte: dropped
      out.fraction = out.fraction * 10 + (text[i] - '0');
      out.scale *= 10;
    }
    if (fraction_digits == 0) return std::nullopt;
    digits += fraction_digits;
  }
  if (digits == 0) return std::nullopt;
  out.unit = text::trim(text.substr(i));
  return out;
}

// whole * unit + fraction * unit / scale, rounded up or down; nullopt beyond `limit`.
std::optional<std::int64_t> scaled(const Decimal& number, std::int64_t unit, bool round_up,
                                   std::int64_t limit) {
  __int128 whole = static_cast<__int128>(number.whole) * unit;
  __int128 part = static_cast<__int128>(number.fraction) * unit;
  __int128 fraction = part / number.scale + ((round_up && part % number.scale != 0) ? 1 : 0);
  __int128 total = whole + fraction;
  if (total > limit) return std::nullopt;
  return static_cast<std::int64_t>(total);
}

// HOCON's size units: K, Ki, KiB, kibibyte(s) are 1024; kB, kilobyte(s) 1000; and so on.
std::optional<std::int64_t> size_unit(std::string_view unit) {
  if (unit.empty() || unit == "B" || unit == "b" || unit == "byte" || unit == "bytes") return 1;
  struct Prefix {
    char upper;
    char lower;
    std::string_view binary;   // "kibi"
    std::string_view decimal;  // "kilo"
    std::string_view decimal_short;
  };
  constexpr std::array<Prefix, 4> kPrefixes{{{'K', 'k', "kibi", "kilo", "kB"},
                                             {'M', 'm', "mebi", "mega", "MB"},
                                             {'G', 'g', "gibi", "giga", "GB"},
                                             {'T', 't', "tebi", "tera", "TB"}}};
  std::int64_t binary = 1;
  std::int64_t decimal = 1;
  for (const Prefix& prefix : kPrefixes) {
    binary *= 1024;
    decimal *= 1000;
    const std::string upper(1, prefix.upper);
    if (unit == upper || unit == std::string(1, prefix.lower) || unit == upper + "i" ||
        unit == upper + "iB" || unit == std::string(prefix.binary) + "byte" ||
        unit == std::string(prefix.binary) + "bytes") {
      return binary;
    }
    if (unit == prefix.decimal_short || unit == std::string(prefix.decimal) + "byte" ||
        unit == std::string(prefix.decimal) + "bytes") {
      return decimal;
    }
  }
  return std::nullopt;
}

std::optional<std::int64_t> parse_size(std::string_view text) {
  auto number = split_decimal(text);
  if (!number) return std::nullopt;
  auto unit = size_unit(number->unit);
  if (!unit) return std::nullopt;
  return scaled(*number, *unit, /*round_up=*/false, std::numeric_limits<std::int64_t>::max());
}

// Nanoseconds per HOCON duration unit; no unit means seconds, as a bare number does.
std::optional<std::int64_t> duration_unit(std::string_view unit) {
  struct Unit {
    std::array<std::string_view, 5> names;
    std::int64_t nanoseconds;
  };
  constexpr std::array<Unit, 7> kUnits{{
      {{"ns", "nano", "nanos", "nanosecond", "nanoseconds"}, 1},
      {{"us", "micro", "micros", "microsecond", "microseconds"}, 1'000},
      {{"ms", "milli", "millis", "millisecond", "milliseconds"}, 1'000'000},
      {{"s", "second", "seconds", "", ""}, 1'000'000'000},
      {{"m", "minute", "minutes", "", ""}, 60'000'000'000},
      {{"h", "hour", "hours", "", ""}, 3'600'000'000'000},
      {{"d", "day", "days", "", ""}, 86'400'000'000'000},
  }};
  if (unit.empty()) return 1'000'000'000;
  for (const Unit& candidate : kUnits) {
    for (std::string_view name : candidate.names) {
      if (!name.empty() && name == unit) return candidate.nanoseconds;
    }
  }
  return std::nullopt;
}

// "10s", "500ms", "2 seconds", "1.5m", "10" (seconds). Rounded up to whole milliseconds so that
// a non-zero duration never becomes zero.
std::optional<milliseconds> parse_duration(std::string_view text) {
  auto number = split_decimal(text);
  if (!number) return std::nullopt;
  auto unit = duration_unit(number->unit);
  if (!unit) return std::nullopt;
  auto nanoseconds = scaled(*number, *unit, /*round_up=*/true,
                            std::numeric_limits<std::int64_t>::max() - 1'000'000);
  if (!nanoseconds) return std::nullopt;
  std::int64_t ms = (*nanoseconds + 999'999) / 1'000'000;
  if (ms > kMaxDurationMs) return std::nullopt;
  return milliseconds(ms);
}

std::string duration_text(milliseconds duration) {
  auto ms = duration.count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms";
}

bool is_name(std::string_view name) {
  if (name.empty() || name.front() == '.' || name.front() == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

std::string quote(std::string_view text) {
  constexpr std::size_t kShown = 80;
  json shown =
      text.size() > kShown ? std::string(text.substr(0, kShown)) + "..." : std::string(text);
  return shown.dump(-1, ' ', false, json::error_handler_t::replace);
}

// The value at `key`, or nullptr when absent or null (null unsets a key, as in HOCON getters).
const json* find(const json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// ---------------------------------------------------------------------------------------------
// The typed mapping of the resolved tree.

struct KeyPath {
  std::string pointer;  // into HoconTree::origins
  std::string display;  // in messages: "components.web.start-command[1]"

  KeyPath key(std::string_view name) const {
    return {pointer + "/" + pointer_token(name),
            display.empty() ? std::string(name) : display + "." + std::string(name)};
  }
  KeyPath index(std::size_t i) const {
    return {pointer + "/" + std::to_string(i), display + "[" + std::to_string(i) + "]"};
  }
};

struct Field {
  KeyPath path;
  const json* value = nullptr;
};

// What a ConductR `check` address translates to.
struct CheckTarget {
  Readiness::Mode mode = Readiness::Mode::tcp;
  std::string endpoint;
  std::string path = "/";
  std::optional<milliseconds> retry_delay;
  std::optional<long long> retry_count;
};

class Mapper {
 public:
  Mapper(const HoconTree& tree, const std::vector<HoconText>& layers, const ParseOptions& options)
      : tree_(tree), layers_(layers), options_(options) {}

  Result<Descriptor> run() {
    const json& root = tree_.root;
    const KeyPath top;
    Descriptor out;

    if (const json* value = find(root, "version")) {
      KeyPath path = top.key("version");
      BATON_ASSIGN_OR_RETURN(std::string version, text_or_number(path, *value));
      if (version != "1") return expected(path, "\"1\"", *value);
    }
    BATON_ASSIGN_OR_RETURN(Field name, required(top, root, "name"));
    BATON_ASSIGN_OR_RETURN(out.name, identifier(name, kMaxNameLength));
    BATON_ASSIGN_OR_RETURN(auto compatibility,
                           aliased(top, root, "compatibilityVersion", "compatibility-version"));
    if (!compatibility) return missing(top, "compatibilityVersion");
    BATON_ASSIGN_OR_RETURN(out.compatibility_version,
                           identifier(*compatibility, kMaxVersionLength));
    if (const json* value = find(root, "tags")) {
      BATON_ASSIGN_OR_RETURN(out.tags, string_list(top.key("tags"), *value));
    }
    out.system = out.name;
    if (const json* value = find(root, "system")) {
      BATON_ASSIGN_OR_RETURN(out.system, non_empty_string(top.key("system"), *value));
    }
    out.system_version = out.compatibility_version;
    BATON_ASSIGN_OR_RETURN(auto system_version,
                           aliased(top, root, "systemVersion", "system-version"));
    if (system_version) {
      BATON_ASSIGN_OR_RETURN(out.system_version,
                             text_or_number(system_version->path, *system_version->value));
      if (out.system_version.empty()) {
        return expected(system_version->path, "a non-empty string", *system_version->value);
      }
    }
    BATON_ASSIGN_OR_RETURN(auto cpus, aliased(top, root, "nrOfCpus", "nr-of-cpus"));
    if (!cpus) return missing(top, "nrOfCpus");
    BATON_ASSIGN_OR_RETURN(out.nr_of_cpus, cpu_count(*cpus));
    BATON_ASSIGN_OR_RETURN(Field memory, required(top, root, "memory"));
    BATON_ASSIGN_OR_RETURN(out.memory, bytes(memory));
    BATON_ASSIGN_OR_RETURN(auto disk, aliased(top, root, "diskSpace", "disk-space"));
    if (!disk) return missing(top, "diskSpace");
    BATON_ASSIGN_OR_RETURN(out.disk_space, bytes(*disk));
    if (const json* value = find(root, "roles")) {
      BATON_ASSIGN_OR_RETURN(out.roles, string_list(top.key("roles"), *value));
    }
    if (const json* value = find(root, "annotations")) {
      if (!value->is_object()) return expected(top.key("annotations"), "an object", *value);
      out.annotations = *value;
    }

    BATON_ASSIGN_OR_RETURN(Field components, required(top, root, "components"));
    std::optional<Field> check_component;
    BATON_TRY(read_components(components, out, check_component));

    const json* start_timeout = find(root, "start-timeout");
    if (start_timeout) {
      BATON_ASSIGN_OR_RETURN(out.start_timeout,
                             duration(top.key("start-timeout"), *start_timeout, false));
    }
    const json* readiness = find(root, "readiness");
    if (readiness && check_component) {
      return fail(check_component->path,
                  "expected either readiness or a bundle-status check component, got both");
    }
    if (readiness) BATON_TRY(read_readiness(top.key("readiness"), *readiness, out));
    if (check_component) {
      BATON_TRY(translate_check(*check_component, out, start_timeout != nullptr));
    }
    return out;
  }

 private:
  // ---- messages

  const HoconOrigin* origin(const KeyPath& path) const {
    auto it = tree_.origins.find(path.pointer);
    return it == tree_.origins.end() ? nullptr : &it->second;
  }

  std::string where(const KeyPath& path) const {
    const HoconOrigin* at = origin(path);
    std::string out(layers_[at ? at->layer : 0].source);
    if (at && at->line > 0) out += ":" + std::to_string(at->line);
    return out;
  }

  Error fail(const KeyPath& path, const std::string& what) const {
    std::string message = where(path) + ": ";
    if (!path.display.empty()) message += path.display + ": ";
    return make_error(Errc::invalid, message + what);
  }

  std::string describe(const KeyPath& path, const json& value) const {
    switch (value.type()) {
      case json::value_t::string:
        return quote(value.get_ref<const std::string&>());
      case json::value_t::number_integer:
      case json::value_t::number_unsigned:
      case json::value_t::number_float: {
        const HoconOrigin* at = origin(path);
        return at && !at->number_text.empty() ? at->number_text : value.dump();
      }
      case json::value_t::array:
        return value.empty() ? "an empty list" : "a list";
      case json::value_t::object: {
        if (value.empty()) return "an empty object";
        std::vector<std::string> keys;
        for (const auto& item : value.items()) {
          if (keys.size() == 4) {
            keys.emplace_back("...");
            break;
          }
          keys.push_back(item.key());
        }
        return "an object with keys " + text::join(keys, ", ");
      }
      default:
        return value.dump();
    }
  }

  Error expected(const KeyPath& path, std::string_view what, const json& got) const {
    return fail(path, "expected " + std::string(what) + ", got " + describe(path, got));
  }

  // A missing key is blamed on the source of the object that lacks it: for an object merged
  // from a bundle.conf and an overlay, the bundle.conf, which has to be complete.
  Error missing(const KeyPath& parent, std::string_view key) const {
    const HoconOrigin* at = origin(parent);
    std::string message(layers_[at ? at->lowest_layer : 0].source);
    message += ": ";
    if (!parent.display.empty()) message += parent.display + ": ";
    return make_error(Errc::invalid, message + "missing required key " + std::string(key));
  }

  // ---- keys

  Result<Field> required(const KeyPath& parent, const json& object, std::string_view key) const {
    const json* value = find(object, key);
    if (!value) return missing(parent, key);
    return Field{parent.key(key), value};
  }

  // ConductR's camelCase key or its kebab-case alias. Both in one text is an error; across
  // layers the higher one wins, so an overlay may use either spelling.
  Result<std::optional<Field>> aliased(const KeyPath& parent, const json& object,
                                       std::string_view canonical, std::string_view alias) const {
    const json* first = find(object, canonical);
    const json* second = find(object, alias);
    KeyPath first_path = parent.key(canonical);
    KeyPath second_path = parent.key(alias);
    if (first && second) {
      const HoconOrigin* first_origin = origin(first_path);
      const HoconOrigin* second_origin = origin(second_path);
      std::size_t first_layer = first_origin ? first_origin->layer : 0;
      std::size_t second_layer = second_origin ? second_origin->layer : 0;
      if (first_layer == second_layer) {
        KeyPath shown{second_path.pointer, first_path.display};
        return fail(shown,
                    "given twice as " + std::string(canonical) + " and " + std::string(alias));
      }
      if (second_layer > first_layer) first = nullptr;
    }
    if (first) return std::optional<Field>(Field{first_path, first});
    if (second) return std::optional<Field>(Field{second_path, second});
    return std::optional<Field>();
  }

  // ---- values

  Result<std::string> string_value(const KeyPath& path, const json& value) const {
    if (!value.is_string()) return expected(path, "a string", value);
    return value.get<std::string>();
  }

  Result<std::string> non_empty_string(const KeyPath& path, const json& value) const {
    if (!value.is_string() || value.get_ref<const std::string&>().empty()) {
      return expected(path, "a non-empty string", value);
    }
    return value.get<std::string>();
  }

  // A string, or a number as written ("1", "1.10").
  Result<std::string> text_or_number(const KeyPath& path, const json& value) const {
    if (value.is_string()) return value.get<std::string>();
    if (value.is_number()) {
      const HoconOrigin* at = origin(path);
      return at && !at->number_text.empty() ? at->number_text : value.dump();
    }
    return expected(path, "a string or a number", value);
  }

  // A name that is also usable in file names (bundle names, versions, component names).
  Result<std::string> identifier(const Field& field, std::size_t max_length) const {
    BATON_ASSIGN_OR_RETURN(std::string text, text_or_number(field.path, *field.value));
    if (text.size() > max_length) {
      return expected(field.path, "at most " + std::to_string(max_length) + " characters",
                      *field.value);
    }
    if (!is_name(text)) return expected(field.path, kNameRule, *field.value);
    return text;
  }

  Result<std::vector<std::string>> string_list(const KeyPath& path, const json& value) const {
    if (!value.is_array()) return expected(path, "a list of strings", value);
    std::vector<std::string> out;
    for (std::size_t i = 0; i < value.size(); ++i) {
      BATON_ASSIGN_OR_RETURN(std::string element, string_value(path.index(i), value[i]));
      out.push_back(std::move(element));
    }
    return out;
  }

  Result<double> cpu_count(const Field& field) const {
    const json& value = *field.value;
    if (!value.is_number() || !(value.get<double>() > 0) || !std::isfinite(value.get<double>())) {
      return expected(field.path, "a number of CPUs greater than 0", value);
    }
    return value.get<double>();
  }

  Result<std::int64_t> bytes(const Field& field) const {
    const json& value = *field.value;
    constexpr std::string_view kWhat = "a whole number of bytes or a size such as \"64M\"";
    if (value.is_number_integer()) {
      if (value.is_number_unsigned() || value.get<std::int64_t>() >= 0) {
        if (value.is_number_unsigned() &&
            value.get<std::uint64_t>() >
                static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
          return expected(field.path, kWhat, value);
        }
        return value.get<std::int64_t>();
      }
    } else if (value.is_number_float()) {
      double number = value.get<double>();
      if (number >= 0 && number < 9.0e18 && std::floor(number) == number) {
        return static_cast<std::int64_t>(number);
      }
    } else if (value.is_string()) {
      if (auto size = parse_size(value.get_ref<const std::string&>())) return *size;
    }
    return expected(field.path, kWhat, value);
  }

  // A duration string, or a bare number of seconds.
  Result<milliseconds> duration(const KeyPath& path, const json& value, bool allow_zero) const {
    std::optional<milliseconds> out;
    if (value.is_number_integer() && !value.is_number_unsigned()) {
      auto seconds = value.get<std::int64_t>();
      if (seconds >= 0 && seconds <= kMaxDurationMs / 1000) out = milliseconds(seconds * 1000);
    } else if (value.is_number()) {
      double seconds = value.get<double>();
      if (seconds >= 0 && seconds * 1000 <= static_cast<double>(kMaxDurationMs)) {
        out = milliseconds(static_cast<std::int64_t>(std::ceil(seconds * 1000)));
      }
    } else if (value.is_string()) {
      out = parse_duration(value.get_ref<const std::string&>());
    }
    if (!out || (!allow_zero && out->count() == 0)) {
      return expected(path,
                      allow_zero ? "a duration such as \"10s\" or \"500ms\""
                                 : "a duration greater than 0 such as \"10s\" or \"500ms\"",
                      value);
    }
    return *out;
  }

  Result<int> port(const KeyPath& path, const json& value, int lowest) const {
    if (!value.is_number_integer() || value.get<std::int64_t>() < lowest ||
        value.get<std::int64_t>() > 65535) {
      return expected(path, "a port " + std::to_string(lowest) + "-65535", value);
    }
    return static_cast<int>(value.get<std::int64_t>());
  }

  // ---- components

  static bool is_check_component(const std::string& name, const json& value) {
    if (name != kBundleStatus) return false;
    const json* command = find(value, "start-command");
    if (!command || !command->is_array() || command->empty() || !(*command)[0].is_string()) {
      return false;
    }
    const auto& program = (*command)[0].get_ref<const std::string&>();
    return program == "check" || program.ends_with("/check");
  }

  Status read_components(const Field& field, Descriptor& out,
                         std::optional<Field>& check_component) const {
    const json& value = *field.value;
    if (!value.is_object()) return expected(field.path, "an object of components", value);
    if (value.empty()) return expected(field.path, "at least one component", value);
    std::map<std::string, std::string> endpoint_owner;    // endpoint -> component
    std::map<std::string, std::string> endpoint_by_stem;  // env_name -> endpoint
    for (const auto& [name, component] : value.items()) {
      KeyPath path = field.path.key(name);
      if (is_check_component(name, component)) {
        check_component = Field{path, &component};
        continue;
      }
      BATON_ASSIGN_OR_RETURN(Component parsed, read_component(path, name, component));
      for (const Endpoint& endpoint : parsed.endpoints) {
        KeyPath endpoint_path = path.key("endpoints").key(endpoint.name);
        auto [owner, fresh] = endpoint_owner.emplace(endpoint.name, name);
        if (!fresh) {
          return fail(endpoint_path, "endpoint " + endpoint.name +
                                         " is declared by both components " + owner->second +
                                         " and " + name);
        }
        std::string stem = text::env_name(endpoint.name);
        auto [other, unique] = endpoint_by_stem.emplace(stem, endpoint.name);
        if (!unique) {
          return fail(endpoint_path, "endpoints " + other->second + " and " + endpoint.name +
                                         " would both set the variables " + stem + "_*");
        }
      }
      out.components.push_back(std::move(parsed));
    }
    if (out.components.empty()) {
      return expected(field.path, "at least one component besides bundle-status", value);
    }
    return {};
  }

  Result<Component> read_component(const KeyPath& path, const std::string& name,
                                   const json& value) const {
    if (!value.is_object()) return expected(path, "an object", value);
    Component out;
    if (name.size() > kMaxNameLength || !is_name(name)) {
      return fail(
          path, "expected a component name of " + std::string(kNameRule) + ", got " + quote(name));
    }
    out.name = name;
    if (const json* description = find(value, "description")) {
      BATON_ASSIGN_OR_RETURN(out.description, string_value(path.key("description"), *description));
    }
    BATON_ASSIGN_OR_RETURN(Field type, required(path, value, "file-system-type"));
    BATON_ASSIGN_OR_RETURN(out.file_system_type, runtime(type));

    const bool docker = out.file_system_type == "docker";
    const json* command = find(value, "start-command");
    KeyPath command_path = path.key("start-command");
    if (!command && !docker) return missing(path, "start-command");
    if (command) {
      BATON_ASSIGN_OR_RETURN(out.start_command, string_list(command_path, *command));
      if (out.start_command.empty() && !docker) {
        return fail(command_path,
                    "expected the program and its arguments, got an empty start-command");
      }
      if (!out.start_command.empty() && out.start_command.front().empty()) {
        return expected(command_path.index(0), "a program", (*command)[0]);
      }
    }

    if (const json* endpoints = find(value, "endpoints")) {
      KeyPath endpoints_path = path.key("endpoints");
      if (!endpoints->is_object()) return expected(endpoints_path, "an object", *endpoints);
      for (const auto& [endpoint_name, endpoint] : endpoints->items()) {
        BATON_ASSIGN_OR_RETURN(Endpoint parsed, read_endpoint(endpoints_path.key(endpoint_name),
                                                              endpoint_name, endpoint));
        out.endpoints.push_back(std::move(parsed));
      }
    }
    if (const json* volumes = find(value, "volumes")) {
      KeyPath volumes_path = path.key("volumes");
      if (!volumes->is_object()) return expected(volumes_path, "an object", *volumes);
      for (const auto& [volume, mount] : volumes->items()) {
        KeyPath mount_path = volumes_path.key(volume);
        if (!mount.is_string() || !mount.get_ref<const std::string&>().starts_with('/')) {
          return expected(mount_path, "an absolute mount point such as \"/data\"", mount);
        }
        out.volumes[volume] = mount.get<std::string>();
      }
    }
    if (const json* signal = find(value, "stop-signal")) {
      BATON_ASSIGN_OR_RETURN(out.stop_signal, stop_signal(path.key("stop-signal"), *signal));
    }
    if (const json* timeout = find(value, "stop-timeout")) {
      BATON_ASSIGN_OR_RETURN(out.stop_timeout, duration(path.key("stop-timeout"), *timeout, true));
    }
    return out;
  }

  Result<std::string> runtime(const Field& field) const {
    const json& value = *field.value;
    std::vector<std::string> known(kBuiltinRuntimes.begin(), kBuiltinRuntimes.end());
    known.insert(known.end(), options_.extra_runtimes.begin(), options_.extra_runtimes.end());
    std::sort(known.begin(), known.end());
    known.erase(std::unique(known.begin(), known.end()), known.end());
    const std::string known_list = "one of " + text::join(known, ", ");
    if (!value.is_string()) return expected(field.path, known_list, value);
    const auto& type = value.get_ref<const std::string&>();
    if (std::find(known.begin(), known.end(), type) != known.end()) return type;
    if (options_.any_runtime) {
      if (is_runtime_name(type)) return type;
      return expected(field.path, "a runtime name of [a-z0-9][a-z0-9-]*, at most 64 characters",
                      value);
    }
    if (contains(kConductrOnlyRuntimes, type)) {
      return fail(
          field.path,
          quote(type) + " is a ConductR type that Baton does not run; expected " + known_list);
    }
    return expected(field.path, known_list, value);
  }

  Result<std::string> stop_signal(const KeyPath& path, const json& value) const {
    std::string what =
        "a signal name such as \"SIGTERM\" (" +
        text::join(std::vector<std::string>(kSignals.begin(), kSignals.end()), ", ") + ")";
    if (!value.is_string()) return expected(path, what, value);
    std::string name = text::to_upper(value.get_ref<const std::string&>());
    if (!name.starts_with("SIG")) name = "SIG" + name;
    if (!contains(kSignals, name)) return expected(path, what, value);
    return name;
  }

  Result<Endpoint> read_endpoint(const KeyPath& path, const std::string& name,
                                 const json& value) const {
    if (name.empty()) return fail(path, "expected an endpoint name, got \"\"");
    if (!value.is_object()) return expected(path, "an object", value);
    Endpoint out;
    out.name = name;
    if (const json* protocol = find(value, "bind-protocol")) {
      BATON_ASSIGN_OR_RETURN(out.protocol, read_protocol(path.key("bind-protocol"), *protocol));
    }
    if (const json* bind_port = find(value, "bind-port")) {
      BATON_ASSIGN_OR_RETURN(out.bind_port, port(path.key("bind-port"), *bind_port, 0));
    }
    if (const json* service = find(value, "service-name")) {
      BATON_ASSIGN_OR_RETURN(out.service_name, string_value(path.key("service-name"), *service));
    }
    if (const json* services = find(value, "services")) {
      BATON_ASSIGN_OR_RETURN(out.services, string_list(path.key("services"), *services));
    }
    if (const json* acls = find(value, "acls")) {
      KeyPath acls_path = path.key("acls");
      if (!acls->is_array()) return expected(acls_path, "a list of acls", *acls);
      for (std::size_t i = 0; i < acls->size(); ++i) {
        BATON_ASSIGN_OR_RETURN(Acl acl, read_acl(acls_path.index(i), (*acls)[i]));
        out.acls.push_back(std::move(acl));
      }
    }
    return out;
  }

  Result<Protocol> read_protocol(const KeyPath& path, const json& value) const {
    if (value.is_string()) {
      const auto& text = value.get_ref<const std::string&>();
      if (text == "http") return Protocol::http;
      if (text == "tcp") return Protocol::tcp;
      if (text == "udp") return Protocol::udp;
    }
    return expected(path, "one of http, tcp, udp", value);
  }

  // `{ http { requests = [ { path-beg = "/x" } ] } }` or `{ tcp { requests = [ 9000 ] } }`.
  Result<Acl> read_acl(const KeyPath& path, const json& value) const {
    constexpr std::string_view kShape = "an object with one of http, tcp, udp";
    if (!value.is_object()) return expected(path, kShape, value);
    std::optional<Protocol> protocol;
    std::string key;
    for (std::string_view candidate : {"http", "tcp", "udp"}) {
      if (!find(value, candidate)) continue;
      if (protocol) return expected(path, kShape, value);
      key = candidate;
      protocol = candidate == "http" ? Protocol::http
                                     : (candidate == "tcp" ? Protocol::tcp : Protocol::udp);
    }
    if (!protocol) return expected(path, kShape, value);
    Acl out;
    out.protocol = *protocol;
    KeyPath body_path = path.key(key);
    const json& body = *find(value, key);
    if (!body.is_object()) return expected(body_path, "an object with requests", body);
    BATON_ASSIGN_OR_RETURN(Field requests, required(body_path, body, "requests"));
    if (!requests.value->is_array()) {
      return expected(requests.path, "a list of requests", *requests.value);
    }
    for (std::size_t i = 0; i < requests.value->size(); ++i) {
      KeyPath request_path = requests.path.index(i);
      const json& request = (*requests.value)[i];
      if (out.protocol == Protocol::http) {
        BATON_ASSIGN_OR_RETURN(HttpRequestRule rule, read_http_request(request_path, request));
        out.http_requests.push_back(std::move(rule));
      } else {
        BATON_ASSIGN_OR_RETURN(int request_port, port(request_path, request, 1));
        out.ports.push_back(request_port);
      }
    }
    return out;
  }

  Result<HttpRequestRule> read_http_request(const KeyPath& path, const json& value) const {
    constexpr std::string_view kShape = "an object with one of path, path-beg, path-regex";
    if (!value.is_object()) return expected(path, kShape, value);
    HttpRequestRule out;
    for (std::string_view match : {"path", "path-beg", "path-regex"}) {
      const json* text = find(value, match);
      if (!text) continue;
      if (!out.match.empty()) return expected(path, kShape, value);
      KeyPath match_path = path.key(match);
      if (!text->is_string() || text->get_ref<const std::string&>().empty()) {
        return expected(match_path, "a non-empty string", *text);
      }
      if (match != "path-regex" && !text->get_ref<const std::string&>().starts_with('/')) {
        return expected(match_path, "a path starting with '/'", *text);
      }
      out.match = match;
      out.value = text->get<std::string>();
    }
    if (out.match.empty()) return expected(path, kShape, value);
    if (const json* method = find(value, "method")) {
      BATON_ASSIGN_OR_RETURN(out.method, non_empty_string(path.key("method"), *method));
    }
    if (const json* rewrite = find(value, "rewrite")) {
      BATON_ASSIGN_OR_RETURN(out.rewrite, string_value(path.key("rewrite"), *rewrite));
    }
    return out;
  }

  // ---- readiness

  static std::string endpoint_list(const Descriptor& descriptor) {
    std::vector<std::string> names;
    for (const Endpoint* endpoint : descriptor.endpoints())
      names.push_back(endpoint->name);
    return names.empty() ? "none declared" : text::join(names, ", ");
  }

  static const Endpoint* endpoint_named(const Descriptor& descriptor, const std::string& name) {
    for (const Endpoint* endpoint : descriptor.endpoints()) {
      if (endpoint->name == name) return endpoint;
    }
    return nullptr;
  }

  Status read_readiness(const KeyPath& path, const json& value, Descriptor& out) const {
    if (!value.is_object()) return expected(path, "an object", value);
    Readiness readiness;
    KeyPath check_path = path.key("check");
    if (const json* check = find(value, "check")) {
      constexpr std::string_view kModes = "one of auto, signal, http, tcp, none";
      if (!check->is_string()) return expected(check_path, kModes, *check);
      const auto& mode = check->get_ref<const std::string&>();
      if (mode == "auto") {
        readiness.mode = Readiness::Mode::automatic;
      } else if (mode == "signal") {
        readiness.mode = Readiness::Mode::signal;
      } else if (mode == "http") {
        readiness.mode = Readiness::Mode::http;
      } else if (mode == "tcp") {
        readiness.mode = Readiness::Mode::tcp;
      } else if (mode == "none") {
        readiness.mode = Readiness::Mode::none;
      } else {
        return expected(check_path, kModes, *check);
      }
    }
    const bool http = readiness.mode == Readiness::Mode::http;
    const bool tcp = readiness.mode == Readiness::Mode::tcp;
    if (const json* endpoint = find(value, "endpoint")) {
      KeyPath endpoint_path = path.key("endpoint");
      BATON_ASSIGN_OR_RETURN(readiness.endpoint, string_value(endpoint_path, *endpoint));
      const Endpoint* named = endpoint_named(out, readiness.endpoint);
      if (!named) {
        return expected(endpoint_path, "one of the bundle's endpoints (" + endpoint_list(out) + ")",
                        *endpoint);
      }
      if ((http && named->protocol != Protocol::http) ||
          (tcp && named->protocol == Protocol::udp)) {
        return fail(endpoint_path, std::string("expected ") +
                                       (http ? "an http endpoint for check = http"
                                             : "a tcp or http endpoint for check = tcp") +
                                       ", got " + quote(named->name) + " (bind-protocol " +
                                       to_string(named->protocol) + ")");
      }
    } else if (http || tcp) {
      // The first fitting endpoint, made explicit so that every reader agrees on it.
      for (const Endpoint* endpoint : out.endpoints()) {
        if (http ? endpoint->protocol == Protocol::http : endpoint->protocol != Protocol::udp) {
          readiness.endpoint = endpoint->name;
          break;
        }
      }
      if (readiness.endpoint.empty()) {
        return fail(check_path, std::string("expected ") +
                                    (http ? "an http endpoint" : "a tcp or http endpoint") +
                                    " to check, got a bundle without one");
      }
    }
    if (const json* check_path_value = find(value, "path")) {
      KeyPath path_path = path.key("path");
      if (!check_path_value->is_string() ||
          !check_path_value->get_ref<const std::string&>().starts_with('/')) {
        return expected(path_path, "a path starting with '/'", *check_path_value);
      }
      readiness.path = check_path_value->get<std::string>();
    }
    if (const json* delay = find(value, "initial-delay")) {
      BATON_ASSIGN_OR_RETURN(readiness.initial_delay,
                             duration(path.key("initial-delay"), *delay, true));
    }
    if (const json* interval = find(value, "interval")) {
      BATON_ASSIGN_OR_RETURN(readiness.interval, duration(path.key("interval"), *interval, false));
    }
    if (const json* timeout = find(value, "timeout")) {
      BATON_ASSIGN_OR_RETURN(readiness.timeout, duration(path.key("timeout"), *timeout, false));
    }
    out.readiness = std::move(readiness);
    return {};
  }

  // ConductR's `bundle-status` component running `check [--initial-delay N]
  // [--connection-timeout N] <address>...`. Readiness watches one endpoint: the first address
  // decides; the others must still name endpoints of the bundle.
  Status translate_check(const Field& component, Descriptor& out, bool start_timeout_given) const {
    KeyPath command_path = component.path.key("start-command");
    const json& command = *find(*component.value, "start-command");
    BATON_ASSIGN_OR_RETURN(auto arguments, string_list(command_path, command));
    Readiness readiness;
    std::optional<CheckTarget> first;
    for (std::size_t i = 1; i < arguments.size(); ++i) {
      const std::string& argument = arguments[i];
      if (!argument.starts_with("--")) {
        BATON_ASSIGN_OR_RETURN(CheckTarget target,
                               check_address(command_path.index(i), command[i], out));
        if (!first) first = std::move(target);
        continue;
      }
      std::string option = argument;
      std::optional<std::string> value;
      if (auto equals = argument.find('='); equals != std::string::npos) {
        option = argument.substr(0, equals);
        value = argument.substr(equals + 1);
      }
      if (option != "--initial-delay" && option != "--connection-timeout") {
        return expected(command_path.index(i),
                        "--initial-delay, --connection-timeout or an address to check", command[i]);
      }
      std::size_t value_index = i;
      if (!value) {
        if (i + 1 == arguments.size()) {
          return fail(command_path.index(i),
                      "expected a number of seconds after " + option + ", got nothing");
        }
        value_index = ++i;
        value = arguments[i];
      }
      auto seconds = parse_duration(*value);
      const bool initial = option == "--initial-delay";
      if (!seconds || (!initial && seconds->count() == 0)) {
        return fail(command_path.index(value_index),
                    "expected a number of seconds after " + option + ", got " + quote(*value));
      }
      (initial ? readiness.initial_delay : readiness.timeout) = *seconds;
    }
    if (!first) {
      return fail(command_path, "expected at least one address to check, got none");
    }
    readiness.mode = first->mode;
    readiness.endpoint = first->endpoint;
    readiness.path = first->path;
    if (first->retry_delay) readiness.interval = *first->retry_delay;
    // `check` gave up after its retries; do not kill the bundle before it would have.
    if (first->retry_count && !start_timeout_given) {
      milliseconds patience =
          readiness.initial_delay + *first->retry_count * (readiness.interval + readiness.timeout);
      out.start_timeout = std::max(out.start_timeout, patience);
    }
    out.readiness = std::move(readiness);
    return {};
  }

  // "$WEB_HOST?retry-count=6&retry-delay=10", "${WEB_HOST}/health", "docker+$WEB_HOST",
  // "tcp://$DB_HOST_IP:$DB_HOST_PORT", "http://localhost:9000/ping" (a declared bind-port).
  Result<CheckTarget> check_address(const KeyPath& path, const json& value,
                                    const Descriptor& descriptor) const {
    std::string_view rest = value.get_ref<const std::string&>();
    if (rest.starts_with("docker+")) rest.remove_prefix(7);
    CheckTarget target;
    if (auto question = rest.find('?'); question != std::string_view::npos) {
      for (const std::string& parameter : text::split(rest.substr(question + 1), '&')) {
        auto equals = parameter.find('=');
        std::string key = parameter.substr(0, equals);
        std::string text = equals == std::string::npos ? "" : parameter.substr(equals + 1);
        if (key == "retry-count") {
          auto count = text::parse_integer(text);
          if (!count || *count < 0 || *count > kMaxRetryCount) {
            return expected(path, "retry-count as a whole number of tries", value);
          }
          target.retry_count = *count;
        } else if (key == "retry-delay") {
          auto delay = parse_duration(text);
          if (!delay || delay->count() == 0) {
            return expected(path, "retry-delay as a number of seconds greater than 0", value);
          }
          target.retry_delay = *delay;
        }
      }
      rest = rest.substr(0, question);
    }

    const std::vector<const Endpoint*> endpoints = descriptor.endpoints();
    auto by_stem = [&](std::string_view stem) -> const Endpoint* {
      for (const Endpoint* endpoint : endpoints) {
        if (text::env_name(endpoint->name) == stem) return endpoint;
      }
      return nullptr;
    };
    // The variable name at `at` ('$'), and where it ends.
    auto variable = [](std::string_view text, std::size_t at, std::size_t& end) {
      if (text.substr(at, 2) == "${") {
        std::size_t close = text.find('}', at);
        end = close == std::string_view::npos ? text.size() : close + 1;
        return std::string(text.substr(at + 2, end - at - 3));
      }
      end = at + 1;
      while (end < text.size() &&
             (std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '_')) {
        ++end;
      }
      return std::string(text.substr(at + 1, end - at - 1));
    };

    const Endpoint* endpoint = nullptr;
    bool http_scheme = false;
    std::string_view check_path;
    if (rest.starts_with('$')) {
      std::size_t end = 0;
      std::string name = variable(rest, 0, end);
      if (name.ends_with("_HOST")) endpoint = by_stem(name.substr(0, name.size() - 5));
      check_path = rest.substr(end);
      http_scheme = true;  // $X_HOST carries the endpoint's own protocol
    } else if (rest.starts_with("http://") || rest.starts_with("tcp://")) {
      http_scheme = rest.starts_with("http://");
      rest.remove_prefix(http_scheme ? 7 : 6);
      std::size_t slash = rest.find('/');
      std::string_view authority = rest.substr(0, slash);
      check_path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
      constexpr std::array<std::string_view, 5> kSuffixes{"_HOST_PORT", "_BIND_PORT", "_HOST_IP",
                                                          "_BIND_IP", "_HOST"};
      for (std::size_t at = authority.find('$'); at != std::string_view::npos && !endpoint;) {
        std::size_t end = 0;
        std::string name = variable(authority, at, end);
        for (std::string_view suffix : kSuffixes) {
          if (name.ends_with(suffix)) {
            endpoint = by_stem(std::string_view(name).substr(0, name.size() - suffix.size()));
            if (endpoint) break;
          }
        }
        at = authority.find('$', std::max(end, at + 1));
      }
      if (!endpoint) {
        // A literal port names the endpoint declared with that bind-port.
        std::size_t colon = authority.rfind(':');
        long long literal = 0;
        if (colon != std::string_view::npos) {
          literal = text::parse_integer(authority.substr(colon + 1)).value_or(0);
        }
        for (const Endpoint* candidate : endpoints) {
          if (literal > 0 && candidate->bind_port == literal) {
            endpoint = candidate;
            break;
          }
        }
      }
    }
    if (!endpoint) {
      return expected(path, "the address of one of the bundle's endpoints, such as $WEB_HOST",
                      value);
    }
    if (endpoint->protocol == Protocol::udp) {
      return expected(path, "the address of a tcp or http endpoint", value);
    }
    if (!check_path.empty() && !check_path.starts_with('/')) {
      return expected(path, "an address whose path starts with '/'", value);
    }
    target.mode = http_scheme && endpoint->protocol == Protocol::http ? Readiness::Mode::http
                                                                      : Readiness::Mode::tcp;
    target.endpoint = endpoint->name;
    if (!check_path.empty()) target.path = check_path;
    return target;
  }

  const HoconTree& tree_;
  const std::vector<HoconText>& layers_;
  const ParseOptions& options_;
};

HoconLimits limits_of(const ParseOptions& options) {
  return HoconLimits{.max_bytes = options.max_bytes,
                     .max_substitutions = options.max_substitutions};
}

bool blank(std::string_view text) {
  return text::trim(text).empty();
}

Result<Descriptor> parse_layers(const std::vector<HoconText>& layers, const ParseOptions& options) {
  BATON_ASSIGN_OR_RETURN(HoconTree tree, load_hocon(layers, limits_of(options)));
  return Mapper(tree, layers, options).run();
}

}  // namespace

std::vector<std::string> builtin_runtimes() {
  return {kBuiltinRuntimes.begin(), kBuiltinRuntimes.end()};
}

bool is_runtime_name(std::string_view name) {
  constexpr std::size_t kMaxRuntimeName = 64;
  if (name.empty() || name.size() > kMaxRuntimeName || name.front() == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

Result<Descriptor> parse_descriptor(std::string_view text, std::string_view source,
                                    const ParseOptions& options) {
  if (text.size() <= options.max_bytes && blank(text)) {
    return make_error(Errc::invalid, std::string(source) + ": empty, expected a bundle descriptor");
  }
  return parse_layers({HoconText{text, source}}, options);
}

Result<Descriptor> parse_descriptor_with_overlay(std::string_view base,
                                                 std::string_view base_source,
                                                 std::string_view overlay,
                                                 std::string_view overlay_source,
                                                 const ParseOptions& options) {
  if (base.size() <= options.max_bytes && blank(base)) {
    return make_error(Errc::invalid,
                      std::string(base_source) + ": empty, expected a bundle descriptor");
  }
  return parse_layers({HoconText{base, base_source}, HoconText{overlay, overlay_source}}, options);
}

Status check_overlay(std::string_view text, std::string_view source, const ParseOptions& options) {
  return check_hocon(HoconText{text, source}, limits_of(options));
}

json to_json(const Descriptor& descriptor) {
  json out = json::object();
  out["version"] = descriptor.version;
  out["name"] = descriptor.name;
  out["compatibilityVersion"] = descriptor.compatibility_version;
  out["tags"] = descriptor.tags;
  out["system"] = descriptor.system;
  out["systemVersion"] = descriptor.system_version;
  out["nrOfCpus"] = descriptor.nr_of_cpus;
  out["memory"] = descriptor.memory;
  out["diskSpace"] = descriptor.disk_space;
  out["roles"] = descriptor.roles;
  out["annotations"] = descriptor.annotations;
  out["start-timeout"] = duration_text(descriptor.start_timeout);

  const Readiness& readiness = descriptor.readiness;
  json ready = json::object();
  ready["check"] = to_string(readiness.mode);
  if (!readiness.endpoint.empty()) ready["endpoint"] = readiness.endpoint;
  ready["path"] = readiness.path;
  ready["initial-delay"] = duration_text(readiness.initial_delay);
  ready["interval"] = duration_text(readiness.interval);
  ready["timeout"] = duration_text(readiness.timeout);
  out["readiness"] = std::move(ready);

  json components = json::object();
  for (const Component& component : descriptor.components) {
    json item = json::object();
    item["description"] = component.description;
    item["file-system-type"] = component.file_system_type;
    item["start-command"] = component.start_command;
    json endpoints = json::object();
    for (const Endpoint& endpoint : component.endpoints) {
      json entry = json::object();
      entry["bind-protocol"] = to_string(endpoint.protocol);
      entry["bind-port"] = endpoint.bind_port;
      if (!endpoint.service_name.empty()) entry["service-name"] = endpoint.service_name;
      entry["services"] = endpoint.services;
      json acls = json::array();
      for (const Acl& acl : endpoint.acls) {
        json requests = json::array();
        if (acl.protocol == Protocol::http) {
          for (const HttpRequestRule& rule : acl.http_requests) {
            json request = json::object();
            request[rule.match] = rule.value;
            if (rule.method) request["method"] = *rule.method;
            if (rule.rewrite) request["rewrite"] = *rule.rewrite;
            requests.push_back(std::move(request));
          }
        } else {
          requests = acl.ports;
        }
        acls.push_back(json{{to_string(acl.protocol), json{{"requests", std::move(requests)}}}});
      }
      entry["acls"] = std::move(acls);
      endpoints[endpoint.name] = std::move(entry);
    }
    item["endpoints"] = std::move(endpoints);
    item["volumes"] = component.volumes;
    item["stop-signal"] = component.stop_signal;
    item["stop-timeout"] = duration_text(component.stop_timeout);
    components[component.name] = std::move(item);
  }
  out["components"] = std::move(components);
  return out;
}

}  // namespace baton::bundle
