// summarize_sql: the operation and first table kept of a SQL statement.
#include "protocols/sql/sql_summary.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace redeye::protocols::sql {
namespace {

using namespace std::string_view_literals;

::testing::AssertionResult summarises_to(std::string_view statement, std::string_view operation,
                                         std::string_view collection) {
  const SqlSummary summary = summarize_sql(statement);
  if (summary.operation == operation && summary.collection == collection)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << statement << "' -> {'" << summary.operation << "', '"
                                       << summary.collection << "'}, expected {'" << operation << "', '"
                                       << collection << "'}";
}

TEST(SqlSummary, SelectFromSchemaQualifiedTable) {
  EXPECT_TRUE(summarises_to("SELECT id, name FROM public.users WHERE id = $1", "SELECT", "public.users"));
  EXPECT_TRUE(summarises_to("select * from Accounts", "SELECT", "accounts"));
  EXPECT_TRUE(summarises_to("SELECT a FROM t1 JOIN t2 ON t1.id = t2.id", "SELECT", "t1"));
  EXPECT_TRUE(summarises_to("SELECT 1", "SELECT", ""));
  EXPECT_TRUE(summarises_to("SELECT now()", "SELECT", ""));
}

TEST(SqlSummary, InsertIntoQuotedTableKeepsItsCase) {
  EXPECT_TRUE(summarises_to("INSERT INTO \"Quoted\" (a, b) VALUES ($1, $2)", "INSERT", "Quoted"));
  EXPECT_TRUE(summarises_to("INSERT INTO \"My Schema\".\"Orders\" VALUES (1)", "INSERT", "My_Schema.Orders"));
  EXPECT_TRUE(summarises_to("insert into pgbench_history(tid, bid) values (1, 2)", "INSERT", "pgbench_history"));
}

TEST(SqlSummary, UpdateDeleteAndTruncate) {
  EXPECT_TRUE(summarises_to("UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2", "UPDATE",
                            "pgbench_accounts"));
  EXPECT_TRUE(summarises_to("UPDATE ONLY parent SET x = 1", "UPDATE", "parent"));
  EXPECT_TRUE(summarises_to("DELETE FROM sessions WHERE expires < now()", "DELETE", "sessions"));
  EXPECT_TRUE(summarises_to("DELETE FROM ONLY app.events", "DELETE", "app.events"));
  EXPECT_TRUE(summarises_to("TRUNCATE TABLE logs", "TRUNCATE", "logs"));
  EXPECT_TRUE(summarises_to("TRUNCATE logs, other", "TRUNCATE", "logs"));
}

TEST(SqlSummary, TransactionControl) {
  EXPECT_TRUE(summarises_to("BEGIN", "BEGIN", ""));
  EXPECT_TRUE(summarises_to("begin;", "BEGIN", ""));
  EXPECT_TRUE(summarises_to("START TRANSACTION ISOLATION LEVEL SERIALIZABLE", "BEGIN", ""));
  EXPECT_TRUE(summarises_to("COMMIT", "COMMIT", ""));
  EXPECT_TRUE(summarises_to("ROLLBACK", "ROLLBACK", ""));
  EXPECT_TRUE(summarises_to("END", "COMMIT", ""));      // PostgreSQL's synonyms
  EXPECT_TRUE(summarises_to("abort", "ROLLBACK", ""));
  EXPECT_TRUE(summarises_to("SAVEPOINT s1", "SAVEPOINT", ""));
}

TEST(SqlSummary, CommentsAndParenthesesBeforeTheKeywordAreSkipped) {
  EXPECT_TRUE(summarises_to("/* app=web */ SELECT * FROM t", "SELECT", "t"));
  EXPECT_TRUE(summarises_to("-- a note\n  -- another\nDELETE FROM t", "DELETE", "t"));
  EXPECT_TRUE(summarises_to("\n\t (SELECT a FROM t) UNION (SELECT a FROM u)", "SELECT", "t"));
  EXPECT_TRUE(summarises_to("/* unterminated", "", ""));
}

TEST(SqlSummary, CteIsWithWithoutTable) {
  EXPECT_TRUE(summarises_to("WITH recent AS (SELECT * FROM orders) SELECT * FROM recent", "WITH", ""));
}

TEST(SqlSummary, CopyNamesItsTable) {
  EXPECT_TRUE(summarises_to("COPY t FROM STDIN", "COPY", "t"));
  EXPECT_TRUE(summarises_to("COPY public.items (a, b) FROM STDIN WITH (FORMAT csv)", "COPY", "public.items"));
  EXPECT_TRUE(summarises_to("COPY (SELECT * FROM t) TO STDOUT", "COPY", ""));
}

TEST(SqlSummary, UnknownIsOtherAndEmptyIsEmpty) {
  EXPECT_TRUE(summarises_to("LISTEN channel", "OTHER", ""));
  EXPECT_TRUE(summarises_to("FETCH 10 FROM cursor1", "OTHER", ""));
  EXPECT_TRUE(summarises_to("", "", ""));
  EXPECT_TRUE(summarises_to("   \n\t", "", ""));
  EXPECT_TRUE(summarises_to(";", "", ""));
  EXPECT_TRUE(summarises_to("-- only a comment", "", ""));
  EXPECT_TRUE(summarises_to("'string'", "", ""));
}

TEST(SqlSummary, OnlyTheFirstStatementIsLookedAt) {
  EXPECT_TRUE(summarises_to("SELECT 1; DELETE FROM t", "SELECT", ""));
  EXPECT_TRUE(summarises_to("BEGIN; UPDATE t SET a = 1; COMMIT", "BEGIN", ""));
  EXPECT_TRUE(summarises_to("INSERT INTO a VALUES (';'); SELECT * FROM b", "INSERT", "a"));
}

TEST(SqlSummary, FromInsideParenthesesQuotesOrCommentsIsNotTheTable) {
  EXPECT_TRUE(summarises_to("SELECT extract(year FROM ts) FROM events", "SELECT", "events"));
  EXPECT_TRUE(summarises_to("SELECT (SELECT max(x) FROM a) FROM b", "SELECT", "b"));
  EXPECT_TRUE(summarises_to("SELECT * FROM (SELECT * FROM t) sub", "SELECT", ""));
  EXPECT_TRUE(summarises_to("SELECT 'from x' AS s FROM real_table", "SELECT", "real_table"));
  EXPECT_TRUE(summarises_to("SELECT a /* FROM fake */ FROM t", "SELECT", "t"));
  EXPECT_TRUE(summarises_to("SELECT a -- FROM fake\n FROM t", "SELECT", "t"));
  EXPECT_TRUE(summarises_to("SELECT \"from\" FROM t", "SELECT", "t"));
}

TEST(SqlSummary, IdentifiersAreBoundedAndSanitised) {
  const std::string long_name(100, 'a');
  EXPECT_TRUE(summarises_to("SELECT * FROM " + long_name, "SELECT", std::string(63, 'a')));
  EXPECT_TRUE(summarises_to("SELECT * FROM \"we;ird\"", "SELECT", "we_ird"));
  EXPECT_TRUE(summarises_to("SELECT * FROM \"unterminated", "SELECT", ""));
  EXPECT_TRUE(summarises_to("SELECT * FROM s.", "SELECT", "s"));
  EXPECT_TRUE(summarises_to("SELECT * FROM", "SELECT", ""));
  EXPECT_TRUE(summarises_to("DELETE FROM ", "DELETE", ""));
}

TEST(SqlSummary, OnlyTheHeadOfALongStatementIsScanned) {
  // A table named past the first 4 KiB is not looked for.
  const std::string columns(5000, ' ');
  EXPECT_TRUE(summarises_to("SELECT a" + columns + "FROM t", "SELECT", ""));
  EXPECT_TRUE(summarises_to("SELECT a" + std::string(1000, ' ') + "FROM t", "SELECT", "t"));
}

TEST(SqlSummary, OperationIsUpperCasedAndBounded) {
  EXPECT_TRUE(summarises_to("explain analyze select 1", "EXPLAIN", ""));
  EXPECT_TRUE(summarises_to("Vacuum", "VACUUM", ""));
  EXPECT_TRUE(summarises_to(std::string(100, 'x') + " y", "OTHER", ""));
  EXPECT_TRUE(summarises_to("CALL do_it(1)", "CALL", ""));
}

}  // namespace
}  // namespace redeye::protocols::sql
