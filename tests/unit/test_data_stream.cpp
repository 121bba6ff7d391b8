#include "conn/connection_tracker.h"
#include "conn/data_stream.h"
#include "protocols/protocol.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <charconv>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace redeye::conn {
namespace {

using protocols::Direction;
using protocols::MessageTime;
using protocols::ParseState;
using protocols::ProtocolParser;
using protocols::ProtocolRegistry;
using protocols::Record;
using protocols::RecordSink;
using protocols::Role;

// ---- a test-only line protocol ----------------------------------------------
//
// Frames are single lines:
//   "REQ <op>\n"     a request
//   "RES <status>\n" the response to the oldest unanswered request sent the
//                    other way ("OK" is success, anything else an error)
//   "BODY <n>\n"     followed by n bytes of body the parser does not need

// What the parser saw, for assertions on calls the stream makes.
struct GapCall {
  Direction direction;
  uint64_t missing;
  bool operator==(const GapCall&) const = default;
};

// Times of one accepted frame: its first and last byte.
struct FrameTimes {
  MessageTime first;
  MessageTime last;
  bool operator==(const FrameTimes&) const = default;
};

struct BodyEndCall {
  Direction direction;
  MessageTime last;
  bool operator==(const BodyEndCall&) const = default;
};

struct LineProbe {
  std::vector<GapCall> gaps;
  int closes = 0;
  std::vector<FrameTimes> frame_times;  // per accepted frame, in order
  std::vector<BodyEndCall> body_ends;
  std::vector<std::pair<Direction, protocols::StreamEnd>> stream_ends;
  std::vector<std::string> calls;  // "gap", "body_end", "stream_end", "close", in order
};

class LineParser : public ProtocolParser {
 public:
  static constexpr size_t kMaxLine = 256;

  LineParser(RecordSink& sink, LineProbe& probe) : sink_(sink), probe_(probe) {}

  std::string_view name() const override { return "line"; }

  ParseState parse_frame(Direction direction, std::string_view bytes, const protocols::FrameClock& clock,
                         size_t& consumed) override {
    skip_[protocols::direction_index(direction)] = 0;
    std::string_view keyword;
    bool could_match = false;
    for (const std::string_view candidate : kKeywords) {
      const size_t n = std::min(candidate.size(), bytes.size());
      if (bytes.substr(0, n) != candidate.substr(0, n)) continue;
      if (n == candidate.size()) keyword = candidate;
      else could_match = true;
    }
    if (keyword.empty()) return could_match ? ParseState::NeedsMoreData : ParseState::Invalid;

    const size_t newline = bytes.find('\n');
    if (newline == std::string_view::npos)
      return bytes.size() > kMaxLine ? ParseState::Invalid : ParseState::NeedsMoreData;
    const std::string_view argument = bytes.substr(keyword.size(), newline - keyword.size());
    if (argument.empty()) return ParseState::Invalid;

    ParseState state = ParseState::Success;
    if (keyword == kRequest) {
      requests_[protocols::direction_index(direction)].emplace_back(argument);
    } else if (keyword == kResponse) {
      state = stitch(direction, argument);
    } else {
      uint64_t body = 0;
      const auto [end, error] = std::from_chars(argument.data(), argument.data() + argument.size(), body);
      if (error != std::errc() || end != argument.data() + argument.size()) return ParseState::Invalid;
      skip_[protocols::direction_index(direction)] = body;
    }
    consumed = newline + 1;
    probe_.frame_times.push_back({clock.at(0), clock.at(consumed - 1)});
    return state;
  }

  size_t find_frame_boundary(Direction, std::string_view bytes) const override {
    size_t first = std::string_view::npos;
    for (const std::string_view keyword : kKeywords) first = std::min(first, bytes.find(keyword));
    return first;
  }

  void on_gap(Direction direction, uint64_t missing) override {
    probe_.gaps.push_back({direction, missing});
    probe_.calls.push_back("gap");
    // A lost request or response would shift every later pairing.
    for (auto& queue : requests_) queue.clear();
  }

  size_t body_bytes_to_skip(Direction direction) const override {
    return skip_[protocols::direction_index(direction)];
  }

  void on_body_end(Direction direction, MessageTime last) override {
    probe_.body_ends.push_back({direction, last});
    probe_.calls.push_back("body_end");
  }

  void on_stream_end(Direction direction, const protocols::StreamEnd& end) override {
    probe_.stream_ends.emplace_back(direction, end);
    probe_.calls.push_back("stream_end");
  }

  void on_close() override {
    ++probe_.closes;
    probe_.calls.push_back("close");
    for (size_t side = 0; side < 2; ++side) {
      for (auto& op : requests_[side]) sink_.on_record(record(side, std::move(op), "unanswered", true));
      requests_[side].clear();
    }
  }

 private:
  static constexpr std::string_view kRequest = "REQ ";
  static constexpr std::string_view kResponse = "RES ";
  static constexpr std::string_view kBody = "BODY ";
  static constexpr std::string_view kKeywords[] = {kRequest, kResponse, kBody};

