#include "bundle/hocon_tree.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <exception>
#include <hocon/config.hpp>
#include <hocon/config_exception.hpp>
#include <hocon/config_list.hpp>
#include <hocon/config_object.hpp>
#include <hocon/config_parse_options.hpp>
#include <hocon/config_resolve_options.hpp>
#include <hocon/config_value.hpp>
#include <memory>
#include <optional>
#include <utility>

#include "common/text.hpp"

namespace baton::bundle {
namespace {

// Substitutions can graft objects into each other, so the tree may be deeper than the text.
constexpr int kMaxTreeDepth = 8 * kMaxHoconDepth;

Status check_limits(const HoconText& input, const HoconLimits& limits) {
  const std::string source(input.source);
  if (input.text.size() > limits.max_bytes) {
    return make_error(Errc::limit, source + ": " + std::to_string(input.text.size()) +
                                       " bytes, over the limit of " +
                                       std::to_string(limits.max_bytes) + " bytes");
  }
  std::size_t substitutions = 0;
  for (std::size_t at = input.text.find("${"); at != std::string_view::npos;
       at = input.text.find("${", at + 2)) {
    ++substitutions;
  }
  if (substitutions > limits.max_substitutions) {
    return make_error(Errc::limit, source + ": " + std::to_string(substitutions) +
                                       " substitutions (${...}), over the limit of " +
                                       std::to_string(limits.max_substitutions));
  }
  return {};
}

// cpp-hocon starts its messages with the origin's description, which is the source name.
std::string without_prefix(std::string message, std::string_view source) {
  std::string prefix = std::string(source) + ": ";
  if (message.starts_with(prefix)) message.erase(0, prefix.size());
  return std::string(text::trim(message));
}

hocon::shared_config parse(const HoconText& input) {
  auto options = hocon::config_parse_options().set_origin_description(
      std::make_shared<const std::string>(input.source));
  return hocon::config::parse_string(std::string(input.text), options);
}

Result<hocon::shared_config> parse_checked(const HoconText& input) {
  BATON_ASSIGN_OR_RETURN(std::string text, escape_quoted_non_ascii(input));
  std::string what;
  try {
    return parse(HoconText{text, input.source});
  } catch (const hocon::config_exception& error) {
    what = error.what();
  } catch (const std::exception& error) {
    what = error.what();
  } catch (...) {
    what = "unknown failure";
  }
  return make_error(Errc::invalid, std::string(input.source) + ": HOCON syntax error: " +
                                       without_prefix(what, input.source));
}

class Converter {
 public:
  Converter(const std::vector<HoconText>& layers, HoconTree& tree) : layers_(layers), tree_(tree) {}

  Result<nlohmann::json> convert(const hocon::shared_value& value, const std::string& pointer,
                                 int depth) {
    if (depth > kMaxTreeDepth) {
      return make_error(Errc::limit, std::string(layers_.back().source) + ": nested deeper than " +
                                         std::to_string(kMaxTreeDepth) + " levels");
    }
    HoconOrigin& origin = tree_.origins[pointer];
    origin = origin_of(value);
    using Type = hocon::config_value::type;
    switch (value->value_type()) {
      case Type::OBJECT: {
        auto object = std::dynamic_pointer_cast<const hocon::config_object>(value);
        if (!object) break;
        nlohmann::json out = nlohmann::json::object();
        for (const std::string& key : object->key_set()) {
          if (!is_utf8(key)) return not_utf8(pointer);
          BATON_ASSIGN_OR_RETURN(
              out[key], convert(object->get(key), pointer + "/" + pointer_token(key), depth + 1));
        }
        return out;
      }
      case Type::LIST: {
        auto list = std::dynamic_pointer_cast<const hocon::config_list>(value);
        if (!list) break;
        nlohmann::json out = nlohmann::json::array();
        for (std::size_t i = 0; i < list->size(); ++i) {
          BATON_ASSIGN_OR_RETURN(
              auto element, convert(list->get(i), pointer + "/" + std::to_string(i), depth + 1));
          out.push_back(std::move(element));
        }
        return out;
      }
      case Type::NUMBER: {
        std::string text = value->transform_to_string();
        tree_.origins[pointer].number_text = text;
        if (auto integer = text::parse_integer(text)) return nlohmann::json(*integer);
        double number = 0;
        const char* end = text.data() + text.size();
        auto [ptr, ec] = std::from_chars(text.data(), end, number);
        if (ec != std::errc() || ptr != end || !std::isfinite(number)) {
          return make_error(Errc::invalid, where(pointer) + ": number out of range: " + text);
        }
        return nlohmann::json(number);
      }
      case Type::BOOLEAN:
        return nlohmann::json(value->transform_to_string() == "true");
      case Type::CONFIG_NULL:
        return nlohmann::json(nullptr);
      case Type::STRING: {
        std::string text = value->transform_to_string();
        if (!is_utf8(text)) return not_utf8(pointer);
        return nlohmann::json(std::move(text));
      }
      case Type::UNSPECIFIED:
        break;
    }
    return make_error(Errc::internal, where(pointer) + ": unexpected HOCON value of type " +
                                          value->value_type_name());
  }

