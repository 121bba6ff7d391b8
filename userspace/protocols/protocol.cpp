#include "protocols/protocol.h"

#include <stdexcept>
#include <utility>

namespace redeye::protocols {

void ProtocolRegistry::add(redeye_protocol id, std::string name, Factory factory) {
  // Registration runs once at start-up from code, so every mistake here is a
  // programming error: fail loudly instead of letting one parser shadow another.
  if (id == REDEYE_PROTO_UNKNOWN)
    throw std::invalid_argument("protocol '" + name + "': REDEYE_PROTO_UNKNOWN cannot have a parser");
  if (name.empty())
    throw std::invalid_argument("protocol " + std::to_string(id) + ": empty name");
  if (!factory) throw std::invalid_argument("protocol '" + name + "': empty factory");
  if (const auto it = entries_.find(id); it != entries_.end())
    throw std::invalid_argument("protocol " + std::to_string(id) + " registered twice ('" +
                                it->second.name + "', then '" + name + "')");
  for (const auto& [other_id, entry] : entries_) {
    if (entry.name == name)
      throw std::invalid_argument("protocol name '" + name + "' registered twice (ids " +
                                  std::to_string(other_id) + " and " + std::to_string(id) + ")");
  }
  entries_.emplace(id, Entry{std::move(name), std::move(factory)});
}

void ProtocolRegistry::add(redeye_protocol id, std::string name, SinkOnlyFactory factory) {
  Factory with_role;
  if (factory) {
    with_role = [factory = std::move(factory)](RecordSink& sink, Role) { return factory(sink); };
  }
  add(id, std::move(name), std::move(with_role));
}

std::unique_ptr<ProtocolParser> ProtocolRegistry::create(redeye_protocol id, RecordSink& sink,
                                                         Role role) const {
  const auto it = entries_.find(id);
  if (it == entries_.end()) return nullptr;
  return it->second.factory(sink, role);
}

std::string_view ProtocolRegistry::name_of(redeye_protocol id) const {
  const auto it = entries_.find(id);
  return it == entries_.end() ? std::string_view() : std::string_view(it->second.name);
}

}  // namespace redeye::protocols