  ParseState stitch(Direction response_direction, std::string_view status) {
    const size_t request_side = 1 - protocols::direction_index(response_direction);
    auto& queue = requests_[request_side];
    if (queue.empty()) return ParseState::Ignored;  // its request was lost
    sink_.on_record(record(request_side, std::move(queue.front()), std::string(status), status != "OK"));
    queue.pop_front();
    return ParseState::Success;
  }

  static Record record(size_t request_side, std::string op, std::string status, bool error) {
    Record r;
    r.protocol = "line";
    // Sending the request makes the traced process the client.
    r.role = request_side == protocols::direction_index(Direction::Send) ? Role::Client : Role::Server;
    r.operation = std::move(op);
    r.status = std::move(status);
    r.error = error;
    return r;
  }

  RecordSink& sink_;
  LineProbe& probe_;
  std::deque<std::string> requests_[2];  // unanswered ops, by the direction they went
  uint64_t skip_[2] = {0, 0};
};

struct CollectingSink : RecordSink {
  void on_record(const Record& record) override { records.push_back(record); }
  std::vector<Record> records;
};

// Every position the stream moved past is accounted for exactly once.
uint64_t accounted_bytes(const DataStream& stream) {
  const DataStreamStats& s = stream.stats();
  return s.bytes_parsed + s.bytes_skipped + s.bytes_missing + s.bytes_discarded +
         s.bytes_dropped_over_cap + stream.buffered_bytes();
}

class StreamTest : public ::testing::Test {
 protected:
  CollectingSink sink;
  LineProbe probe;
  LineParser parser{sink, probe};
  DataStream send{Direction::Send, parser};
  DataStream recv{Direction::Recv, parser};
};

// ---- parsing ------------------------------------------------------------------

using StreamParsing = StreamTest;

TEST_F(StreamParsing, CompleteFramesInOrderBecomeOneRecord) {
  send.append(0, 6, "REQ a\n", {});
  recv.append(0, 7, "RES OK\n", {});

  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].protocol, "line");
  EXPECT_EQ(sink.records[0].role, Role::Client);
  EXPECT_EQ(sink.records[0].operation, "a");
  EXPECT_EQ(sink.records[0].status, "OK");
  EXPECT_FALSE(sink.records[0].error);
  EXPECT_EQ(send.stats().frames, 1u);
  EXPECT_EQ(send.stats().bytes_parsed, 6u);
  EXPECT_EQ(recv.stats().frames, 1u);
  EXPECT_EQ(recv.stats().bytes_parsed, 7u);
  EXPECT_EQ(send.buffered_bytes(), 0u);
  EXPECT_EQ(recv.buffered_bytes(), 0u);
  EXPECT_EQ(send.next_position(), 6u);
  EXPECT_TRUE(probe.gaps.empty());
}

TEST_F(StreamParsing, RequestReceivedMakesTheProcessTheServer) {
  recv.append(0, 8, "REQ get\n", {});
  send.append(0, 12, "RES 404 nf\n\n", {});

  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].role, Role::Server);
  EXPECT_EQ(sink.records[0].status, "404 nf");
  EXPECT_TRUE(sink.records[0].error);
  // The trailing "\n" is garbage: rejected, and no boundary follows it.
  EXPECT_EQ(send.stats().frames, 1u);
  EXPECT_EQ(send.stats().invalid_frames, 1u);
  EXPECT_EQ(send.stats().bytes_discarded, 1u);
}

TEST_F(StreamParsing, FrameSplitAcrossThreeAppendsIsParsedOnceComplete) {
  send.append(0, 2, "RE", {});
  EXPECT_EQ(send.stats().frames, 0u);
  EXPECT_EQ(send.buffered_bytes(), 2u);

  send.append(2, 5, "Q get", {});
  EXPECT_EQ(send.stats().frames, 0u);
  EXPECT_EQ(send.buffered_bytes(), 7u);

  send.append(7, 1, "\n", {});
  EXPECT_EQ(send.stats().frames, 1u);
  EXPECT_EQ(send.stats().bytes_parsed, 8u);
  EXPECT_EQ(send.buffered_bytes(), 0u);
  EXPECT_EQ(send.stats().invalid_frames, 0u);

  recv.append(0, 7, "RES OK\n", {});
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].operation, "get");
  EXPECT_EQ(accounted_bytes(send), 8u);
}

TEST_F(StreamParsing, SeveralFramesInOneAppendAreAllParsed) {
  send.append(0, 18, "REQ a\nREQ b\nREQ c\n", {});
  recv.append(0, 22, "RES OK\nRES OK\nRES ERR\n", {});

  EXPECT_EQ(send.stats().frames, 3u);
  EXPECT_EQ(send.stats().bytes_parsed, 18u);
  EXPECT_EQ(recv.stats().frames, 3u);
  EXPECT_EQ(recv.stats().bytes_parsed, 22u);
  ASSERT_EQ(sink.records.size(), 3u);
  EXPECT_EQ(sink.records[0].operation, "a");
  EXPECT_EQ(sink.records[1].operation, "b");
  EXPECT_EQ(sink.records[2].operation, "c");
  EXPECT_FALSE(sink.records[1].error);
  EXPECT_TRUE(sink.records[2].error);
}

