// Settings of the HTTP metrics (flags of `redeye run`).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace redeye::metrics::http {

struct HttpOptions {
  // Per-request-source counting, off by default: a request header to read
  // the source from (e.g. "x-user-id"), or the client address.
  std::string source_header;
  bool source_client_address = false;
  size_t max_sources_per_service = 100;
  size_t max_routes_per_service = 200;
  size_t max_server_addresses_per_service = 100;
  std::vector<std::string> route_rules;  // "SERVICE=PATTERN"
  std::vector<std::string> s3_hosts;     // hosts (with port when not 80/443) that are S3 endpoints
};

}  // namespace redeye::metrics::http
