#include "metrics/http/route_normalizer.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace redeye::metrics::http {
namespace {

struct Case {
  std::string path;
  std::string route;
};

void expect_routes(const std::vector<Case>& cases) {
  const RouteNormalizer normalizer;
  for (const Case& c : cases) {
    EXPECT_EQ(normalizer.normalize(c.path), c.route) << "path: '" << c.path << "'";
  }
}

TEST(RouteNormalizer, NumericIdsCollapse) {
  expect_routes({
      {"/orders/123", "/orders/{id}"},
      {"/orders/456", "/orders/{id}"},
      {"/orders/0", "/orders/{id}"},
      {"/orders/123/items/7", "/orders/{id}/items/{id}"},
      {"/123", "/{id}"},
  });
}

TEST(RouteNormalizer, UuidsCollapseInAnyCase) {
  expect_routes({
      {"/users/550e8400-e29b-41d4-a716-446655440000/cart", "/users/{id}/cart"},
      {"/users/550E8400-E29B-41D4-A716-446655440000/cart", "/users/{id}/cart"},
      // One dash misplaced: not a UUID, and 36 > 32 bytes makes it an id anyway.
      {"/users/550e8400e-29b-41d4-a716-446655440000", "/users/{id}"},
  });
}

TEST(RouteNormalizer, HexNeedsEightCharactersAndADigit) {
  expect_routes({
      {"/commits/3f9a2b1c", "/commits/{id}"},
      {"/commits/DEADBEEF00", "/commits/{id}"},
      {"/commits/3f9a2b1", "/commits/3f9a2b1"},  // 7 hex digits
      {"/words/deadbeef", "/words/deadbeef"},    // hex letters only: a word
      {"/words/accepted", "/words/accepted"},
      {"/sha/da39a3ee5e6b4b0d3255bfef95601890afd80709", "/sha/{id}"},
  });
}

TEST(RouteNormalizer, NumbersWithSeparatorsCollapse) {
  expect_routes({
      {"/reports/2024-01-05", "/reports/{id}"},
      {"/reports/2024_01_05/summary", "/reports/{id}/summary"},
      {"/at/12:30:00", "/at/{id}"},
      {"/releases/1.2.3/notes", "/releases/{id}/notes"},
      {"/hosts/10.0.0.1", "/hosts/{id}"},
  });
}

TEST(RouteNormalizer, LongMixedTokensCollapse) {
  expect_routes({
      {"/p/aZ3kQ9xL2mN8pR4tV6wY", "/p/{id}"},          // base62, 20 chars
      {"/s/Ab-_9xYz0123456789", "/s/{id}"},                  // base64url, 18 chars
      {"/t/abc123def456ghi7", "/t/{id}"},                    // 16 chars, lower case
      {"/short/abc123def456xyz", "/short/abc123def456xyz"},  // 15 chars: too short
  });
}

TEST(RouteNormalizer, SegmentsOf32BytesOrMoreAreIdentifiers) {
  const std::string slug31(31, 'a');
  const std::string slug32(32, 'a');
  expect_routes({
      {"/blog/" + slug31, "/blog/" + slug31},
      {"/blog/" + slug32, "/blog/{id}"},
      {"/blog/why-we-moved-our-fleet-to-arm-and-back", "/blog/{id}"},
  });
}

TEST(RouteNormalizer, WordsStay) {
  expect_routes({
      {"/api/v1/items", "/api/v1/items"},
      {"/health", "/health"},
      {"/docs/en-US/index", "/docs/en-US/index"},
      {"/login.html", "/login.html"},
      {"/api/v2/getUserPreferencesList", "/api/v2/getUserPreferencesList"},
      {"/kebab-case-resource-name", "/kebab-case-resource-name"},
      {"/{id}", "/{id}"},
  });
}

// Only the part before the last dot is looked at, and only as a whole: a
// fingerprinted asset keeps its name (its series change per deploy, not per
// request), a resource id with a format suffix collapses.
TEST(RouteNormalizer, FileExtensions) {
  expect_routes({
      {"/static/app.3f9a2b1c.js", "/static/app.3f9a2b1c.js"},
      {"/orders/123.json", "/orders/{id}.json"},
      {"/files/550e8400-e29b-41d4-a716-446655440000.pdf", "/files/{id}.pdf"},
      {"/static/3f9a2b1c.css", "/static/{id}.css"},
      {"/img/logo.png", "/img/logo.png"},
  });
}

TEST(RouteNormalizer, SlashesAndEmptyPaths) {
  expect_routes({
      {"", "/"},
      {"/", "/"},
      {"//", "/"},
      {"/a//b/", "/a/b/"},
      {"/a//b", "/a/b"},
      {"///a", "/a"},
      {"/a/b//", "/a/b/"},
      {"/orders/123/", "/orders/{id}/"},
      {"orders/123", "/orders/{id}"},
  });
}

TEST(RouteNormalizer, QueryAndFragmentAreCut) {
  expect_routes({
      {"/search?q=shoes&page=2", "/search"},
      {"/orders/42?token=abc", "/orders/{id}"},
      {"/docs#section-2", "/docs"},
      {"/a/?x=1", "/a/"},
      {"?only=query", "/"},
  });
}

TEST(RouteNormalizer, AbsoluteFormLosesSchemeAndHost) {
  expect_routes({
      {"http://example.com:8080/orders/7", "/orders/{id}"},
      {"https://example.com", "/"},
  });
}

// Percent escapes are not decoded: they are text like any other.
TEST(RouteNormalizer, PercentEncodedSegmentsAreText) {
  expect_routes({
      {"/wiki/Z%C3%BCrich", "/wiki/Z%C3%BCrich"},
      {"/files/my%20report", "/files/my%20report"},
      {"/search/%7Bquery%7D", "/search/%7Bquery%7D"},
      {"/n/%31%32%33", "/n/%31%32%33"},
  });
}

TEST(RouteNormalizer, BytesOutsidePrintableAsciiBecomeUnderscores) {
  expect_routes({
      {"/wiki/Z\xC3\xBCrich", "/wiki/Z__rich"},
      {"/a\tb/c\x7f", "/a_b/c_"},
      {"/a b", "/a_b"},
  });
}

TEST(RouteNormalizer, AtMostSixteenSegments) {
  std::string sixteen;
  for (int i = 0; i < 16; ++i) sixteen += "/s";
  const RouteNormalizer normalizer;
  EXPECT_EQ(normalizer.normalize(sixteen), sixteen);
  EXPECT_EQ(normalizer.normalize(sixteen + "/"), sixteen + "/");
  EXPECT_EQ(normalizer.normalize(sixteen + "/s"), sixteen + "/...");
  EXPECT_EQ(normalizer.normalize(sixteen + "/s/t/u/"), sixteen + "/...");
  // Empty segments do not count.
  EXPECT_EQ(normalizer.normalize("//" + sixteen + "//"), sixteen + "/");
}

TEST(RouteNormalizer, AtMost256BytesCutAtASegmentBoundary) {
  const RouteNormalizer normalizer;
  const std::string word(30, 'w');  // "/" + 30 = 31 bytes a segment, kept as text
  std::string eight;
  for (int i = 0; i < 8; ++i) eight += "/" + word;  // 248 bytes
  EXPECT_EQ(normalizer.normalize(eight), eight);
  EXPECT_EQ(normalizer.normalize(eight + "/"), eight + "/");
  // 248 + "/xyzab" = 254 still fits.
  EXPECT_EQ(normalizer.normalize(eight + "/xyzab"), eight + "/xyzab");
  // 248 + "/xyzabcdef" = 258 does not; with the marker only 8 words fit.
  EXPECT_EQ(normalizer.normalize(eight + "/xyzabcdef"), eight + "/...");
  // 248 + "/xyzabcd" = 256 fits exactly; with its trailing slash it would be 257.
  EXPECT_EQ(normalizer.normalize(eight + "/xyzabcd"), eight + "/xyzabcd");
  EXPECT_EQ(normalizer.normalize(eight + "/xyzabcd/"), eight + "/...");

  std::string long_path;
  for (int i = 0; i < 15; ++i) long_path += "/" + word;
  const std::string route = normalizer.normalize(long_path);
  EXPECT_LE(route.size(), RouteNormalizer::kMaxRouteBytes);
  EXPECT_EQ(route, eight + "/...");
}

// Ids as they come out of base62/base64url generators: 20 characters of the
// base64url alphabet with letters and digits mixed (the guarantee such a
// generator makes; letters-only tokens are out of scope, see
// looks_like_identifier).
std::string random_token(std::mt19937& rng) {
  static constexpr std::string_view kLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  static constexpr std::string_view kDigits = "0123456789";
  static constexpr std::string_view kAlphabet =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
  std::uniform_int_distribution<size_t> any(0, kAlphabet.size() - 1);
  std::string token(20, ' ');
  for (char& c : token) c = kAlphabet[any(rng)];
  std::uniform_int_distribution<size_t> position(0, token.size() - 1);
  const size_t letter_at = position(rng);
  size_t digit_at = position(rng);
  if (digit_at == letter_at) digit_at = (digit_at + 1) % token.size();
  token[letter_at] = kLetters[std::uniform_int_distribution<size_t>(0, kLetters.size() - 1)(rng)];
  token[digit_at] = kDigits[std::uniform_int_distribution<size_t>(0, kDigits.size() - 1)(rng)];
  return token;
}

TEST(RouteNormalizer, TenThousandRandomTokensAreOneRoute) {
  std::mt19937 rng(20240105);
  const RouteNormalizer normalizer;
  std::set<std::string> paths;
  std::set<std::string> routes;
  while (paths.size() < 10000) {
    const std::string path = "/p/" + random_token(rng);
    if (paths.insert(path).second) routes.insert(normalizer.normalize(path));
  }
  EXPECT_EQ(routes, std::set<std::string>{"/p/{id}"});
}

TEST(RouteNormalizer, LooksLikeIdentifier) {
  EXPECT_TRUE(looks_like_identifier("42"));
  EXPECT_TRUE(looks_like_identifier("2024-01-05"));
  EXPECT_TRUE(looks_like_identifier("550e8400-e29b-41d4-a716-446655440000"));
  EXPECT_TRUE(looks_like_identifier("abcdef12"));
  EXPECT_TRUE(looks_like_identifier("user_preferences_2"));  // the price of the token rule
  EXPECT_FALSE(looks_like_identifier(""));
  EXPECT_FALSE(looks_like_identifier("v1"));
  EXPECT_FALSE(looks_like_identifier("-1"));
  EXPECT_FALSE(looks_like_identifier("abcdef1"));
  EXPECT_FALSE(looks_like_identifier("aBcDeFgHiJkLmNoPqRsT"));  // letters only, < 32 bytes
}

TEST(RouteNormalizerPatterns, MatchingPatternIsTheRoute) {
  RouteNormalizer normalizer({parse_route_rule("shop=/orders/{id}/items/{item}"),
                              parse_route_rule("shop=/users/{user}"), parse_route_rule("shop=/static/**"),
                              parse_route_rule("blog=/posts/*")});
  EXPECT_EQ(normalizer.route("shop", "/orders/123/items/abc"), "/orders/{id}/items/{item}");
  EXPECT_EQ(normalizer.route("shop", "/users/alice"), "/users/{user}");
  EXPECT_EQ(normalizer.route("shop", "/users/alice?tab=2"), "/users/{user}");
  EXPECT_EQ(normalizer.route("shop", "/static/app.3f9a2b1c.js"), "/static/**");
  // No pattern matches: the default normalisation.
  EXPECT_EQ(normalizer.route("shop", "/orders/123"), "/orders/{id}");
  EXPECT_EQ(normalizer.route("shop", "/users/alice/cart"), "/users/alice/cart");
  // Patterns are per service.
  EXPECT_EQ(normalizer.route("blog", "/users/alice"), "/users/alice");
  EXPECT_EQ(normalizer.route("blog", "/posts/hello-world"), "/posts/*");
  EXPECT_EQ(normalizer.route("other", "/posts/hello-world"), "/posts/hello-world");
}

TEST(RouteNormalizerPatterns, WithoutRulesRouteIsNormalize) {
  const RouteNormalizer normalizer;
  EXPECT_EQ(normalizer.route("shop", "/orders/9"), "/orders/{id}");
}

}  // namespace
}  // namespace redeye::metrics::http

TEST(RouteNormalizerPrivacy, AddressesAndKeyValueSegmentsAreIds) {
  const redeye::metrics::http::RouteNormalizer normalizer;
  EXPECT_EQ(normalizer.normalize("/users/alice@example.com/cart"), "/users/{id}/cart");
  EXPECT_EQ(normalizer.normalize("/find/name=bob"), "/find/{id}");
  EXPECT_EQ(normalizer.normalize("/users/me/cart"), "/users/me/cart");
}
