#include "metrics/http/http_metrics.h"

#include <algorithm>
#include <cctype>

#include "metrics/http/s3_classifier.h"
#include "metrics/process_labels.h"

namespace redeye::metrics::http {
namespace {

constexpr std::string_view kKnownMethods[] = {"GET", "HEAD", "POST", "PUT", "DELETE",
                                             "PATCH", "OPTIONS", "CONNECT", "TRACE"};

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// Label values from request bytes (Host, a source header): printable ASCII
// only and bounded, so that no request can break the exposition format.
std::string label_safe(std::string_view value, size_t max_bytes = 128) {
  std::string out;
  out.reserve(std::min(value.size(), max_bytes));
  for (char c : value.substr(0, max_bytes)) out.push_back(c >= 0x21 && c <= 0x7e ? c : '_');
  return out;
}

// label_safe(lower(host)) into a reused string.
void assign_host_label(std::string& out, std::string_view host, size_t max_bytes = 128) {
  out.clear();
  for (char c : host.substr(0, max_bytes)) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    out.push_back(c >= 0x21 && c <= 0x7e ? c : '_');
  }
}

// Index of a method in kKnownMethods; std::size(kKnownMethods) for any other.
size_t method_index(std::string_view method) {
  for (size_t i = 0; i < std::size(kKnownMethods); ++i)
    if (method == kKnownMethods[i]) return i;
  return std::size(kKnownMethods);
}

// The OpenTelemetry spelling: the method itself, or "_OTHER" for anything else.
std::string method_label(size_t index) {
  return index < std::size(kKnownMethods) ? std::string(kKnownMethods[index]) : std::string("_OTHER");
}

// Method and status as one cache code.
uint64_t method_status_code(size_t method, int status) {
  return (static_cast<uint64_t>(method) << 32) | static_cast<uint32_t>(status);
}

// The client address without its port: one source per host, not per socket.
std::string peer_host(const std::string& peer) {
  if (!peer.empty() && peer.front() == '[') return peer.substr(0, peer.find(']') + 1);
  return peer.substr(0, peer.rfind(':'));
}

}  // namespace

const prometheus::Histogram::BucketBoundaries& http_duration_bounds() {
  static const prometheus::Histogram::BucketBoundaries bounds{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10};
  return bounds;
}

const prometheus::Histogram::BucketBoundaries& body_size_bounds() {
  static const auto bounds = [] {
    prometheus::Histogram::BucketBoundaries b;
    for (double v = 64; v <= 1024.0 * 1024 * 1024; v *= 4) b.push_back(v);
    return b;
  }();
  return bounds;
}

HttpMetrics::HttpMetrics(prometheus::Registry& registry, proc::ProcessTable& table, const HttpOptions& options)
    : table_(table),
      options_(options),
      routes_([&] {
        std::vector<RouteRule> rules;
        for (const auto& r : options.route_rules) rules.push_back(parse_route_rule(r));
        return RouteNormalizer(std::move(rules));
      }()),
      route_cap_(1000, options.max_routes_per_service, "_other"),
      source_cap_(1000, options.max_sources_per_service, "_other"),
      address_cap_(1000, options.max_server_addresses_per_service, "_other"),
      server_duration_(prometheus::BuildHistogram()
                           .Name("http_server_request_duration_seconds")
                           .Help("Duration of HTTP requests served, first request byte read to last response byte "
                                 "written")
                           .Register(registry)),
      client_duration_(prometheus::BuildHistogram()
                           .Name("http_client_request_duration_seconds")
                           .Help("Duration of HTTP requests made, first request byte written to last response byte "
                                 "read")
                           .Register(registry)),
      server_active_(prometheus::BuildGauge()
                         .Name("http_server_active_requests")
                         .Help("HTTP requests being served: read but not yet answered")
                         .Register(registry)),
      request_body_(prometheus::BuildHistogram()
                        .Name("http_server_request_body_size_bytes")
                        .Help("Size of HTTP request bodies received")
                        .Register(registry)),
      response_body_(prometheus::BuildHistogram()
                         .Name("http_server_response_body_size_bytes")
                         .Help("Size of HTTP response bodies sent")
                         .Register(registry)),
      by_source_(prometheus::BuildCounter()
                     .Name("http_server_requests_by_source_total")
                     .Help("HTTP requests served per request source (opt-in: --http-source)")
                     .Register(registry)),
      s3_duration_(prometheus::BuildHistogram()
                       .Name("s3_client_operation_duration_seconds")
                       .Help("Duration of S3 operations made by the service")
                       .Register(registry)),
      s3_bytes_(prometheus::BuildCounter()
                    .Name("s3_client_transferred_bytes_total")
                    .Help("Object bytes uploaded to S3 (PutObject, UploadPart bodies) and downloaded from it (successful "
                          "GetObject bodies) by the service")
                    .Register(registry)) {
  for (const auto& h : options.s3_hosts) s3_hosts_.insert(lower(h));
}

prometheus::Gauge& HttpMetrics::active(const proc::ProcessLabels& process) {
  // Once per label set: Family::Add builds and hashes a label map under a lock.
  auto [it, inserted] = active_series_.try_emplace(&process, nullptr);
  if (inserted) it->second = &server_active_.Add(with_process(process));
  return *it->second;
}

void HttpMetrics::on_request_started(const capture::ConnectionInfo& conn, protocols::Role role) {
  if (role == protocols::Role::Server && conn.protocol == "http") active(table_.labels_of(conn.tgid)).Increment();
}

