// `redeye top`'s table: per-service rates and quantiles computed from two
// snapshots of the agent's Prometheus text, a second apart, and rendered to
// fit the terminal. Knows nothing of terminals or sockets.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace redeye::top {

// Cumulative bucket counts (le -> count) of one histogram family, summed
// over the series of one service.
using Buckets = std::map<double, double>;

struct ServiceCounters {
  double requests = 0;  // HTTP requests served + database operations served
  double errors = 0;    // HTTP 5xx + database errors
  Buckets http_latency, db_latency;
  double in_flight = 0;
  double cpu_seconds = 0;
  Buckets runqueue;
  double retransmits = 0;
  double resets = 0;
};

struct Snapshot {
  std::map<std::string, ServiceCounters> services;
  Buckets disk_latency;  // node-wide: disk latency is measured per device, not per service
};

// Prometheus text exposition -> the counters top shows. Lines it does not
// know are skipped.
Snapshot parse_snapshot(std::string_view text);

enum class Column { Service, Rps, Errors, P50, P99, InFlight, Cpu, RunQueue, Retransmits, Resets };

struct Row {
  std::string service;
  double rps = 0;
  double error_pct = 0;
  std::optional<double> p50, p99;  // seconds; none without requests
  double in_flight = 0;
  double cpu_pct = 0;  // of one core
  std::optional<double> runqueue_p99;
  double retransmits = 0;  // per second
  double resets = 0;       // per second
};

struct Table {
  std::vector<Row> rows;
  std::optional<double> disk_p99;
};

// Rates over `seconds` between two snapshots; services idle in every column
// are left out. Sorted by `sort` (descending; by name ascending).
Table compute(const Snapshot& before, const Snapshot& after, double seconds, Column sort);

// Descending by the column (by name: ascending), ties by name.
void sort_rows(std::vector<Row>& rows, Column sort);

// The quantile q (0..1) of the observations between two cumulative bucket
// sets, interpolated within its bucket; none when nothing was observed.
std::optional<double> quantile(const Buckets& delta, double q);
Buckets bucket_delta(const Buckets& before, const Buckets& after);
// Two histograms with different bounds as one: cumulative counts on the
// union of the bounds (each read at its largest bound not above).
Buckets merge(const Buckets& a, const Buckets& b);

// The frame: a title line, a header, rows; at most `height` lines of at most
// `width` columns.
std::vector<std::string> render(const Table& table, Column sort, int width, int height, const std::string& source);

// "r" -> Rps, ...; nullopt for an unknown key.
std::optional<Column> column_of(std::string_view key);
std::string sort_keys_help();
Column next_column(Column c, int step);

}  // namespace redeye::top
