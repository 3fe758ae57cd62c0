#pragma once
// SHA-256 through OpenSSL's EVP interface, which uses the CPU's SHA extensions when present.

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace baton {

using Digest = std::array<std::uint8_t, 32>;

std::string to_hex(std::span<const std::uint8_t> bytes);
// True for exactly 64 lower-case hex characters.
bool is_sha256_hex(std::string_view text);

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void update(std::span<const std::byte> data);
  void update(std::string_view data);
  Digest finish();
  std::string finish_hex();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

std::string sha256_hex(std::string_view data);
// Digest of a whole file, read in large sequential chunks. Errors name the file.
Result<std::string> sha256_file_hex(const std::filesystem::path& file);

}  // namespace baton
