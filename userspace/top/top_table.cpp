#include "top/top_table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <limits>

namespace redeye::top {
namespace {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

// One exposition line, or nullopt for comments and what it cannot read.
std::optional<Sample> parse_line(std::string_view line) {
  if (line.empty() || line.front() == '#') return std::nullopt;
  Sample s;
  size_t i = 0;
  while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
  s.name = std::string(line.substr(0, i));
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      const size_t eq = line.find('=', i);
      if (eq == std::string_view::npos || eq + 1 >= line.size() || line[eq + 1] != '"') return std::nullopt;
      std::string key(line.substr(i, eq - i)), value;
      size_t j = eq + 2;
      for (; j < line.size() && line[j] != '"'; ++j) {
        if (line[j] == '\\' && j + 1 < line.size()) {
          ++j;
          value.push_back(line[j] == 'n' ? '\n' : line[j]);
        } else {
          value.push_back(line[j]);
        }
      }
      if (j >= line.size()) return std::nullopt;
      s.labels[key] = value;
      i = j + 1;
      if (i < line.size() && line[i] == ',') ++i;
    }
    if (i >= line.size()) return std::nullopt;
    ++i;
  }
  while (i < line.size() && line[i] == ' ') ++i;
  const std::string value(line.substr(i, line.find(' ', i) - i));
  if (value == "+Inf") s.value = std::numeric_limits<double>::infinity();
  else if (value == "NaN") return std::nullopt;
  else {
    char* end = nullptr;
    s.value = std::strtod(value.c_str(), &end);
    if (end == value.c_str()) return std::nullopt;
  }
  return s;
}

double le_of(const Sample& s) {
  const auto it = s.labels.find("le");
  if (it == s.labels.end()) return std::numeric_limits<double>::quiet_NaN();
  if (it->second == "+Inf") return std::numeric_limits<double>::infinity();
  return std::strtod(it->second.c_str(), nullptr);
}

void add_bucket(Buckets& b, const Sample& s) {
  const double le = le_of(s);
  if (!std::isnan(le)) b[le] += s.value;
}

double cumulative_at(const Buckets& b, double bound) {
  auto it = b.upper_bound(bound);
  if (it == b.begin()) return 0;
  return std::prev(it)->second;
}

double non_negative(double v) { return v > 0 ? v : 0; }

std::string duration_text(std::optional<double> seconds) {
  if (!seconds) return "-";
  char buf[32];
  const double s = *seconds;
  if (s < 1e-3) std::snprintf(buf, sizeof buf, "%.0fus", s * 1e6);
  else if (s < 1) std::snprintf(buf, sizeof buf, "%.1fms", s * 1e3);
  else std::snprintf(buf, sizeof buf, "%.2fs", s);
  return buf;
}

std::string number_text(double v, bool integer_above_100 = true) {
  char buf[32];
  if (v >= 99999.5) std::snprintf(buf, sizeof buf, "%.0fk", v / 1000);
  else if (v >= 100 && integer_above_100) std::snprintf(buf, sizeof buf, "%.0f", v);
  else std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

struct ColumnInfo {
  Column column;
  const char* name;  // --sort value
  char key;          // key in the terminal
  const char* header;
  int width;
};

constexpr ColumnInfo kColumns[] = {
    {Column::Service, "service", 'n', "SERVICE", 0},   {Column::Rps, "rps", 'r', "RPS", 7},
    {Column::Errors, "errors", 'e', "ERR%", 6},         {Column::P50, "p50", '5', "P50", 8},
    {Column::P99, "p99", 'p', "P99", 8},                {Column::InFlight, "inflight", 'i', "INFL", 5},
    {Column::Cpu, "cpu", 'c', "CPU%", 6},               {Column::RunQueue, "runqueue", 'l', "RQ99", 8},
    {Column::Retransmits, "retransmits", 't', "RETR/s", 7}, {Column::Resets, "resets", 'x', "RST/s", 6},
};

const ColumnInfo& info(Column c) {
  for (const auto& i : kColumns)
    if (i.column == c) return i;
  return kColumns[0];
}

double sort_value(const Row& r, Column c) {
  switch (c) {
    case Column::Rps: return r.rps;
    case Column::Errors: return r.error_pct;
    case Column::P50: return r.p50.value_or(-1);
    case Column::P99: return r.p99.value_or(-1);
    case Column::InFlight: return r.in_flight;
    case Column::Cpu: return r.cpu_pct;
    case Column::RunQueue: return r.runqueue_p99.value_or(-1);
    case Column::Retransmits: return r.retransmits;
    case Column::Resets: return r.resets;
    default: return 0;
  }
}

std::string cell(const Row& r, Column c) {
  switch (c) {
    case Column::Rps: return number_text(r.rps);
    case Column::Errors: return number_text(r.error_pct, false);
    case Column::P50: return duration_text(r.p50);
    case Column::P99: return duration_text(r.p99);
    case Column::InFlight: return number_text(r.in_flight);
    case Column::Cpu: return number_text(r.cpu_pct);
    case Column::RunQueue: return duration_text(r.runqueue_p99);
    case Column::Retransmits: return number_text(r.retransmits);
    case Column::Resets: return number_text(r.resets);
    default: return r.service;
  }
}

std::string fit(std::string s, size_t width) {
  if (s.size() > width) s.resize(width);
  return s;
}

}  // namespace

