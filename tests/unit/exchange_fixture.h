// One traced connection fed message by message, the way ConnectionTable
// feeds it: shared by the exchange tests of every protocol.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "conn/connection_tracker.h"
#include "conn/data_stream.h"
#include "protocols/protocol.h"
#include "../fuzz/exchange_script.h"

namespace redeye::testing {

class ExchangeTest : public ::testing::Test {
 protected:
  using Direction = protocols::Direction;
  using MessageTime = protocols::MessageTime;
  using Role = protocols::Role;
  static constexpr Direction kSend = Direction::Send;
  static constexpr Direction kRecv = Direction::Recv;

  // A fresh connection whose parser is `factory`, records going to `sink`.
  void open_connection(redeye_protocol id, std::string name, protocols::ProtocolRegistry::Factory factory,
                       protocols::RecordSink& sink, Role role) {
    save_seed();
    seed_.emplace(static_cast<uint8_t>(role));
    seed_protocol_ = id;
    registry_ = std::make_unique<protocols::ProtocolRegistry>();
    registry_->add(id, std::move(name), std::move(factory));
    tracker_ = std::make_unique<conn::ConnectionTracker>(*registry_, sink);
    tracker_->set_role(role);
    tracker_->set_protocol(id);
    role_ = role;
    position_[0] = position_[1] = 0;
  }

  // One message at the direction's next position: `size` bytes (all of
  // `captured` by default), of which `captured` is the copied prefix.
  void message(Direction direction, std::string_view captured, MessageTime time, uint64_t size = 0) {
    if (size == 0) size = captured.size();
    uint64_t& position = position_[protocols::direction_index(direction)];
    tracker_->on_data(direction, position, size, captured, time);
    position += size;
    if (seed_) seed_->message(direction == kRecv, captured, size - captured.size(), time.enter_ns, time.exit_ns);
  }
  // One message of which the kernel copied the first `head` bytes and the
  // last `tail` bytes (long PostgreSQL messages), the middle elided.
  void message_with_tail(Direction direction, std::string_view whole, size_t head, size_t tail, MessageTime time) {
    uint64_t& position = position_[protocols::direction_index(direction)];
    tracker_->on_data(direction, position, whole.size(), whole.substr(0, head), whole.substr(whole.size() - tail),
                      time);
    position += whole.size();
  }
  void sent(std::string_view bytes, MessageTime time, uint64_t size = 0) { message(kSend, bytes, time, size); }
  void received(std::string_view bytes, MessageTime time, uint64_t size = 0) {
    message(kRecv, bytes, time, size);
  }
  // `count` bytes of the direction never reach userspace.
  void lose(Direction direction, uint64_t count) {
    position_[protocols::direction_index(direction)] += count;
    if (seed_) seed_->lose(direction == kRecv, count);
  }
  void close() {
    tracker_->on_close();
    if (seed_) seed_->close();
  }
  void TearDown() override { save_seed(); }

  // The requests' direction and the answers', whichever end the traced
  // process is.
  Direction client_side() const { return role_ == Role::Server ? kRecv : kSend; }
  Direction server_side() const { return role_ == Role::Server ? kSend : kRecv; }

  template <typename Parser>
  const Parser& parser_as() const {
    return static_cast<const Parser&>(*tracker_->parser());
  }
  const conn::DataStream& stream(Direction direction) const { return *tracker_->stream(direction); }
  uint64_t position(Direction direction) const { return position_[protocols::direction_index(direction)]; }

 private:
  // With REDEYE_FUZZ_SEED_DIR set, each connection's messages are written
  // to <dir>/<protocol>/<test>[-n] as a fuzz seed (tests/fuzz/exchange_script.h).
  void save_seed() {
    const char* dir = std::getenv("REDEYE_FUZZ_SEED_DIR");
    if (!dir || !seed_) return;
    static constexpr std::pair<redeye_protocol, const char*> kTargets[] = {
        {REDEYE_PROTO_HTTP1, "http"}, {REDEYE_PROTO_POSTGRES, "postgres"},
        {REDEYE_PROTO_MYSQL, "mysql"}, {REDEYE_PROTO_AMQP, "amqp"}};
    for (const auto& [id, target] : kTargets) {
      if (id != seed_protocol_) continue;
      const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
      const auto path = std::filesystem::path(dir) / target;
      std::filesystem::create_directories(path);
      std::string file = std::string(test->test_suite_name()) + "." + test->name();
      for (char& c : file)
        if (c == '/') c = '_';
      if (seeds_saved_ > 0) file += "-" + std::to_string(seeds_saved_);
      std::ofstream(path / file, std::ios::binary) << seed_->bytes();
    }
    ++seeds_saved_;
    seed_.reset();
  }

  std::optional<fuzz::ScriptWriter> seed_;
  redeye_protocol seed_protocol_ = REDEYE_PROTO_UNKNOWN;
  int seeds_saved_ = 0;
  std::unique_ptr<protocols::ProtocolRegistry> registry_;
  std::unique_ptr<conn::ConnectionTracker> tracker_;
  Role role_ = Role::Unknown;
  uint64_t position_[2] = {0, 0};
};

}  // namespace redeye::testing
