// The byte format of a fuzz input for the protocol targets: one traced
// connection's life as the kernel reports it, message by message.
//
// The unit tests' ExchangeTest fixture writes its exchanges in this format
// (REDEYE_FUZZ_SEED_DIR, see tests/fuzz/README.md), so the seed corpora are
// the unit-test fixtures; the fuzz targets read it back and replay it into
// the agent's real pipeline.
//
//   input  := role-byte op*
//   role   := byte % 3: Unknown, Client, Server (the traced process's end)
//   op     := kind-byte args
//   kind   := bits 0-2 what, bit 3 direction (0 send, 1 recv)
//     0 message:  varint captured, varint uncaptured, zigzag enter delta (ns),
//                 varint duration (ns), then `captured` bytes. The kernel copies
//                 at most REDEYE_CAPTURE_MAX of them; the message's size is
//                 captured + uncaptured.
//     1 lose:     varint count: bytes of the direction that never arrive.
//     2 rewind:   varint count: the direction's position moves back (the same
//                 bytes reported twice).
//     3 close:    the process closes the fd; the next op opens a new
//                 connection (same fd, next generation).
//     4 raw:      varint n, then n bytes laid over a data event of this
//                 connection and handed over with its size: malformed events.
//   Everything is read leniently: a truncated op ends the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace redeye::fuzz {

enum class ScriptOp : uint8_t { Message = 0, Lose = 1, Rewind = 2, Close = 3, Raw = 4 };
constexpr uint8_t kScriptOps = 5;
constexpr uint8_t kRecvBit = 0x08;

// Builds a script (the unit-test fixture's side).
class ScriptWriter {
 public:
  explicit ScriptWriter(uint8_t role) { out_.push_back(static_cast<char>(role)); }

  void message(bool recv, std::string_view captured, uint64_t uncaptured, uint64_t enter_ns, uint64_t exit_ns) {
    op(ScriptOp::Message, recv);
    varint(captured.size());
    varint(uncaptured);
    const int64_t delta = static_cast<int64_t>(enter_ns - last_enter_);
    varint((static_cast<uint64_t>(delta) << 1) ^ static_cast<uint64_t>(delta >> 63));  // zigzag
    varint(exit_ns >= enter_ns ? exit_ns - enter_ns : 0);
    out_.append(captured);
    last_enter_ = enter_ns;
  }
  void lose(bool recv, uint64_t count) {
    op(ScriptOp::Lose, recv);
    varint(count);
  }
  void close() { op(ScriptOp::Close, false); }

  const std::string& bytes() const { return out_; }

 private:
  void op(ScriptOp what, bool recv) {
    out_.push_back(static_cast<char>(static_cast<uint8_t>(what) | (recv ? kRecvBit : 0)));
  }
  void varint(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }

  std::string out_;
  uint64_t last_enter_ = 0;
};

// Reads a script (the fuzz targets' side). Every read fails softly at the
// end of the input.
class ScriptReader {
 public:
  ScriptReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  bool at_end() const { return pos_ >= size_; }
  bool byte(uint8_t& out) {
    if (pos_ >= size_) return false;
    out = data_[pos_++];
    return true;
  }
  // LEB128, at most 10 bytes; longer runs are cut at 64 bits.
  bool varint(uint64_t& out) {
    out = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
      uint8_t b = 0;
      if (!byte(b)) return false;
      if (shift < 64) out |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return true;
  }
  bool zigzag(int64_t& out) {
    uint64_t v = 0;
    if (!varint(v)) return false;
    out = static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
    return true;
  }
  // Up to `n` bytes (fewer at the end of the input).
  std::string_view bytes(uint64_t n) {
    const size_t take = static_cast<size_t>(n < size_ - pos_ ? n : size_ - pos_);
    std::string_view out(reinterpret_cast<const char*>(data_ + pos_), take);
    pos_ += take;
    return out;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace redeye::fuzz
