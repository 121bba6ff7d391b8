#include "exporters/prometheus/tls_credentials.h"

#include <dlfcn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

namespace redeye::exporters {
namespace {

// The first reason OpenSSL gave for the failure (the later ones only say
// which call passed it up), in words, and its queue emptied.
std::string openssl_reason() {
  const unsigned long code = ERR_peek_error();
  ERR_clear_error();
  if (ERR_GET_LIB(code) == ERR_LIB_PEM && ERR_GET_REASON(code) == PEM_R_NO_START_LINE) return "no PEM block found";
  const char* reason = ERR_reason_error_string(code);
  return reason ? reason : "unknown error";
}

// Readable as a file: a missing or unreadable path gets the system's words,
// not OpenSSL's.
void check_readable(const char* option, const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw TlsError(std::string("cannot read ") + option + " '" + path + "': it is a directory");
  std::ifstream in(path);
  if (!in) throw TlsError(std::string("cannot read ") + option + " '" + path + "': " + std::strerror(errno));
}

// Passphrases cannot be typed into a node agent: OpenSSL's default would
// prompt on the terminal.
int no_passphrase(char*, int, int, void*) { return 0; }

}  // namespace

void load_tls_credentials(void* raw_ctx, const TlsFiles& files) {
  auto* ctx = static_cast<SSL_CTX*>(raw_ctx);
  check_readable("--tls-cert-file", files.cert_file);
  check_readable("--tls-key-file", files.key_file);
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx, files.cert_file.c_str()) != 1)
    throw TlsError("invalid --tls-cert-file '" + files.cert_file + "': expected a PEM certificate (OpenSSL: " +
                   openssl_reason() + ")");
  SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
  if (SSL_CTX_use_PrivateKey_file(ctx, files.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    const unsigned long code = ERR_peek_last_error();
    if (ERR_GET_REASON(code) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      throw TlsError("--tls-key-file '" + files.key_file + "' is not the key of --tls-cert-file '" +
                     files.cert_file + "'");
    }
    throw TlsError("invalid --tls-key-file '" + files.key_file + "': expected an unencrypted PEM private key "
                   "(OpenSSL: " + openssl_reason() + ")");
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    throw TlsError("--tls-key-file '" + files.key_file + "' is not the key of --tls-cert-file '" +
                   files.cert_file + "'");
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
}

void check_tls_credentials(const TlsFiles& files) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) throw TlsError("cannot create a TLS context: " + openssl_reason());
  load_tls_credentials(ctx.get(), files);
}

void check_civetweb_tls_runtime() {
  const char* fix =
      ": TLS needs redeye-tls/ (libssl.so and libcrypto.so) installed beside the redeye binary, as built "
      "(docs/deployment.md)";
  // The same lookups civetweb makes, from the same executable's RPATH.
  void* ssl = dlopen("libssl.so", RTLD_NOW);
  if (!ssl) throw TlsError(std::string("cannot load libssl.so (") + dlerror() + ")" + fix);
  if (!dlsym(ssl, "SSL_get_peer_certificate"))
    throw TlsError("the libssl.so found lacks SSL_get_peer_certificate (the system's OpenSSL 3?)" +
                   std::string(fix));
  if (!dlopen("libcrypto.so", RTLD_NOW))
    throw TlsError(std::string("cannot load libcrypto.so (") + dlerror() + ")" + fix);
  // Both stay loaded: civetweb's own dlopen gets these handles.
}

}  // namespace redeye::exporters
