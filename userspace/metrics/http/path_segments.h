// Splitting an HTTP request target into the path segments that route
// normalisation and route patterns look at. Header-only: it is a handful of
// string_view operations on the per-request path, and both route_normalizer
// and route_patterns need exactly the same view of a path.
#pragma once

#include <optional>
#include <string_view>

namespace redeye::metrics::http {

// The part of a request target that names the resource. The caller is meant
// to pass the path alone, but query and fragment are cut here too so a stray
// "?token=..." can never reach a label. An absolute-form target
// ("http://host:8080/x", sent to proxies) loses its scheme and authority, so
// the host does not turn into a path segment.
inline std::string_view resource_path(std::string_view target) {
  target = target.substr(0, target.find_first_of("?#"));
  if (!target.empty() && target.front() != '/') {
    const size_t scheme_end = target.find("://");
    if (scheme_end != std::string_view::npos) {
      const size_t path_start = target.find('/', scheme_end + 3);
      target = path_start == std::string_view::npos ? std::string_view{} : target.substr(path_start);
    }
  }
  return target;
}

// The non-empty segments of a path, front to back: "/a//b/" yields "a", "b".
// Empty segments are skipped because "/a//b" and "/a/b" reach the same
// handler in practically every server, so they are one route.
class PathSegments {
 public:
  explicit PathSegments(std::string_view path) : rest_(path) {}

  std::optional<std::string_view> next() {
    while (!rest_.empty()) {
      const size_t slash = rest_.find('/');
      const std::string_view segment = rest_.substr(0, slash);
      rest_ = slash == std::string_view::npos ? std::string_view{} : rest_.substr(slash + 1);
      if (!segment.empty()) return segment;
    }
    return std::nullopt;
  }

 private:
  std::string_view rest_;
};

}  // namespace redeye::metrics::http
