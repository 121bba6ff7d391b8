// The MySQL/MariaDB ProtocolParser: frames both directions of a connection
// packet by packet (mysql_packet.h), follows the connection phase
// (handshake, authentication) and each command's response, pairs commands
// and responses with MysqlStitcher and emits a Record (with SqlDetails) per
// command answered.
//
// Framing. Each packet is one frame: its header and the first payload
// bytes the parser needs (a command's statement text up to 4 KiB, a few
// bytes of a response packet); the rest of the payload is skipped by the
// stream, never buffered. A packet of kMaxPayload bytes and the packets
// continuing it are one logical packet. A statement text cut by the end of
// the captured bytes is summarised from what was captured (at least 32
// bytes), the rest skipped.
//
// Connection phase. The server's initial handshake, the client's
// HandshakeResponse and any authentication exchange up to the server's OK
// produce no record. The HandshakeResponse's capability flags (with the
// server's, when seen) tell whether result sets end with an EOF or an OK
// packet (CLIENT_DEPRECATE_EOF) and whether COM_QUERY carries query
// attributes. An SSLRequest (TLS), compression or a replication stream
// (COM_BINLOG_DUMP) make the rest of the connection unparsed: both
// directions are skipped until the close. Capture that starts later (a
// connection older than the agent) starts at the first command; the
// capability flags are then learnt from the result sets themselves.
//
// Records. One per command that gets a response, emitted when its final
// packet is parsed: OK, ERR, the EOF/OK ending the last result set (status
// SERVER_MORE_RESULTS_EXISTS means another one follows: multi-statements,
// CALL), the last definition of a COM_STMT_PREPARE_OK. Operation:
//   COM_QUERY               the statement's first keyword (sql_summary.h)
//   COM_STMT_PREPARE        "PREPARE" (so that counts of the statement's
//                           operation are executions, not preparations);
//                           collection from the statement
//   COM_STMT_EXECUTE        the prepared statement's operation and collection;
//                           "EXECUTE" when it was prepared before tracing
//                           (statement id 0xFFFFFFFF, MariaDB's pipelined
//                           execution, is the statement last prepared)
//   COM_PING "PING", COM_INIT_DB "USE", any other command "OTHER".
// COM_QUIT, COM_STMT_CLOSE and COM_STMT_SEND_LONG_DATA get no response and
// no record. error_type is the ERR packet's error number in decimal
// ("1146"); Record::status is the same, or "OK".
//
// Roles and times follow the HTTP parser: the kernel's role when known,
// else the first greeting (sent by the server) or command (sent by the
// client) decides. A command starts when its first byte was seen (a
// server: the read returned, exit_ns; a client: the write began, enter_ns);
// the response ends with the message holding the last byte of its final
// packet (exit_ns).
//
// Lost bytes. A gap in the client direction drops the partial command;
// parsing resumes at the next plausible command packet (sequence id 0, a
// known command byte, a length it can have). A gap in the server direction
// (lost events, or many packets in a write longer than --capture-bytes)
// inside a response does not drop it: the parser looks for a packet ending
// a result set at the end of the captured bytes (or, with more commands
// waiting, for the first packet of the next response). If none is seen, the
// next command ends the response (the protocol is half-duplex), timed by
// the last server-direction message seen before it, provided the
// response's first packet was parsed (stats().ends_inferred counts these;
// an ERR among the lost bytes would go unnoticed). Otherwise the command is
// given up.
//
// Payload bytes are never logged; statement texts only go to summarize_sql.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "protocols/mysql/mysql_packet.h"
#include "protocols/mysql/mysql_stitcher.h"
#include "protocols/protocol.h"