TEST_F(StreamParsing, TrailingPartialFrameWaitsForTheNextMessage) {
  send.append(0, 15, "REQ a\nREQ b\nREQ", {});
  EXPECT_EQ(send.stats().frames, 2u);
  EXPECT_EQ(send.buffered_bytes(), 3u);

  send.append(15, 4, " c\nR", {});
  EXPECT_EQ(send.stats().frames, 3u);
  EXPECT_EQ(send.stats().bytes_parsed, 18u);
  EXPECT_EQ(send.buffered_bytes(), 1u);
  EXPECT_EQ(accounted_bytes(send), 19u);
}

TEST(StreamSplits, EveryThreeWaySplitParsesLikeOneMessage) {
  // 33 bytes: two requests around a 7-byte body.
  const std::string_view bytes = "REQ a\nBODY 7\nxxxxxxxREQ bb\nREQ c\n";
  ASSERT_EQ(bytes.size(), 33u);
  for (size_t first = 0; first <= bytes.size(); ++first) {
    for (size_t second = first; second <= bytes.size(); ++second) {
      CollectingSink sink;
      LineProbe probe;
      LineParser parser{sink, probe};
      DataStream send{Direction::Send, parser};
      send.append(0, first, bytes.substr(0, first), {});
      send.append(first, second - first, bytes.substr(first, second - first), {});
      send.append(second, bytes.size() - second, bytes.substr(second), {});

      SCOPED_TRACE("split at " + std::to_string(first) + "," + std::to_string(second));
      EXPECT_EQ(send.stats().frames, 4u);
      EXPECT_EQ(send.stats().bytes_parsed, 26u);
      EXPECT_EQ(send.stats().bytes_skipped, 7u);
      EXPECT_EQ(send.stats().invalid_frames, 0u);
      EXPECT_EQ(send.stats().gaps, 0u);
      EXPECT_EQ(send.buffered_bytes(), 0u);
      EXPECT_TRUE(probe.gaps.empty());
    }
  }
}

TEST_F(StreamParsing, ResponseWithoutRequestIsIgnored) {
  recv.append(0, 7, "RES OK\n", {});

  EXPECT_EQ(recv.stats().frames, 0u);
  EXPECT_EQ(recv.stats().frames_ignored, 1u);
  EXPECT_EQ(recv.stats().bytes_parsed, 7u);
  EXPECT_TRUE(sink.records.empty());
}

TEST_F(StreamParsing, FirstMessageSetsTheOriginWithoutAGap) {
  send.append(1000, 6, "REQ a\n", {});

  EXPECT_EQ(send.stats().frames, 1u);
  EXPECT_EQ(send.stats().gaps, 0u);
  EXPECT_EQ(send.next_position(), 1006u);
  EXPECT_TRUE(probe.gaps.empty());
}

// ---- gaps ---------------------------------------------------------------------

using StreamGaps = StreamTest;

TEST_F(StreamGaps, PositionJumpAtFrameBoundaryReportsExactMissingCount) {
  send.append(0, 6, "REQ a\n", {});
  send.append(16, 6, "REQ b\n", {});  // bytes 6..15 never arrived

  ASSERT_EQ(probe.gaps.size(), 1u);
  EXPECT_EQ(probe.gaps[0], (GapCall{Direction::Send, 10}));
  EXPECT_EQ(send.stats().gaps, 1u);
  EXPECT_EQ(send.stats().bytes_missing, 10u);
  EXPECT_EQ(send.stats().frames, 2u);
  EXPECT_EQ(send.stats().bytes_discarded, 0u);
  EXPECT_EQ(accounted_bytes(send), 22u);

  // The gap reset the pairing: the response pairs with "b", not the lost one.
  recv.append(0, 7, "RES OK\n", {});
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].operation, "b");
}

TEST_F(StreamGaps, ParsingResumesAtTheNextFrameBoundaryAfterAGap) {
  send.append(0, 6, "REQ a\n", {});
  // Bytes 6..9 were "REQ " of a lost frame: this message starts mid-frame.
  send.append(10, 15, "partial\nREQ bb\n", {});

  ASSERT_EQ(probe.gaps.size(), 1u);
  EXPECT_EQ(probe.gaps[0], (GapCall{Direction::Send, 4}));
  EXPECT_EQ(send.stats().gaps, 1u);
  EXPECT_EQ(send.stats().bytes_missing, 4u);
  EXPECT_EQ(send.stats().bytes_discarded, 8u);  // "partial\n"
  EXPECT_EQ(send.stats().invalid_frames, 0u);
  EXPECT_EQ(send.stats().frames, 2u);
  EXPECT_EQ(send.stats().bytes_parsed, 13u);
  EXPECT_EQ(accounted_bytes(send), 25u);
}

