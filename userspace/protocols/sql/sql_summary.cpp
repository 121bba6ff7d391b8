#include "protocols/sql/sql_summary.h"

#include <array>
#include <cctype>

namespace redeye::protocols::sql {
namespace {

constexpr std::array<std::string_view, 30> kKeywords = {
    "SELECT", "INSERT",   "UPDATE", "DELETE", "BEGIN",   "COMMIT",   "ROLLBACK", "CALL",
    "COPY",   "CREATE",   "DROP",   "ALTER",  "TRUNCATE", "WITH",    "START",    "SET",
    "SHOW",   "EXPLAIN",  "VACUUM", "ANALYZE", "GRANT",  "REVOKE",   "SAVEPOINT", "RELEASE",
    "REPLACE", "LOCK",    "USE",    "PREPARE", "EXECUTE", "DEALLOCATE"};

bool is_ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$';
}

// Position after whitespace and comments; with `statement_start`, also
// after the parentheses and semicolons that may precede a statement.
size_t skip_space(std::string_view s, size_t i, bool statement_start = true) {
  while (i < s.size()) {
    const char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c)) || (statement_start && (c == '(' || c == ';'))) {
      ++i;
    } else if (c == '-' && i + 1 < s.size() && s[i + 1] == '-') {
      while (i < s.size() && s[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < s.size() && s[i + 1] == '*') {
      const size_t end = s.find("*/", i + 2);
      i = end == std::string_view::npos ? s.size() : end + 2;
    } else {
      break;
    }
  }
  return i;
}

std::string upper_word(std::string_view s, size_t& i) {
  std::string w;
  while (i < s.size() && is_ident_char(s[i]) && w.size() < 32)
    w.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(s[i++]))));
  while (i < s.size() && is_ident_char(s[i])) ++i;
  return w;
}

// An identifier, possibly quoted ("x", `x`, [x]) and schema-qualified.
std::string identifier(std::string_view s, size_t i) {
  std::string out;
  for (int part = 0; part < 3 && i < s.size(); ++part) {
    if (part > 0) {
      if (s[i] != '.' || i + 1 == s.size()) break;
      out.push_back('.');
      ++i;
    }
    const char q = s[i];
    if (q == '"' || q == '`' || q == '[') {
      const char close = q == '[' ? ']' : q;
      const size_t end = s.find(close, i + 1);
      if (end == std::string_view::npos) return "";
      out.append(s.substr(i + 1, end - i - 1));
      i = end + 1;
    } else {
      const size_t start = i;
      while (i < s.size() && is_ident_char(s[i])) {
        out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(s[i]))));
        ++i;
      }
      if (i == start) return "";
    }
  }
  if (out.size() > 63) out.resize(63);
  for (auto& c : out)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '$' || c == '-')) c = '_';
  return out;
}

// Finds the next occurrence of the keyword as a whole word at the top level
// of the first statement: outside quotes, comments and parentheses (a
// function's FROM, a subquery's), before the first ';'.
size_t find_keyword(std::string_view s, size_t from, std::string_view keyword) {
  int depth = 0;
  for (size_t i = from; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\'' || c == '"' || c == '`') {
      const size_t end = s.find(c, i + 1);
      if (end == std::string_view::npos) return std::string_view::npos;
      i = end;  // a doubled quote inside reads as two adjacent quoted runs
      continue;
    }
    if ((c == '-' || c == '/') && i + 1 < s.size() && s[i + 1] == (c == '-' ? '-' : '*')) {
      const size_t end = c == '-' ? s.find('\n', i + 2) : s.find("*/", i + 2);
      if (end == std::string_view::npos) return std::string_view::npos;
      i = c == '-' ? end : end + 1;
      continue;
    }
    if (c == '(') {
      ++depth;
      continue;
    }
    if (c == ')') {
      --depth;
      continue;
    }
    if (c == ';') return std::string_view::npos;
    if (depth != 0 || (i > 0 && is_ident_char(s[i - 1]))) continue;
    if (i + keyword.size() > s.size()) return std::string_view::npos;
    bool match = true;
    for (size_t k = 0; k < keyword.size() && match; ++k)
      match = std::toupper(static_cast<unsigned char>(s[i + k])) == keyword[k];
    if (match && (i + keyword.size() == s.size() || !is_ident_char(s[i + keyword.size()]))) return i;
  }
  return std::string_view::npos;
}

// The table named at `i`: after blanks and PostgreSQL's ONLY; "" for a
// subquery or anything else that is not an identifier.
std::string table_at(std::string_view s, size_t i) {
  i = skip_space(s, i, false);
  size_t after = i;
  if (upper_word(s, after) == "ONLY") {
    const size_t next = skip_space(s, after, false);
    if (next > after) i = next;  // "only" alone is a table of that name
  }
  return identifier(s, i);
}

std::string table_after(std::string_view s, size_t from, std::string_view keyword) {
  const size_t at = find_keyword(s, from, keyword);
  if (at == std::string_view::npos) return "";
  return table_at(s, at + keyword.size());
}

}  // namespace

std::string statement_head(std::string_view statement) {
  if (statement.size() <= kStatementTextBytes) return std::string(statement);
  size_t n = kStatementTextBytes;
  // back off continuation bytes, then the lead byte they belonged to
  while (n > 0 && (static_cast<unsigned char>(statement[n]) & 0xC0) == 0x80) --n;
  return std::string(statement.substr(0, n));
}

SqlSummary summarize_sql(std::string_view statement) {
  // Only the head of a statement matters; a long one is not scanned whole.
  const std::string_view s = statement.substr(0, 4096);
  SqlSummary out;
  out.text = statement_head(statement);
  size_t i = skip_space(s, 0);
  const std::string word = upper_word(s, i);
  if (word.empty()) return out;
  out.operation = "OTHER";
  for (auto k : kKeywords)
    if (word == k) out.operation = word;
  if (word == "END") out.operation = "COMMIT";      // PostgreSQL's synonym
  if (word == "ABORT") out.operation = "ROLLBACK";  // likewise
  if (out.operation == "START") out.operation = "BEGIN";  // START TRANSACTION
  if (out.operation == "SELECT" || out.operation == "DELETE") {
    out.collection = table_after(s, i, "FROM");
  } else if (out.operation == "INSERT" || out.operation == "REPLACE") {
    out.collection = table_after(s, i, "INTO");
  } else if (out.operation == "UPDATE" || out.operation == "COPY" || out.operation == "TRUNCATE") {
    size_t j = skip_space(s, i, false);
    size_t k = j;
    if (upper_word(s, k) == "TABLE") j = k;  // TRUNCATE TABLE x
    out.collection = table_at(s, j);
  }
  return out;
}

}  // namespace redeye::protocols::sql