namespace redeye::protocols::mysql {

struct MysqlParserOptions {
  // Commands waiting for a response; over it all are given up (counted).
  size_t max_pending_commands = 16;
  // Prepared statements remembered per connection; over it the oldest is forgotten.
  size_t max_prepared_statements = 256;
};

// Why a connection is no longer parsed.
enum class Unparsed : uint8_t { No, Tls, Compressed, Replication };

class MysqlProtocolParser final : public ProtocolParser {
 public:
  static constexpr std::string_view kName = "mysql";
  // Statement text given to summarize_sql, at most.
  static constexpr size_t kMaxStatementBytes = 4096;
  // A statement text cut by the end of the captured bytes is used from this
  // many bytes on; shorter, the parser waits for more.
  static constexpr size_t kMinStatementBytes = 32;

  MysqlProtocolParser(RecordSink& sink, Role role, MysqlParserOptions options = {});

  std::string_view name() const override { return kName; }
  ParseState parse_frame(Direction direction, std::string_view bytes, const FrameClock& clock,
                         size_t& consumed) override;
  size_t find_frame_boundary(Direction direction, std::string_view bytes) const override;
  void on_gap(Direction direction, uint64_t missing_bytes) override;
  size_t body_bytes_to_skip(Direction direction) const override;
  void on_body_end(Direction direction, MessageTime last) override;
  void on_close() override;

  // The role given, or inferred from the first greeting or command (else Unknown).
  Role role() const { return stitcher_.role(); }
  const MysqlStats& stats() const { return stitcher_.stats(); }
  size_t pending_commands() const { return stitcher_.pending(); }
  size_t prepared_statements() const { return stitcher_.statements(); }
  Unparsed unparsed() const { return unparsed_; }
  std::string_view unparsed_reason() const override {
    switch (unparsed_) {
      case Unparsed::Tls: return "encrypted";
      case Unparsed::Compressed: return "compressed";
      case Unparsed::Replication: return "replication";
      default: return {};
    }
  }
  // Whether result sets end with an OK packet instead of an EOF: from the
  // handshake, or learnt from a result set; nullopt while unknown.
  std::optional<bool> deprecate_eof() const { return deprecate_eof_; }
  // The handshake is over (or was never seen) and commands are parsed.
  bool in_command_phase() const { return phase_ == Phase::Commands; }

 private:
  // Where the connection is.
  enum class Phase : uint8_t {
    Start,           // nothing recognised yet
    Greeted,         // the server's initial handshake was seen
    Authenticating,  // the client's HandshakeResponse was seen; up to the server's OK
    Commands,
    Unparsed,        // TLS, compression, replication: skipped until the close
  };
  // Where the server direction is within the front command's response.
  enum class Reply : uint8_t {
    Idle,             // no command waits: whatever comes is not parsed
    First,            // the first packet of a response (or of the next result set)
    ColumnDefs,       // `remaining_` column definitions
    AfterColumnDefs,  // the EOF after the definitions, or the first row, or the end
    Rows,             // rows up to the packet ending the result set
    PrepareParams,    // `remaining_` parameter definitions of a COM_STMT_PREPARE_OK
    PrepareParamsEof, // the EOF after them
    PrepareColumns,   // `remaining_` column definitions of a COM_STMT_PREPARE_OK
    PrepareColumnsEof,
    InfileResult,     // LOCAL INFILE: the OK or ERR after the client's file
    Auth,             // COM_CHANGE_USER: authentication packets up to OK or ERR
    Lost,             // bytes were lost inside the response: looking for its end
  };
  struct Side {
    uint64_t skip = 0;          // answer to body_bytes_to_skip for the last frame
    bool continuation = false;  // the last packet had kMaxPayload bytes: the next continues it
  };

  Side& side(Direction direction) { return sides_[direction_index(direction)]; }
  Direction request_direction() const {
    return role() == Role::Server ? Direction::Recv : Direction::Send;
  }

