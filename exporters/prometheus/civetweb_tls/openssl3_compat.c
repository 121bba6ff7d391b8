/* libssl.so for civetweb 1.15 on OpenSSL 3 (Debian 12): civetweb loads
 * OpenSSL at run time under the unversioned names "libssl.so" and
 * "libcrypto.so" and looks up SSL_get_peer_certificate, which OpenSSL 3
 * only has as a macro for SSL_get1_peer_certificate. The lookup fails
 * quietly and the first TLS connection calls a null pointer (civetweb
 * issue 1334). This library is what civetweb finds under those names
 * (CMakeLists.txt: beside the agent in redeye-tls/, found through the
 * agent's RPATH): it supplies the missing function, and everything else
 * civetweb looks up comes from libssl.so.3 and libcrypto.so.3, which it
 * depends on. */
#include <openssl/ssl.h>

#undef SSL_get_peer_certificate

/* Same contract as the OpenSSL 1.1 function: a new reference the caller
 * frees with X509_free, as civetweb does. */
__attribute__((visibility("default"))) X509 *SSL_get_peer_certificate(const SSL *ssl) {
  return SSL_get1_peer_certificate(ssl);
}
