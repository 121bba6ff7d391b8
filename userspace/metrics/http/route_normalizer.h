// The route label of an HTTP request: its path with the parts that identify
// one object (ids, uuids, hashes, tokens) replaced by "{id}", so that
// /orders/123 and /orders/456 count as one route and the number of series
// stays bounded. Runs once per request, so it only scans string_views: no
// regex, one allocation (the result).
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/http/route_patterns.h"

namespace redeye::metrics::http {

// True if a path segment names one object rather than a kind of resource:
//   - 32 bytes or longer, whatever it holds (slugs and tokens that long are
//     practically always unique, and it bounds a kept segment to 31 bytes);
//   - digits, possibly with separators -._: ("123", "2024-01-05", "1.2.3");
//   - a UUID, 8-4-4-4-12 hex digits in any case;
//   - 8 or more hex digits with at least one decimal digit ("3f9a2b1c", but
//     not the word "deadbeef");
//   - 16 or more characters of the base64url alphabet [A-Za-z0-9_-] mixing
//     letters and digits (base62/base64url ids, "user_preferences_2" too).
// Everything else is text: "orders", "v1", "en-US", "login.html". A token of
// letters only ("getUserPreferencesList", but also a random "aBcDeFgHiJkLmNoP")
// stays text below 32 bytes: no per-segment test tells the two apart, and
// collapsing RPC-style method names would lose the routes that matter most.
// Percent escapes are not decoded: "%20" is just three characters.
bool looks_like_identifier(std::string_view segment);

class RouteNormalizer {
 public:
  static constexpr size_t kMaxRouteBytes = 256;
  static constexpr size_t kMaxRouteSegments = 16;

  RouteNormalizer() = default;
  // Patterns per service, each service's in the order given.
  explicit RouteNormalizer(std::vector<RouteRule> rules);

  // The default normalisation of a path:
  //   - query and fragment are cut ('?', '#'), as are the scheme and host of
  //     an absolute-form target;
  //   - repeated slashes collapse; a trailing slash stays; "" becomes "/";
  //   - identifier segments (see looks_like_identifier) become "{id}"; a
  //     segment that is an identifier plus a file extension keeps the
  //     extension ("123.json" -> "{id}.json"), but only the part before the
  //     last dot is looked at, so a fingerprinted asset "app.3f9a2b1c.js"
  //     stays as it is (its series change with deploys, not with requests);
  //   - bytes that are not printable ASCII become '_' (RFC 3986 wants them
  //     percent-encoded; unchecked, invalid UTF-8 in a label breaks scrapes);
  //   - at most kMaxRouteSegments segments and kMaxRouteBytes bytes: whole
  //     segments beyond either cap are replaced by a final "/...".
  std::string normalize(std::string_view path) const;

  // The route of a request to a service: the text of the first of the
  // service's patterns that matches, else normalize(path).
  std::string route(std::string_view service, std::string_view path) const;

 private:
  // std::less<> so a string_view service name is looked up without a copy.
  std::map<std::string, RoutePatterns, std::less<>> patterns_by_service_;
};

}  // namespace redeye::metrics::http
