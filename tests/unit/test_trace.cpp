#include <gtest/gtest.h>

#include <stdexcept>

#include "cli/trace_options.h"
#include "trace/event_tap.h"
#include "trace/flat_json.h"
#include "trace/trace_event.h"
#include "trace/trace_filter.h"

namespace redeye::trace {
namespace {

TraceEvent http_event(int status, uint64_t duration_ns) {
  TraceEvent e;
  e.time_ns = 1700000000123456789ULL;
  e.pid = 4242;
  e.service = "api";
  e.comm = "python3";
  e.peer = "127.0.0.1:41234";
  e.kind = "http";
  e.role = "server";
  e.operation = "GET";
  e.target = "/orders";
  e.status = std::to_string(status);
  e.error = status >= 500;
  e.duration_ns = duration_ns;
  return e;
}

TEST(TraceDuration, UnitsAndBareMilliseconds) {
  EXPECT_EQ(parse_duration_ns("40ms"), 40000000u);
  EXPECT_EQ(parse_duration_ns("1s"), 1000000000u);
  EXPECT_EQ(parse_duration_ns("250us"), 250000u);
  EXPECT_EQ(parse_duration_ns("1.5s"), 1500000000u);
  EXPECT_EQ(parse_duration_ns("100ns"), 100u);
  EXPECT_EQ(parse_duration_ns("2m"), 120000000000u);
  EXPECT_EQ(parse_duration_ns("7"), 7000000u);
  for (const char* bad : {"", "ms", "40 ms", "40h", "-1ms", "1e3ms", "4.0.1s", "99999999s"})
    EXPECT_THROW(parse_duration_ns(bad), std::invalid_argument) << bad;
}

TEST(TraceStatus, ClassesAndCodes) {
  EXPECT_EQ(parse_status("5xx").klass, 5);
  EXPECT_EQ(parse_status("4XX").klass, 4);
  EXPECT_EQ(parse_status("404").code, 404);
  for (const char* bad : {"", "5x", "600", "6xx", "abc", "40x", "4044"})
    EXPECT_THROW(parse_status(bad), std::invalid_argument) << bad;
  EXPECT_TRUE(parse_status("5xx").matches("503"));
  EXPECT_FALSE(parse_status("5xx").matches("404"));
  EXPECT_TRUE(parse_status("404").matches("404"));
  EXPECT_FALSE(parse_status("404").matches("4040"));
  EXPECT_FALSE(parse_status("5xx").matches(""));
}

TEST(TraceFilter, EachFilterExcludes) {
  TraceFilter f;
  const auto slow = http_event(200, 51000000), fast = http_event(503, 300000);
  EXPECT_TRUE(f.matches(slow));
  f.kinds = {"sql"};
  EXPECT_FALSE(f.matches(slow));
  f.kinds = {"http", "tcp"};
  EXPECT_TRUE(f.matches(slow));
  f.pid = 1;
  EXPECT_FALSE(f.matches(slow));
  f.pid = 4242;
  f.service = "other";
  EXPECT_FALSE(f.matches(slow));
  f.service = "api";
  f.min_duration_ns = 40000000;
  EXPECT_TRUE(f.matches(slow));
  EXPECT_FALSE(f.matches(fast));
  f.min_duration_ns = 0;
  f.status = parse_status("5xx");
  EXPECT_FALSE(f.matches(slow));
  EXPECT_TRUE(f.matches(fast));
  f.status = {};
  f.errors_only = true;
  EXPECT_FALSE(f.matches(slow));
  EXPECT_TRUE(f.matches(fast));
  // a status filter is about HTTP: a TCP event has no status to match
  TraceEvent tcp;
  tcp.kind = "tcp";
  tcp.error = true;
  TraceFilter by_status;
  by_status.status = parse_status("5xx");
  EXPECT_FALSE(by_status.matches(tcp));
}

TEST(TraceFilter, JsonRoundTrip) {
  TraceFilter f;
  f.kinds = {"http", "sql"};
  f.pid = 77;
  f.service = "svc \"q\"";
  f.min_duration_ns = 40000000;
  f.status = parse_status("4xx");
  f.errors_only = true;
  f.show_payload = true;
  const auto back = filter_from_json(to_json(f));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->kinds, f.kinds);
  EXPECT_EQ(back->pid, f.pid);
  EXPECT_EQ(back->service, f.service);
  EXPECT_EQ(back->min_duration_ns, f.min_duration_ns);
  EXPECT_EQ(back->status.klass, 4);
  EXPECT_TRUE(back->errors_only);
  EXPECT_TRUE(back->show_payload);
  EXPECT_FALSE(filter_from_json("{\"kinds\":\"bogus\"}"));
  EXPECT_FALSE(filter_from_json("{\"status\":\"7xx\"}"));
  EXPECT_FALSE(filter_from_json("not json"));
}

TEST(FlatJson, EscapesAndRejectsNesting) {
  const std::string text = FlatJsonWriter().add("a", "x\"y\\z\n\x01").add("n", uint64_t{5}).add_bool("b", true).str();
  EXPECT_EQ(text, "{\"a\":\"x\\\"y\\\\z\\n\\u0001\",\"n\":5,\"b\":true}");
  const auto m = parse_flat_json(text);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->at("a"), "x\"y\\z\n\x01");
  EXPECT_EQ(m->at("n"), "5");
  EXPECT_EQ(m->at("b"), "true");
  EXPECT_FALSE(parse_flat_json("{\"a\":{\"b\":1}}"));
  EXPECT_FALSE(parse_flat_json("{\"a\":1} trailing"));
  EXPECT_FALSE(parse_flat_json("{\"a\":\"unterminated}"));
  EXPECT_TRUE(parse_flat_json(" { } "));
}

