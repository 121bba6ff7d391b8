// Pairs MySQL commands with their responses on one connection and emits a
// Record (with SqlDetails) per exchange. The server answers commands in
// order, one response each (clients that pipeline send several before
// reading), so commands waiting for their response form a FIFO. Also keeps
// what the connection's prepared statements are, by statement id, so that
// executions are named after the statement prepared. The frame-level parser
// (mysql_protocol.h) drives it.
#pragma once

#include "util/small_fifo.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "protocols/protocol.h"

namespace redeye::protocols::mysql {

struct MysqlStats {
  uint64_t commands = 0;             // command packets parsed, with or without a response
  uint64_t records = 0;              // exchanges emitted
  uint64_t error_responses = 0;      // records answered with ERR
  uint64_t requests_unanswered = 0;  // commands given up without a record: lost or broken
                                     // response, over the pending cap, unparsed, close
  uint64_t ends_inferred = 0;        // records ended by the next command, the end of
                                     // their response having been lost (see mysql_protocol.h)
  uint64_t orphan_frames = 0;        // response-direction frames with no command to answer
  uint64_t handshakes = 0;           // server greetings seen
  uint64_t statements_prepared = 0;  // COM_STMT_PREPARE answered with a statement id
  uint64_t statements_unknown = 0;   // executions of an id not prepared while traced, or forgotten
  uint64_t statements_evicted = 0;   // forgotten over the per-connection cap
  uint64_t local_infile_requests = 0;  // LOAD DATA LOCAL: the server asked for a file
};

// A command waiting for (the end of) its response.
struct PendingCommand {
  uint8_t command = 0;
  uint64_t start_ns = 0;   // becomes Record::request_ns
  std::string operation;   // SqlDetails::operation
  std::string collection;  // SqlDetails::collection
  std::string statement_operation;  // COM_STMT_PREPARE: the prepared statement's operation
  std::string statement;   // SqlDetails::statement (its head), "" when not known
  bool answered = false;   // the first packet of its response was parsed
};

// What the connection knows of one prepared statement.
struct PreparedStatement {
  std::string operation;
  std::string collection;
  std::string statement;  // its text's head, for trace
};

class MysqlStitcher {
 public:
  // `sink` outlives the stitcher. At least one command is kept pending and
  // one statement remembered.
  MysqlStitcher(RecordSink& sink, Role role, size_t max_pending_commands, size_t max_statements);

  Role role() const { return role_; }
  void set_role(Role role) { role_ = role; }

  // A command that gets a response. Over the cap, every pending command is
  // given up first (returns true then): responses come in order, so a queue
  // that long means they are not being seen.
  bool add_command(PendingCommand command);
  // The command whose response is being parsed, or nullptr.
  PendingCommand* front() { return pending_.empty() ? nullptr : &pending_.front(); }
  size_t pending() const { return pending_.size(); }

  // The front command's response ended, its last byte seen at `end_ns`,
  // with an ERR carrying `error_code` or without: emits the record.
  void finish_front(uint64_t end_ns, std::optional<uint16_t> error_code);
  // The front command's final packet is parsed but its last bytes are still
  // to come: the record waits for finish_deferred. The next command becomes
  // the front meanwhile.
  void defer_front(std::optional<uint16_t> error_code);
  bool deferred() const { return deferred_.has_value(); }
  void finish_deferred(uint64_t end_ns);
  // The front command will get no record.
  void abandon_front();
  // Gives up on every pending command and on a deferred one.
  void drop_pending();

  // Prepared statements, by id. Over the cap the oldest (lowest id: servers
  // number them increasingly per connection) is forgotten.
  void remember_statement(uint32_t id, PreparedStatement statement);
  void forget_statement(uint32_t id) { statements_.erase(id); }
  void clear_statements() { statements_.clear(); }
  // nullptr when the id is not known.
  const PreparedStatement* statement(uint32_t id) const;
  size_t statements() const { return statements_.size(); }

  MysqlStats& stats() { return stats_; }
  const MysqlStats& stats() const { return stats_; }

 private:
  struct Finished {
    PendingCommand command;
    std::optional<uint16_t> error_code;
  };
  void emit(PendingCommand command, std::optional<uint16_t> error_code, uint64_t end_ns);
  void abandoned(uint64_t count);

  RecordSink& sink_;
  Role role_;
  const size_t max_pending_;
  const size_t max_statements_;
  util::SmallFifo<PendingCommand> pending_;
  std::optional<Finished> deferred_;
  std::map<uint32_t, PreparedStatement> statements_;
  MysqlStats stats_;
};

}  // namespace redeye::protocols::mysql