TEST_F(StreamGaps, GapDiscardsTheBufferedPartialFrame) {
  send.append(0, 4, "REQ ", {});
  send.append(10, 6, "REQ b\n", {});

  // The parser loses the 4 buffered bytes as well as the 6 never captured.
  ASSERT_EQ(probe.gaps.size(), 1u);
  EXPECT_EQ(probe.gaps[0], (GapCall{Direction::Send, 10}));
  EXPECT_EQ(send.stats().bytes_missing, 6u);
  EXPECT_EQ(send.stats().bytes_discarded, 4u);
  EXPECT_EQ(send.stats().frames, 1u);
  EXPECT_EQ(send.buffered_bytes(), 0u);
  EXPECT_EQ(accounted_bytes(send), 16u);
}

TEST_F(StreamGaps, UncapturedTailIsAGapWhenNoBodyIsBeingSkipped) {
  // Message of 20 bytes, only the first 6 captured.
  send.append(0, 20, "REQ a\n", {});

  ASSERT_EQ(probe.gaps.size(), 1u);
  EXPECT_EQ(probe.gaps[0], (GapCall{Direction::Send, 14}));
  EXPECT_EQ(send.stats().frames, 1u);
  EXPECT_EQ(send.stats().gaps, 1u);
  EXPECT_EQ(send.stats().bytes_missing, 14u);
  EXPECT_EQ(send.next_position(), 20u);
}

TEST_F(StreamGaps, GarbageIsInvalidAndParsingResyncsAtTheNextFrame) {
  send.append(0, 15, "garbage!\nREQ a\n", {});

  EXPECT_EQ(send.stats().invalid_frames, 1u);
  EXPECT_EQ(send.stats().bytes_discarded, 9u);
  EXPECT_EQ(send.stats().frames, 1u);
  EXPECT_EQ(send.stats().bytes_parsed, 6u);
  EXPECT_EQ(send.stats().gaps, 0u);
  EXPECT_TRUE(probe.gaps.empty());
}

TEST_F(StreamGaps, GarbageWithoutBoundaryIsDroppedAndTheNextMessageIsSearched) {
  send.append(0, 4, "zzzz", {});
  EXPECT_EQ(send.stats().invalid_frames, 1u);
  EXPECT_EQ(send.stats().bytes_discarded, 4u);
  EXPECT_EQ(send.buffered_bytes(), 0u);

  // Still lost: this message's head is searched for a frame, not parsed.
  send.append(4, 9, "zz\nREQ a\n", {});
  EXPECT_EQ(send.stats().invalid_frames, 1u);
  EXPECT_EQ(send.stats().bytes_discarded, 7u);
  EXPECT_EQ(send.stats().frames, 1u);
  EXPECT_EQ(accounted_bytes(send), 13u);
}

TEST_F(StreamGaps, MalformedFrameIsNotRetriedAtTheSameOffset) {
  // "REQ \n" is a boundary and an invalid frame (no op) at once.
  send.append(0, 11, "REQ \nREQ a\n", {});

  EXPECT_EQ(send.stats().invalid_frames, 1u);
  EXPECT_EQ(send.stats().bytes_discarded, 5u);
  EXPECT_EQ(send.stats().frames, 1u);
  EXPECT_EQ(send.stats().bytes_parsed, 6u);
}

// ---- body skipping ------------------------------------------------------------

using StreamBodySkip = StreamTest;

TEST_F(StreamBodySkip, BodyAcrossMessagesIsSkippedWithoutBuffering) {
  send.append(0, 18, "BODY 50\n0123456789", {});      // frame + 10 body bytes
  EXPECT_EQ(send.pending_skip(), 40u);
  EXPECT_EQ(send.buffered_bytes(), 0u);
  send.append(18, 25, "0123456789012345678901234", {});  // 25 more
  EXPECT_EQ(send.pending_skip(), 15u);
  send.append(43, 21, "012345678901234REQ a\n", {});      // last 15, then a frame

  EXPECT_EQ(send.stats().bytes_skipped, 50u);
  EXPECT_EQ(send.stats().frames, 2u);
  EXPECT_EQ(send.stats().bytes_parsed, 14u);
  EXPECT_EQ(send.stats().invalid_frames, 0u);
  EXPECT_EQ(send.pending_skip(), 0u);
  EXPECT_EQ(accounted_bytes(send), 64u);
}

TEST_F(StreamBodySkip, UncapturedTailOfAPartiallyCapturedMessageIsSkippedNotLost) {
  // 109-byte message: "BODY 100\n" + 100 body bytes, only 40 bytes captured.
  const std::string prefix = "BODY 100\n" + std::string(31, 'x');
  send.append(0, 109, prefix, {});
  send.append(109, 6, "REQ a\n", {});

  EXPECT_TRUE(probe.gaps.empty());
  EXPECT_EQ(send.stats().gaps, 0u);
  EXPECT_EQ(send.stats().bytes_missing, 0u);
  EXPECT_EQ(send.stats().bytes_skipped, 100u);
  EXPECT_EQ(send.stats().frames, 2u);
  EXPECT_EQ(send.stats().bytes_parsed, 15u);
  EXPECT_EQ(accounted_bytes(send), 115u);
}