TEST(TraceEvent, LineHasWhoWhatStatusAndDuration) {
  const std::string line = format_line(http_event(200, 51300000));
  EXPECT_NE(line.find(" api/4242/python3 127.0.0.1:41234 HTTP server GET /orders 200 51.3ms"), std::string::npos)
      << line;
  EXPECT_EQ(line.find(' '), 15u) << "time as HH:MM:SS.micros: " << line;

  TraceEvent sql;
  sql.kind = "sql";
  sql.role = "client";
  sql.operation = "postgresql SELECT";
  sql.target = "SELECT * FROM t WHERE id = ?";
  sql.duration_ns = 812000;
  EXPECT_NE(format_line(sql).find("SQL client postgresql SELECT \"SELECT * FROM t WHERE id = ?\" ok 812us"),
            std::string::npos)
      << format_line(sql);
  sql.status = "42P01";
  EXPECT_NE(format_line(sql).find("error=42P01"), std::string::npos);

  TraceEvent tcp;
  tcp.kind = "tcp";
  tcp.peer = "127.0.0.1:9";
  tcp.operation = "connect_failed";
  tcp.target = "refused";
  const std::string t = format_line(tcp);
  EXPECT_NE(t.find("/0/- 127.0.0.1:9 TCP connect_failed refused"), std::string::npos) << t;
  EXPECT_EQ(t.substr(t.size() - 8), " refused") << "TCP events have no duration: " << t;

  TraceEvent evil = http_event(200, 1000);
  evil.target = "/a\x1b]0;owned\x07";
  EXPECT_EQ(format_line(evil).find('\x1b'), std::string::npos);
}

TEST(TraceEvent, JsonRoundTrip) {
  const auto e = http_event(503, 12345);
  const auto back = event_from_json(to_json(e));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->time_ns, e.time_ns);
  EXPECT_EQ(back->pid, e.pid);
  EXPECT_EQ(back->target, e.target);
  EXPECT_EQ(back->status, "503");
  EXPECT_TRUE(back->error);
  EXPECT_EQ(back->duration_ns, 12345u);
  EXPECT_EQ(format_line(*back), format_line(e));
}

TEST(TraceDurationText, Scales) {
  EXPECT_EQ(format_duration(812000), "812us");
  EXPECT_EQ(format_duration(51300000), "51.3ms");
  EXPECT_EQ(format_duration(1200000000), "1.20s");
}

TEST(EventOf, MasksUnlessPayloadAsked) {
  capture::ConnectionInfo conn;
  conn.tgid = 9;
  conn.peer = "10.0.0.1:5432";
  protocols::Record r;
  r.role = protocols::Role::Client;
  r.request_ns = 100;
  r.response_ns = 40000100;
  r.sql = protocols::SqlDetails{"postgresql", "SELECT", "t", "", "SELECT * FROM t WHERE name = 'bob'"};
  const auto masked = event_of(conn, r, false), raw = event_of(conn, r, true);
  ASSERT_TRUE(masked && raw);
  EXPECT_EQ(masked->target, "SELECT * FROM t WHERE name = ?");
  EXPECT_EQ(raw->target, "SELECT * FROM t WHERE name = 'bob'");
  EXPECT_EQ(masked->duration_ns, 40000000u);
  EXPECT_EQ(masked->role, "client");

  protocols::Record h;
  h.role = protocols::Role::Server;
  h.http = protocols::HttpDetails{};
  h.http->method = "GET";
  h.http->path = "/login";
  h.http->query = "token=s3cret";
  h.http->status = 200;
  EXPECT_EQ(event_of(conn, h, false)->target, "/login");
  EXPECT_EQ(event_of(conn, h, true)->target, "/login?token=s3cret");

  protocols::Record amqp;
  amqp.protocol = "amqp";
  amqp.role = protocols::Role::Client;
  amqp.operation = "confirm";
  amqp.amqp = protocols::AmqpDetails{};
  amqp.amqp->event = protocols::AmqpEvent::Confirmed;
  amqp.amqp->exchange = "orders";
  amqp.amqp->outcome = "ack";
  const auto a = event_of(conn, amqp, false);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->kind, "amqp");
  EXPECT_EQ(a->operation, "confirm");
  EXPECT_EQ(a->target, "exchange=orders");
  EXPECT_EQ(a->status, "ack");
  amqp.operation = "ack";
  amqp.amqp->event = protocols::AmqpEvent::Settled;
  amqp.amqp->exchange = "";
  amqp.amqp->queue = "jobs";
  amqp.amqp->count = 3;
  const auto settled = event_of(conn, amqp, false);
  EXPECT_EQ(settled->target, "queue=jobs messages=3");
  EXPECT_EQ(settled->status, "");
  amqp.operation = "publish";
  amqp.amqp->event = protocols::AmqpEvent::Published;
  amqp.amqp->count = 1;
  amqp.amqp->outcome = "";
  amqp.amqp->queue = "";
  EXPECT_EQ(event_of(conn, amqp, false)->target, "exchange=(default)");

  protocols::Record other;
  EXPECT_FALSE(event_of(conn, other, false));
}

