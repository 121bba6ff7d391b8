#include "top/top_table.h"

#include <gtest/gtest.h>

#include <cmath>

namespace redeye::top {
namespace {

// Two scrapes of one service a second apart: 100 requests (4 of them 5xx,
// 99 between 25 and 50 ms, one slower), 0.25 s of CPU.
const char* kBefore = R"(# HELP http_server_request_duration_seconds x
# TYPE http_server_request_duration_seconds histogram
http_server_request_duration_seconds_bucket{service_name="api",http_request_method="GET",http_response_status_code="200",http_route="/",le="0.025"} 0
http_server_request_duration_seconds_bucket{service_name="api",http_request_method="GET",http_response_status_code="200",http_route="/",le="0.05"} 0
http_server_request_duration_seconds_bucket{service_name="api",http_request_method="GET",http_response_status_code="200",http_route="/",le="1"} 0
http_server_request_duration_seconds_bucket{service_name="api",http_request_method="GET",http_response_status_code="200",http_route="/",le="+Inf"} 0
http_server_request_duration_seconds_count{service_name="api",http_request_method="GET",http_response_status_code="200",http_route="/"} 0
redeye_process_cpu_seconds_total{service_name="api"} 10
redeye_tcp_retransmits_total{service_name="api"} 3
redeye_process_cpu_seconds_total{service_name="idle"} 5
)";

const char* kAfter = R"(http_server_request_duration_seconds_bucket{service_name="api",http_request_method="GET",http_response_status_code="200",http_route="/",le="0.025"} 0
http_server_request_duration_seconds_bucket{service_name="api",http_request_method="GET",http_response_status_code="200",http_route="/",le="0.05"} 95
http_server_request_duration_seconds_bucket{service_name="api",http_request_method="GET",http_response_status_code="200",http_route="/",le="1"} 96
http_server_request_duration_seconds_bucket{service_name="api",http_request_method="GET",http_response_status_code="200",http_route="/",le="+Inf"} 96
http_server_request_duration_seconds_count{service_name="api",http_request_method="GET",http_response_status_code="200",http_route="/"} 96
http_server_request_duration_seconds_bucket{service_name="api",http_request_method="GET",http_response_status_code="503",http_route="/",le="0.025"} 0
http_server_request_duration_seconds_bucket{service_name="api",http_request_method="GET",http_response_status_code="503",http_route="/",le="0.05"} 4
http_server_request_duration_seconds_bucket{service_name="api",http_request_method="GET",http_response_status_code="503",http_route="/",le="1"} 4
http_server_request_duration_seconds_bucket{service_name="api",http_request_method="GET",http_response_status_code="503",http_route="/",le="+Inf"} 4
http_server_request_duration_seconds_count{service_name="api",http_request_method="GET",http_response_status_code="503",http_route="/"} 4
http_server_active_requests{service_name="api"} 2
redeye_process_cpu_seconds_total{service_name="api"} 10.25
redeye_tcp_retransmits_total{service_name="api"} 5
redeye_tcp_resets_total{service_name="api",direction="sent"} 1
redeye_process_cpu_seconds_total{service_name="idle"} 5
redeye_disk_io_duration_seconds_bucket{device="sda",operation="read",le="0.001"} 10
redeye_disk_io_duration_seconds_bucket{device="sda",operation="read",le="+Inf"} 10
a line that is not one
)";

TEST(TopTable, RatesErrorsQuantilesFromTwoScrapes) {
  const Table t = compute(parse_snapshot(kBefore), parse_snapshot(kAfter), 1.0, Column::Rps);
  ASSERT_EQ(t.rows.size(), 1u) << "the idle service is left out";
  const Row& r = t.rows[0];
  EXPECT_EQ(r.service, "api");
  EXPECT_DOUBLE_EQ(r.rps, 100);
  EXPECT_DOUBLE_EQ(r.error_pct, 4);
  ASSERT_TRUE(r.p50 && r.p99);
  EXPECT_NEAR(*r.p50, 0.025 + 0.025 * 50 / 99, 1e-9);  // interpolated in (25 ms, 50 ms]
  EXPECT_DOUBLE_EQ(*r.p99, 0.05);                         // the 99th of 100 is the last in (25, 50 ms]
  EXPECT_DOUBLE_EQ(r.in_flight, 2);
  EXPECT_DOUBLE_EQ(r.cpu_pct, 25);
  EXPECT_DOUBLE_EQ(r.retransmits, 2);
  EXPECT_DOUBLE_EQ(r.resets, 1);
  ASSERT_TRUE(t.disk_p99);
  EXPECT_LE(*t.disk_p99, 0.001);
}

