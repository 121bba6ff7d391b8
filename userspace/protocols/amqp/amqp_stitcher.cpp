#include "protocols/amqp/amqp_stitcher.h"

#include <utility>
#include <vector>

namespace redeye::protocols::amqp {
namespace {

size_t sender_index(Sender sender) { return sender == Sender::Client ? 0 : 1; }

std::string_view operation_of(const AmqpDetails& d) {
  switch (d.event) {
    case AmqpEvent::Published: return "publish";
    case AmqpEvent::Confirmed: return "confirm";
    case AmqpEvent::Delivered: return d.outcome;  // "deliver" or "get"
    case AmqpEvent::Settled: return d.outcome;    // "ack", "nack" or "reject"
    case AmqpEvent::Unsettled: return "unsettled";
    case AmqpEvent::Returned: return "return";
    case AmqpEvent::ConsumerAdded: return "consume";
    case AmqpEvent::ConsumerRemoved: return "cancel";
    case AmqpEvent::ChannelClosed: return "channel.close";
    case AmqpEvent::ConnectionClosed: return "connection.close";
    case AmqpEvent::Blocked: return "connection.blocked";
    case AmqpEvent::Unblocked: return "connection.unblocked";
  }
  return "";
}

AmqpDetails details(AmqpEvent event) {
  AmqpDetails d;
  d.event = event;
  return d;
}

// The entries of `by_tag` an ack, nack or reject (or a broker's confirm)
// covers: its delivery tag alone, or with `multiple` every tag up to it
// (all of them for tag 0).
template <typename ByTag>
std::pair<typename ByTag::iterator, typename ByTag::iterator> covered(ByTag& by_tag, const Method& m) {
  auto first = by_tag.begin();
  auto last = by_tag.end();
  if (!m.multiple) {
    first = by_tag.find(m.delivery_tag);
    last = first == by_tag.end() ? first : std::next(first);
  } else if (m.delivery_tag != 0) {
    last = by_tag.upper_bound(m.delivery_tag);
  }
  return {first, last};
}

}  // namespace

AmqpStitcher::AmqpStitcher(RecordSink& sink, Role role, AmqpLimits limits)
    : sink_(sink), role_(role), limits_(limits) {}

AmqpStitcher::Channel& AmqpStitcher::channel(uint16_t id) {
  auto it = channels_.find(id);
  if (it != channels_.end()) return it->second;
  if (channels_.size() < limits_.max_channels) return channels_[id];
  ++stats_.channels_over_cap;
  overflow_ = Channel{};
  return overflow_;
}

size_t AmqpStitcher::unacked(uint16_t channel) const {
  auto it = channels_.find(channel);
  return it == channels_.end() ? 0 : it->second.unacked.size();
}

size_t AmqpStitcher::unconfirmed(uint16_t channel) const {
  auto it = channels_.find(channel);
  return it == channels_.end() ? 0 : it->second.unconfirmed.size();
}

size_t AmqpStitcher::consumers(uint16_t channel) const {
  auto it = channels_.find(channel);
  return it == channels_.end() ? 0 : it->second.consumers.size();
}

Record AmqpStitcher::make(AmqpDetails d, uint64_t start_ns, uint64_t end_ns) const {
  Record r;
  r.protocol = std::string(kProtocolName);
  r.role = role_;
  r.operation = std::string(operation_of(d));
  if (d.reply_code != 0) r.status = std::to_string(d.reply_code);
  // 200 is reply-success; a return is a message the broker could not route.
  r.error = d.event == AmqpEvent::Returned || (d.reply_code != 0 && d.reply_code != 200);
  r.request_ns = start_ns;
  r.response_ns = end_ns;
  r.amqp = std::move(d);
  return r;
}

void AmqpStitcher::emit(Record record) {
  ++stats_.records;
  sink_.on_record(record);
}

void AmqpStitcher::await_content(Sender sender, Channel& ch, Record record) {
  if (&ch == &overflow_) {
    emit(std::move(record));
    return;
  }
  flush_content(ch, sender);
  ch.content[sender_index(sender)] = std::move(record);
}

void AmqpStitcher::flush_content(Channel& ch, Sender sender) {
  auto& pending = ch.content[sender_index(sender)];
  if (!pending) return;
  emit(std::move(*pending));
  pending.reset();
}

void AmqpStitcher::on_content_header(Sender sender, uint16_t id, uint64_t body_size) {
  ++stats_.content_headers;
  auto it = channels_.find(id);
  if (it == channels_.end()) return;
  auto& pending = it->second.content[sender_index(sender)];
  if (!pending) return;
  pending->amqp->body_bytes = body_size;
  flush_content(it->second, sender);
}

void AmqpStitcher::on_method(Sender sender, uint16_t id, const Method& m, uint64_t time_ns) {
  ++stats_.methods;
  last_time_ns_ = time_ns;
  switch (m.id) {
    case method::kConnectionClose:
      closed(AmqpEvent::ConnectionClosed, sender, m.reply_code, time_ns);
      drop_all(time_ns);
      return;
    case method::kConnectionBlocked:
      if (!blocked_) emit(make(details(AmqpEvent::Blocked), time_ns, time_ns));
      blocked_ = true;
      return;
    case method::kConnectionUnblocked:
      if (blocked_) emit(make(details(AmqpEvent::Unblocked), time_ns, time_ns));
      blocked_ = false;
      return;
    default:
      break;
  }
  if (id == 0) return;  // the rest of channel 0 is the connection's own business
  if (m.id == method::kChannelClose) {
    closed(AmqpEvent::ChannelClosed, sender, m.reply_code, time_ns);
    auto it = channels_.find(id);
    if (it != channels_.end()) {
      drop_channel(it->second, time_ns);
      channels_.erase(it);
    }
    return;
  }
  if (m.id == method::kChannelCloseOk) return;  // the state went with the close
  if (m.id == method::kChannelOpen) {
    // A channel number used again starts from nothing.
    auto it = channels_.find(id);
    if (it != channels_.end()) {
      drop_channel(it->second, time_ns);
      channels_.erase(it);
    }
  }
  Channel& ch = channel(id);
  // A method where a content header was due: that content is not coming.
  flush_content(ch, sender);
  if (sender == Sender::Client) {
    on_client_method(ch, id, m, time_ns);
  } else {
    on_broker_method(ch, id, m, time_ns);
  }
}

void AmqpStitcher::on_client_method(Channel& ch, uint16_t, const Method& m, uint64_t time_ns) {
  switch (m.id) {
    case method::kBasicPublish: {
      AmqpDetails d = details(AmqpEvent::Published);
      d.exchange = m.exchange;
      if (ch.confirm_mode) {
        const uint64_t seq = ch.next_publish_seq++;
        if (!ch.confirm_numbering_lost && ch.unconfirmed.size() < limits_.max_unconfirmed_per_channel) {
          ch.unconfirmed[seq] = Publish{time_ns, m.exchange};
        } else {
          ++stats_.publishes_untracked;
        }
      }
      await_content(Sender::Client, ch, make(std::move(d), time_ns, time_ns));
      break;
    }
    case method::kBasicConsume: {
      PendingConsume pc{m.consumer_tag, Consumer{m.queue, m.no_ack}};
      if (m.no_wait) {
        add_consumer(ch, pc.tag, std::move(pc.consumer), time_ns);
      } else {
        if (ch.consumes.size() >= limits_.max_pending_gets) ch.consumes.pop_front();
        ch.consumes.push_back(std::move(pc));
      }
      break;
    }
    case method::kBasicCancel:
      if (m.no_wait) remove_consumer(ch, m.consumer_tag, time_ns);
      break;
    case method::kBasicCancelOk:  // answering the broker's cancel
      remove_consumer(ch, m.consumer_tag, time_ns);
      break;
    case method::kBasicGet:
      if (ch.gets.size() >= limits_.max_pending_gets) ch.gets.pop_front();
      ch.gets.push_back(Consumer{m.queue, m.no_ack});
      break;
    case method::kBasicAck:
      settle(ch, m, "ack", time_ns);
      break;
    case method::kBasicNack:
      settle(ch, m, "nack", time_ns);
      break;
    case method::kBasicReject:
      settle(ch, m, "reject", time_ns);
      break;
    case method::kBasicRecover:
    case method::kBasicRecoverAsync:
      release_unacked(ch, time_ns);
      break;
    case method::kConfirmSelect:
      if (!ch.confirm_mode) {
        ch.confirm_mode = true;
        ch.next_publish_seq = 1;
      }
      break;
    default:
      break;
  }
}

void AmqpStitcher::on_broker_method(Channel& ch, uint16_t, const Method& m, uint64_t time_ns) {
  switch (m.id) {
    case method::kBasicConsumeOk: {
      // The consume it answers: the one that named this tag, else the
      // oldest that left the naming to the broker.
      auto it = ch.consumes.begin();
      auto unnamed = ch.consumes.end();
      for (; it != ch.consumes.end(); ++it) {
        if (it->tag == m.consumer_tag) break;
        if (it->tag.empty() && unnamed == ch.consumes.end()) unnamed = it;
      }
      if (it == ch.consumes.end()) it = unnamed;
      if (it == ch.consumes.end()) break;
      Consumer consumer = std::move(it->consumer);
      ch.consumes.erase(it);
      add_consumer(ch, m.consumer_tag, std::move(consumer), time_ns);
      break;
    }
    case method::kBasicCancel:  // the broker cancels (queue deleted)
    case method::kBasicCancelOk:
      remove_consumer(ch, m.consumer_tag, time_ns);
      break;
    case method::kBasicDeliver: {
      auto it = ch.consumers.find(m.consumer_tag);
      deliver(ch, it == ch.consumers.end() ? nullptr : &it->second, "deliver", m.delivery_tag, time_ns);
      break;
    }
    case method::kBasicGetOk: {
      std::optional<Consumer> get;
      if (!ch.gets.empty()) {
        get = std::move(ch.gets.front());
        ch.gets.pop_front();
      } else {
        ++stats_.gets_unmatched;
      }
      deliver(ch, get ? &*get : nullptr, "get", m.delivery_tag, time_ns);
      break;
    }
    case method::kBasicGetEmpty:
      if (!ch.gets.empty()) {
        ch.gets.pop_front();
      } else {
        ++stats_.gets_unmatched;
      }
      break;
    case method::kBasicAck:
      confirm(ch, m, "ack", time_ns);
      break;
    case method::kBasicNack:
      confirm(ch, m, "nack", time_ns);
      break;
    case method::kBasicReturn: {
      AmqpDetails d = details(AmqpEvent::Returned);
      d.exchange = m.exchange;
      d.reply_code = m.reply_code;
      await_content(Sender::Broker, ch, make(std::move(d), time_ns, time_ns));
      break;
    }
    case method::kConfirmSelectOk:
      if (!ch.confirm_mode) {
        ch.confirm_mode = true;
        ch.next_publish_seq = 1;
      }
      break;
    default:
      break;
  }
}

void AmqpStitcher::deliver(Channel& ch, const Consumer* consumer, const char* operation, uint64_t tag,
                           uint64_t time_ns) {
  const std::string queue = consumer ? consumer->queue : std::string();
  // An unknown consumer may or may not acknowledge: its deliveries are kept
  // for the duration of a settlement that may come, but not in the gauge.
  const bool acknowledged = consumer && !consumer->no_ack;
  const bool keep = !consumer || !consumer->no_ack;
  const bool tracked = &ch != &overflow_;

  auto add = [&](uint64_t t) {
    if (!keep || !tracked) return false;
    if (ch.unacked.size() >= limits_.max_unacked_per_channel) {
      ++stats_.deliveries_untracked;
      return false;
    }
    ch.unacked[t] = Delivery{time_ns, queue, acknowledged};
    return acknowledged;
  };

  if (tracked && ch.last_delivery_tag != 0 && tag > ch.last_delivery_tag + 1 &&
      tag - ch.last_delivery_tag - 1 <= limits_.max_inferred_deliveries) {
    // Deliveries whose frames were lost in capture: the tags say how many.
    const uint64_t missed = tag - ch.last_delivery_tag - 1;
    stats_.deliveries_inferred += missed;
    uint64_t in_flight = 0;
    for (uint64_t t = ch.last_delivery_tag + 1; t < tag; ++t) in_flight += add(t) ? 1 : 0;
    for (const bool flag : {true, false}) {
      const uint64_t n = flag ? in_flight : missed - in_flight;
      if (n == 0) continue;
      AmqpDetails d = details(AmqpEvent::Delivered);
      d.queue = queue;
      d.outcome = operation;
      d.in_flight = flag;
      d.count = n;
      emit(make(std::move(d), time_ns, time_ns));
    }
  }
  if (tag > ch.last_delivery_tag) ch.last_delivery_tag = tag;

  AmqpDetails d = details(AmqpEvent::Delivered);
  d.queue = queue;
  d.outcome = operation;
  d.in_flight = add(tag);
  await_content(Sender::Broker, ch, make(std::move(d), time_ns, time_ns));
}

void AmqpStitcher::settle(Channel& ch, const Method& m, std::string_view outcome, uint64_t time_ns) {
  auto [first, last] = covered(ch.unacked, m);
  if (first == last) {
    ++stats_.settlements_unmatched;
    // Delivered before the agent looked, or not kept: counted, not timed.
    if (m.multiple) return;
    AmqpDetails d = details(AmqpEvent::Settled);
    d.outcome = std::string(outcome);
    d.requeue = m.requeue;
    emit(make(std::move(d), 0, time_ns));
    return;
  }
  for (auto it = first; it != last; ++it) {
    AmqpDetails d = details(AmqpEvent::Settled);
    d.queue = std::move(it->second.queue);
    d.outcome = std::string(outcome);
    d.requeue = m.requeue;
    d.in_flight = it->second.in_flight;
    emit(make(std::move(d), it->second.time_ns, time_ns));
  }
  ch.unacked.erase(first, last);
}

void AmqpStitcher::confirm(Channel& ch, const Method& m, std::string_view outcome, uint64_t time_ns) {
  auto [first, last] = covered(ch.unconfirmed, m);
  if (first == last) {
    ++stats_.confirms_unmatched;
    return;
  }
  for (auto it = first; it != last; ++it) {
    AmqpDetails d = details(AmqpEvent::Confirmed);
    d.exchange = std::move(it->second.exchange);
    d.outcome = std::string(outcome);
    emit(make(std::move(d), it->second.time_ns, time_ns));
  }
  ch.unconfirmed.erase(first, last);
}

void AmqpStitcher::add_consumer(Channel& ch, const std::string& tag, Consumer consumer, uint64_t time_ns) {
  if (&ch == &overflow_) return;
  auto it = ch.consumers.find(tag);
  if (it != ch.consumers.end()) {
    it->second = std::move(consumer);
    return;
  }
  if (ch.consumers.size() >= limits_.max_consumers_per_channel) {
    ++stats_.consumers_over_cap;
    return;
  }
  AmqpDetails d = details(AmqpEvent::ConsumerAdded);
  d.queue = consumer.queue;
  ch.consumers.emplace(tag, std::move(consumer));
  emit(make(std::move(d), time_ns, time_ns));
}

void AmqpStitcher::remove_consumer(Channel& ch, std::string_view tag, uint64_t time_ns) {
  auto it = ch.consumers.find(tag);
  if (it == ch.consumers.end()) return;
  AmqpDetails d = details(AmqpEvent::ConsumerRemoved);
  d.queue = std::move(it->second.queue);
  ch.consumers.erase(it);
  emit(make(std::move(d), time_ns, time_ns));
}

void AmqpStitcher::closed(AmqpEvent event, Sender sender, uint16_t reply_code, uint64_t time_ns) {
  AmqpDetails d = details(event);
  d.reply_code = reply_code;
  d.by_client = sender == Sender::Client;
  emit(make(std::move(d), time_ns, time_ns));
}

void AmqpStitcher::release_unacked(Channel& ch, uint64_t time_ns) {
  std::map<std::string, uint64_t> in_flight;
  for (const auto& [tag, delivery] : ch.unacked)
    if (delivery.in_flight) ++in_flight[delivery.queue];
  for (auto& [queue, n] : in_flight) {
    AmqpDetails d = details(AmqpEvent::Unsettled);
    d.queue = queue;
    d.in_flight = true;
    d.count = n;
    emit(make(std::move(d), time_ns, time_ns));
  }
  ch.unacked.clear();
}

void AmqpStitcher::drop_channel(Channel& ch, uint64_t time_ns) {
  flush_content(ch, Sender::Client);
  flush_content(ch, Sender::Broker);
  // The broker requeues what was in flight: it leaves the gauge.
  release_unacked(ch, time_ns);
  std::vector<std::string> tags;
  for (const auto& [tag, consumer] : ch.consumers) tags.push_back(tag);
  for (const auto& tag : tags) remove_consumer(ch, tag, time_ns);
  ch = Channel{};
}

void AmqpStitcher::drop_all(uint64_t time_ns) {
  for (auto& [id, ch] : channels_) drop_channel(ch, time_ns);
  channels_.clear();
}

void AmqpStitcher::on_gap(Sender sender) {
  for (auto& [id, ch] : channels_) {
    flush_content(ch, sender);
    if (sender == Sender::Client) {
      // Which get a get-ok answers, and which number the broker gives the
      // next publish, can no longer be told.
      ch.gets.clear();
      if (ch.confirm_mode) ch.confirm_numbering_lost = true;
    } else {
      ch.gets.clear();  // a get-ok or get-empty may be among the lost
    }
  }
}

void AmqpStitcher::on_close() {
  drop_all(last_time_ns_);
  if (blocked_) emit(make(details(AmqpEvent::Unblocked), last_time_ns_, last_time_ns_));
  blocked_ = false;
}

}  // namespace redeye::protocols::amqp
