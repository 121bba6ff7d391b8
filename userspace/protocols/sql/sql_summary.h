// What the database metrics keep of a SQL statement: its operation (the
// first keyword) and, for simple statements, the first table. Never the
// text itself: SQL is not a label.
#pragma once

#include <string>
#include <string_view>

namespace redeye::protocols::sql {

// Bytes of a statement's text kept for `redeye trace` (SqlDetails::statement).
constexpr size_t kStatementTextBytes = 256;

struct SqlSummary {
  std::string operation;   // "SELECT", "INSERT", ..., "" when none is recognisable
  std::string collection;  // first table of SELECT/INSERT/UPDATE/DELETE/COPY, "" when not cheap to find
  std::string text;        // the statement's head, kStatementTextBytes at most: for trace, never a label
};

// The statement's first kStatementTextBytes bytes, not ending inside a
// UTF-8 sequence.
std::string statement_head(std::string_view statement);

// Skips leading whitespace, comments (-- and /* */) and parentheses. The
// operation is upper-cased and limited to known keywords (DML, transaction
// control, CALL, COPY, DDL, and a few utility words); anything else is
// "OTHER". The collection is a plain or schema-qualified identifier, quotes
// removed, lower-cased unless quoted, at most 63 bytes.
SqlSummary summarize_sql(std::string_view statement);

}  // namespace redeye::protocols::sql
