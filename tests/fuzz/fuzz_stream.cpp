// Stream reassembly on its own: conn::DataStream fed arbitrary kernel
// messages (any position: holes, overlaps, repeats; captured prefixes
// shorter than the message; huge declared sizes) in front of a parser that
// checks the ProtocolParser contract from the other side.
//
// Besides crashes and sanitizer reports, the target aborts when
//  - the byte accounting of DataStreamStats does not add up,
//  - the buffered incomplete frame outgrows the cap, or the remembered
//    message times outgrow what the buffered bytes can need,
//  - the parser is called while a body it asked to skip is still running,
//    or told a body ended that it never asked to skip,
//  - a FrameClock answers for a byte with a time no message had.
//
// Input: config byte (cap = 16 << (b & 7)), varint origin, then ops:
//   kind byte: bits 0-1 where (0 next position, 1 jump forward by varint,
//   2 jump back by varint, 3 close and stop), then varint captured,
//   varint uncaptured, captured bytes.
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string_view>

#include "conn/data_stream.h"
#include "exchange_script.h"
#include "protocols/protocol.h"

namespace {

using redeye::conn::DataStream;
using redeye::protocols::Direction;
using redeye::protocols::FrameClock;
using redeye::protocols::kSkipUntilClose;
using redeye::protocols::MessageTime;
using redeye::protocols::ParseState;
using redeye::protocols::StreamEnd;

void check(bool ok) {
  if (!ok) std::abort();
}

// Frames: tag byte, length byte L, L bytes.
//   tag 0xff: not a frame (Invalid); resync finds the next byte below 0x80.
//   tag 0xfe: claims Success but consumes nothing (a broken parser).
//   tag 0xfd: claims to consume more than it was given (a broken parser).
//   tag & 0x01: Ignored, else Success.
//   tag & 0x02: a body of L * 97 bytes follows; tag & 0x04: the body runs
//   until the connection closes.
class ContractParser final : public redeye::protocols::ProtocolParser {
 public:
  explicit ContractParser(const std::set<uint64_t>& times) : times_(times) {}

  std::string_view name() const override { return "contract"; }

  ParseState parse_frame(Direction, std::string_view bytes, const FrameClock& clock, size_t& consumed) override {
    check(!skipping_);
    check(!bytes.empty());
    // Every byte's time is one a message came with.
    check(times_.count(clock.at(0).enter_ns) == 1);
    check(times_.count(clock.at(bytes.size() - 1).enter_ns) == 1);
    const auto tag = static_cast<uint8_t>(bytes[0]);
    if (tag == 0xff) return ParseState::Invalid;
    if (bytes.size() < 2) return ParseState::NeedsMoreData;
    const size_t length = 2 + static_cast<uint8_t>(bytes[1]);
    if (bytes.size() < length) return ParseState::NeedsMoreData;
    if (tag == 0xfe) {
      consumed = 0;
      return ParseState::Success;
    }
    consumed = tag == 0xfd ? length + 1000 : length;
    next_skip_ = 0;
    if (tag & 0x04) next_skip_ = kSkipUntilClose;
    else if (tag & 0x02) next_skip_ = static_cast<size_t>(length - 2) * 97;
    return (tag & 0x01) ? ParseState::Ignored : ParseState::Success;
  }

  size_t find_frame_boundary(Direction, std::string_view bytes) const override {
    for (size_t i = 0; i < bytes.size(); ++i)
      if (static_cast<uint8_t>(bytes[i]) < 0x80) return i;
    return std::string_view::npos;
  }

  void on_gap(Direction, uint64_t) override { check(!skipping_); }

  size_t body_bytes_to_skip(Direction) const override {
    // Asked once per accepted frame: from here on the body is running.
    skipping_ = next_skip_ != 0;
    return next_skip_;
  }

  void on_body_end(Direction, MessageTime last) override {
    check(skipping_);
    check(times_.count(last.enter_ns) == 1);
    skipping_ = false;
  }

  void on_stream_end(Direction, const StreamEnd& end) override { check(end.skipping == skipping_); }

 private:
  const std::set<uint64_t>& times_;
  size_t next_skip_ = 0;
  mutable bool skipping_ = false;  // set from the const body_bytes_to_skip, as the contract asks it there
};

void check_accounting(const DataStream& stream, uint64_t origin, size_t cap) {
  const auto& s = stream.stats();
  const uint64_t covered = stream.next_position() - origin;
  check(s.bytes_parsed + s.bytes_skipped + s.bytes_missing + s.bytes_discarded + s.bytes_dropped_over_cap +
            stream.buffered_bytes() ==
        covered);
  check(stream.buffered_bytes() <= cap);
  // One time per message start inside the buffered bytes, plus the one
  // before them and one at the very end (a message of size 0).
  check(stream.timed_messages() <= stream.buffered_bytes() + 2);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  redeye::fuzz::ScriptReader in(data, size);
  uint8_t config = 0;
  uint64_t origin = 0;
  if (!in.byte(config) || !in.varint(origin)) return 0;
  // Stream offsets are per-connection byte counts: far below 2^48.
  origin &= (uint64_t{1} << 48) - 1;
  const size_t cap = size_t{16} << (config & 7);

  std::set<uint64_t> times;
  ContractParser parser(times);
  DataStream stream(Direction::Recv, parser, cap);
  uint64_t position = origin;
  uint64_t clock = 1000;
  bool started = false;
  for (int ops = 0; ops < 4096 && !in.at_end(); ++ops) {
    uint8_t kind = 0;
    in.byte(kind);
    uint64_t jump = 0;
    switch (kind & 0x03) {
      case 1:
        if (!in.varint(jump)) return 0;
        position += jump & 0xffffffff;
        break;
      case 2:
        if (!in.varint(jump)) return 0;
        position -= std::min(jump, position);
        break;
      case 3:
        stream.close();
        check(stream.buffered_bytes() == 0);
        if (started) check_accounting(stream, origin, cap);
        return 0;
    }
    uint64_t captured = 0, uncaptured = 0;
    if (!in.varint(captured) || !in.varint(uncaptured)) return 0;
    const std::string_view bytes = in.bytes(captured);
    uncaptured &= 0xffffffff;
    clock += 10;
    times.insert(clock);
    if (!started) {
      started = true;
      origin = position;  // the first message sets the origin
    }
    const uint64_t message_size = bytes.size() + uncaptured;
    stream.append(position, message_size, bytes, MessageTime{clock, clock + 1});
    check_accounting(stream, origin, cap);
    position += message_size;
  }
  stream.close();
  return 0;
}
