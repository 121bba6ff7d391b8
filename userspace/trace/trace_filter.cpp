#include "trace/trace_filter.h"

#include <cctype>
#include <cmath>
#include <stdexcept>

#include "trace/flat_json.h"

namespace redeye::trace {

bool StatusMatch::matches(const std::string& status) const {
  if (any()) return true;
  if (status.size() != 3 || status.find_first_not_of("0123456789") != std::string::npos) return false;
  const int value = std::stoi(status);
  return code ? value == code : value / 100 == klass;
}

std::string StatusMatch::text() const {
  if (code) return std::to_string(code);
  if (klass) return std::to_string(klass) + "xx";
  return "";
}

bool TraceFilter::matches(const TraceEvent& e) const {
  if (!kinds.empty() && !kinds.count(e.kind)) return false;
  if (pid && e.pid != *pid) return false;
  if (!service.empty() && e.service != service) return false;
  if (min_duration_ns && e.duration_ns < min_duration_ns) return false;
  // a status filter is about HTTP statuses: other kinds have none to match
  if (!status.any() && (e.kind != "http" || !status.matches(e.status))) return false;
  if (errors_only && !e.error) return false;
  return true;
}

const std::set<std::string>& trace_kinds() {
  static const std::set<std::string> kinds{"http", "sql", "amqp", "tcp"};
  return kinds;
}

uint64_t parse_duration_ns(std::string_view text) {
  const std::string shown(text);
  const auto bad = [&] {
    return std::invalid_argument("invalid duration '" + shown + "': expected a number with a unit, e.g. 40ms, 1s, 250us");
  };
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  if (i == 0) throw bad();
  double value = 0;
  try {
    size_t used = 0;
    value = std::stod(std::string(text.substr(0, i)), &used);
    if (used != i) throw bad();
  } catch (const std::logic_error&) {
    throw bad();
  }
  const std::string_view unit = text.substr(i);
  double scale = 0;
  if (unit == "ns") scale = 1;
  else if (unit == "us" || unit == "µs") scale = 1e3;
  else if (unit == "ms" || unit.empty()) scale = 1e6;
  else if (unit == "s") scale = 1e9;
  else if (unit == "m") scale = 60e9;
  else throw bad();
  const double ns = value * scale;
  if (!std::isfinite(ns) || ns > 86400e9) throw bad();
  return static_cast<uint64_t>(std::llround(ns));
}

StatusMatch parse_status(std::string_view text) {
  const auto bad = [&] {
    return std::invalid_argument("invalid status '" + std::string(text) + "': expected a code (404) or a class (5xx)");
  };
  if (text.size() != 3 || text[0] < '1' || text[0] > '5') throw bad();
  StatusMatch m;
  if ((text[1] == 'x' || text[1] == 'X') && (text[2] == 'x' || text[2] == 'X')) {
    m.klass = text[0] - '0';
    return m;
  }
  if (!std::isdigit(static_cast<unsigned char>(text[1])) || !std::isdigit(static_cast<unsigned char>(text[2])))
    throw bad();
  m.code = std::stoi(std::string(text));
  return m;
}

std::string to_json(const TraceFilter& f) {
  std::string kinds;
  for (const auto& k : f.kinds) kinds += (kinds.empty() ? "" : ",") + k;
  FlatJsonWriter w;
  w.add("kinds", kinds);
  if (f.pid) w.add("pid", static_cast<uint64_t>(*f.pid));
  w.add("service", f.service).add("min_duration_ns", f.min_duration_ns).add("status", f.status.text());
  w.add_bool("errors", f.errors_only).add_bool("payload", f.show_payload);
  return w.str();
}

std::optional<TraceFilter> filter_from_json(std::string_view text) {
  auto fields = parse_flat_json(text);
  if (!fields) return std::nullopt;
  auto& m = *fields;
  TraceFilter f;
  try {
    for (size_t start = 0; start < m["kinds"].size();) {
      size_t comma = m["kinds"].find(',', start);
      if (comma == std::string::npos) comma = m["kinds"].size();
      const std::string kind = m["kinds"].substr(start, comma - start);
      if (!trace_kinds().count(kind)) return std::nullopt;
      f.kinds.insert(kind);
      start = comma + 1;
    }
    if (m.count("pid")) f.pid = static_cast<uint32_t>(std::stoul(m["pid"]));
    f.service = m["service"];
    if (m.count("min_duration_ns")) f.min_duration_ns = std::stoull(m["min_duration_ns"]);
    if (!m["status"].empty()) f.status = parse_status(m["status"]);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  f.errors_only = m["errors"] == "true";
  f.show_payload = m["payload"] == "true";
  return f;
}

}  // namespace redeye::trace