TEST(Subscription, DropsAndCountsWhenTheReaderLags) {
  Subscription s(TraceFilter{}, 3);
  for (int i = 0; i < 5; ++i) s.push(http_event(200, static_cast<uint64_t>(i)));
  EXPECT_EQ(s.take_dropped(), 2u);
  EXPECT_EQ(s.take_dropped(), 0u);
  const auto got = s.drain(10);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got.front().duration_ns, 0u);  // the oldest are kept, the newest dropped
  EXPECT_TRUE(s.drain(10).empty());
}

}  // namespace
}  // namespace redeye::trace

namespace redeye::cli {
namespace {

std::string usage_error(const std::vector<std::string>& args, bool top = false) {
  try {
    if (top) parse_top_options(args);
    else parse_trace_options(args);
  } catch (const UsageError& e) {
    return e.what();
  } catch (const HelpRequested&) {
    return "help";
  }
  return "";
}

TEST(TraceOptions, KindAndFilters) {
  const auto o = parse_trace_options({"http", "--min-duration", "40ms", "--status", "5xx", "--limit", "3", "--pid",
                                      "12", "--json", "--control-socket", "/tmp/x.sock"});
  EXPECT_EQ(o.filter.kinds, std::set<std::string>{"http"});
  EXPECT_EQ(o.filter.min_duration_ns, 40000000u);
  EXPECT_EQ(o.filter.status.klass, 5);
  EXPECT_EQ(o.limit, 3u);
  EXPECT_EQ(o.filter.pid, 12u);
  EXPECT_TRUE(o.json);
  EXPECT_FALSE(o.filter.show_payload);
  EXPECT_EQ(o.control_socket, "/tmp/x.sock");
  EXPECT_TRUE(parse_trace_options({"all"}).filter.kinds.empty());
  EXPECT_TRUE(parse_trace_options({}).filter.kinds.empty());
  EXPECT_EQ(parse_trace_options({}).control_socket, kDefaultControlSocket);
}

TEST(TraceOptions, BadInputIsOneLine) {
  EXPECT_NE(usage_error({"smtp"}).find("invalid trace kind 'smtp'"), std::string::npos);
  EXPECT_NE(usage_error({"http", "sql"}).find("unexpected argument 'sql'"), std::string::npos);
  EXPECT_EQ(usage_error({"--min-duration", "40"}), "");  // bare: milliseconds
  EXPECT_NE(usage_error({"--min-duration", "fast"}).find("--min-duration: invalid duration 'fast'"), std::string::npos);
  EXPECT_NE(usage_error({"--status", "50x"}).find("--status: invalid status '50x'"), std::string::npos);
  EXPECT_NE(usage_error({"--limit", "0"}).find("invalid --limit 0"), std::string::npos);
  EXPECT_NE(usage_error({"--pid", "-3"}).find("invalid --pid"), std::string::npos);
  EXPECT_NE(usage_error({"--duration", "0"}).find("invalid --duration"), std::string::npos);
  EXPECT_NE(usage_error({"--control-socket", "relative.sock"}).find("invalid --control-socket"), std::string::npos);
  EXPECT_NE(usage_error({"--bogus"}).find("unrecognised option '--bogus'"), std::string::npos);
  EXPECT_NE(usage_error({"--lim", "3"}).find("--lim"), std::string::npos);  // no abbreviations
  for (const auto& message : {usage_error({"smtp"}), usage_error({"--status", "x"})})
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST(TopOptions, SortAndRefresh) {
  EXPECT_EQ(parse_top_options({}).sort, "rps");
  EXPECT_EQ(parse_top_options({"--sort", "cpu"}).sort, "cpu");
  EXPECT_NE(usage_error({"--sort", "colour"}, true).find("invalid --sort 'colour'"), std::string::npos);
  EXPECT_NE(usage_error({"--refresh", "0"}, true).find("invalid --refresh"), std::string::npos);
  EXPECT_NE(usage_error({"extra"}, true).find("unexpected argument 'extra'"), std::string::npos);
  EXPECT_EQ(usage_error({"--help"}, true), "help");
}

}  // namespace
}  // namespace redeye::cli