 private:
  Error not_utf8(const std::string& pointer) const {
    return make_error(Errc::invalid, where(pointer) + ": expected UTF-8 text, got invalid bytes");
  }

  std::optional<std::size_t> layer_named(std::string_view name) const {
    for (std::size_t i = layers_.size(); i-- > 0;) {
      if (layers_[i].source == name) return i;
    }
    return std::nullopt;
  }

  HoconOrigin origin_of(const hocon::shared_value& value) const {
    HoconOrigin out;
    const hocon::shared_origin& origin = value->origin();
    if (!origin) return out;
    const std::string& description = origin->description();
    if (auto layer = layer_named(description)) {
      out.layer = out.lowest_layer = *layer;
      out.line = std::max(origin->line_number(), 0);
      return out;
    }
    // "merge of overlay.conf,bundle.conf"
    constexpr std::string_view kMerge = "merge of ";
    if (description.starts_with(kMerge)) {
      bool found = false;
      for (const std::string& part : text::split(description.substr(kMerge.size()), ',')) {
        auto layer = layer_named(part);
        if (!layer) continue;
        out.layer = found ? std::max(out.layer, *layer) : *layer;
        out.lowest_layer = found ? std::min(out.lowest_layer, *layer) : *layer;
        found = true;
      }
    }
    return out;
  }

  std::string where(const std::string& pointer) const {
    const HoconOrigin& origin = tree_.origins[pointer];
    std::string out(layers_[origin.layer].source);
    if (origin.line > 0) out += ":" + std::to_string(origin.line);
    return out;
  }

  const std::vector<HoconText>& layers_;
  HoconTree& tree_;
};

// The source a resolve error names: the highest layer whose name starts the message.
std::size_t layer_of_message(const std::vector<HoconText>& layers, const std::string& message) {
  for (std::size_t i = layers.size(); i-- > 0;) {
    if (message.starts_with(std::string(layers[i].source) + ": ")) return i;
  }
  return layers.size() - 1;
}

}  // namespace

std::string pointer_token(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

Status check_hocon(const HoconText& input, const HoconLimits& limits) {
  BATON_TRY(check_limits(input, limits));
  BATON_TRY(scan_hocon({input}));
  BATON_TRY(parse_checked(input));
  return {};
}

Result<HoconTree> load_hocon(const std::vector<HoconText>& layers, const HoconLimits& limits) {
  if (layers.empty()) return make_error(Errc::internal, "load_hocon: no text");
  for (const HoconText& layer : layers)
    BATON_TRY(check_limits(layer, limits));
  BATON_TRY(scan_hocon(layers));
  std::vector<hocon::shared_config> parsed;
  for (const HoconText& layer : layers) {
    BATON_ASSIGN_OR_RETURN(auto config, parse_checked(layer));
    parsed.push_back(std::move(config));
  }
  std::string what;
  try {
    hocon::shared_config merged = parsed.back();
    for (std::size_t i = parsed.size() - 1; i-- > 0;) {
      merged = std::dynamic_pointer_cast<const hocon::config>(merged->with_fallback(parsed[i]));
      if (!merged) return make_error(Errc::internal, "load_hocon: merge gave no config");
    }
    auto resolved = merged->resolve(hocon::config_resolve_options(
        /*use_system_environment=*/false, /*allow_unresolved=*/false));
    HoconTree tree;
    Converter converter(layers, tree);
    BATON_ASSIGN_OR_RETURN(tree.root, converter.convert(resolved->root(), "", 0));
    return tree;
  } catch (const hocon::config_exception& error) {
    what = error.what();
  } catch (const std::exception& error) {
    what = error.what();
  } catch (...) {
    what = "unknown failure";
  }
  std::size_t layer = layer_of_message(layers, what);
  std::string message = std::string(layers[layer].source) +
                        ": HOCON error: " + without_prefix(what, layers[layer].source);
  if (what.find("delayed merge") != std::string::npos) {
    message += " (too many appends to one key: write the value once)";
  }
  return make_error(Errc::invalid, std::move(message));
}

}  // namespace baton::bundle