TEST_F(StreamBodySkip, SkipCoversOnlyPartOfAnUncapturedTail) {
  // "BODY 5\n" + "12345" + "REQ a\n" (18 bytes), only the first 7 captured:
  // the body is skipped, the lost request is a gap.
  send.append(0, 18, "BODY 5\n", {});

  ASSERT_EQ(probe.gaps.size(), 1u);
  EXPECT_EQ(probe.gaps[0], (GapCall{Direction::Send, 6}));
  EXPECT_EQ(send.stats().bytes_skipped, 5u);
  EXPECT_EQ(send.stats().bytes_missing, 6u);
  EXPECT_EQ(send.stats().gaps, 1u);
  EXPECT_EQ(accounted_bytes(send), 18u);
}

TEST_F(StreamBodySkip, PositionJumpInsideABodyIsNotAGap) {
  send.append(0, 9, "BODY 30\n_", {});  // frame + 1 body byte
  // Bytes 9..19 lost, all body; the body's last 18 bytes, then a frame.
  send.append(20, 24, "012345678901234567REQ a\n", {});

  EXPECT_TRUE(probe.gaps.empty());
  EXPECT_EQ(send.stats().gaps, 0u);
  EXPECT_EQ(send.stats().bytes_missing, 0u);
  EXPECT_EQ(send.stats().bytes_skipped, 30u);
  EXPECT_EQ(send.stats().frames, 2u);
  EXPECT_EQ(accounted_bytes(send), 44u);
}

TEST_F(StreamBodySkip, PositionJumpPastTheBodyIsAGapOfTheExcessOnly) {
  send.append(0, 8, "BODY 10\n", {});
  send.append(25, 6, "REQ a\n", {});  // 17 bytes lost: 10 body + 7 of frames

  ASSERT_EQ(probe.gaps.size(), 1u);
  EXPECT_EQ(probe.gaps[0], (GapCall{Direction::Send, 7}));
  EXPECT_EQ(send.stats().bytes_skipped, 10u);
  EXPECT_EQ(send.stats().bytes_missing, 7u);
  EXPECT_EQ(send.stats().frames, 2u);
  EXPECT_EQ(accounted_bytes(send), 31u);
}

// ---- buffer cap ---------------------------------------------------------------

class StreamBuffering : public StreamTest {
 protected:
  DataStream capped{Direction::Send, parser, 16};
};

TEST_F(StreamBuffering, IncompleteFrameOverTheCapIsDroppedCountedAndReported) {
  capped.append(0, 20, "REQ " + std::string(16, 'x'), {});

  EXPECT_EQ(capped.buffered_bytes(), 0u);
  EXPECT_EQ(capped.stats().bytes_dropped_over_cap, 20u);
  EXPECT_EQ(capped.stats().gaps, 0u);
  ASSERT_EQ(probe.gaps.size(), 1u);
  EXPECT_EQ(probe.gaps[0], (GapCall{Direction::Send, 20}));

  // The rest of the oversized frame is skipped up to the next frame.
  capped.append(20, 11, "xxxx\nREQ b\n", {});
  EXPECT_EQ(capped.stats().bytes_discarded, 5u);
  EXPECT_EQ(capped.stats().frames, 1u);
  EXPECT_EQ(capped.stats().invalid_frames, 0u);
  EXPECT_EQ(accounted_bytes(capped), 31u);
}

TEST_F(StreamBuffering, IncompleteFrameUpToTheCapIsKept) {
  capped.append(0, 16, "REQ 0123456789ab", {});
  EXPECT_EQ(capped.buffered_bytes(), 16u);
  capped.append(16, 1, "\n", {});

  EXPECT_EQ(capped.stats().frames, 1u);
  EXPECT_EQ(capped.stats().bytes_dropped_over_cap, 0u);
  EXPECT_TRUE(probe.gaps.empty());
}

TEST_F(StreamBuffering, CompleteFramesBeyondTheCapInOneMessageAreParsed) {
  capped.append(0, 30, "REQ a\nREQ b\nREQ c\nREQ d\nREQ e\n", {});

  EXPECT_EQ(capped.stats().frames, 5u);
  EXPECT_EQ(capped.stats().bytes_dropped_over_cap, 0u);
  EXPECT_TRUE(probe.gaps.empty());
}

// ---- duplicates ---------------------------------------------------------------

using StreamDuplicates = StreamTest;

TEST_F(StreamDuplicates, RepeatedMessageIsIgnored) {
  send.append(0, 6, "REQ a\n", {});
  send.append(0, 6, "REQ a\n", {});

  EXPECT_EQ(send.stats().frames, 1u);
  EXPECT_EQ(send.stats().bytes_duplicate, 6u);
  EXPECT_EQ(send.stats().gaps, 0u);
  EXPECT_EQ(send.next_position(), 6u);

  recv.append(0, 14, "RES OK\nRES OK\n", {});
  EXPECT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(recv.stats().frames_ignored, 1u);
}

