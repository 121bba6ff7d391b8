// The AMQP 0-9-1 ProtocolParser: frames both directions of a connection
// with amqp_frames.h and hands methods and content headers to the
// connection's AmqpStitcher, which emits the Records.
//
// Which direction the client writes follows from the role: a client sends
// client frames, a broker receives them. With Role::Unknown (a connection
// older than the agent) the protocol header or the first method only one
// end sends (basic.publish, basic.deliver, ...) decides; frames before it
// are framed and passed over.
//
// Only frame headers and the method arguments the metrics need are read;
// argument tables, properties and message bodies are skipped by the sizes
// the frames declare, without being buffered, whatever their length.
//
// Times: an event is timed when its frame's first byte was seen: the write
// began (enter_ns) for frames the traced process sends, the read returned
// (exit_ns) for frames it receives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocols/amqp/amqp_frames.h"
#include "protocols/amqp/amqp_stitcher.h"
#include "protocols/protocol.h"

namespace redeye::protocols::amqp {

class AmqpProtocolParser final : public ProtocolParser {
 public:
  static constexpr std::string_view kName = kProtocolName;

  AmqpProtocolParser(RecordSink& sink, Role role, AmqpLimits limits = {});

  std::string_view name() const override { return kName; }
  ParseState parse_frame(Direction direction, std::string_view bytes, const FrameClock& clock,
                         size_t& consumed) override;
  size_t find_frame_boundary(Direction direction, std::string_view bytes) const override;
  void on_gap(Direction direction, uint64_t missing_bytes) override;
  size_t body_bytes_to_skip(Direction direction) const override;
  void on_close() override;

  // The role given, or inferred from the frames (else Unknown).
  Role role() const { return stitcher_.role(); }
  const AmqpStats& stats() const { return stitcher_.stats(); }
  const AmqpStitcher& stitcher() const { return stitcher_; }

 private:
  Sender sender_of(Direction direction) const;
  // A method only one end sends, seen in `direction`, tells the role.
  void infer_role(Direction direction, uint32_t method);
  ParseState parse_method(Direction direction, const FrameHeader& header, std::string_view bytes,
                          uint64_t time_ns, size_t& consumed);
  ParseState parse_content_header(Direction direction, const FrameHeader& header, std::string_view bytes,
                                  size_t& consumed);

  AmqpStitcher stitcher_;
  uint64_t skip_[2] = {0, 0};  // answer to body_bytes_to_skip for the last frame
};

// A ProtocolRegistry factory building AmqpProtocolParsers.
ProtocolRegistry::Factory make_factory(AmqpLimits limits = {});

}  // namespace redeye::protocols::amqp
