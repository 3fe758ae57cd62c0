#include "core/upload.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string_view>

#include "bundle/archive.hpp"
#include "bundle/bundle_file.hpp"
#include "bundle/bundle_name.hpp"
#include "bundle/descriptor_parse.hpp"
#include "common/files.hpp"
#include "common/sha256.hpp"
#include "common/text.hpp"
#include "http/multipart.hpp"

namespace baton::core {

namespace {

constexpr std::size_t kMaxTextPart = 256 * 1024;  // the descriptor parser's own limit
constexpr std::string_view kParts = "bundleConf, bundleConfOverlay, bundle, configuration";

std::string member_path(const std::string& top, std::string_view member) {
  return top.empty() ? std::string(member) : top + "/" + std::string(member);
}

bool has_member(const std::vector<bundle::ArchiveEntry>& entries, const std::string& path) {
  for (const auto& e : entries) {
    if (e.path == path && e.type == bundle::EntryType::file) return true;
  }
  return false;
}

// Equal up to surrounding whitespace: the text a client sends may gain or lose a final newline.
bool same_text(std::string_view a, std::string_view b) {
  return text::trim(a) == text::trim(b);
}

// Runtime names are checked by Core::load against the runtimes its agents offer.
bundle::ParseOptions parse_options() {
  bundle::ParseOptions options;
  options.any_runtime = true;
  return options;
}

}  // namespace

Result<LoadInput> inspect_files(const stdfs::path& bundle_path, const std::string& bundle_file_name,
                                const stdfs::path& configuration_path,
                                const std::string& configuration_file_name) {
  LoadInput in;
  BATON_ASSIGN_OR_RETURN(bundle::FileName name, bundle::parse_file_name(bundle_file_name));
  bundle::BundleFile bundle_file;
  bundle_file.path = bundle_path;
  bundle_file.digest = name.digest;
  bundle_file.stem = name.stem;
  {
    BATON_ASSIGN_OR_RETURN(auto entries, bundle::list_entries(bundle_path));
    constexpr std::array<std::string_view, 1> kMarkers{bundle::kBundleConf};
    BATON_ASSIGN_OR_RETURN(bundle_file.top_folder,
                           bundle::find_top_folder(bundle_path, entries, kMarkers));
    BATON_ASSIGN_OR_RETURN(
        bundle_file.bundle_conf,
        bundle::read_member(bundle_path, member_path(bundle_file.top_folder, bundle::kBundleConf)));
    bundle_file.entries = entries.size();
  }
  std::optional<bundle::ConfigurationFile> configuration;
  if (!configuration_path.empty()) {
    BATON_ASSIGN_OR_RETURN(bundle::FileName config_name,
                           bundle::parse_file_name(configuration_file_name));
    configuration.emplace();
    configuration->path = configuration_path;
    configuration->digest = config_name.digest;
    configuration->stem = config_name.stem;
    BATON_ASSIGN_OR_RETURN(auto entries, bundle::list_entries(configuration_path));
    constexpr std::array<std::string_view, 2> kMarkers{bundle::kBundleConf, bundle::kRuntimeConfig};
    BATON_ASSIGN_OR_RETURN(configuration->top_folder,
                           bundle::find_top_folder(configuration_path, entries, kMarkers));
    std::string conf_path = member_path(configuration->top_folder, bundle::kBundleConf);
    configuration->has_runtime_config =
        has_member(entries, member_path(configuration->top_folder, bundle::kRuntimeConfig));
    if (has_member(entries, conf_path)) {
      BATON_ASSIGN_OR_RETURN(configuration->bundle_conf,
                             bundle::read_member(configuration_path, conf_path));
    }
    configuration->entries = entries.size();
  }
  BATON_ASSIGN_OR_RETURN(
      bundle::ResolvedBundle resolved,
      bundle::resolve(bundle_file, configuration ? &*configuration : nullptr, parse_options()));
  in.bundle_digest = resolved.bundle_digest;
  in.bundle_file_name = bundle::file_name(name.stem, name.digest);
  in.bundle_path = bundle_path;
  in.bundle_conf = bundle_file.bundle_conf;
  in.descriptor = std::move(resolved.descriptor);
  std::error_code ec;
  in.bundle_bytes = stdfs::file_size(bundle_path, ec);
  if (configuration) {
    in.configuration_digest = configuration->digest;
    in.configuration_file_name = bundle::file_name(configuration->stem, configuration->digest);
    in.configuration_path = configuration_path;
    in.overlay_conf = configuration->bundle_conf.value_or("");
    in.configuration_bytes = stdfs::file_size(configuration_path, ec);
  }
  return in;
}

std::string requester(const http::Request& request) {
  if (auto user = request.header("X-Baton-User")) {
    std::string_view trimmed = text::trim(*user);
    if (!trimmed.empty()) return std::string(trimmed.substr(0, 200));
  }
  return request.peer_ip;
}

namespace {

class UploadSink final : public http::BodySink {
 public:
  UploadSink(files::TempFolder folder, std::string boundary, LoadFunction load,
             std::string loaded_by)
      : folder_(std::move(folder)),
        load_(std::move(load)),
        loaded_by_(std::move(loaded_by)),
        parser_(std::move(boundary),
                http::MultipartParser::Callbacks{
                    .on_part_begin = [this](const http::MultipartPart& p) { return begin(p); },
                    .on_part_data = [this](std::string_view d) { return data(d); },
                    .on_part_end = [this] { return end(); }}) {}