TEST_F(StreamDuplicates, OverlappingMessageContributesOnlyItsNewBytes) {
  send.append(0, 6, "REQ a\n", {});
  send.append(0, 12, "REQ a\nREQ b\n", {});

  EXPECT_EQ(send.stats().frames, 2u);
  EXPECT_EQ(send.stats().bytes_parsed, 12u);
  EXPECT_EQ(send.stats().bytes_duplicate, 6u);
  EXPECT_EQ(send.stats().invalid_frames, 0u);
  EXPECT_EQ(accounted_bytes(send), 12u);
}

TEST_F(StreamDuplicates, CapturedBeyondMessageSizeIsIgnored) {
  send.append(0, 6, "REQ a\nREQ b\n", {});

  EXPECT_EQ(send.stats().frames, 1u);
  EXPECT_EQ(send.next_position(), 6u);
  EXPECT_EQ(send.buffered_bytes(), 0u);
}

// ---- timing -------------------------------------------------------------------

using StreamTiming = StreamTest;

constexpr MessageTime kT1{100, 110};
constexpr MessageTime kT2{200, 220};
constexpr MessageTime kT3{300, 330};
constexpr MessageTime kT4{400, 440};

TEST_F(StreamTiming, FrameInOneMessageHasThatMessagesTime) {
  send.append(0, 12, "REQ a\nREQ b\n", kT1);

  ASSERT_EQ(probe.frame_times.size(), 2u);
  EXPECT_EQ(probe.frame_times[0], (FrameTimes{kT1, kT1}));
  EXPECT_EQ(probe.frame_times[1], (FrameTimes{kT1, kT1}));
  EXPECT_EQ(send.timed_messages(), 1u);
}

TEST_F(StreamTiming, FrameSplitOverThreeMessagesIsTimedFromFirstToLast) {
  send.append(0, 2, "RE", kT1);
  send.append(2, 5, "Q get", kT2);
  EXPECT_EQ(send.timed_messages(), 2u);
  send.append(7, 1, "\n", kT3);

  ASSERT_EQ(probe.frame_times.size(), 1u);
  EXPECT_EQ(probe.frame_times[0], (FrameTimes{kT1, kT3}));
  // Once the frame is consumed only the last message's time is kept.
  EXPECT_EQ(send.timed_messages(), 1u);
}

TEST_F(StreamTiming, EachFrameOfAMixedMessageKeepsItsOwnStart) {
  send.append(0, 9, "REQ a\nREQ", kT1);  // one frame and the start of the next
  send.append(9, 9, " b\nREQ c\n", kT2);   // the end of it and a whole frame

  ASSERT_EQ(probe.frame_times.size(), 3u);
  EXPECT_EQ(probe.frame_times[0], (FrameTimes{kT1, kT1}));
  EXPECT_EQ(probe.frame_times[1], (FrameTimes{kT1, kT2}));
  EXPECT_EQ(probe.frame_times[2], (FrameTimes{kT2, kT2}));
  EXPECT_EQ(send.timed_messages(), 1u);
}

TEST_F(StreamTiming, OverlappingMessageTimesOnlyItsNewBytes) {
  send.append(0, 4, "REQ ", kT1);
  send.append(0, 6, "REQ a\n", kT2);  // bytes 0..3 again, then 4..5

  ASSERT_EQ(probe.frame_times.size(), 1u);
  EXPECT_EQ(probe.frame_times[0], (FrameTimes{kT1, kT2}));
}

TEST_F(StreamTiming, BodyEndingInTheSameMessageIsTimedByIt) {
  send.append(0, 10, "BODY 3\nxyz", kT1);

  ASSERT_EQ(probe.body_ends.size(), 1u);
  EXPECT_EQ(probe.body_ends[0], (BodyEndCall{Direction::Send, kT1}));
  EXPECT_EQ(send.pending_skip(), 0u);
}

TEST_F(StreamTiming, BodyOverSeveralMessagesEndsWithTheLastOfThem) {
  send.append(0, 10, "BODY 30\nxx", kT1);  // 2 of 30 body bytes
  send.append(10, 20, std::string(20, 'x'), kT2);
  EXPECT_TRUE(probe.body_ends.empty());
  send.append(30, 14, "xxxxxxxxREQ a\n", kT3);  // last 8, then a frame

  ASSERT_EQ(probe.body_ends.size(), 1u);
  EXPECT_EQ(probe.body_ends[0], (BodyEndCall{Direction::Send, kT3}));
  ASSERT_EQ(probe.frame_times.size(), 2u);
  EXPECT_EQ(probe.frame_times[1], (FrameTimes{kT3, kT3}));
}

