// Routes configured by the operator: where the default normalisation guesses
// (and may guess wrong, e.g. keep "/users/alice" or collapse a meaningful
// word), a pattern states the route. Given per service on the command line as
// --http-route SERVICE=PATTERN.
//
// Pattern syntax, segment by segment after a leading '/':
//   literal   matches exactly that segment (case-sensitive, not decoded)
//   {name}    matches any one segment; name is [A-Za-z0-9_]+
//   *         matches any one segment
//   **        only as the last segment: matches whatever follows, even nothing
// Paths and patterns are compared on their non-empty segments, so a trailing
// slash or a doubled slash on either side does not matter.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace redeye::metrics::http {

class RoutePattern {
 public:
  // Throws std::invalid_argument with a one-line message naming the pattern
  // and what is wrong with it.
  static RoutePattern parse(std::string_view text);

  bool matches(std::string_view path) const;
  // The pattern as written: this is the route label when it matches.
  const std::string& text() const { return text_; }

 private:
  enum class SegmentKind { Literal, AnyOne, AnyRest };
  struct Segment {
    SegmentKind kind;
    std::string literal;  // only for Literal
  };

  RoutePattern(std::string text, std::vector<Segment> segments)
      : text_(std::move(text)), segments_(std::move(segments)) {}

  std::string text_;
  std::vector<Segment> segments_;
};

// One service's patterns. The first pattern that matches, in the order they
// were added, wins: with several --http-route flags the operator decides
// precedence by their order, as with --service rules.
class RoutePatterns {
 public:
  void add(RoutePattern pattern) { patterns_.push_back(std::move(pattern)); }
  // Throws std::invalid_argument like RoutePattern::parse.
  void add(std::string_view pattern_text) { add(RoutePattern::parse(pattern_text)); }

  // The text of the first matching pattern.
  std::optional<std::string> match(std::string_view path) const;

  bool empty() const { return patterns_.empty(); }
  size_t size() const { return patterns_.size(); }

 private:
  std::vector<RoutePattern> patterns_;
};

struct RouteRule {
  std::string service;
  RoutePattern pattern;
};

// Parses "SERVICE=PATTERN" (the value of --http-route). SERVICE is what redeye
// names services: 1-64 characters of [A-Za-z0-9_.:@-]. Throws
// std::invalid_argument with one line naming the rule, the problem and the
// expected syntax.
RouteRule parse_route_rule(std::string_view text);

}  // namespace redeye::metrics::http
