// OpenSSL contexts for the server and the clients, with errors that name the file at fault.

#include "http/tls.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "http/tls_context.hpp"

namespace baton::http {

namespace {

namespace ssl = boost::asio::ssl;
namespace stdfs = std::filesystem;

// The file can be opened for reading; OpenSSL's own message for a missing file is obscure.
Status readable(const stdfs::path& file, const std::string& what) {
  std::FILE* f = std::fopen(file.c_str(), "rb");
  if (f == nullptr) {
    return make_error(Errc::invalid,
                      what + " " + file.string() + ": cannot read: " + std::strerror(errno));
  }
  std::fclose(f);
  return {};
}

Status failed(const std::string& what, const stdfs::path& file, const std::string& doing) {
  std::string reason = openssl_errors();
  return make_error(Errc::invalid, what + " " + file.string() + ": " + doing +
                                       (reason.empty() ? "" : ": " + reason));
}

Status load_identity(SSL_CTX* ctx, const stdfs::path& certificate, const stdfs::path& key,
                     const std::string& role) {
  BATON_TRY(readable(certificate, role + " certificate"));
  BATON_TRY(readable(key, role + " key"));
  if (SSL_CTX_use_certificate_chain_file(ctx, certificate.c_str()) != 1) {
    return failed(role + " certificate", certificate, "not a PEM certificate");
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    return failed(role + " key", key,
                  "not a PEM private key (or it does not match the certificate)");
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    openssl_errors();
    return make_error(Errc::invalid, role + " key " + key.string() +
                                         " does not match the certificate " + certificate.string());
  }
  return {};
}

Status load_ca(SSL_CTX* ctx, const stdfs::path& ca) {
  BATON_TRY(readable(ca, "CA file"));
  if (SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr) != 1) {
    return failed("CA file", ca, "no PEM certificate in it");
  }
  return {};
}

void tls12_or_later(TlsContext& context) {
  context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                      ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION);
}

std::string utf8(const ASN1_STRING* value) {
  unsigned char* out = nullptr;
  int length = ASN1_STRING_to_UTF8(&out, value);
  if (length < 0) return {};
  std::string text(reinterpret_cast<const char*>(out), static_cast<std::size_t>(length));
  OPENSSL_free(out);
  return text;
}

std::vector<std::string> entries(X509_NAME* name, int nid) {
  std::vector<std::string> out;
  for (int at = X509_NAME_get_index_by_NID(name, nid, -1); at >= 0;
       at = X509_NAME_get_index_by_NID(name, nid, at)) {
    out.push_back(utf8(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, at))));
  }
  return out;
}

}  // namespace

std::string openssl_errors() {
  std::string out;
  while (unsigned long code = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    // "error:0A000086:SSL routines::certificate verify failed" -> the reason after the last ':'
    std::string line = text;
    auto colon = line.rfind(':');
    if (colon != std::string::npos && colon + 1 < line.size()) line = line.substr(colon + 1);
    if (out.find(line) != std::string::npos) continue;
    if (!out.empty()) out += "; ";
    out += line;
  }
  return out;
}

Result<std::shared_ptr<TlsContext>> make_server_context(const TlsServerSettings& settings) {
  ERR_clear_error();
  auto context = std::make_shared<TlsContext>(ssl::context::tls_server);
  tls12_or_later(*context);
  SSL_CTX* ctx = context->native_handle();
  if (settings.key.empty()) {
    return make_error(Errc::invalid,
                      "TLS certificate " + settings.certificate.string() + " given without a key");
  }
  BATON_TRY(load_identity(ctx, settings.certificate, settings.key, "TLS"));
  if (!settings.client_ca.empty()) {
    BATON_TRY(load_ca(ctx, settings.client_ca));
    // The CA names the server sends in its certificate request: clients pick their certificate.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(settings.client_ca.c_str())) {
      SSL_CTX_set_client_CA_list(ctx, names);
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  ERR_clear_error();
  return context;
}

Result<std::shared_ptr<TlsContext>> make_client_context(const TlsClientSettings& settings) {
  ERR_clear_error();
  auto context = std::make_shared<TlsContext>(ssl::context::tls_client);
  tls12_or_later(*context);
  SSL_CTX* ctx = context->native_handle();
  if (settings.ca.empty()) {
    SSL_CTX_set_default_verify_paths(ctx);
  } else {
    BATON_TRY(load_ca(ctx, settings.ca));
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (!settings.certificate.empty() || !settings.key.empty()) {
    if (settings.certificate.empty() || settings.key.empty()) {
      return make_error(Errc::invalid,
                        "a client certificate needs both a certificate and a key " +
                            std::string("(given: ") +
                            (settings.key.empty() ? "certificate " + settings.certificate.string()
                                                  : "key " + settings.key.string()) +
                            ")");
    }
    BATON_TRY(load_identity(ctx, settings.certificate, settings.key, "client"));
  }
  ERR_clear_error();
  return context;
}

Status check_server_files(const TlsServerSettings& settings) {
  auto context = make_server_context(settings);
  if (!context) return std::move(context).error();
  return {};
}

Status check_client_files(const TlsClientSettings& settings) {
  auto context = make_client_context(settings);
  if (!context) return std::move(context).error();
  return {};
}

Status expect_server_name(SSL* ssl, const std::string& host) {
  std::string name = host;
  if (name.size() > 2 && name.front() == '[' && name.back() == ']') {
    name = name.substr(1, name.size() - 2);
  }
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  // An address is checked against the certificate's IP entries; a name also goes out as SNI.
  if (X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) == 1) return {};
  ERR_clear_error();
  if (SSL_set_tlsext_host_name(ssl, name.c_str()) != 1 ||
      X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size()) != 1) {
    return make_error(Errc::invalid, "cannot check the TLS name " + name + ": " + openssl_errors());
  }
  return {};
}

std::shared_ptr<const PeerCertificate> verified_peer(SSL* ssl) {
  X509* certificate = SSL_get0_peer_certificate(ssl);
  if (certificate == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return nullptr;
  auto peer = std::make_shared<PeerCertificate>();
  X509_NAME* subject = X509_get_subject_name(certificate);
  if (BIO* bio = BIO_new(BIO_s_mem())) {
    X509_NAME_print_ex(bio, subject, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
    char* data = nullptr;
    long length = BIO_get_mem_data(bio, &data);
    if (length > 0) peer->subject.assign(data, static_cast<std::size_t>(length));
    BIO_free(bio);
  }
  auto names = entries(subject, NID_commonName);
  if (!names.empty()) peer->common_name = names.front();
  peer->organizational_units = entries(subject, NID_organizationalUnitName);
  return peer;
}

}  // namespace baton::http
