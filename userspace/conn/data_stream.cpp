#include "conn/data_stream.h"

#include <algorithm>

namespace redeye::conn {

using protocols::Direction;
using protocols::MessageTime;
using protocols::ParseState;
using protocols::ProtocolParser;

// Times the bytes of one parse_frame call: byte `offset` is at stream
// position base + offset.
class DataStream::Clock final : public protocols::FrameClock {
 public:
  Clock(const DataStream& stream, uint64_t base) : stream_(stream), base_(base) {}
  MessageTime at(size_t offset) const override { return stream_.time_at(base_ + offset); }

 private:
  const DataStream& stream_;
  const uint64_t base_;
};

DataStream::DataStream(Direction direction, ProtocolParser& parser, size_t max_buffered_bytes)
    : direction_(direction), parser_(parser), max_buffered_(max_buffered_bytes) {}

void DataStream::append(uint64_t position, uint64_t message_size, std::string_view captured,
                        MessageTime time, bool tail_follows) {
  // The kernel never copies more than was sent; trust the size, not the copy.
  if (captured.size() > message_size) captured = captured.substr(0, message_size);
  if (!started_) {
    started_ = true;
    next_position_ = position;
  }

  // Bytes whose position was already passed were parsed, skipped or given up
  // on: seeing them again must not feed the parser twice.
  const uint64_t end = position + message_size;
  if (end <= next_position_) {
    stats_.bytes_duplicate += message_size;
    return;
  }
  if (position < next_position_) {
    const uint64_t overlap = next_position_ - position;
    stats_.bytes_duplicate += overlap;
    captured.remove_prefix(std::min<uint64_t>(overlap, captured.size()));
    message_size -= overlap;
    position = next_position_;
  } else if (position > next_position_) {
    lose_bytes(position - next_position_, time);
  }
  next_position_ = end;
  last_time_ = time;
  // Nothing buffered: every byte parsed from here on came with this message,
  // so the times of earlier ones are not needed (and time_at asks one).
  if (buffer_.empty()) timed_.clear();
  timed_.push_back({position, time});

  // A body skip left over from an earlier message eats the head of this one,
  // captured or not.
  const uint64_t head_skip = std::min(skip_remaining_, message_size);
  if (head_skip > 0) pass_skip(head_skip, time);
  captured.remove_prefix(std::min<uint64_t>(head_skip, captured.size()));
  const uint64_t uncaptured = message_size - head_skip - captured.size();

  if (!captured.empty()) consume(captured, position + head_skip);
  // The tail the kernel did not copy is harmless if it is body the parser
  // skips anyway (parsing the captured part may just have asked for that);
  // otherwise it is lost.
  if (uncaptured > 0) lose_bytes(uncaptured, time, tail_follows);
  prune_times();
}

void DataStream::discard_buffered() {
  stats_.bytes_discarded += buffer_.size();
  std::string().swap(buffer_);  // release the memory, not just the contents
  prune_times();
}

void DataStream::close() {
  discard_buffered();
  parser_.on_stream_end(direction_, end_state());
}

protocols::StreamEnd DataStream::end_state() const {
  protocols::StreamEnd end;
  end.any_message = started_;
  end.last_message = last_time_;
  end.skipping = skip_remaining_ > 0;
  end.skipped = end.skipping ? skip_passed_ : 0;
  return end;
}

void DataStream::lose_bytes(uint64_t count, MessageTime time, bool elided) {
  const uint64_t absorbed = std::min(skip_remaining_, count);
  if (absorbed > 0) pass_skip(absorbed, time);
  count -= absorbed;
  if (count == 0) return;

  // An incomplete frame cannot be completed across the hole: its bytes are
  // lost to the parser as well, and the bytes after the hole start at an
  // unknown offset within some frame.
  const uint64_t partial = buffer_.size();
  buffer_.clear();
  ++stats_.gaps;
  stats_.bytes_missing += count;
  stats_.bytes_discarded += partial;
  needs_resync_ = true;
  if (elided) {
    parser_.on_elided(direction_, partial + count);
  } else {
    parser_.on_gap(direction_, partial + count);
  }
}

void DataStream::pass_skip(uint64_t count, MessageTime time) {
  skip_remaining_ -= count;
  skip_passed_ += count;
  stats_.bytes_skipped += count;
  if (skip_remaining_ == 0) parser_.on_body_end(direction_, time);
}

void DataStream::consume(std::string_view captured, uint64_t start) {
  // Parse straight from the caller's bytes when nothing is buffered, so that
  // the common case (whole frames per message) copies nothing.
  const bool continues_buffer = !buffer_.empty();
  std::string_view pending = captured;
  if (continues_buffer) {
    buffer_.append(captured);
    pending = buffer_;
  }
  pending_end_ = start + captured.size();
  parse(pending);
  if (continues_buffer) {
    buffer_.erase(0, buffer_.size() - pending.size());
  } else {
    buffer_.assign(pending);
  }
  // The cap applies to what stays buffered, not to what one message brings:
  // a message full of complete frames never trips it.
  if (buffer_.size() > max_buffered_) drop_buffer_over_cap();
}

void DataStream::parse(std::string_view& pending) {
  while (!pending.empty()) {
    if (needs_resync_ && !resync(pending, 0)) return;

    size_t consumed = 0;
    const Clock clock(*this, pending_end_ - pending.size());
    const ParseState state = parser_.parse_frame(direction_, pending, clock, consumed);
    if (state == ParseState::NeedsMoreData) return;
    // A frame that consumes nothing would spin this loop forever: treat it
    // as the parser not recognising the bytes.
    if (state == ParseState::Invalid || consumed == 0) {
      ++stats_.invalid_frames;
      // Search from the next byte: a boundary at 0 would be the same
      // rejected frame again.
      resync(pending, 1);
      continue;
    }
    consumed = std::min(consumed, pending.size());
    ++(state == ParseState::Success ? stats_.frames : stats_.frames_ignored);
    stats_.bytes_parsed += consumed;
    pending.remove_prefix(consumed);
    start_body_skip(pending);
  }
}

void DataStream::start_body_skip(std::string_view& pending) {
  const uint64_t skip = parser_.body_bytes_to_skip(direction_);
  if (skip == 0) return;
  const size_t available = static_cast<size_t>(std::min<uint64_t>(skip, pending.size()));
  skip_passed_ = available;
  stats_.bytes_skipped += available;
  // Whatever is not here yet is skipped as it arrives; pending is empty then,
  // so nothing gets buffered meanwhile.
  skip_remaining_ = skip - available;
  if (skip_remaining_ == 0) {
    // The whole body is here: its last byte is in `pending`.
    parser_.on_body_end(direction_, time_at(pending_end_ - pending.size() + available - 1));
  }
  pending.remove_prefix(available);
}

bool DataStream::resync(std::string_view& pending, size_t from) {
  from = std::min(from, pending.size());
  const size_t offset = parser_.find_frame_boundary(direction_, pending.substr(from));
  if (offset == std::string_view::npos || offset > pending.size() - from) {
    discard(pending, pending.size());
    // Still lost: the next message is searched too.
    needs_resync_ = true;
    return false;
  }
  discard(pending, from + offset);
  needs_resync_ = false;
  return true;
}

void DataStream::discard(std::string_view& pending, size_t count) {
  stats_.bytes_discarded += count;
  pending.remove_prefix(count);
}

void DataStream::drop_buffer_over_cap() {
  const uint64_t dropped = buffer_.size();
  stats_.bytes_dropped_over_cap += dropped;
  // Give the memory back: this stream just showed it can hold a lot of it.
  std::string().swap(buffer_);
  // The rest of the oversized frame arrives next, mid-frame.
  needs_resync_ = true;
  parser_.on_gap(direction_, dropped);
}

MessageTime DataStream::time_at(uint64_t position) const {
  // Whole frames per message (the common case) leave one message to ask.
  if (timed_.size() == 1) return timed_.front().time;
  // The last message starting at or before the position holds it.
  const auto after = std::upper_bound(
      timed_.begin(), timed_.end(), position,
      [](uint64_t p, const TimedStart& timed) { return p < timed.start; });
  if (after == timed_.begin()) return timed_.empty() ? last_time_ : timed_.front().time;
  return std::prev(after)->time;
}

void DataStream::prune_times() {
  // The oldest byte still needed is the buffered frame's first; with nothing
  // buffered only the last message's time is kept.
  const uint64_t oldest_needed = next_position_ - buffer_.size();
  size_t gone = 0;
  while (timed_.size() - gone > 1 && timed_[gone + 1].start <= oldest_needed) ++gone;
  if (gone) timed_.erase(timed_.begin(), timed_.begin() + static_cast<std::ptrdiff_t>(gone));
}

}  // namespace redeye::conn
