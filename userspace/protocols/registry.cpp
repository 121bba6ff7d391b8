// The one place that lists the protocol parsers built into the agent.
// Adding a protocol: include its header and add one `registry.add` line.
#include "protocols/amqp/amqp_protocol.h"
#include "protocols/http/http_protocol.h"
#include "protocols/mysql/mysql_protocol.h"
#include "protocols/postgres/pg_protocol.h"
#include "protocols/protocol.h"

namespace redeye::protocols {

void register_builtin_protocols(ProtocolRegistry& registry, const ProtocolOptions& options) {
  registry.add(REDEYE_PROTO_HTTP1, "http", http::make_factory(http::HttpParserOptions{options.http_source_header}));
  registry.add(REDEYE_PROTO_POSTGRES, "postgresql", postgres::make_factory());
  registry.add(REDEYE_PROTO_MYSQL, "mysql", mysql::make_factory());
  registry.add(REDEYE_PROTO_AMQP, "amqp", amqp::make_factory());
  // PostgreSQL  -> REDEYE_PROTO_POSTGRES (protocols/postgres/)
  // MySQL       -> REDEYE_PROTO_MYSQL    (protocols/mysql/)
  // AMQP 0-9-1  -> REDEYE_PROTO_AMQP     (protocols/amqp/)
}

}  // namespace redeye::protocols
