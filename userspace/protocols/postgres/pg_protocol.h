// The PostgreSQL (protocol v3) ProtocolParser: frames both directions of a
// connection with pg_messages.h, pairs requests and answers with PgStitcher
// and emits a Record (with SqlDetails) per Query, Execute and FunctionCall.
//
// Only message headers and the few body bytes that matter are parsed: the
// statement text of Query and Parse (its first kMaxStatementBytes), the
// names in Bind/Execute/Describe/Close, the SQLSTATE of ErrorResponse. The
// rest of every message (rows, copy data, parameters, passwords) is skipped
// by the stream without being buffered, whatever its length (up to 1 GiB).
//
// Which direction is the frontend follows from the role: a server receives
// frontend messages, a client sends them. With Role::Unknown (a connection
// older than the agent) the first message whose type only one end sends
// decides; messages before it are skipped.
//
// Startup: StartupMessage, CancelRequest and the authentication exchange are
// passed over. An SSLRequest or GSSENCRequest is answered by one byte: 'N'
// (go on in clear) or 'S'/'G' (encrypted: nothing after it is parsed, both
// directions are skipped to the close and stats().encrypted is set).
//
// Times: a request starts when its first byte was seen (a server: the read
// returned, exit_ns; a client: the write began, enter_ns); it ends when the
// last byte of the message that completes it was seen (exit_ns): the
// CommandComplete, EmptyQueryResponse, PortalSuspended or ErrorResponse of an
// Execute, the ReadyForQuery of a Query or FunctionCall.
//
// A statement cut short by the capture (the kernel copies a bounded prefix
// of each message) is summarised from its captured head when the bytes lost
// are exactly its tail.
//
// Payload bytes are never logged; statement text lives only as long as it
// takes to summarise it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocols/postgres/pg_messages.h"
#include "protocols/postgres/pg_stitcher.h"
#include "protocols/protocol.h"
#include "protocols/sql/sql_summary.h"

namespace redeye::protocols::postgres {

// Statement text summarised: the head of a longer one is enough.
inline constexpr size_t kMaxStatementBytes = 4096;
// Statement and portal names, NUL included; a longer name is not tracked.
inline constexpr size_t kMaxNameBytes = 256;
// ErrorResponse fields searched for the SQLSTATE.
inline constexpr size_t kMaxErrorFieldBytes = 1024;

struct PostgresParserOptions {
  PgStitcherOptions stitcher;
};

class PostgresProtocolParser final : public ProtocolParser {
 public:
  static constexpr std::string_view kName = kSystem;

  PostgresProtocolParser(RecordSink& sink, Role role, PostgresParserOptions options = {});

  std::string_view name() const override { return kName; }
  ParseState parse_frame(Direction direction, std::string_view bytes, const FrameClock& clock,
                         size_t& consumed) override;
  size_t find_frame_boundary(Direction direction, std::string_view bytes) const override;
  void on_gap(Direction direction, uint64_t missing_bytes) override;
  void on_elided(Direction direction, uint64_t missing_bytes) override;
  size_t body_bytes_to_skip(Direction direction) const override;
  void on_body_end(Direction direction, MessageTime last) override;
  void on_close() override;

  // The role given, or inferred from the first message (else Unknown).
  Role role() const { return stitcher_.role(); }
  const PgStats& stats() const { return stitcher_.stats(); }
  // The server accepted SSL or GSS encryption: the connection is not parsed.
  bool encrypted() const { return stitcher_.stats().encrypted; }
  std::string_view unparsed_reason() const override { return encrypted() ? "encrypted" : ""; }
  size_t pending_requests() const { return stitcher_.pending_requests(); }
  size_t pending_messages() const { return stitcher_.pending_messages(); }
  size_t statements() const { return stitcher_.statements(); }

 private:
  enum class Phase : uint8_t {
    Messages,   // typed messages (and, frontend, startup packets)
    Encrypted,  // after 'S'/'G': skipped to the close
  };
  struct Side {
    Phase phase = Phase::Messages;
    uint64_t skip = 0;  // answer to body_bytes_to_skip for the last frame
    // The middle of a long message was elided: the bytes that follow are
    // its tail, to be resynchronised on whole chains of messages.
    bool after_elision = false;
    // Backend: a message that completes a request once its skipped body
    // has passed (its last byte's time is known only then).
    bool deferred = false;
    char deferred_type = 0;
    uint64_t deferred_first_ns = 0;
    std::string deferred_sqlstate;
  };
  // A Query or Parse whose statement text is still arriving: what to record
  // if the rest never comes because the capture cut the message.
  struct Tentative {
    bool active = false;
    char type = 0;
    uint64_t frame_size = 0;  // type byte and length
    uint64_t start_ns = 0;
    NameKey statement;        // Parse
    sql::SqlSummary summary;  // of the text seen so far
  };

  Side& side(Direction direction) { return sides_[direction_index(direction)]; }
  Direction frontend_direction() const;
  Sender sender_of(Direction direction) const;
  // A message of `type` seen in `direction` may tell the role.
  void infer_role(Direction direction, char type);
  uint64_t request_start(MessageTime time) const;
  uint64_t answer_start(MessageTime time) const;

  ParseState parse_startup_frame(Direction direction, Side& current, std::string_view bytes,
                                 const FrameClock& clock, size_t& consumed);
  ParseState parse_frontend(Side& current, const Header& header, std::string_view bytes,
                            const FrameClock& clock, size_t& consumed);
  ParseState parse_backend(Side& current, const Header& header, std::string_view bytes,
                           const FrameClock& clock, size_t& consumed);
  // The statement text of a Query or Parse: `available` holds `text_start`
  // bytes of other fields, then the text up to its NUL or kMaxStatementBytes.
  // Returns NeedsMoreData (and keeps a Tentative) until it is all there.
  ParseState read_statement(const Header& header, std::string_view available, size_t text_start,
                            uint64_t start_ns, NameKey statement, size_t& used);
  void commit_statement(char type, uint64_t start_ns, NameKey statement, sql::SqlSummary summary);
  void start_encrypted();

  PgStitcher stitcher_;
  Side sides_[2];
  Tentative tentative_;
  bool awaiting_encryption_answer_ = false;
};

// A ProtocolRegistry factory building PostgresProtocolParsers with `options`.
ProtocolRegistry::Factory make_factory(PostgresParserOptions options = {});

}  // namespace redeye::protocols::postgres
