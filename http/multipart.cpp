#include "http/multipart.hpp"

#include <cctype>
#include <utility>
#include <vector>

#include "common/text.hpp"

namespace baton::http {

namespace {

constexpr std::size_t kMaxBoundaryBytes = 70;  // RFC 2046
constexpr std::size_t kMaxLinePadding = 256;   // spaces allowed after a boundary

bool iequals(std::string_view a, std::string_view b) {
  CaseInsensitiveLess less;
  return !less(a, b) && !less(b, a);
}

std::string quoted(std::string_view text) {
  constexpr std::size_t kMax = 80;
  std::string out = "'";
  for (char c : text.substr(0, kMax)) {
    auto u = static_cast<unsigned char>(c);
    out += (u < 32 || u == 127) ? '?' : c;
  }
  if (text.size() > kMax) out += "...";
  return out + "'";
}

// The `; key=value` parameters after a media type or disposition type. Values are tokens or
// quoted strings with backslash escapes. Keys are lower-cased.
Result<std::vector<std::pair<std::string, std::string>>> parse_parameters(std::string_view text,
                                                                          std::string_view what) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t i = 0;
  auto skip_space = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t'))
      ++i;
  };
  for (;;) {
    skip_space();
    if (i == text.size()) return out;
    if (text[i] != ';') {
      return make_error(Errc::invalid, std::string(what) + " " + quoted(text) +
                                           ": expected ';' before parameter at offset " +
                                           std::to_string(i));
    }
    ++i;
    skip_space();
    if (i == text.size()) return out;  // a trailing ';'
    std::size_t key_start = i;
    while (i < text.size() && text[i] != '=' && text[i] != ';')
      ++i;
    std::string key(text::trim(text.substr(key_start, i - key_start)));
    for (char& c : key)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value;
    if (i < text.size() && text[i] == '=') {
      ++i;
      skip_space();
      if (i < text.size() && text[i] == '"') {
        ++i;
        bool closed = false;
        while (i < text.size()) {
          char c = text[i++];
          if (c == '\\' && i < text.size()) {
            value += text[i++];
          } else if (c == '"') {
            closed = true;
            break;
          } else {
            value += c;
          }
        }
        if (!closed) {
          return make_error(Errc::invalid, std::string(what) + " " + quoted(text) +
                                               ": unterminated quoted value of '" + key + "'");
        }
      } else {
        std::size_t value_start = i;
        while (i < text.size() && text[i] != ';')
          ++i;
        value = std::string(text::trim(text.substr(value_start, i - value_start)));
      }
    }
    if (key.empty()) {
      return make_error(Errc::invalid,
                        std::string(what) + " " + quoted(text) + ": a parameter has no name");
    }
    out.emplace_back(std::move(key), std::move(value));
  }
}

// RFC 5987: charset'language'percent-encoded.
std::string decode_extended(std::string_view value) {
  std::size_t first = value.find('\'');
  std::size_t second = first == std::string_view::npos ? first : value.find('\'', first + 1);
  if (second == std::string_view::npos) return url_decode(value);
  return url_decode(value.substr(second + 1));
}

}  // namespace

Result<std::string> MultipartParser::boundary_of(std::string_view content_type) {
  std::size_t semicolon = content_type.find(';');
  std::string_view media_type = text::trim(content_type.substr(0, semicolon));
  if (!iequals(media_type, "multipart/form-data")) {
    return make_error(Errc::invalid,
                      "Content-Type " + quoted(content_type) + " is not multipart/form-data");
  }
  std::string_view rest =
      semicolon == std::string_view::npos ? std::string_view() : content_type.substr(semicolon);
  BATON_ASSIGN_OR_RETURN(auto parameters, parse_parameters(rest, "Content-Type"));
  for (const auto& [key, value] : parameters) {
    if (key != "boundary") continue;
    if (value.empty() || value.size() > kMaxBoundaryBytes) {
      return make_error(Errc::invalid, "Content-Type " + quoted(content_type) +
                                           ": the boundary must have 1 to 70 characters");
    }
    return value;
  }
  return make_error(Errc::invalid,
                    "Content-Type " + quoted(content_type) + " has no boundary parameter");
}