Snapshot parse_snapshot(std::string_view text) {
  Snapshot snap;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    auto sample = parse_line(text.substr(start, end - start));
    start = end + 1;
    if (!sample) continue;
    const auto& s = *sample;
    if (s.name.rfind("redeye_disk_io_duration_seconds_bucket", 0) == 0) {
      add_bucket(snap.disk_latency, s);
      continue;
    }
    const auto svc = s.labels.find("service_name");
    if (svc == s.labels.end()) continue;
    auto& c = snap.services[svc->second];
    const auto label = [&](const char* k) {
      auto it = s.labels.find(k);
      return it == s.labels.end() ? std::string() : it->second;
    };
    if (s.name == "http_server_request_duration_seconds_count") {
      c.requests += s.value;
      if (label("http_response_status_code").rfind('5', 0) == 0) c.errors += s.value;
    } else if (s.name == "http_server_request_duration_seconds_bucket") {
      add_bucket(c.http_latency, s);
    } else if (s.name == "db_server_operation_duration_seconds_count") {
      c.requests += s.value;
      if (!label("error_type").empty()) c.errors += s.value;
    } else if (s.name == "db_server_operation_duration_seconds_bucket") {
      add_bucket(c.db_latency, s);
    } else if (s.name == "http_server_active_requests" || s.name == "db_server_active_operations") {
      c.in_flight += s.value;
    } else if (s.name == "redeye_process_cpu_seconds_total") {
      c.cpu_seconds += s.value;
    } else if (s.name == "redeye_runqueue_latency_seconds_bucket") {
      add_bucket(c.runqueue, s);
    } else if (s.name == "redeye_tcp_retransmits_total") {
      c.retransmits += s.value;
    } else if (s.name == "redeye_tcp_resets_total") {
      c.resets += s.value;
    }
  }
  return snap;
}

Buckets bucket_delta(const Buckets& before, const Buckets& after) {
  Buckets out;
  for (const auto& [le, n] : after) {
    const auto it = before.find(le);
    out[le] = non_negative(n - (it == before.end() ? 0 : it->second));
  }
  return out;
}

Buckets merge(const Buckets& a, const Buckets& b) {
  Buckets out;
  for (const auto* h : {&a, &b})
    for (const auto& [le, n] : *h) out[le] = cumulative_at(a, le) + cumulative_at(b, le);
  return out;
}

std::optional<double> quantile(const Buckets& delta, double q) {
  if (delta.empty()) return std::nullopt;
  const double total = delta.rbegin()->second;
  if (total <= 0) return std::nullopt;
  const double rank = q * total;
  double lower = 0, below = 0;
  for (const auto& [le, n] : delta) {
    if (n >= rank) {
      if (std::isinf(le)) return lower;  // above the last bound: the bound is all we know
      const double in_bucket = n - below;
      return in_bucket > 0 ? lower + (le - lower) * (rank - below) / in_bucket : le;
    }
    lower = le;
    below = n;
  }
  return lower;
}

