#include "tests/cli/support/certificates.hpp"

#include <fstream>
#include <stdexcept>

#include "tests/cli/support/command_runner.hpp"

namespace baton::testing {

namespace {

namespace stdfs = std::filesystem;

void openssl(const std::vector<std::string>& arguments, const stdfs::path& folder) {
  // run_command does not search PATH.
  std::string openssl_program = "/usr/bin/openssl";
  for (const char* folder : {"/usr/local/bin", "/usr/bin", "/bin"}) {
    if (stdfs::exists(stdfs::path(folder) / "openssl")) {
      openssl_program = (stdfs::path(folder) / "openssl").string();
      break;
    }
  }
  std::vector<std::string> argv{openssl_program};
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  CommandOptions options;
  options.cwd = folder;
  options.timeout = std::chrono::seconds(60);
  auto result = run_command(argv, options);
  if (result.exit_code != 0) throw std::runtime_error(result.describe());
}

void write(const stdfs::path& file, const std::string& text) {
  std::ofstream out(file);
  out << text;
}

// A P-256 key and a certificate for `subject`, signed by `ca` (or self-signed as a CA).
void issue(const stdfs::path& folder, const std::string& name, const std::string& subject,
           const std::string& ca, int serial) {
  const std::vector<std::string> key_options = {"-newkey", "ec", "-pkeyopt",
                                                "ec_paramgen_curve:prime256v1", "-nodes"};
  std::vector<std::string> request = {"req",   "-config", "openssl.cnf", "-subj",
                                      subject, "-keyout", name + ".key"};
  request.insert(request.end(), key_options.begin(), key_options.end());
  if (ca.empty()) {
    request.insert(request.end(),
                   {"-x509", "-extensions", "v3_ca", "-days", "2", "-out", name + ".pem"});
    openssl(request, folder);
    return;
  }
  request.insert(request.end(), {"-new", "-out", name + ".csr"});
  openssl(request, folder);
  openssl({"x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
           "-set_serial", std::to_string(serial), "-days", "2", "-extfile", "openssl.cnf",
           "-extensions", "leaf", "-out", name + ".pem"},
          folder);
}

}  // namespace

Pki make_pki(const stdfs::path& folder,
             const std::vector<std::pair<std::string, std::string>>& clients) {
  stdfs::create_directories(folder);
  write(folder / "openssl.cnf",
        "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n"
        "[v3_ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
        "subjectKeyIdentifier = hash\n"
        "[leaf]\nbasicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\n"
        "extendedKeyUsage = serverAuth,clientAuth\n"
        "subjectAltName = DNS:localhost,IP:127.0.0.1\n");
  int serial = 1;
  issue(folder, "ca", "/CN=Baton Test CA", "", serial++);
  issue(folder, "server", "/CN=localhost", "ca", serial++);
  for (const auto& [name, ou] : clients) {
    issue(folder, name, "/CN=" + name + (ou.empty() ? "" : "/OU=" + ou), "ca", serial++);
  }
  issue(folder, "other-ca", "/CN=Another CA", "", serial++);
  issue(folder, "intruder", "/CN=intruder/OU=admin", "other-ca", serial++);
  return Pki{folder};
}

}  // namespace baton::testing
