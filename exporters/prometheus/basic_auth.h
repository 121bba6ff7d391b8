// HTTP Basic authentication for the metrics listener (--basic-auth-file).
//
// Prometheus sends Basic credentials (scrape_config basic_auth); civetweb's
// own authentication is Digest only, which Prometheus cannot speak, so the
// check is done here. The file holds one "user:hash" per line, the hash in
// crypt(3) form as `openssl passwd -6`, `mkpasswd -m yescrypt` or
// `htpasswd -B` write it ($6$, $5$, $y$, $2b$/$2y$); no plain passwords.
#pragma once

#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>

namespace redeye::exporters {

class BasicAuthError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class BasicAuth {
 public:
  // Reads and validates the file; throws BasicAuthError with one line
  // naming the file (and line) when it is unusable.
  static BasicAuth load(const std::string& path);

  // True when `authorization` (the request's Authorization header, may be
  // null) carries the credentials of a user of the file.
  bool allows(const char* authorization) const;

  size_t users() const { return hashes_.size(); }

  BasicAuth(BasicAuth&& other) noexcept : hashes_(std::move(other.hashes_)) {}

 private:
  BasicAuth() = default;

  std::map<std::string, std::string, std::less<>> hashes_;  // user -> crypt(3) hash
  // The last header that passed: hashing costs milliseconds on purpose, and
  // Prometheus sends the same header every scrape.
  mutable std::mutex cache_mutex_;
  mutable std::string accepted_;
};

// Base64 (RFC 4648, with padding) -> bytes; false on anything else.
bool decode_base64(std::string_view in, std::string& out);

}  // namespace redeye::exporters