MultipartParser::MultipartParser(std::string_view boundary, Callbacks callbacks,
                                 std::size_t max_part_header_bytes)
    : delimiter_("\r\n--" + std::string(boundary)),
      callbacks_(std::move(callbacks)),
      max_header_bytes_(max_part_header_bytes),
      buffer_("\r\n") {  // so that a boundary on the very first line is found like the others
  if (boundary.empty()) error_ = make_error(Errc::invalid, "multipart boundary is empty");
}

Status MultipartParser::fail(Error error) {
  error_ = error;
  return error;
}

std::string MultipartParser::where() const {
  return "multipart part " + std::to_string(parts_) +
         (part_name_.empty() ? std::string() : " (" + quoted(part_name_) + ")");
}

Status MultipartParser::feed(std::string_view chunk) {
  if (error_) return *error_;
  if (state_ == State::done) return {};
  buffer_.append(chunk);
  return process();
}

Status MultipartParser::process() {
  const std::size_t keep = delimiter_.size() - 1;  // a delimiter may start in the last bytes
  std::size_t pos = 0;                             // consumed bytes of buffer_
  Status status;
  for (bool progress = true; progress && status.ok() && state_ != State::done;) {
    progress = false;
    std::string_view view = std::string_view(buffer_).substr(pos);
    switch (state_) {
      case State::preamble: {
        std::size_t found = view.find(delimiter_);
        if (found == std::string_view::npos) {
          if (view.size() > keep) pos += view.size() - keep;  // the preamble is ignored
          break;
        }
        pos += found + delimiter_.size();
        state_ = State::boundary_line;
        progress = true;
        break;
      }
      case State::boundary_line: {
        if (view.size() < 2) break;
        if (view.substr(0, 2) == "--") {
          state_ = State::done;  // the epilogue is ignored
          pos = buffer_.size();
          break;
        }
        std::size_t i = 0;
        while (i < view.size() && (view[i] == ' ' || view[i] == '\t'))
          ++i;
        if (i > kMaxLinePadding) {
          status = fail(make_error(Errc::invalid, "malformed multipart boundary line after " +
                                                      where() + ": too much padding"));
          break;
        }
        if (view.size() - i < 2) break;
        if (view.substr(i, 2) != "\r\n") {
          status = fail(make_error(Errc::invalid, "malformed multipart boundary line after " +
                                                      where() + ": expected CRLF or '--', got " +
                                                      quoted(view.substr(i, 8))));
          break;
        }
        pos += i + 2;
        state_ = State::headers;
        progress = true;
        break;
      }
      case State::headers: {
        std::size_t end = view.substr(0, 2) == "\r\n" ? 0 : view.find("\r\n\r\n");
        if (end == std::string_view::npos) {
          // Refused only once no "\r\n\r\n" can still end the block within the limit, so the
          // verdict does not depend on where the body was cut.
          if (view.size() > max_header_bytes_ + 3) {
            ++parts_;
            status =
                fail(make_error(Errc::limit, "headers of multipart part " + std::to_string(parts_) +
                                                 " exceed the limit of " +
                                                 std::to_string(max_header_bytes_) + " bytes"));
          }
          break;
        }
        if (end > max_header_bytes_) {
          ++parts_;
          status =
              fail(make_error(Errc::limit, "headers of multipart part " + std::to_string(parts_) +
                                               " exceed the limit of " +
                                               std::to_string(max_header_bytes_) + " bytes"));
          break;
        }
        std::string_view block = view.substr(0, end);
        pos += end == 0 ? 2 : end + 4;
        status = begin_part(block);
        if (status.ok()) {
          state_ = State::data;
          progress = true;
        }
        break;
      }
      case State::data: {
        std::size_t found = view.find(delimiter_);
        std::size_t emit = found != std::string_view::npos ? found
                           : view.size() > keep            ? view.size() - keep
                                                           : 0;
        if (emit > 0 && callbacks_.on_part_data) {
          status = callbacks_.on_part_data(view.substr(0, emit));
          if (!status.ok()) {
            status = fail(std::move(status).error());
            break;
          }
        }
        pos += emit;
        if (found == std::string_view::npos) break;
        pos += delimiter_.size();
        if (callbacks_.on_part_end) {
          status = callbacks_.on_part_end();
          if (!status.ok()) {
            status = fail(std::move(status).error());
            break;
          }
        }
        state_ = State::boundary_line;
        progress = true;
        break;
      }
      case State::done:
        break;
    }
  }
  buffer_.erase(0, std::min(pos, buffer_.size()));
  if (state_ == State::done) buffer_.clear();
  return status;
}

