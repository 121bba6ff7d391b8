#include "protocols/sql/sql_mask.h"

#include <cctype>
#include <cstring>

namespace redeye::protocols::sql {
namespace {

bool ident_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return std::isalnum(u) || c == '_' || c == '$' || u >= 0x80;
}

// Index just past a quoted run starting at s[i] == quote; doubled quotes
// (and, when backslashes escape, \x) stay inside.
size_t skip_quoted(std::string_view s, size_t i, char quote, bool backslash) {
  for (++i; i < s.size(); ++i) {
    if (backslash && s[i] == '\\') {
      ++i;
      continue;
    }
    if (s[i] == quote) {
      if (i + 1 < s.size() && s[i + 1] == quote) {
        ++i;
        continue;
      }
      return i + 1;
    }
  }
  return s.size();
}

// "$tag$" or "$$" at s[i]: the tag's length, 0 when it is not one.
size_t dollar_tag(std::string_view s, size_t i) {
  size_t j = i + 1;
  while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
  if (j < s.size() && s[j] == '$' && !(j > i + 1 && std::isdigit(static_cast<unsigned char>(s[i + 1]))))
    return j + 1 - i;
  return 0;
}

size_t skip_number(std::string_view s, size_t i) {
  if (s.substr(i, 2) == "0x" || s.substr(i, 2) == "0X") {
    i += 2;
    while (i < s.size() && std::isxdigit(static_cast<unsigned char>(s[i]))) ++i;
    return i;
  }
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    size_t j = i + 1;
    if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
    if (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) {
      i = j;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    }
  }
  return i;
}

void put_space(std::string& out) {
  if (!out.empty() && out.back() != ' ') out.push_back(' ');
}

// "IN (?, ?, ?)" -> "IN (?)": the number of values is data too.
std::string fold_in_lists(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const bool word_start = i == 0 || !ident_char(s[i - 1]);
    if (word_start && i + 2 < s.size() && (s[i] == 'I' || s[i] == 'i') && (s[i + 1] == 'N' || s[i + 1] == 'n') &&
        !ident_char(s[i + 2])) {
      size_t j = i + 2;
      while (j < s.size() && s[j] == ' ') ++j;
      if (j < s.size() && s[j] == '(') {
        size_t k = j + 1;
        while (k < s.size() && (s[k] == '?' || s[k] == ',' || s[k] == ' ')) ++k;
        if (k < s.size() && s[k] == ')' && s.find('?', j) < k) {
          out += s.substr(i, j - i) + "(?)";
          i = k + 1;
          continue;
        }
      }
    }
    out.push_back(s[i++]);
  }
  return out;
}

}  // namespace

std::string mask_sql(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    const auto u = static_cast<unsigned char>(c);
    const bool after_ident = i > 0 && ident_char(s[i - 1]);
    if (std::isspace(u)) {
      put_space(out);
      ++i;
    } else if (c == '-' && i + 1 < s.size() && s[i + 1] == '-') {
      while (i < s.size() && s[i] != '\n') ++i;
      put_space(out);
    } else if (c == '/' && i + 1 < s.size() && s[i + 1] == '*') {
      const size_t end = s.find("*/", i + 2);
      i = end == std::string_view::npos ? s.size() : end + 2;
      put_space(out);
    } else if (c == '\'') {
      i = skip_quoted(s, i, '\'', false);
      out.push_back('?');
    } else if (!after_ident && std::strchr("eEnNxXbB", c) && c != 0 && i + 1 < s.size() && s[i + 1] == '\'') {
      // E'..' allows backslash escapes; N'..', X'..', B'..' are literals too
      i = skip_quoted(s, i + 1, '\'', c == 'e' || c == 'E');
      out.push_back('?');
    } else if (c == '"' || c == '`') {
      const size_t end = skip_quoted(s, i, c, false);
      out.append(s.substr(i, end - i));  // an identifier, not data
      i = end;
    } else if (c == '$' && !after_ident && dollar_tag(s, i)) {
      const size_t len = dollar_tag(s, i);
      const size_t end = s.find(s.substr(i, len), i + len);
      i = end == std::string_view::npos ? s.size() : end + len;
      out.push_back('?');
    } else if (c == '$' && !after_ident) {
      // a placeholder $1: kept
      out.push_back(c);
      ++i;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) out.push_back(s[i++]);
    } else if (std::isdigit(u) && !after_ident) {
      i = skip_number(s, i);
      out.push_back('?');
    } else if (c == '.' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])) && !after_ident) {
      i = skip_number(s, i);
      out.push_back('?');
    } else if (ident_char(c)) {
      while (i < s.size() && ident_char(s[i])) out.push_back(s[i++]);
    } else {
      out.push_back(u < 0x20 || c == 0x7f ? ' ' : c);
      ++i;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return fold_in_lists(out);
}

}  // namespace redeye::protocols::sql
