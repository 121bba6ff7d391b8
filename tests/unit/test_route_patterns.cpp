#include "metrics/http/route_patterns.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace redeye::metrics::http {
namespace {

std::string pattern_error(std::string_view text) {
  try {
    RoutePattern::parse(text);
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "<no error>";
}

std::string rule_error(std::string_view text) {
  try {
    parse_route_rule(text);
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "<no error>";
}

TEST(RoutePattern, PlaceholdersMatchOneSegment) {
  const RoutePattern pattern = RoutePattern::parse("/orders/{id}/items/{item}");
  EXPECT_EQ(pattern.text(), "/orders/{id}/items/{item}");
  EXPECT_TRUE(pattern.matches("/orders/123/items/abc"));
  EXPECT_TRUE(pattern.matches("/orders/x/items/y/"));
  EXPECT_TRUE(pattern.matches("//orders/x//items/y"));
  EXPECT_TRUE(pattern.matches("/orders/1/items/2?expand=true#top"));
  EXPECT_FALSE(pattern.matches("/orders/123/items"));
  EXPECT_FALSE(pattern.matches("/orders/123/items/abc/extra"));
  EXPECT_FALSE(pattern.matches("/orders/123/item/abc"));
  EXPECT_FALSE(pattern.matches("/Orders/123/items/abc"));  // literals are case-sensitive
}

TEST(RoutePattern, StarMatchesOneSegment) {
  const RoutePattern pattern = RoutePattern::parse("/files/*/meta");
  EXPECT_TRUE(pattern.matches("/files/a.txt/meta"));
  EXPECT_FALSE(pattern.matches("/files/meta"));
  EXPECT_FALSE(pattern.matches("/files/a/b/meta"));
}

TEST(RoutePattern, DoubleStarMatchesTheRestEvenNothing) {
  const RoutePattern pattern = RoutePattern::parse("/static/**");
  EXPECT_TRUE(pattern.matches("/static"));
  EXPECT_TRUE(pattern.matches("/static/"));
  EXPECT_TRUE(pattern.matches("/static/js/app.js"));
  EXPECT_FALSE(pattern.matches("/staticx/app.js"));
  EXPECT_FALSE(pattern.matches("/"));
  EXPECT_TRUE(RoutePattern::parse("/**").matches("/anything/at/all"));
  EXPECT_TRUE(RoutePattern::parse("/**").matches("/"));
}

TEST(RoutePattern, RootAndTrailingSlash) {
  EXPECT_TRUE(RoutePattern::parse("/").matches("/"));
  EXPECT_TRUE(RoutePattern::parse("/").matches(""));
  EXPECT_FALSE(RoutePattern::parse("/").matches("/a"));
  const RoutePattern with_slash = RoutePattern::parse("/health/");
  EXPECT_TRUE(with_slash.matches("/health"));
  EXPECT_TRUE(with_slash.matches("/health/"));
  EXPECT_EQ(with_slash.text(), "/health/");
}

TEST(RoutePattern, BadPatternsAreRejectedWithOneLine) {
  EXPECT_EQ(pattern_error(""), "route pattern '': must start with '/'");
  EXPECT_EQ(pattern_error("orders/{id}"), "route pattern 'orders/{id}': must start with '/'");
  EXPECT_EQ(pattern_error("/a/**/b"), "route pattern '/a/**/b': '**' must be the last segment");
  EXPECT_EQ(pattern_error("/a/x*"), "route pattern '/a/x*': '*' and '**' must be whole segments");
  EXPECT_EQ(pattern_error("/a/{id}.json"),
            "route pattern '/a/{id}.json': a placeholder is a whole segment '{name}' with name of "
            "[A-Za-z0-9_]");
  EXPECT_EQ(pattern_error("/a/{}"),
            "route pattern '/a/{}': a placeholder is a whole segment '{name}' with name of [A-Za-z0-9_]");
  EXPECT_EQ(pattern_error("/a?b=1"), "route pattern '/a?b=1': a pattern matches the path only, without '?' or '#'");
  EXPECT_EQ(pattern_error("/a b"), "route pattern '/a b': only printable ASCII without spaces is allowed");
  EXPECT_NE(pattern_error("/" + std::string(256, 'a')).find("': longer than 256 bytes"), std::string::npos);
  EXPECT_EQ(pattern_error("/" + std::string(255, 'a')), "<no error>");
  EXPECT_EQ(pattern_error("/{user_id}/*/**"), "<no error>");
}

TEST(RoutePatterns, FirstMatchInOrderWins) {
  RoutePatterns patterns;
  EXPECT_TRUE(patterns.empty());
  patterns.add("/users/me");
  patterns.add("/users/{user}");
  patterns.add(RoutePattern::parse("/users/**"));
  EXPECT_EQ(patterns.size(), 3u);
  EXPECT_EQ(patterns.match("/users/me"), "/users/me");
  EXPECT_EQ(patterns.match("/users/alice"), "/users/{user}");
  EXPECT_EQ(patterns.match("/users/alice/cart"), "/users/**");
  EXPECT_EQ(patterns.match("/orders/1"), std::nullopt);
}

TEST(RouteRule, ParsesServiceAndPattern) {
  const RouteRule rule = parse_route_rule("checkout-api.v2@eu=/orders/{id}/items/{item}");
  EXPECT_EQ(rule.service, "checkout-api.v2@eu");
  EXPECT_EQ(rule.pattern.text(), "/orders/{id}/items/{item}");
  EXPECT_TRUE(rule.pattern.matches("/orders/1/items/2"));
}

TEST(RouteRule, PatternMayContainEquals) {
  const RouteRule rule = parse_route_rule("shop=/a=b/{id}");
  EXPECT_EQ(rule.service, "shop");
  EXPECT_EQ(rule.pattern.text(), "/a=b/{id}");
}

TEST(RouteRule, BadRulesAreRejectedWithOneLine) {
  const std::string hint = "; expected SERVICE=PATTERN, e.g. checkout=/orders/{id}/items/{item}";
  EXPECT_EQ(rule_error("shop"), "invalid --http-route rule 'shop': no '='" + hint);
  EXPECT_EQ(rule_error("=/a"),
            "invalid --http-route rule '=/a': SERVICE must be 1-64 characters of [A-Za-z0-9_.:@-]" + hint);
  EXPECT_EQ(rule_error("my shop=/a"),
            "invalid --http-route rule 'my shop=/a': SERVICE must be 1-64 characters of [A-Za-z0-9_.:@-]" +
                hint);
  EXPECT_NE(rule_error(std::string(65, 's') + "=/a").find("SERVICE must be 1-64 characters"), std::string::npos);
  EXPECT_EQ(rule_error(std::string(64, 's') + "=/a"), "<no error>");
  EXPECT_EQ(rule_error("shop="), "invalid --http-route rule 'shop=': route pattern '': must start with '/'" + hint);
  EXPECT_EQ(rule_error("shop=/a/**/b"),
            "invalid --http-route rule 'shop=/a/**/b': route pattern '/a/**/b': '**' must be the last segment" +
                hint);
}

}  // namespace
}  // namespace redeye::metrics::http