  ParseState probe(Direction direction, std::string_view bytes, const FrameClock& clock, size_t& consumed);
  ParseState parse_start(Direction direction, std::string_view bytes, const FrameClock& clock,
                         size_t& consumed);
  ParseState parse_handshake(Direction direction, std::string_view bytes, const FrameClock& clock,
                             size_t& consumed);
  ParseState parse_request(std::string_view bytes, const FrameClock& clock, size_t& consumed);
  ParseState on_command(const PacketHeader& header, std::string_view bytes, const FrameClock& clock,
                        size_t& consumed);
  ParseState parse_response(std::string_view bytes, const FrameClock& clock, size_t& consumed);
  ParseState parse_first(const PacketHeader& header, std::string_view bytes, const FrameClock& clock,
                         size_t& consumed);
  ParseState parse_after_column_defs(const PacketHeader& header, std::string_view bytes,
                                     const FrameClock& clock, size_t& consumed);
  ParseState parse_row(const PacketHeader& header, std::string_view bytes, const FrameClock& clock,
                       size_t& consumed);
  ParseState parse_lost(std::string_view bytes, const FrameClock& clock, size_t& consumed);

  // Takes the header and up to `want` payload bytes of the packet at the
  // front of `bytes` as the frame (at least `min` of them when fewer are
  // there); the rest of the payload is to be skipped. False: wait for more.
  bool take(Direction direction, std::string_view bytes, const PacketHeader& header, size_t want,
            size_t min, std::string_view& payload, size_t& consumed);
  // A frame of the response direction belonging to the front command.
  ParseState response_part(const FrameClock& clock, size_t consumed);
  // The front command's final packet (taken, `consumed` bytes) was parsed.
  ParseState complete(const FrameClock& clock, size_t consumed, std::optional<uint16_t> error_code);
  // An EOF or OK ending a result set, with its status flags.
  ParseState end_of_result(const FrameClock& clock, size_t consumed, uint16_t status);
  // The definitions of a COM_STMT_PREPARE_OK that come after the current ones.
  ParseState after_prepare_defs(const PacketHeader& header, const FrameClock& clock, size_t consumed,
                                bool params);
  // The response can no longer be followed packet by packet.
  ParseState lose_sync(std::string_view bytes, const FrameClock& clock, size_t& consumed);
  // A command with a response was parsed.
  void pend(PendingCommand command);
  // The front command's response lost its end: recorded as ending with the
  // last server-direction message seen, or given up.
  void end_lost_front();
  // The next command, or none, is answered from here on.
  void next_reply();
  void handshake_response(uint32_t capabilities, uint32_t length, Direction direction);
  void stop_parsing(Unparsed reason, Direction direction);
  void learn_deprecate_eof(bool deprecate) {
    if (!deprecate_eof_) deprecate_eof_ = deprecate;
  }
  bool query_attributes(std::string_view after_command) const;
  uint64_t request_start(const FrameClock& clock) const;

  const MysqlParserOptions options_;
  MysqlStitcher stitcher_;
  Side sides_[2];
  Phase phase_ = Phase::Start;
  Unparsed unparsed_ = Unparsed::No;
  std::optional<uint32_t> server_capabilities_;
  std::optional<uint32_t> client_capabilities_;
  std::optional<bool> deprecate_eof_;

  Reply reply_ = Reply::Idle;
  uint64_t remaining_ = 0;         // definitions left in the current block
  uint16_t prepare_columns_ = 0;   // COM_STMT_PREPARE_OK: column definitions after the parameters
  int trailing_eof_sequence_ = -1; // a COM_STMT_PREPARE answered before its possible EOF (unknown
                                   // capabilities): that EOF's sequence id, to be passed over
  uint64_t last_response_ns_ = 0;  // the last server-direction message seen of the front's response
  bool infile_data_ = false;       // the client is sending a LOCAL INFILE file
  std::optional<PreparedStatement> last_prepared_;  // the last COM_STMT_PREPARE's statement
};

// A ProtocolRegistry factory building MysqlProtocolParsers with `options`.
ProtocolRegistry::Factory make_factory(MysqlParserOptions options = {});

}  // namespace redeye::protocols::mysql
