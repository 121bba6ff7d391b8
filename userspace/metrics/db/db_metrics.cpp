#include "metrics/db/db_metrics.h"

#include <algorithm>

#include "metrics/process_labels.h"

namespace redeye::metrics::db {
namespace {

// The protocol a connection speaks, before any record says it.
std::string system_of(const capture::ConnectionInfo& conn) { return conn.protocol; }

bool is_database(const capture::ConnectionInfo& conn) {
  return conn.protocol == "postgresql" || conn.protocol == "mysql";
}

}  // namespace

const prometheus::Histogram::BucketBoundaries& db_duration_bounds() {
  static const prometheus::Histogram::BucketBoundaries bounds{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  return bounds;
}

DbMetrics::DbMetrics(prometheus::Registry& registry, proc::ProcessTable& table, size_t max_collections_per_service)
    : table_(table),
      collection_cap_(1000, max_collections_per_service, "_other"),
      address_cap_(1000, 100, "_other"),
      client_duration_(prometheus::BuildHistogram()
                           .Name("db_client_operation_duration_seconds")
                           .Help("Duration of database operations made by the service, first request byte written "
                                 "to last response byte read")
                           .Register(registry)),
      server_duration_(prometheus::BuildHistogram()
                           .Name("db_server_operation_duration_seconds")
                           .Help("Duration of database operations served by the database processes, first request "
                                 "byte read to last response byte written")
                           .Register(registry)),
      server_active_(prometheus::BuildGauge()
                         .Name("db_server_active_operations")
                         .Help("Database operations received and not yet answered")
                         .Register(registry)) {}

prometheus::Gauge& DbMetrics::active(const proc::ProcessLabels& process, const std::string& system) {
  return server_active_.Add(with_process(process, {{"db_system_name", system}}));
}

void DbMetrics::on_request_started(const capture::ConnectionInfo& conn, protocols::Role role) {
  if (role != protocols::Role::Server || !is_database(conn)) return;
  active(table_.labels_of(conn.tgid), system_of(conn)).Increment();
}

void DbMetrics::on_request_abandoned(const capture::ConnectionInfo& conn, protocols::Role role, uint64_t n) {
  if (role != protocols::Role::Server || !is_database(conn)) return;
  auto& g = active(table_.labels_of(conn.tgid), system_of(conn));
  g.Set(std::max(0.0, g.Value() - static_cast<double>(n)));
}

void DbMetrics::on_record(const capture::ConnectionInfo& conn, const protocols::Record& record) {
  if (!record.sql) return;
  const auto& q = *record.sql;
  const proc::ProcessLabels process = table_.labels_of(conn.tgid);
  const std::string& service = process.service_name;  // caps are per service
  const std::string process_key = process.key();
  const std::string collection = q.collection.empty() ? "" : collection_cap_.admit(service, q.collection);
  const double seconds = seconds_between(record.request_ns, record.response_ns);
  if (record.role == protocols::Role::Server) {
    auto& g = active(process, q.system);
    if (g.Value() >= 1) g.Decrement();
    series_
        .get(series_key("s", process_key, q.system, q.operation, collection, q.error_type),
             [&]() -> prometheus::Histogram& {
               return server_duration_.Add(with_process(process, {{"db_system_name", q.system},
                                                                  {"db_operation_name", q.operation},
                                                                  {"db_collection_name", collection},
                                                                  {"error_type", q.error_type}}),
                                           db_duration_bounds());
             })
        .Observe(seconds);
  } else if (record.role == protocols::Role::Client) {
    const std::string address = address_cap_.admit(service, conn.peer);
    series_
        .get(series_key("c", process_key, q.system, q.operation, collection, q.error_type, address),
             [&]() -> prometheus::Histogram& {
               return client_duration_.Add(with_process(process, {{"db_system_name", q.system},
                                                                  {"db_operation_name", q.operation},
                                                                  {"db_collection_name", collection},
                                                                  {"error_type", q.error_type},
                                                                  {"server_address", address}}),
                                           db_duration_bounds());
             })
        .Observe(seconds);
  }
}

}  // namespace redeye::metrics::db