TEST(TopTable, QuantileOfNothingIsNone) {
  EXPECT_FALSE(quantile({}, 0.5));
  EXPECT_FALSE(quantile({{0.1, 0}, {INFINITY, 0}}, 0.5));
  EXPECT_DOUBLE_EQ(*quantile({{0.1, 10}, {INFINITY, 10}}, 0.5), 0.05);
}

TEST(TopTable, MergeReadsEachHistogramAtItsBounds) {
  const Buckets a{{0.1, 1}, {1, 2}, {INFINITY, 2}}, b{{0.5, 3}, {INFINITY, 3}};
  const Buckets m = merge(a, b);
  EXPECT_DOUBLE_EQ(m.at(0.1), 1);
  EXPECT_DOUBLE_EQ(m.at(0.5), 4);
  EXPECT_DOUBLE_EQ(m.at(1), 5);
  EXPECT_DOUBLE_EQ(m.at(INFINITY), 5);
}

TEST(TopTable, CounterResetsCountAsNothing) {
  const Table t = compute(parse_snapshot(kAfter), parse_snapshot(kBefore), 1.0, Column::Rps);
  for (const auto& r : t.rows) EXPECT_GE(r.rps, 0);
}

TEST(TopTable, SortsDescendingByColumnAndByNameAscending) {
  std::vector<Row> rows(3);
  rows[0].service = "b", rows[0].rps = 1, rows[0].cpu_pct = 50;
  rows[1].service = "a", rows[1].rps = 5, rows[1].cpu_pct = 10;
  rows[2].service = "c", rows[2].rps = 3, rows[2].cpu_pct = 90;
  sort_rows(rows, Column::Rps);
  EXPECT_EQ(rows[0].service, "a");
  sort_rows(rows, Column::Cpu);
  EXPECT_EQ(rows[0].service, "c");
  sort_rows(rows, Column::Service);
  EXPECT_EQ(rows[0].service, "a");
  EXPECT_EQ(rows[2].service, "c");
}

TEST(TopTable, RenderFitsTheTerminal) {
  Table t;
  for (int i = 0; i < 40; ++i) {
    Row r;
    r.service = "a-very-long-service-name-that-goes-on-" + std::to_string(i);
    r.rps = 123456.7;
    r.p99 = 12.5;
    t.rows.push_back(r);
  }
  const auto lines = render(t, Column::Rps, 80, 24, "attached to agent at /run/redeye/redeye.sock");
  ASSERT_EQ(lines.size(), 24u);
  for (const auto& l : lines) EXPECT_LE(l.size(), 80u) << l;
  EXPECT_NE(lines[1].find("*RPS"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("P99"), std::string::npos);
  EXPECT_NE(lines[1].find("RST/s"), std::string::npos);
  EXPECT_NE(lines.back().find("q quit"), std::string::npos);
  EXPECT_NE(lines.back().find("(19 more)"), std::string::npos) << lines.back();
  EXPECT_NE(lines[2].find("123k"), std::string::npos) << lines[2];
  EXPECT_NE(lines[2].find("12.50s"), std::string::npos) << lines[2];
}

TEST(TopTable, ColumnKeys) {
  EXPECT_EQ(column_of("r"), Column::Rps);
  EXPECT_EQ(column_of("cpu"), Column::Cpu);
  EXPECT_EQ(column_of("x"), Column::Resets);
  EXPECT_FALSE(column_of("z"));
  EXPECT_EQ(next_column(Column::Resets, 1), Column::Service);
  EXPECT_EQ(next_column(Column::Service, -1), Column::Resets);
}

}  // namespace
}  // namespace redeye::top