  ~UploadSink() override {
    close_file(bundle_);
    close_file(configuration_);
  }

  Status write(std::string_view chunk) override { return parser_.feed(chunk); }

  http::Response finish() override {
    if (auto done = parser_.finish(); !done) return http::error_response(done.error());
    auto input = checked_input();
    if (!input) return http::error_response(input.error());
    auto reply = load_(std::move(*input));
    if (!reply) return http::error_response(reply.error());
    return http::Response::json(200, std::move(*reply));
  }

 private:
  enum class Kind { none, bundle_conf, overlay, bundle, configuration };

  struct FilePart {
    std::string part;  // "bundle" or "configuration"
    bool seen = false;
    bool complete = false;
    bundle::FileName name;
    stdfs::path path;
    int fd = -1;
    Sha256 hash;
    std::uint64_t bytes = 0;
  };

  static void close_file(FilePart& file) {
    if (file.fd >= 0) ::close(file.fd);
    file.fd = -1;
  }

  Status begin(const http::MultipartPart& part) {
    const std::string& name = part.name;
    if (name == "bundleConf" || name == "bundleConfOverlay") {
      auto& slot = name == "bundleConf" ? bundle_conf_ : overlay_;
      if (slot) return make_error(Errc::invalid, "the upload has two " + name + " parts");
      slot.emplace();
      current_ = name == "bundleConf" ? Kind::bundle_conf : Kind::overlay;
      return {};
    }
    if (name == "bundle" || name == "configuration") {
      FilePart& file = name == "bundle" ? bundle_ : configuration_;
      file.part = name;
      if (file.seen) return make_error(Errc::invalid, "the upload has two " + name + " parts");
      file.seen = true;
      if (part.file_name.empty()) {
        return make_error(Errc::invalid, name + " part has no file name (expected " +
                                             (name == "bundle" ? "<name>-v<version>" : "<stem>") +
                                             "-<64 hex digest>.zip)");
      }
      auto parsed = bundle::parse_file_name(part.file_name);
      if (!parsed) return std::move(parsed).error().within(name + " part");
      file.name = std::move(*parsed);
      stdfs::path folder = folder_.path() / name;
      std::error_code ec;
      stdfs::create_directory(folder, ec);
      if (ec) return make_error(Errc::io, folder.string() + ": cannot create: " + ec.message());
      file.path = folder / bundle::file_name(file.name.stem, file.name.digest);
      file.fd = ::open(file.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (file.fd < 0) {
        return make_error(Errc::io,
                          file.path.string() + ": cannot create: " + std::strerror(errno));
      }
      current_ = name == "bundle" ? Kind::bundle : Kind::configuration;
      return {};
    }
    std::string shown = name.substr(0, 80);
    return make_error(Errc::invalid,
                      "unknown part '" + shown + "' (expected " + std::string(kParts) + ")");
  }

  Status data(std::string_view bytes) {
    switch (current_) {
      case Kind::bundle_conf:
      case Kind::overlay: {
        auto& slot = current_ == Kind::bundle_conf ? bundle_conf_ : overlay_;
        if (slot->size() + bytes.size() > kMaxTextPart) {
          return make_error(
              Errc::limit,
              std::string(current_ == Kind::bundle_conf ? "bundleConf" : "bundleConfOverlay") +
                  " part exceeds " + std::to_string(kMaxTextPart) + " bytes");
        }
        slot->append(bytes);
        return {};
      }
      case Kind::bundle:
      case Kind::configuration: {
        FilePart& file = current_ == Kind::bundle ? bundle_ : configuration_;
        file.hash.update(bytes);
        file.bytes += bytes.size();
        while (!bytes.empty()) {
          ssize_t n = ::write(file.fd, bytes.data(), bytes.size());
          if (n < 0) {
            if (errno == EINTR) continue;
            return make_error(Errc::io, file.part + " part: writing " + file.path.string() + ": " +
                                            std::strerror(errno));
          }
          bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        return {};
      }
      case Kind::none:
        return {};
    }
    return {};
  }

  Status end() {
    Kind kind = current_;
    current_ = Kind::none;
    if (kind != Kind::bundle && kind != Kind::configuration) return {};
    FilePart& file = kind == Kind::bundle ? bundle_ : configuration_;
    close_file(file);
    std::string computed = file.hash.finish_hex();
    if (computed != file.name.digest) {
      return make_error(Errc::invalid, file.part + " part: digest mismatch for " +
                                           bundle::file_name(file.name.stem, file.name.digest) +
                                           ": the file name says " + file.name.digest +
                                           ", the content's SHA-256 is " + computed);
    }
    if (file.bytes == 0) {
      return make_error(Errc::invalid, file.part + " part is empty");
    }
    file.complete = true;
    return {};
  }

  Result<LoadInput> checked_input() {
    if (!bundle_.complete) {
      return make_error(Errc::invalid, "the upload has no bundle part (expected the parts " +
                                           std::string(kParts) + ")");
    }
    if (configuration_.seen && !configuration_.complete) {
      return make_error(Errc::invalid, "the configuration part is incomplete");
    }
    if (overlay_ && !configuration_.seen) {
      return make_error(Errc::invalid, "bundleConfOverlay part sent without a configuration part");
    }
    std::string bundle_name = bundle::file_name(bundle_.name.stem, bundle_.name.digest);
    std::string configuration_name =
        configuration_.seen
            ? bundle::file_name(configuration_.name.stem, configuration_.name.digest)
            : std::string();
    BATON_ASSIGN_OR_RETURN(LoadInput input,
                           inspect_files(bundle_.path, bundle_name,
                                         configuration_.seen ? configuration_.path : stdfs::path(),
                                         configuration_name));
    if (bundle_conf_ && !same_text(*bundle_conf_, input.bundle_conf)) {
      auto sent = bundle::parse_descriptor(*bundle_conf_, "bundleConf part", parse_options());
      if (!sent) return std::move(sent).error();
      auto inside = bundle::parse_descriptor(input.bundle_conf, bundle_name + ":bundle.conf",
                                             parse_options());
      if (!inside || bundle::to_json(*sent) != bundle::to_json(*inside)) {
        return make_error(Errc::invalid,
                          "bundleConf part differs from the bundle.conf inside " + bundle_name);
      }
    }
    if (overlay_ && !same_text(*overlay_, input.overlay_conf)) {
      if (input.overlay_conf.empty()) {
        return make_error(Errc::invalid, "bundleConfOverlay part sent, but " + configuration_name +
                                             " holds no bundle.conf");
      }
      auto sent = bundle::parse_descriptor_with_overlay(input.bundle_conf, bundle_name, *overlay_,
                                                        "bundleConfOverlay part", parse_options());
      if (!sent) return std::move(sent).error();
      if (bundle::to_json(*sent) != bundle::to_json(input.descriptor)) {
        return make_error(
            Errc::invalid,
            "bundleConfOverlay part differs from the bundle.conf inside " + configuration_name);
      }
    }
    input.loaded_by = loaded_by_;
    return input;
  }

  files::TempFolder folder_;
  LoadFunction load_;
  std::string loaded_by_;
  http::MultipartParser parser_;
  Kind current_ = Kind::none;
  std::optional<std::string> bundle_conf_;
  std::optional<std::string> overlay_;
  FilePart bundle_;
  FilePart configuration_;
};

}  // namespace

http::SinkFactory upload_sink_factory(stdfs::path tmp_folder, LoadFunction load) {
  return [tmp_folder = std::move(tmp_folder), load = std::move(load)](
             const http::Request& request) -> Result<std::unique_ptr<http::BodySink>> {
    auto content_type = request.header("Content-Type");
    if (!content_type) {
      return make_error(Errc::invalid,
                        "POST /v2/bundles needs a multipart/form-data body (no Content-Type)");
    }
    BATON_ASSIGN_OR_RETURN(std::string boundary, http::MultipartParser::boundary_of(*content_type));
    BATON_ASSIGN_OR_RETURN(files::TempFolder folder,
                           files::TempFolder::create(tmp_folder, "upload-"));
    return std::unique_ptr<http::BodySink>(
        new UploadSink(std::move(folder), std::move(boundary), load, requester(request)));
  };
}

}  // namespace baton::core