Status MultipartParser::begin_part(std::string_view block) {
  ++parts_;
  part_name_.clear();
  MultipartPart part;
  while (!block.empty()) {
    std::size_t eol = block.find("\r\n");
    std::string_view line = block.substr(0, eol);
    block = eol == std::string_view::npos ? std::string_view() : block.substr(eol + 2);
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0 || line[0] == ' ' || line[0] == '\t') {
      return fail(
          make_error(Errc::invalid, "malformed header line in " + where() + ": " + quoted(line)));
    }
    std::string name(text::trim(line.substr(0, colon)));
    std::string value(text::trim(line.substr(colon + 1)));
    for (char c : name) {
      if (c == ' ' || c == '\t' || static_cast<unsigned char>(c) < 32) {
        return fail(
            make_error(Errc::invalid, "malformed header name in " + where() + ": " + quoted(name)));
      }
    }
    part.headers[std::move(name)] = std::move(value);
  }
  auto disposition = part.headers.find(std::string_view("Content-Disposition"));
  if (disposition == part.headers.end()) {
    return fail(make_error(Errc::invalid, where() + " has no Content-Disposition header"));
  }
  std::string_view text = disposition->second;
  std::size_t semicolon = text.find(';');
  std::string_view type = text::trim(text.substr(0, semicolon));
  if (!iequals(type, "form-data")) {
    return fail(make_error(
        Errc::invalid, where() + ": Content-Disposition " + quoted(text) + " is not form-data"));
  }
  auto parameters = parse_parameters(
      semicolon == std::string_view::npos ? std::string_view() : text.substr(semicolon),
      "Content-Disposition");
  if (!parameters.ok()) return fail(std::move(parameters).error().within(where()));
  std::optional<std::string> name;
  std::optional<std::string> file_name;
  std::optional<std::string> extended_file_name;
  for (auto& [key, value] : *parameters) {
    if (key == "name") name = value;
    if (key == "filename") file_name = value;
    if (key == "filename*") extended_file_name = decode_extended(value);
  }
  if (!name || name->empty()) {
    return fail(make_error(Errc::invalid,
                           where() + ": Content-Disposition " + quoted(text) + " has no name"));
  }
  part.name = *name;
  part.file_name = extended_file_name ? *extended_file_name : file_name.value_or("");
  part_name_ = part.name;
  if (callbacks_.on_part_begin) {
    Status status = callbacks_.on_part_begin(part);
    if (!status.ok()) return fail(std::move(status).error());
  }
  return {};
}

Status MultipartParser::finish() {
  if (error_) return *error_;
  switch (state_) {
    case State::done:
      return {};
    case State::preamble:
      return fail(make_error(Errc::invalid,
                             "multipart body holds no boundary " + quoted(delimiter_.substr(2))));
    case State::data:
      return fail(make_error(Errc::invalid,
                             "multipart body ended inside " + where() + " (no closing boundary)"));
    case State::boundary_line:
    case State::headers:
      return fail(make_error(Errc::invalid, "multipart body ended after the boundary of " +
                                                where() + " (no closing boundary)"));
  }
  return {};
}

}  // namespace baton::http