Table compute(const Snapshot& before, const Snapshot& after, double seconds, Column sort) {
  Table t;
  if (seconds <= 0) seconds = 1;
  t.disk_p99 = quantile(bucket_delta(before.disk_latency, after.disk_latency), 0.99);
  static const ServiceCounters none;
  for (const auto& [service, now] : after.services) {
    const auto it = before.services.find(service);
    const ServiceCounters& then = it == before.services.end() ? none : it->second;
    Row r;
    r.service = service;
    const double requests = non_negative(now.requests - then.requests);
    r.rps = requests / seconds;
    r.error_pct = requests > 0 ? 100 * non_negative(now.errors - then.errors) / requests : 0;
    const Buckets latency =
        merge(bucket_delta(then.http_latency, now.http_latency), bucket_delta(then.db_latency, now.db_latency));
    r.p50 = quantile(latency, 0.5);
    r.p99 = quantile(latency, 0.99);
    r.in_flight = now.in_flight;
    // a service first seen now: its CPU since the agent started is not this second's
    r.cpu_pct = it == before.services.end() ? 0 : 100 * non_negative(now.cpu_seconds - then.cpu_seconds) / seconds;
    r.runqueue_p99 = quantile(bucket_delta(then.runqueue, now.runqueue), 0.99);
    r.retransmits = non_negative(now.retransmits - then.retransmits) / seconds;
    r.resets = non_negative(now.resets - then.resets) / seconds;
    // run-queue waits alone do not make a row: every short-lived shell has some
    const bool idle = r.rps == 0 && r.in_flight == 0 && r.cpu_pct < 0.5 && r.retransmits == 0 && r.resets == 0;
    if (!idle) t.rows.push_back(std::move(r));
  }
  sort_rows(t.rows, sort);
  return t;
}

void sort_rows(std::vector<Row>& rows, Column sort) {
  std::stable_sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) {
    if (sort == Column::Service) return a.service < b.service;
    const double va = sort_value(a, sort), vb = sort_value(b, sort);
    return va != vb ? va > vb : a.service < b.service;
  });
}

std::vector<std::string> render(const Table& table, Column sort, int width, int height, const std::string& source) {
  width = std::max(width, 40);
  height = std::max(height, 4);
  int numeric = 0;
  for (const auto& c : kColumns) numeric += c.width;
  const int name_width = std::clamp(width - numeric - 1, 8, 32);
  std::vector<std::string> lines;
  std::string title = "redeye top - " + source;
  title += "   disk p99 " + duration_text(table.disk_p99);
  lines.push_back(fit(title, static_cast<size_t>(width)));

  char buf[64];
  std::string header;
  for (const auto& c : kColumns) {
    const std::string label = (c.column == sort ? "*" : "") + std::string(c.header);
    if (c.column == Column::Service) std::snprintf(buf, sizeof buf, "%-*s", name_width, label.c_str());
    else std::snprintf(buf, sizeof buf, "%*s", c.width, label.c_str());
    header += buf;
  }
  lines.push_back(fit(header, static_cast<size_t>(width)));

  const size_t room = static_cast<size_t>(height - 3);  // title, header, keys
  for (size_t i = 0; i < table.rows.size() && i < room; ++i) {
    std::string line;
    for (const auto& c : kColumns) {
      const std::string text = cell(table.rows[i], c.column);
      if (c.column == Column::Service)
        std::snprintf(buf, sizeof buf, "%-*s", name_width, fit(text, static_cast<size_t>(name_width - 1)).c_str());
      else std::snprintf(buf, sizeof buf, "%*s", c.width, fit(text, static_cast<size_t>(c.width - 1)).c_str());
      line += buf;
    }
    lines.push_back(fit(line, static_cast<size_t>(width)));
  }
  std::string keys = "q quit  sort: n r e 5 p i c l t x or left/right";
  if (table.rows.size() > room) keys += "  (" + std::to_string(table.rows.size() - room) + " more)";
  lines.push_back(fit(keys, static_cast<size_t>(width)));
  return lines;
}

std::optional<Column> column_of(std::string_view key) {
  for (const auto& c : kColumns)
    if (key == c.name || (key.size() == 1 && key[0] == c.key)) return c.column;
  return std::nullopt;
}

std::string sort_keys_help() {
  std::string out;
  for (const auto& c : kColumns) out += (out.empty() ? "" : ", ") + std::string(c.name);
  return out;
}

Column next_column(Column c, int step) {
  const int n = static_cast<int>(std::size(kColumns));
  int i = 0;
  while (i < n && kColumns[i].column != c) ++i;
  return kColumns[((i + step) % n + n) % n].column;
}

}  // namespace redeye::top
