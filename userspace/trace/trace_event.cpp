#include "trace/trace_event.h"

#include <time.h>

#include <cstdio>

#include "trace/flat_json.h"

namespace redeye::trace {
namespace {

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// Bytes a terminal must not interpret (escape sequences from a payload).
std::string printable(const std::string& s) {
  std::string out = s;
  for (auto& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  return out;
}

}  // namespace

std::string format_duration(uint64_t ns) {
  char buf[32];
  if (ns < 1000000) std::snprintf(buf, sizeof buf, "%lluus", static_cast<unsigned long long>(ns / 1000));
  else if (ns < 1000000000ULL) std::snprintf(buf, sizeof buf, "%.1fms", static_cast<double>(ns) / 1e6);
  else std::snprintf(buf, sizeof buf, "%.2fs", static_cast<double>(ns) / 1e9);
  return buf;
}

std::string format_line(const TraceEvent& e) {
  const time_t secs = static_cast<time_t>(e.time_ns / 1000000000ULL);
  tm local{};
  localtime_r(&secs, &local);
  char when[32];
  std::snprintf(when, sizeof when, "%02d:%02d:%02d.%06llu", local.tm_hour, local.tm_min, local.tm_sec,
                static_cast<unsigned long long>(e.time_ns % 1000000000ULL / 1000));
  std::string line = when;
  line += ' ' + printable(e.service) + '/' + std::to_string(e.pid) + '/' + (e.comm.empty() ? std::string("-") : printable(e.comm));
  line += ' ' + (e.peer.empty() ? std::string("-") : e.peer);
  line += ' ' + upper(e.kind);
  if (!e.role.empty()) line += ' ' + e.role;
  line += ' ' + printable(e.operation);
  if (e.kind == "sql") line += " \"" + printable(e.target) + '"';
  else if (!e.target.empty()) line += ' ' + printable(e.target);
  if (e.kind == "sql") line += ' ' + (e.status.empty() ? std::string("ok") : "error=" + printable(e.status));
  else if (!e.status.empty()) line += ' ' + printable(e.status);
  if (e.kind != "tcp") line += ' ' + format_duration(e.duration_ns);
  return line;
}

std::string to_json(const TraceEvent& e) {
  return FlatJsonWriter()
      .add("time_ns", e.time_ns)
      .add("pid", static_cast<uint64_t>(e.pid))
      .add("service", e.service)
      .add("comm", e.comm)
      .add("peer", e.peer)
      .add("kind", e.kind)
      .add("role", e.role)
      .add("operation", e.operation)
      .add("target", e.target)
      .add("status", e.status)
      .add_bool("error", e.error)
      .add("duration_ns", e.duration_ns)
      .str();
}

std::optional<TraceEvent> event_from_json(const std::string& line) {
  auto fields = parse_flat_json(line);
  if (!fields || !fields->count("kind")) return std::nullopt;
  auto& f = *fields;
  TraceEvent e;
  try {
    e.time_ns = f.count("time_ns") ? std::stoull(f["time_ns"]) : 0;
    e.pid = f.count("pid") ? static_cast<uint32_t>(std::stoul(f["pid"])) : 0;
    e.duration_ns = f.count("duration_ns") ? std::stoull(f["duration_ns"]) : 0;
  } catch (const std::exception&) {
    return std::nullopt;
  }
  e.service = f["service"];
  e.comm = f["comm"];
  e.peer = f["peer"];
  e.kind = f["kind"];
  e.role = f["role"];
  e.operation = f["operation"];
  e.target = f["target"];
  e.status = f["status"];
  e.error = f["error"] == "true";
  return e;
}

}  // namespace redeye::trace
