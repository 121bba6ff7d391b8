#include "exporters/prometheus/basic_auth.h"

#include <crypt.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>

namespace redeye::exporters {
namespace {

// Compares without stopping at the first difference, so that the time
// taken does not tell how much of a guess was right.
bool equal_constant_time(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

bool known_crypt_prefix(std::string_view hash) {
  for (std::string_view prefix : {"$y$", "$gy$", "$7$", "$2b$", "$2y$", "$2a$", "$6$", "$5$"})
    if (hash.substr(0, prefix.size()) == prefix) return true;
  return false;
}

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

}  // namespace

bool decode_base64(std::string_view in, std::string& out) {
  out.clear();
  if (in.size() % 4 != 0) return false;
  for (size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char c = in[i + k];
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        v[k] = 0;
        ++pad;
      } else if (pad > 0 || (v[k] = base64_value(c)) < 0) {
        return false;
      }
    }
    const uint32_t bits = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out.push_back(static_cast<char>(bits >> 16));
    if (pad < 2) out.push_back(static_cast<char>((bits >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(bits & 0xff));
  }
  return true;
}

BasicAuth BasicAuth::load(const std::string& path) {
  const std::string where = "invalid --basic-auth-file '" + path + "': ";
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw BasicAuthError(where + "it is a directory");
  std::ifstream in(path);
  if (!in) throw BasicAuthError(where + std::strerror(errno));
  BasicAuth auth;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    const auto colon = line.find(':');
    const std::string at = where + "line " + std::to_string(number) + ": ";
    if (colon == std::string::npos || colon == 0) throw BasicAuthError(at + "expected USER:HASH");
    std::string user = line.substr(0, colon), hash = line.substr(colon + 1);
    if (!known_crypt_prefix(hash))
      throw BasicAuthError(at + "the password must be a crypt(3) hash ($y$, $2b$, $6$ or $5$), e.g. from "
                                "'openssl passwd -6'");
    if (!auth.hashes_.emplace(std::move(user), std::move(hash)).second)
      throw BasicAuthError(at + "user listed twice");
  }
  if (auth.hashes_.empty()) throw BasicAuthError(where + "no USER:HASH line");
  return auth;
}

bool BasicAuth::allows(const char* authorization) const {
  if (authorization == nullptr) return false;
  const std::string_view header(authorization);
  constexpr std::string_view kScheme = "Basic ";
  // Headers longer than any sane credential are not worth hashing.
  if (header.size() > 1024 || header.substr(0, kScheme.size()) != kScheme) return false;
  {
    std::lock_guard lock(cache_mutex_);
    if (!accepted_.empty() && equal_constant_time(header, accepted_)) return true;
  }
  std::string credentials;
  if (!decode_base64(header.substr(kScheme.size()), credentials)) return false;
  const auto colon = credentials.find(':');
  if (colon == std::string::npos) return false;
  const auto user = hashes_.find(std::string_view(credentials).substr(0, colon));
  if (user == hashes_.end()) return false;
  const std::string password = credentials.substr(colon + 1);
  // crypt_data is large (~32 KiB): on the heap, one per call (threads).
  auto data = std::make_unique<crypt_data>();
  const char* hashed = crypt_rn(password.c_str(), user->second.c_str(), data.get(), sizeof *data);
  if (hashed == nullptr || !equal_constant_time(hashed, user->second)) return false;
  std::lock_guard lock(cache_mutex_);
  accepted_ = std::string(header);
  return true;
}

}  // namespace redeye::exporters
