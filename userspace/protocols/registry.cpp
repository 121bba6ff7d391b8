// The one place that lists the protocol parsers built into the agent.
// Adding a protocol: include its header and add one `registry.add` line.
#include "protocols/protocol.h"

namespace redeye::protocols {

void register_builtin_protocols([[maybe_unused]] ProtocolRegistry& registry) {
  // Each protocol issue adds its line here, e.g.
  //   registry.add(REDEYE_PROTO_HTTP1, "http1",
  //                [](RecordSink& sink) { return std::make_unique<http1::Parser>(sink); });
  // HTTP/1.x    -> REDEYE_PROTO_HTTP1    (protocols/http1/)
  // PostgreSQL  -> REDEYE_PROTO_POSTGRES (protocols/postgres/)
  // MySQL       -> REDEYE_PROTO_MYSQL    (protocols/mysql/)
  // AMQP 0-9-1  -> REDEYE_PROTO_AMQP     (protocols/amqp/)
}

}  // namespace redeye::protocols
