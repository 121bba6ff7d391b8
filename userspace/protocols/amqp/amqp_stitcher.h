// Per-channel state of one AMQP 0-9-1 connection, turned into Records
// (AmqpDetails) as methods go by. Methods come in as "sent by the client" or
// "sent by the broker", whichever end the traced process is: the broker
// process sees the same events as its clients, in the other direction.
//
// What a channel remembers, each bounded by AmqpLimits (beyond a cap the
// event is still counted, only not tracked, and the stats say so):
// - consumers: consumer tag -> queue and no-ack, from basic.consume and its
//   consume-ok (the broker names the consumer when the client did not);
// - pending basic.get: which queue the next get-ok or get-empty answers;
// - deliveries awaiting settlement: delivery tag -> queue and time, for the
//   process duration and the in-flight gauge; ack/nack with `multiple`
//   settle every tag up to theirs (0: all);
// - publishes awaiting confirmation (after confirm.select): the broker
//   numbers them 1, 2, ... per channel and acks/nacks those numbers.
//
// Delivery tags are numbered 1, 2, ... per channel too, so deliveries lost
// in capture (a read longer than the captured prefix) are recovered from
// the next delivery's tag: counted, and kept in flight when their consumer
// acknowledges, timed as that next delivery.
//
// A delivery, publish or return is emitted once its content header gives
// the body size (or when anything else ends the wait for it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "protocols/amqp/amqp_frames.h"
#include "protocols/protocol.h"

namespace redeye::protocols::amqp {

inline constexpr std::string_view kProtocolName = "amqp";

enum class Sender : uint8_t { Client, Broker };

struct AmqpLimits {
  size_t max_channels = 256;                 // per connection
  size_t max_consumers_per_channel = 256;
  size_t max_unacked_per_channel = 8192;     // deliveries awaiting settlement
  size_t max_unconfirmed_per_channel = 8192; // publishes awaiting confirmation
  size_t max_pending_gets = 16;              // basic.get awaiting get-ok/get-empty
  // A delivery tag further ahead than this is not taken as lost deliveries.
  uint64_t max_inferred_deliveries = 65536;
};

struct AmqpStats {
  uint64_t methods = 0;
  uint64_t content_headers = 0;
  uint64_t records = 0;
  uint64_t deliveries_inferred = 0;     // recovered from delivery-tag jumps
  uint64_t deliveries_untracked = 0;    // over the unacked cap or unknown consumer's no-ack unknown
  uint64_t settlements_unmatched = 0;   // tag never delivered while traced
  uint64_t confirms_unmatched = 0;      // ack/nack of a publish not tracked
  uint64_t publishes_untracked = 0;     // confirm mode, over the cap or numbering lost
  uint64_t channels_over_cap = 0;       // events on channels beyond max_channels
  uint64_t consumers_over_cap = 0;
  uint64_t gets_unmatched = 0;          // get-ok/get-empty without a pending get
};

class AmqpStitcher {
 public:
  AmqpStitcher(RecordSink& sink, Role role, AmqpLimits limits = {});

  Role role() const { return role_; }
  void set_role(Role role) { role_ = role; }

  void on_method(Sender sender, uint16_t channel, const Method& method, uint64_t time_ns);
  void on_content_header(Sender sender, uint16_t channel, uint64_t body_size);
  // Frames of this sender were lost: what waited for their content is
  // emitted, and what depends on seeing every frame is forgotten.
  void on_gap(Sender sender);
  // The connection is gone: everything still held is let go.
  void on_close();

  const AmqpStats& stats() const { return stats_; }
  size_t channels() const { return channels_.size(); }
  // Deliveries of `channel` awaiting settlement (tests).
  size_t unacked(uint16_t channel) const;
  size_t unconfirmed(uint16_t channel) const;
  size_t consumers(uint16_t channel) const;

 private:
  struct Consumer {
    std::string queue;
    bool no_ack = false;
  };
  struct PendingConsume {
    std::string tag;  // "" = the broker names it in consume-ok
    Consumer consumer;
  };
  struct Delivery {
    uint64_t time_ns = 0;
    std::string queue;
    bool in_flight = true;  // counted in the gauge (its consumer acknowledges)
  };
  struct Publish {
    uint64_t time_ns = 0;
    std::string exchange;
  };
  struct Channel {
    std::map<std::string, Consumer, std::less<>> consumers;
    std::deque<PendingConsume> consumes;  // awaiting consume-ok
    std::deque<Consumer> gets;            // awaiting get-ok / get-empty
    std::map<uint64_t, Delivery> unacked;
    uint64_t last_delivery_tag = 0;
    bool confirm_mode = false;
    bool confirm_numbering_lost = false;
    uint64_t next_publish_seq = 1;
    std::map<uint64_t, Publish> unconfirmed;
    // A delivery/publish/return whose content header is awaited, per sender.
    std::optional<Record> content[2];
  };

  Channel& channel(uint16_t id);
  void emit(Record record);
  Record make(AmqpDetails details, uint64_t start_ns, uint64_t end_ns) const;
  // Emits now, or after the content header when the method carries content.
  void await_content(Sender sender, Channel& ch, Record record);
  void flush_content(Channel& ch, Sender sender);

  void on_client_method(Channel& ch, uint16_t id, const Method& m, uint64_t time_ns);
  void on_broker_method(Channel& ch, uint16_t id, const Method& m, uint64_t time_ns);
  void deliver(Channel& ch, const Consumer* consumer, const char* operation, uint64_t tag, uint64_t time_ns);
  void settle(Channel& ch, const Method& m, std::string_view outcome, uint64_t time_ns);
  void confirm(Channel& ch, const Method& m, std::string_view outcome, uint64_t time_ns);
  void add_consumer(Channel& ch, const std::string& tag, Consumer consumer, uint64_t time_ns);
  void remove_consumer(Channel& ch, std::string_view tag, uint64_t time_ns);
  void closed(AmqpEvent event, Sender sender, uint16_t reply_code, uint64_t time_ns);
  // Deliveries awaiting settlement are given back to the broker (channel
  // closed, basic.recover): they leave the in-flight count.
  void release_unacked(Channel& ch, uint64_t time_ns);
  // Lets go of a channel's state: in-flight deliveries and consumers end.
  void drop_channel(Channel& ch, uint64_t time_ns);
  void drop_all(uint64_t time_ns);

  RecordSink& sink_;
  Role role_;
  AmqpLimits limits_;
  std::map<uint16_t, Channel> channels_;
  Channel overflow_;  // stands in, emptied each time, for channels over the cap
  bool blocked_ = false;
  uint64_t last_time_ns_ = 0;
  AmqpStats stats_;
};

}  // namespace redeye::protocols::amqp
