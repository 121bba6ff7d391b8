#include "trace/flat_json.h"

#include <cctype>
#include <cstdio>

namespace redeye::trace {

std::string json_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void FlatJsonWriter::key(std::string_view k) {
  if (out_.size() > 1) out_.push_back(',');
  out_ += '"' + json_escape(k) + "\":";
}

FlatJsonWriter& FlatJsonWriter::add(std::string_view k, std::string_view value) {
  key(k);
  out_ += '"' + json_escape(value) + '"';
  return *this;
}

FlatJsonWriter& FlatJsonWriter::add(std::string_view k, uint64_t value) {
  key(k);
  out_ += std::to_string(value);
  return *this;
}

FlatJsonWriter& FlatJsonWriter::add_bool(std::string_view k, bool value) {
  key(k);
  out_ += value ? "true" : "false";
  return *this;
}

namespace {

class Reader {
 public:
  explicit Reader(std::string_view text) : s_(text) {}

  void skip_space() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool eat(char c) {
    skip_space();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool at_end() {
    skip_space();
    return i_ == s_.size();
  }
  std::optional<std::string> string() {
    if (!eat('"')) return std::nullopt;
    std::string out;
    while (i_ < s_.size()) {
      char c = s_[i_++];
      if (c == '"') return out;
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (i_ >= s_.size()) return std::nullopt;
      char e = s_[i_++];
      switch (e) {
        case 'n': out.push_back('\n'); break;
        case 't': out.push_back('\t'); break;
        case 'r': out.push_back('\r'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case '"': case '\\': case '/': out.push_back(e); break;
        case 'u': {
          if (i_ + 4 > s_.size()) return std::nullopt;
          unsigned v = 0;
          for (int k = 0; k < 4; ++k) {
            const char h = s_[i_++];
            if (!std::isxdigit(static_cast<unsigned char>(h))) return std::nullopt;
            v = v * 16 + static_cast<unsigned>(std::isdigit(static_cast<unsigned char>(h)) ? h - '0'
                                                                                           : (std::tolower(h) - 'a' + 10));
          }
          // Our writer escapes control bytes only; anything wider stays a '?'.
          out.push_back(v < 0x80 ? static_cast<char>(v) : '?');
          break;
        }
        default: return std::nullopt;
      }
    }
    return std::nullopt;
  }
  std::optional<std::string> scalar() {
    skip_space();
    if (i_ < s_.size() && s_[i_] == '"') return string();
    const size_t start = i_;
    while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '-' ||
                              s_[i_] == '.' || s_[i_] == '+'))
      ++i_;
    if (i_ == start) return std::nullopt;
    return std::string(s_.substr(start, i_ - start));
  }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

}  // namespace

std::optional<std::map<std::string, std::string>> parse_flat_json(std::string_view text) {
  Reader r(text);
  std::map<std::string, std::string> out;
  if (!r.eat('{')) return std::nullopt;
  if (r.eat('}')) return r.at_end() ? std::optional(out) : std::nullopt;
  do {
    auto k = r.string();
    if (!k || !r.eat(':')) return std::nullopt;
    auto v = r.scalar();
    if (!v) return std::nullopt;
    out[*k] = *v;
  } while (r.eat(','));
  if (!r.eat('}') || !r.at_end()) return std::nullopt;
  return out;
}

}  // namespace redeye::trace
