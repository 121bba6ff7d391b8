#include "protocols/sql/sql_mask.h"

#include <gtest/gtest.h>

#include "protocols/sql/sql_summary.h"

namespace redeye::protocols::sql {
namespace {

TEST(SqlMask, StringAndNumberLiteralsBecomePlaceholders) {
  EXPECT_EQ(mask_sql("SELECT * FROM users WHERE name = 'alice' AND age > 42"),
            "SELECT * FROM users WHERE name = ? AND age > ?");
  EXPECT_EQ(mask_sql("UPDATE t SET price = -1.5e3, code = 0x1F WHERE id = 7"),
            "UPDATE t SET price = -?, code = ? WHERE id = ?");
  EXPECT_EQ(mask_sql("SELECT .5, 3."), "SELECT ?, ?");
}

TEST(SqlMask, EscapedQuotesStayInsideTheLiteral) {
  EXPECT_EQ(mask_sql("SELECT 'it''s' || 'x'"), "SELECT ? || ?");
  EXPECT_EQ(mask_sql("SELECT E'a\\'b', N'n', X'0A', B'01'"), "SELECT ?, ?, ?, ?");
}

TEST(SqlMask, DollarQuotesAreLiteralsPlaceholdersStay) {
  EXPECT_EQ(mask_sql("SELECT $$secret$$, $tag$more $$ inside$tag$ WHERE a = $1 AND b = ?"),
            "SELECT ?, ? WHERE a = $1 AND b = ?");
}

TEST(SqlMask, IdentifiersWithDigitsAndQuotedIdentifiersAreKept) {
  EXPECT_EQ(mask_sql("SELECT t1.col2 FROM \"Order 66\" t1 JOIN `tbl3` ON x9 = 1"),
            "SELECT t1.col2 FROM \"Order 66\" t1 JOIN `tbl3` ON x9 = ?");
}

TEST(SqlMask, InListsFoldToOnePlaceholder) {
  EXPECT_EQ(mask_sql("SELECT * FROM t WHERE id IN (1, 2, 3) AND s in ('a','b')"),
            "SELECT * FROM t WHERE id IN (?) AND s in (?)");
  // a subquery is not a list of literals
  EXPECT_EQ(mask_sql("DELETE FROM t WHERE id IN (SELECT id FROM u WHERE n = 5)"),
            "DELETE FROM t WHERE id IN (SELECT id FROM u WHERE n = ?)");
  // VALUES keeps its arity
  EXPECT_EQ(mask_sql("INSERT INTO t VALUES (1, 'x')"), "INSERT INTO t VALUES (?, ?)");
}

TEST(SqlMask, CommentsGoAndWhitespaceCollapses) {
  EXPECT_EQ(mask_sql("SELECT 1 -- user 'bob'\n  FROM t /* card 4111 */ WHERE\tx = 2\n"),
            "SELECT ? FROM t WHERE x = ?");
}

TEST(SqlMask, AStatementCutInsideALiteralMasksTheRest) {
  EXPECT_EQ(mask_sql("INSERT INTO t VALUES ('unterminated secr"), "INSERT INTO t VALUES (?");
  EXPECT_EQ(mask_sql("SELECT $$never closed"), "SELECT ?");
}

TEST(SqlMask, ControlBytesDoNotReachTheTerminal) {
  EXPECT_EQ(mask_sql("SELECT a\x1b[31m FROM t"), "SELECT a [?m FROM t");
}

TEST(StatementHead, KeepsAtMostTheLimitWithoutSplittingUtf8) {
  const std::string ascii(300, 'a');
  EXPECT_EQ(statement_head(ascii).size(), kStatementTextBytes);
  std::string utf8(kStatementTextBytes - 1, 'a');
  utf8 += "\xc3\xa9tail";  // é straddles the limit
  EXPECT_EQ(statement_head(utf8), std::string(kStatementTextBytes - 1, 'a'));
  EXPECT_EQ(summarize_sql("SELECT 1").text, "SELECT 1");
}

}  // namespace
}  // namespace redeye::protocols::sql
