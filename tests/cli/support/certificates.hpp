#pragma once
// Certificates for TLS tests, made with the `openssl` program in a test's folder: a CA, a server
// certificate for localhost and 127.0.0.1, client certificates (CN = name, OU = level), and a
// second CA with a certificate of its own (one the first CA does not trust).

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace baton::testing {

struct Pki {
  std::filesystem::path folder;
  std::filesystem::path ca() const { return folder / "ca.pem"; }
  std::filesystem::path other_ca() const { return folder / "other-ca.pem"; }
  std::filesystem::path cert(const std::string& name) const { return folder / (name + ".pem"); }
  std::filesystem::path key(const std::string& name) const { return folder / (name + ".key"); }
};

// In `folder`: ca.pem, server.pem/.key (signed by ca), <name>.pem/.key for each {name, ou}
// (signed by ca; "" ou: none), other-ca.pem and intruder.pem/.key (CN=intruder, OU=admin,
// signed by other-ca). Throws std::runtime_error naming the openssl command that failed.
Pki make_pki(const std::filesystem::path& folder,
             const std::vector<std::pair<std::string, std::string>>& clients);

}  // namespace baton::testing
