#include "cli/bundle_input.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "bundle/bundle_file.hpp"
#include "bundle/bundle_name.hpp"
#include "common/sha256.hpp"

namespace baton::cli {

namespace {

const char* kind_name(UploadKind kind) {
  return kind == UploadKind::bundle ? "bundle" : "configuration";
}

// The zip behind an argument, and whether its own name already carries its digest.
struct Located {
  stdfs::path zip;
  bool named = false;
  std::string fallback_stem;  // for a configuration without a digest-carrying name
};

Result<Located> locate(std::string_view argument, UploadKind kind, const stdfs::path& work_folder,
                       std::istream& input, const bundle::ParseOptions& parse_options) {
  std::string what = kind_name(kind);
  std::error_code ec;
  if (argument == "-") {
    stdfs::path part = work_folder / ("stdin-" + what + ".part");
    BATON_ASSIGN_OR_RETURN(std::string digest, spool(input, part));
    stdfs::path zip = work_folder / ("stdin-" + digest + ".zip");
    stdfs::rename(part, zip, ec);
    if (ec) return make_error(Errc::io, zip.string() + ": cannot rename: " + ec.message());
    return Located{zip, false, what};
  }
  stdfs::path path{std::string(argument)};
  auto status = stdfs::status(path, ec);
  if (ec || !stdfs::exists(status)) {
    return make_error(Errc::not_found, std::string(argument) + ": no such file or folder");
  }
  if (stdfs::is_directory(status)) {
    stdfs::path output = work_folder / what;
    stdfs::create_directories(output, ec);
    if (ec) return make_error(Errc::io, output.string() + ": cannot create: " + ec.message());
    bundle::CreateOptions options;
    options.output_folder = output;
    options.configuration = kind == UploadKind::configuration;
    options.parse = parse_options;
    BATON_ASSIGN_OR_RETURN(auto created, bundle::create_bundle(path, options));
    return Located{created.path, true, {}};
  }
  if (!stdfs::is_regular_file(status)) {
    return make_error(Errc::invalid,
                      std::string(argument) + ": not a zip file, a folder or '-' (standard input)");
  }
  if (bundle::parse_file_name(path.filename().string())) return Located{path, true, {}};
  // A zip named otherwise: hash it, and read it through a digest-named link so the bundle
  // library checks it as it checks any bundle file.
  BATON_ASSIGN_OR_RETURN(std::string digest, sha256_file_hex(path));
  stdfs::path link = work_folder / ("file-" + digest + ".zip");
  stdfs::create_symlink(stdfs::absolute(path), link, ec);
  if (ec) return make_error(Errc::io, link.string() + ": cannot create a link: " + ec.message());
  std::string stem = path.stem().string();
  if (!bundle::check_stem(stem)) stem = what;
  return Located{link, false, stem};
}

}  // namespace

Result<std::string> spool(std::istream& input, const stdfs::path& file) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  if (!out) return make_error(Errc::io, file.string() + ": cannot create: " + std::strerror(errno));
  Sha256 hash;
  std::vector<char> buffer(1 << 20);
  while (input) {
    input.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    std::streamsize n = input.gcount();
    if (n <= 0) break;
    std::string_view chunk(buffer.data(), static_cast<std::size_t>(n));
    hash.update(chunk);
    out.write(chunk.data(), n);
    if (!out)
      return make_error(Errc::io, file.string() + ": write failed: " + std::strerror(errno));
  }
  if (input.bad()) return make_error(Errc::io, "standard input: read failed");
  out.close();
  if (!out) return make_error(Errc::io, file.string() + ": write failed: " + std::strerror(errno));
  return hash.finish_hex();
}

Result<UploadFile> prepare_upload(std::string_view argument, UploadKind kind,
                                  const stdfs::path& work_folder, std::istream& input,
                                  const bundle::ParseOptions& parse_options) {
  BATON_ASSIGN_OR_RETURN(Located located,
                         locate(argument, kind, work_folder, input, parse_options));
  // Errors about a file we made or linked name the argument the user gave.
  auto named_by_user = [&](Error error) {
    if (located.named) return error;
    return std::move(error).within(argument == "-" ? std::string("standard input")
                                                   : std::string(argument));
  };
  UploadFile upload;
  upload.path = located.zip;
  std::string stem;
  if (kind == UploadKind::bundle) {
    auto opened = bundle::open_bundle(located.zip);
    if (!opened) return named_by_user(std::move(opened).error());
    upload.digest = opened->digest;
    upload.conf = opened->bundle_conf;
    upload.has_conf = true;
    stem = opened->stem;
    if (!located.named) {
      // The stem is "<name>-v<compatibilityVersion>", from the descriptor inside.
      auto resolved = bundle::resolve(*opened, nullptr, parse_options);
      if (!resolved) return named_by_user(std::move(resolved).error());
      stem = bundle::bundle_stem(resolved->descriptor);
    }
  } else {
    auto opened = bundle::open_configuration(located.zip);
    if (!opened) return named_by_user(std::move(opened).error());
    upload.digest = opened->digest;
    upload.has_conf = opened->bundle_conf.has_value();
    if (upload.has_conf) upload.conf = *opened->bundle_conf;
    stem = located.named ? opened->stem : located.fallback_stem;
  }
  upload.upload_name = bundle::file_name(stem, upload.digest);
  std::error_code ec;
  upload.bytes = stdfs::file_size(located.zip, ec);
  if (ec) return make_error(Errc::io, located.zip.string() + ": cannot stat: " + ec.message());
  return upload;
}

}  // namespace baton::cli