TEST_F(StreamTiming, BodyEndingInAnUncapturedTailIsTimedByItsMessage) {
  // "BODY 100\n" + 100 body bytes in one message, 20 bytes captured.
  send.append(0, 109, "BODY 100\n" + std::string(11, 'x'), kT1);
  send.append(109, 6, "REQ a\n", kT2);

  ASSERT_EQ(probe.body_ends.size(), 1u);
  EXPECT_EQ(probe.body_ends[0], (BodyEndCall{Direction::Send, kT1}));
}

TEST_F(StreamTiming, BodyEndingInAHoleIsTimedByTheMessageAfterIt) {
  send.append(0, 8, "BODY 10\n", kT1);
  send.append(8, 4, "xxxx", kT2);
  send.append(30, 6, "REQ a\n", kT4);  // 12..29 lost: 6 body bytes, then 12 of frames

  ASSERT_EQ(probe.body_ends.size(), 1u);
  EXPECT_EQ(probe.body_ends[0], (BodyEndCall{Direction::Send, kT4}));
  ASSERT_EQ(probe.gaps.size(), 1u);
  EXPECT_EQ(probe.gaps[0], (GapCall{Direction::Send, 12}));
  // The body ends before the bytes after it go missing.
  EXPECT_EQ(probe.calls, (std::vector<std::string>{"body_end", "gap"}));
}

TEST_F(StreamTiming, BodyEndIsReportedPerDirection) {
  send.append(0, 9, "BODY 2\nab", kT1);
  recv.append(0, 8, "BODY 1\nc", kT2);

  ASSERT_EQ(probe.body_ends.size(), 2u);
  EXPECT_EQ(probe.body_ends[0], (BodyEndCall{Direction::Send, kT1}));
  EXPECT_EQ(probe.body_ends[1], (BodyEndCall{Direction::Recv, kT2}));
}

TEST_F(StreamTiming, TimesOfABufferedFrameAreBoundedByItsMessages) {
  for (uint64_t i = 0; i < 100; ++i) send.append(i * 6, 6, "REQ a\n", {i, i + 1});
  EXPECT_EQ(send.timed_messages(), 1u);

  send.append(600, 1, "R", kT1);
  send.append(601, 1, "E", kT2);
  send.append(602, 1, "Q", kT3);
  EXPECT_EQ(send.timed_messages(), 3u);
  send.append(603, 3, " b\n", kT4);
  EXPECT_EQ(send.timed_messages(), 1u);
  ASSERT_EQ(probe.frame_times.size(), 101u);
  EXPECT_EQ(probe.frame_times[99], (FrameTimes{{99, 100}, {99, 100}}));
  EXPECT_EQ(probe.frame_times[100], (FrameTimes{kT1, kT4}));
}

// ---- connection tracker -------------------------------------------------------

class StreamConnectionTracker : public ::testing::Test {
 protected:
  StreamConnectionTracker() {
    registry.add(REDEYE_PROTO_HTTP1, "line", [this](RecordSink& s, Role) {
      ++parsers_created;
      return std::make_unique<LineParser>(s, probe);
    });
  }

  ProtocolRegistry registry;
  CollectingSink sink;
  LineProbe probe;
  int parsers_created = 0;
  ConnectionTracker tracker{registry, sink};
};

TEST_F(StreamConnectionTracker, ParserIsCreatedOnceWhenTheProtocolIsKnown) {
  tracker.on_data(Direction::Send, 0, 6, "REQ a\n", {});
  EXPECT_FALSE(tracker.has_parser());
  EXPECT_EQ(tracker.stream(Direction::Send), nullptr);
  EXPECT_EQ(tracker.bytes_without_parser(), 6u);
  EXPECT_EQ(parsers_created, 0);

  tracker.set_protocol(REDEYE_PROTO_HTTP1);
  tracker.set_protocol(REDEYE_PROTO_HTTP1);
  tracker.set_protocol(REDEYE_PROTO_MYSQL);  // ignored: the first one sticks
  EXPECT_EQ(parsers_created, 1);
  EXPECT_EQ(tracker.protocol(), REDEYE_PROTO_HTTP1);

  tracker.on_data(Direction::Send, 6, 6, "REQ b\n", {});
  tracker.on_data(Direction::Recv, 0, 7, "RES OK\n", {});

  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].operation, "b");
  ASSERT_NE(tracker.stream(Direction::Send), nullptr);
  EXPECT_EQ(tracker.stream(Direction::Send)->stats().frames, 1u);
  EXPECT_EQ(tracker.stream(Direction::Recv)->stats().frames, 1u);
  EXPECT_EQ(tracker.bytes_without_parser(), 6u);
}

TEST_F(StreamConnectionTracker, UnregisteredProtocolLeavesTheConnectionUnparsed) {
  tracker.set_protocol(REDEYE_PROTO_MYSQL);
  tracker.on_data(Direction::Send, 0, 6, "REQ a\n", {});

  EXPECT_EQ(tracker.protocol(), REDEYE_PROTO_MYSQL);
  EXPECT_FALSE(tracker.has_parser());
  EXPECT_EQ(parsers_created, 0);
  EXPECT_EQ(tracker.bytes_without_parser(), 6u);
}

