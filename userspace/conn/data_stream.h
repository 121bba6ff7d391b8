// One direction of one connection: turns the kernel's per-message captures
// into the contiguous byte sequence the protocol parser expects.
//
// The kernel reports, per message, the stream position of its first byte,
// the full message size and a bounded prefix of the bytes. Messages can
// arrive with holes between them (ring buffer overflow), with their tail
// uncaptured (prefix only) or twice. DataStream hides all of that behind
// ProtocolParser's contract: the parser sees bytes in order, each at most
// once, and is told through on_gap whenever some were lost.
//
// Only the unparsed start of an incomplete frame is kept between messages;
// complete frames are parsed straight from the caller's bytes.
//
// Each message also carries its syscall times. The stream remembers which
// message each byte it still holds came from (one entry per message, pruned
// as bytes are consumed), so the parser can time any byte of a frame.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>
#include <string>
#include <string_view>

#include "protocols/protocol.h"

namespace redeye::conn {

using protocols::MessageTime;

// Every byte position the stream has moved past is counted in exactly one of
// the bytes_* counters below except bytes_duplicate, or is still buffered:
//   parsed + skipped + missing + discarded + dropped_over_cap + buffered
//     == positions covered since the first message.
struct DataStreamStats {
  uint64_t frames = 0;                  // parse_frame returned Success
  uint64_t frames_ignored = 0;          // parse_frame returned Ignored
  uint64_t invalid_frames = 0;          // parse_frame returned Invalid (or consumed nothing)
  uint64_t gaps = 0;                    // times bytes were lost in capture
  uint64_t bytes_parsed = 0;            // consumed by Success/Ignored frames
  uint64_t bytes_skipped = 0;           // bodies skipped at the parser's request
  uint64_t bytes_missing = 0;           // never captured: position holes, uncaptured tails
  uint64_t bytes_discarded = 0;         // received but thrown away: resync, partial frames at gaps/close
  uint64_t bytes_dropped_over_cap = 0;  // an incomplete frame outgrew the buffer cap
  uint64_t bytes_duplicate = 0;         // received again after their position was passed
};

class DataStream {
 public:
  static constexpr size_t kDefaultMaxBufferedBytes = 64 * 1024;

  // `parser` is shared with the connection's other direction and outlives
  // the stream. `max_buffered_bytes` bounds the incomplete frame kept
  // between messages.
  DataStream(protocols::Direction direction, protocols::ProtocolParser& parser,
             size_t max_buffered_bytes = kDefaultMaxBufferedBytes);

  // One kernel message: `message_size` bytes starting at stream `position`,
  // of which `captured` is the prefix the kernel copied (possibly shorter),
  // sent or received by a syscall timed `time`. The first message sets the
  // stream's origin: capture may start mid-stream.
  // `tail_follows`: the uncaptured rest of this message is elided, and the
  // message's last bytes come next as a message of their own; the parser
  // hears of the hole through on_elided rather than on_gap.
  void append(uint64_t position, uint64_t message_size, std::string_view captured,
              protocols::MessageTime time, bool tail_follows = false);

  // Drops the incomplete frame, if any.
  void discard_buffered();
  // The connection closed: drops the incomplete frame and tells the parser
  // what this direction knew (ProtocolParser::on_stream_end).
  void close();
  protocols::StreamEnd end_state() const;

  const DataStreamStats& stats() const { return stats_; }
  protocols::Direction direction() const { return direction_; }
  size_t buffered_bytes() const { return buffer_.size(); }
  // Stream position the next message is expected at.
  uint64_t next_position() const { return next_position_; }
  // Body bytes still to be skipped before parsing resumes.
  uint64_t pending_skip() const { return skip_remaining_; }
  // Messages whose times are still remembered (for tests of the bound).
  size_t timed_messages() const { return timed_.size(); }

 private:
  // The bytes from stream position `start` on came with a message timed `time`.
  struct TimedStart {
    uint64_t start;
    protocols::MessageTime time;
  };
  class Clock;

  // Bytes the kernel never delivered; a pending body skip absorbs them first.
  // `time`: of the message that declared them, or that followed the hole.
  void lose_bytes(uint64_t count, protocols::MessageTime time, bool elided = false);
  // Passes `count` bytes of the pending body skip; tells the parser when the
  // body ends, its last byte timed `time`.
  void pass_skip(uint64_t count, protocols::MessageTime time);
  // Feeds captured bytes (starting at stream position `start`) to the parser,
  // keeping any incomplete frame.
  void consume(std::string_view captured, uint64_t start);
  // Runs parse_frame over `pending` until it needs more data or runs dry.
  void parse(std::string_view& pending);
  // After a frame: drops the body the parser asked to skip.
  void start_body_skip(std::string_view& pending);
  // Time of the byte at stream position `position`.
  protocols::MessageTime time_at(uint64_t position) const;
  // Forgets the times of messages whose bytes are all gone.
  void prune_times();
  // Moves `pending` to the next frame boundary at or after `from`; false
  // (and `pending` emptied) when there is none.
  bool resync(std::string_view& pending, size_t from);
  void discard(std::string_view& pending, size_t count);
  void drop_buffer_over_cap();

  const protocols::Direction direction_;
  protocols::ProtocolParser& parser_;
  const size_t max_buffered_;

  bool started_ = false;        // origin set by the first message
  uint64_t next_position_ = 0;  // position right after the last byte accounted for
  uint64_t skip_remaining_ = 0; // body bytes to skip; only non-zero while buffer_ is empty
  uint64_t skip_passed_ = 0;    // bytes the current body skip has passed
  uint64_t pending_end_ = 0;    // stream position right after the bytes being parsed
  bool needs_resync_ = false;   // the next byte is not known to start a frame
  std::string buffer_;          // incomplete frame, starting at a frame boundary
  // By start; the front covers the oldest byte still held. A vector, not a
  // deque: it holds one or two entries, and an empty deque allocates about
  // 1 KiB, per stream of every connection.
  std::vector<TimedStart> timed_;
  protocols::MessageTime last_time_;  // of the last message that brought new positions
  DataStreamStats stats_;
};

}  // namespace redeye::conn