void HttpMetrics::on_request_abandoned(const capture::ConnectionInfo& conn, protocols::Role role, uint64_t n) {
  if (role != protocols::Role::Server || conn.protocol != "http") return;
  auto& g = active(table_.labels_of(conn.tgid));
  g.Set(std::max(0.0, g.Value() - static_cast<double>(n)));
}

void HttpMetrics::on_record(const capture::ConnectionInfo& conn, const protocols::Record& record) {
  if (!record.http) return;
  const proc::ProcessLabels& process = table_.labels_of(conn.tgid);
  if (record.role == protocols::Role::Server) {
    auto& g = active(process);
    if (g.Value() >= 1) g.Decrement();
    observe_server(process, conn, record);
  } else if (record.role == protocols::Role::Client) {
    observe_client(process, conn, record);
    observe_s3(process, record);
  }
}

void HttpMetrics::observe_server(const proc::ProcessLabels& process, const capture::ConnectionInfo& conn,
                                 const protocols::Record& r) {
  const auto& h = *r.http;
  // Routes are per service: the pods of one workload serve the same routes.
  const std::string& service = process.service_name;
  const std::string_view route = route_cap_.admit_view(service, routes_.route(service, h.path));
  const size_t method = method_index(h.method);
  server_series_
      .get(&process, method_status_code(method, h.status), route,
           [&]() -> prometheus::Histogram& {
             return server_duration_.Add(with_process(process, {{"http_request_method", method_label(method)},
                                                                {"http_response_status_code", std::to_string(h.status)},
                                                                {"http_route", std::string(route)}}),
                                         http_duration_bounds());
           })
      .Observe(seconds_between(r.request_ns, r.response_ns));
  auto& bodies = body_series_.get(&process, 0, route, [&]() -> BodySeries& {
    const prometheus::Labels by_route = with_process(process, {{"http_route", std::string(route)}});
    body_storage_.push_back(BodySeries{&request_body_.Add(by_route, body_size_bounds()),
                                       &response_body_.Add(by_route, body_size_bounds())});
    return body_storage_.back();
  });
  bodies.request->Observe(static_cast<double>(h.request_body_bytes));
  bodies.response->Observe(static_cast<double>(h.response_body_bytes));

  std::string source;
  if (!options_.source_header.empty()) source = h.source.empty() ? "_none" : label_safe(h.source);
  else if (options_.source_client_address) source = peer_host(conn.peer);
  if (!source.empty())
    by_source_
        .Add(with_process(process, {{"http_request_source", source_cap_.admit(service, source)},
                                    {"http_response_status_code", std::to_string(h.status)}}))
        .Increment();
}

void HttpMetrics::observe_client(const proc::ProcessLabels& process, const capture::ConnectionInfo& conn,
                                 const protocols::Record& r) {
  const auto& h = *r.http;
  const std::string& service = process.service_name;
  // The Host header names the server as the client meant it; the socket's
  // peer address when there is none (HTTP/1.0).
  if (!h.host.empty()) assign_host_label(address_scratch_, h.host);
  const std::string_view address = address_cap_.admit_view(service, h.host.empty() ? conn.peer : address_scratch_);
  const size_t method = method_index(h.method);
  client_series_
      .get(&process, method_status_code(method, h.status), address,
           [&]() -> prometheus::Histogram& {
             return client_duration_.Add(with_process(process, {{"http_request_method", method_label(method)},
                                                                {"http_response_status_code", std::to_string(h.status)},
                                                                {"server_address", std::string(address)}}),
                                         http_duration_bounds());
           })
      .Observe(seconds_between(r.request_ns, r.response_ns));
}

void HttpMetrics::observe_s3(const proc::ProcessLabels& process, const protocols::Record& r) {
  const auto& h = *r.http;
  const std::string& service = process.service_name;
  S3Request request{h.method, h.path, h.query, h.host, h.aws_sigv4, h.amz_headers,
                    !s3_hosts_.empty() && s3_hosts_.count(lower(h.host)) != 0};
  auto op = classify_s3(request);
  if (!op) return;
  s3_duration_
      .Add(with_process(process, {{"s3_operation", op->operation},
                                  {"s3_bucket", address_cap_.admit(service + "/s3", op->bucket)},
                                  {"http_response_status_code", std::to_string(h.status)}}),
           http_duration_bounds())
      .Observe(seconds_between(r.request_ns, r.response_ns));
  // Object bytes only: the bodies of the operations that carry object data.
  // Other bodies are S3's own documents (a listing's XML, a multipart
  // completion's part list, an error), not objects. An upload's body was
  // sent whatever the answer; a download's body is the object only when the
  // answer is a success (200, or 206 for a range), an error document otherwise.
  const bool uploads_object = op->operation == "PutObject" || op->operation == "UploadPart";
  const bool downloads_object = op->operation == "GetObject" && h.status >= 200 && h.status < 300;
  // aws-chunked bodies carry framing and signatures: the object is smaller
  const uint64_t uploaded = h.decoded_content_length ? h.decoded_content_length : h.request_body_bytes;
  if (uploads_object && uploaded)
    s3_bytes_.Add(with_process(process, {{"direction", "upload"}})).Increment(static_cast<double>(uploaded));
  if (downloads_object && h.response_body_bytes)
    s3_bytes_.Add(with_process(process, {{"direction", "download"}}))
        .Increment(static_cast<double>(h.response_body_bytes));
}

}  // namespace redeye::metrics::http
