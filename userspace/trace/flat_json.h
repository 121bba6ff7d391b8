// The control socket's messages are flat JSON objects of strings, numbers
// and booleans (a trace filter, one event): this writes and reads exactly
// that, nothing nested.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace redeye::trace {

class FlatJsonWriter {
 public:
  FlatJsonWriter& add(std::string_view key, std::string_view value);
  FlatJsonWriter& add(std::string_view key, uint64_t value);
  FlatJsonWriter& add_bool(std::string_view key, bool value);
  std::string str() const { return out_ + "}"; }

 private:
  void key(std::string_view k);
  std::string out_ = "{";
};

// A JSON string literal's contents, escaped (control bytes as \u00XX).
std::string json_escape(std::string_view text);

// key -> value as text: strings unescaped, numbers and true/false as
// written. nullopt when the text is not one flat object.
std::optional<std::map<std::string, std::string>> parse_flat_json(std::string_view text);

}  // namespace redeye::trace
