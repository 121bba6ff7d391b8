// The listener's TLS certificate and key (--tls-cert-file, --tls-key-file).
//
// civetweb's own option takes one PEM file holding both, so the agent
// loads the two files itself into the SSL_CTX civetweb creates (its
// init_ssl callback); the same loading validates the options at start.
#pragma once

#include <stdexcept>
#include <string>

namespace redeye::exporters {

class TlsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TlsFiles {
  std::string cert_file;  // PEM: the certificate, then any intermediates
  std::string key_file;   // PEM: its private key, unencrypted
  bool enabled() const { return !cert_file.empty(); }
};

// Loads the certificate chain and the key into `ssl_ctx` (an SSL_CTX*),
// checks that the key is the certificate's and allows TLS 1.2 and later
// only. Throws TlsError with one line naming the file and the reason.
void load_tls_credentials(void* ssl_ctx, const TlsFiles& files);

// The same on a scratch context: for option validation.
void check_tls_credentials(const TlsFiles& files);

// civetweb 1.15 loads OpenSSL at run time as "libssl.so"/"libcrypto.so"
// and needs a function OpenSSL 3 no longer exports; the agent ships a
// compatibility libssl.so in redeye-tls/ beside its binary (found through
// its RPATH, exporters/prometheus/civetweb_tls/). Throws TlsError when
// what civetweb would load lacks it: without this check the first TLS
// connection would crash the agent.
void check_civetweb_tls_runtime();

}  // namespace redeye::exporters