TEST_F(StreamConnectionTracker, DirectionsKeepSeparatePositions) {
  tracker.set_protocol(REDEYE_PROTO_HTTP1);
  tracker.on_data(Direction::Send, 100, 6, "REQ a\n", {});
  tracker.on_data(Direction::Recv, 500, 7, "RES OK\n", {});

  EXPECT_EQ(tracker.stream(Direction::Send)->next_position(), 106u);
  EXPECT_EQ(tracker.stream(Direction::Recv)->next_position(), 507u);
  EXPECT_EQ(sink.records.size(), 1u);
  EXPECT_TRUE(probe.gaps.empty());
}

TEST_F(StreamConnectionTracker, CloseFlushesTheParserAndIgnoresLaterData) {
  tracker.set_protocol(REDEYE_PROTO_HTTP1);
  tracker.on_data(Direction::Send, 0, 9, "REQ a\nREQ", {});

  tracker.on_close();
  tracker.on_close();
  tracker.on_data(Direction::Send, 9, 3, " b\n", {});

  EXPECT_TRUE(tracker.closed());
  EXPECT_EQ(probe.closes, 1);
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].operation, "a");
  EXPECT_EQ(sink.records[0].status, "unanswered");
  EXPECT_TRUE(sink.records[0].error);
  const DataStream& send = *tracker.stream(Direction::Send);
  EXPECT_EQ(send.buffered_bytes(), 0u);
  EXPECT_EQ(send.stats().bytes_discarded, 3u);
  EXPECT_EQ(send.stats().frames, 1u);
  EXPECT_EQ(tracker.bytes_after_close(), 3u);
}

TEST_F(StreamConnectionTracker, CloseReportsEachDirectionsEndBeforeClosing) {
  tracker.set_protocol(REDEYE_PROTO_HTTP1);
  tracker.on_data(Direction::Send, 0, 6, "REQ a\n", kT1);
  tracker.on_data(Direction::Recv, 0, 10, "BODY 50\nxy", kT2);  // 2 of 50 body bytes
  tracker.on_data(Direction::Recv, 10, 8, "xxxxxxxx", kT3);

  tracker.on_close();

  EXPECT_EQ(probe.calls, (std::vector<std::string>{"stream_end", "stream_end", "close"}));
  ASSERT_EQ(probe.stream_ends.size(), 2u);
  EXPECT_EQ(probe.stream_ends[0].first, Direction::Send);
  EXPECT_TRUE(probe.stream_ends[0].second.any_message);
  EXPECT_EQ(probe.stream_ends[0].second.last_message, kT1);
  EXPECT_FALSE(probe.stream_ends[0].second.skipping);
  EXPECT_EQ(probe.stream_ends[0].second.skipped, 0u);
  EXPECT_EQ(probe.stream_ends[1].first, Direction::Recv);
  EXPECT_TRUE(probe.stream_ends[1].second.any_message);
  EXPECT_EQ(probe.stream_ends[1].second.last_message, kT3);
  EXPECT_TRUE(probe.stream_ends[1].second.skipping);
  EXPECT_EQ(probe.stream_ends[1].second.skipped, 10u);
}

TEST_F(StreamConnectionTracker, CloseOfASilentDirectionSaysNoMessageCame) {
  tracker.set_protocol(REDEYE_PROTO_HTTP1);
  tracker.on_data(Direction::Send, 0, 6, "REQ a\n", kT1);
  tracker.on_close();

  ASSERT_EQ(probe.stream_ends.size(), 2u);
  EXPECT_EQ(probe.stream_ends[1].first, Direction::Recv);
  EXPECT_FALSE(probe.stream_ends[1].second.any_message);
  EXPECT_FALSE(probe.stream_ends[1].second.skipping);
}

TEST(StreamConnectionTrackerRole, FactoryGetsTheConnectionsRole) {
  ProtocolRegistry registry;
  Role seen = Role::Unknown;
  LineProbe probe;
  registry.add(REDEYE_PROTO_HTTP1, "line", [&](RecordSink& s, Role role) {
    seen = role;
    return std::make_unique<LineParser>(s, probe);
  });
  CollectingSink sink;
  ConnectionTracker tracker{registry, sink};
  EXPECT_EQ(tracker.role(), Role::Unknown);
  tracker.set_role(Role::Server);
  EXPECT_EQ(tracker.role(), Role::Server);
  EXPECT_EQ(tracker.parser(), nullptr);

  tracker.set_protocol(REDEYE_PROTO_HTTP1);
  tracker.set_role(Role::Client);  // too late: the parser exists
  EXPECT_EQ(tracker.role(), Role::Server);
  EXPECT_EQ(seen, Role::Server);
  ASSERT_NE(tracker.parser(), nullptr);
  EXPECT_EQ(tracker.parser()->name(), "line");
}

}  // namespace
}  // namespace redeye::conn
