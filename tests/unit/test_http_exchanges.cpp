// HTTP/1.x exchanges end to end: raw kernel-like messages (position, size,
// captured prefix, syscall times) through ConnectionTracker and DataStream
// into HttpProtocolParser, and the Records that come out.
#include "conn/connection_tracker.h"
#include "conn/data_stream.h"
#include "protocols/http/http_protocol.h"
#include "protocols/protocol.h"

#include <gtest/gtest.h>

#include "exchange_fixture.h"

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace redeye::protocols::http {
namespace {

using namespace std::string_view_literals;

using conn::ConnectionTracker;
using conn::DataStream;

struct CollectingSink : RecordSink {
  void on_record(const Record& record) override { records.push_back(record); }
  std::vector<Record> records;
};

constexpr Direction kSend = Direction::Send;
constexpr Direction kRecv = Direction::Recv;

// One traced connection speaking HTTP, fed message by message.
class HttpTest : public redeye::testing::ExchangeTest {
 protected:
  void open(Role role, HttpParserOptions options = {}) {
    open_connection(REDEYE_PROTO_HTTP1, "http", make_factory(std::move(options)), sink, role);
  }
  const HttpProtocolParser& parser() const { return parser_as<HttpProtocolParser>(); }
  const HttpStats& stats() const { return parser().stats(); }

  CollectingSink sink;
};

constexpr std::string_view kGet = "GET /index.html HTTP/1.1\r\nHost: example.com\r\n\r\n";
constexpr std::string_view kOk = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

// ---- the basic exchange, both ends ----------------------------------------------

using HttpExchange = HttpTest;

TEST_F(HttpExchange, ServerGetAndOkWithExactTimes) {
  open(Role::Server);
  received(kGet, {1000, 1010});
  EXPECT_EQ(sink.records.size(), 0u);
  sent(kOk, {2000, 2030});

  ASSERT_EQ(sink.records.size(), 1u);
  const Record& r = sink.records[0];
  EXPECT_EQ(r.protocol, "http");
  EXPECT_EQ(r.role, Role::Server);
  EXPECT_EQ(r.operation, "GET");
  EXPECT_EQ(r.status, "200");
  EXPECT_FALSE(r.error);
  EXPECT_EQ(r.request_ns, 1010u);   // the read returned
  EXPECT_EQ(r.response_ns, 2030u);  // the write of the last byte returned
  ASSERT_TRUE(r.http.has_value());
  EXPECT_EQ(r.http->method, "GET");
  EXPECT_EQ(r.http->status, 200);
  EXPECT_EQ(r.http->path, "/index.html");
  EXPECT_EQ(r.http->query, "");
  EXPECT_EQ(r.http->host, "example.com");
  EXPECT_EQ(r.http->request_body_bytes, 0u);
  EXPECT_EQ(r.http->response_body_bytes, 5u);
  EXPECT_FALSE(r.http->aws_sigv4);
  EXPECT_FALSE(r.http->amz_headers);
  EXPECT_EQ(r.http->source, "");

  EXPECT_EQ(stats().requests, 1u);
  EXPECT_EQ(stats().responses, 1u);
  EXPECT_EQ(stats().records, 1u);
  EXPECT_EQ(parser().pending_requests(), 0u);
  EXPECT_EQ(stream(kRecv).stats().frames, 1u);
  EXPECT_EQ(stream(kSend).stats().frames, 1u);
  EXPECT_EQ(stream(kSend).stats().bytes_skipped, 5u);
}

TEST_F(HttpExchange, ClientGetAndOkWithExactTimes) {
  open(Role::Client);
  sent(kGet, {1000, 1010});
  received(kOk, {2000, 2030});

  ASSERT_EQ(sink.records.size(), 1u);
  const Record& r = sink.records[0];
  EXPECT_EQ(r.role, Role::Client);
  EXPECT_EQ(r.operation, "GET");
  EXPECT_EQ(r.status, "200");
  EXPECT_EQ(r.request_ns, 1000u);   // the write began
  EXPECT_EQ(r.response_ns, 2030u);  // the read of the last byte returned
  EXPECT_EQ(r.http->response_body_bytes, 5u);
}

TEST_F(HttpExchange, ResponseEndIsTheMessageHoldingItsLastByte) {
  open(Role::Client);
  sent(kGet, {1000, 1010});
  received("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 10\r\n\r\n0123", {2000, 2010});
  received("456", {3000, 3010});
  EXPECT_EQ(sink.records.size(), 0u);
  received("789", {4000, 4010});

  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].status, "503");
  EXPECT_TRUE(sink.records[0].error);
  EXPECT_EQ(sink.records[0].request_ns, 1000u);
  EXPECT_EQ(sink.records[0].response_ns, 4010u);
  EXPECT_EQ(sink.records[0].http->response_body_bytes, 10u);
}

TEST_F(HttpExchange, KeepAliveCarriesThreeExchanges) {
  open(Role::Server);
  for (uint64_t i = 0; i < 3; ++i) {
    const std::string path = "/item/" + std::to_string(i);
    received("GET " + path + " HTTP/1.1\r\nHost: h\r\n\r\n", {100 * i + 10, 100 * i + 11});
    sent("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", {100 * i + 50, 100 * i + 52});
  }

  ASSERT_EQ(sink.records.size(), 3u);
  for (uint64_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(sink.records[i].http->path, "/item/" + std::to_string(i));
    EXPECT_EQ(sink.records[i].request_ns, 100 * i + 11);
    EXPECT_EQ(sink.records[i].response_ns, 100 * i + 52);
    EXPECT_EQ(sink.records[i].http->response_body_bytes, 2u);
  }
  EXPECT_EQ(stats().requests, 3u);
  EXPECT_EQ(stats().records, 3u);
  EXPECT_EQ(stats().requests_unanswered, 0u);
}

TEST_F(HttpExchange, PipelinedRequestsInOneMessagePairInOrder) {
  open(Role::Server);
  received("GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyzDELETE /c HTTP/1.1\r\n\r\n",
           {100, 110});
  EXPECT_EQ(parser().pending_requests(), 3u);
  sent("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na", {200, 210});
  sent("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", {300, 310});
  sent("HTTP/1.1 500 Oops\r\nContent-Length: 2\r\n\r\nno", {400, 410});

  ASSERT_EQ(sink.records.size(), 3u);
  EXPECT_EQ(sink.records[0].operation, "GET");
  EXPECT_EQ(sink.records[0].http->path, "/a");
  EXPECT_EQ(sink.records[0].status, "200");
  EXPECT_EQ(sink.records[0].request_ns, 110u);
  EXPECT_EQ(sink.records[0].response_ns, 210u);
  EXPECT_EQ(sink.records[1].operation, "POST");
  EXPECT_EQ(sink.records[1].http->path, "/b");
  EXPECT_EQ(sink.records[1].status, "201");
  EXPECT_EQ(sink.records[1].http->request_body_bytes, 3u);
  EXPECT_EQ(sink.records[1].request_ns, 110u);
  EXPECT_EQ(sink.records[1].response_ns, 310u);
  EXPECT_EQ(sink.records[2].operation, "DELETE");
  EXPECT_EQ(sink.records[2].status, "500");
  EXPECT_TRUE(sink.records[2].error);
  EXPECT_EQ(sink.records[2].response_ns, 410u);
  EXPECT_EQ(parser().pending_requests(), 0u);
  EXPECT_EQ(stream(kRecv).stats().frames, 3u);
  EXPECT_EQ(stream(kRecv).stats().bytes_skipped, 3u);
}

TEST_F(HttpExchange, HeadersSplitAtLineEndsAcrossThreeMessages) {
  open(Role::Server);
  received("GET /split HTTP/1.1\r", {100, 101});
  received("\nHost: h\r\nAccept: */*\r\n\r", {200, 202});
  EXPECT_EQ(stats().requests, 0u);
  EXPECT_EQ(stream(kRecv).buffered_bytes(), 44u);
  received("\n", {300, 303});
  EXPECT_EQ(stats().requests, 1u);
  EXPECT_EQ(stream(kRecv).buffered_bytes(), 0u);

  sent("HTTP/1.1 200 OK\r", {400, 404});
  sent("\n", {500, 505});
  sent("Content-Length: 0\r\n\r", {600, 606});
  sent("\n", {700, 707});

  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].http->path, "/split");
  EXPECT_EQ(sink.records[0].http->host, "h");
  EXPECT_EQ(sink.records[0].request_ns, 101u);   // the first request byte
  EXPECT_EQ(sink.records[0].response_ns, 707u);  // the last response byte
  EXPECT_EQ(stream(kRecv).stats().invalid_frames, 0u);
  EXPECT_EQ(stream(kSend).stats().invalid_frames, 0u);
}

// Every way of cutting a client's chunked response into three messages
// gives the same record, timed by the messages holding its first and last byte.
TEST_F(HttpExchange, EveryThreeWaySplitOfAChunkedResponseGivesTheSameRecord) {
  const std::string_view response =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\nX-T: 1\r\n\r\n";
  for (size_t first = 0; first <= response.size(); ++first) {
    for (size_t second = first; second <= response.size(); ++second) {
      SCOPED_TRACE("split at " + std::to_string(first) + "," + std::to_string(second));
      sink.records.clear();
      open(Role::Client);
      sent("GET / HTTP/1.1\r\n\r\n", {10, 11});
      const std::string_view parts[] = {response.substr(0, first), response.substr(first, second - first),
                                        response.substr(second)};
      uint64_t last_exit = 0;
      for (uint64_t i = 0; i < 3; ++i) {
        if (parts[i].empty()) continue;
        received(parts[i], {100 * (i + 1), 100 * (i + 1) + 1});
        last_exit = 100 * (i + 1) + 1;
      }
      ASSERT_EQ(sink.records.size(), 1u);
      EXPECT_EQ(sink.records[0].http->response_body_bytes, 9u);
      EXPECT_EQ(sink.records[0].request_ns, 10u);
      EXPECT_EQ(sink.records[0].response_ns, last_exit);
      EXPECT_EQ(stream(kRecv).stats().invalid_frames, 0u);
      EXPECT_EQ(stream(kRecv).stats().gaps, 0u);
      EXPECT_EQ(stream(kRecv).buffered_bytes(), 0u);
    }
  }
}

// Every way of cutting three differently framed requests into three
// messages: each request starts with the message holding its first byte.
TEST_F(HttpExchange, EveryThreeWaySplitOfPipelinedRequestsTimesEachRequest) {
  const std::string a = "GET /a HTTP/1.1\r\n\r\n";
  const std::string b = "POST /b HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody";
  const std::string c = "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n";
  const std::string requests = a + b + c;
  const size_t starts[] = {0, a.size(), a.size() + b.size()};
  for (size_t first = 0; first <= requests.size(); ++first) {
    for (size_t second = first; second <= requests.size(); ++second) {
      SCOPED_TRACE("split at " + std::to_string(first) + "," + std::to_string(second));
      sink.records.clear();
      open(Role::Server);
      const std::string_view all = requests;
      const std::string_view parts[] = {all.substr(0, first), all.substr(first, second - first),
                                        all.substr(second)};
      for (uint64_t i = 0; i < 3; ++i) {
        if (!parts[i].empty()) received(parts[i], {100 * (i + 1), 100 * (i + 1) + 1});
      }
      sent("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
           "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
           {1000, 1001});

      ASSERT_EQ(sink.records.size(), 3u);
      for (size_t r = 0; r < 3; ++r) {
        const uint64_t message = starts[r] < first ? 1 : starts[r] < second ? 2 : 3;
        EXPECT_EQ(sink.records[r].request_ns, 100 * message + 1) << "request " << r;
        EXPECT_EQ(sink.records[r].response_ns, 1001u);
      }
      EXPECT_EQ(sink.records[0].http->path, "/a");
      EXPECT_EQ(sink.records[1].http->request_body_bytes, 4u);
      EXPECT_EQ(sink.records[2].http->request_body_bytes, 2u);
      EXPECT_EQ(sink.records[2].status, "202");
      EXPECT_EQ(stream(kRecv).stats().invalid_frames, 0u);
      EXPECT_EQ(stream(kRecv).buffered_bytes(), 0u);
    }
  }
}

// ---- bodies ---------------------------------------------------------------------

using HttpBodies = HttpTest;

TEST_F(HttpBodies, FiveMegabyteBodyInEightyPartlyCapturedMessagesIsCountedNotBuffered) {
  constexpr uint64_t kBody = 5 * 1024 * 1024;
  constexpr uint64_t kPart = kBody / 80;
  static_assert(kPart * 80 == kBody);
  const std::string prefix(256, 'b');

  open(Role::Client);
  sent("GET /big.iso HTTP/1.1\r\nHost: mirror\r\n\r\n", {1000, 1001});
  received("HTTP/1.1 200 OK\r\nContent-Length: 5242880\r\n\r\n", {2000, 2002});
  for (uint64_t i = 0; i < 80; ++i) {
    received(prefix, {3000 + 10 * i, 3005 + 10 * i}, kPart);
    EXPECT_EQ(stream(kRecv).buffered_bytes(), 0u);
    EXPECT_EQ(stream(kRecv).timed_messages(), 1u);
    EXPECT_EQ(sink.records.size(), i == 79 ? 1u : 0u);
  }

  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].http->response_body_bytes, kBody);
  EXPECT_EQ(sink.records[0].request_ns, 1000u);
  EXPECT_EQ(sink.records[0].response_ns, 3005u + 790u);
  EXPECT_EQ(stream(kRecv).stats().bytes_skipped, kBody);
  EXPECT_EQ(stream(kRecv).stats().bytes_missing, 0u);
  EXPECT_EQ(stream(kRecv).stats().gaps, 0u);
  EXPECT_EQ(stream(kRecv).pending_skip(), 0u);

  // The connection goes on after the body.
  sent("GET /next HTTP/1.1\r\n\r\n", {5000, 5001});
  received("HTTP/1.1 204 No Content\r\n\r\n", {6000, 6002});
  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(sink.records[1].http->path, "/next");
  EXPECT_EQ(sink.records[1].response_ns, 6002u);
}

TEST_F(HttpBodies, UploadedBodyIsCountedOnTheRequest) {
  open(Role::Server);
  received("PUT /obj HTTP/1.1\r\nContent-Length: 100000\r\n\r\n" + std::string(200, 'u'), {100, 110},
           45 + 100000 - 60000);
  received(std::string(256, 'u'), {200, 210}, 60000);
  sent("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", {300, 310});

  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].operation, "PUT");
  EXPECT_EQ(sink.records[0].http->request_body_bytes, 100000u);
  EXPECT_EQ(sink.records[0].http->response_body_bytes, 0u);
  EXPECT_EQ(sink.records[0].request_ns, 110u);
  EXPECT_EQ(sink.records[0].response_ns, 310u);
  EXPECT_EQ(stream(kRecv).stats().bytes_skipped, 100000u);
  EXPECT_EQ(stream(kRecv).stats().gaps, 0u);
}

TEST_F(HttpBodies, ChunkedResponseWithTrailerAndChunkHeadersSplit) {
  open(Role::Client);
  sent("GET /stream HTTP/1.1\r\n\r\n", {100, 101});
  received("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1", {200, 201});
  received("0\r", {300, 301});  // chunk-size "10" split, and its CRLF too
  received("\n0123456789abcdef\r\n", {400, 401});
  received("2;name=va", {500, 501});
  received("lue\r\nxy\r\n3\r\nabc\r\n0\r\nX-Checksum: 1", {600, 601});
  EXPECT_EQ(sink.records.size(), 0u);
  received("234\r\n\r\n", {700, 701});

  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].http->response_body_bytes, 16u + 2u + 3u);
  EXPECT_EQ(sink.records[0].request_ns, 100u);
  EXPECT_EQ(sink.records[0].response_ns, 701u);
  // Chunk data is skipped; head, chunk-size lines and the last chunk are frames.
  EXPECT_EQ(stream(kRecv).stats().frames, 5u);
  EXPECT_EQ(stream(kRecv).stats().bytes_skipped, 16u + 2u + 3u + 3u * 2u);
  EXPECT_EQ(stream(kRecv).stats().invalid_frames, 0u);
  EXPECT_EQ(stream(kRecv).buffered_bytes(), 0u);
}

TEST_F(HttpBodies, ChunkedRequestBodyIsSummed) {
  open(Role::Server);
  received("POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", {100, 110});
  received("a\r\n0123456789\r\n0\r\n\r\n", {200, 210});
  sent("HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n", {300, 310});

  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].http->request_body_bytes, 13u);
  EXPECT_EQ(sink.records[0].status, "202");
  EXPECT_EQ(sink.records[0].request_ns, 110u);
}

TEST_F(HttpBodies, Http10ResponseWithoutLengthEndsAtClose) {
  open(Role::Client);
  sent("GET /legacy HTTP/1.0\r\n\r\n", {100, 101});
  received("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nabc", {200, 202});
  received("defgh", {300, 303}, 1000);  // 1000 bytes, 5 captured
  received("ij", {400, 404});
  EXPECT_EQ(sink.records.size(), 0u);
  EXPECT_EQ(stream(kRecv).stats().gaps, 0u);

  close();
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].status, "200");
  EXPECT_EQ(sink.records[0].http->response_body_bytes, 3u + 1000u + 2u);
  EXPECT_EQ(sink.records[0].request_ns, 100u);
  EXPECT_EQ(sink.records[0].response_ns, 404u);  // the last message of the response direction
  EXPECT_EQ(stats().requests_unanswered, 0u);
}

TEST_F(HttpBodies, ConnectionCloseResponseWithoutLengthEndsAtClose) {
  open(Role::Server);
  received("GET / HTTP/1.1\r\n\r\n", {100, 101});
  sent("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", {200, 202});
  close();

  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].http->response_body_bytes, 0u);
  EXPECT_EQ(sink.records[0].response_ns, 202u);
}

TEST_F(HttpBodies, HeadResponseHasNoBodyDespiteItsLength) {
  open(Role::Client);
  sent("HEAD /file HTTP/1.1\r\n\r\n", {100, 101});
  received("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", {200, 202});
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].operation, "HEAD");
  EXPECT_EQ(sink.records[0].http->response_body_bytes, 0u);
  EXPECT_EQ(sink.records[0].response_ns, 202u);
  EXPECT_EQ(stream(kRecv).pending_skip(), 0u);

  sent("GET /file HTTP/1.1\r\n\r\n", {300, 301});
  received("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndata", {400, 404});
  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(sink.records[1].operation, "GET");
  EXPECT_EQ(sink.records[1].http->response_body_bytes, 4u);
  EXPECT_EQ(stream(kRecv).stats().invalid_frames, 0u);
}

TEST_F(HttpBodies, NoContentAndNotModifiedHaveNoBody) {
  open(Role::Client);
  sent("DELETE /x HTTP/1.1\r\n\r\nGET /y HTTP/1.1\r\nIf-None-Match: \"e\"\r\n\r\nGET /z HTTP/1.1\r\n\r\n",
       {100, 101});
  received("HTTP/1.1 204 No Content\r\n\r\n", {200, 202});
  received("HTTP/1.1 304 Not Modified\r\nContent-Length: 500\r\nETag: \"e\"\r\n\r\n", {300, 303});
  received("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz", {400, 404});

  ASSERT_EQ(sink.records.size(), 3u);
  EXPECT_EQ(sink.records[0].status, "204");
  EXPECT_EQ(sink.records[0].http->response_body_bytes, 0u);
  EXPECT_EQ(sink.records[0].response_ns, 202u);
  EXPECT_EQ(sink.records[1].status, "304");
  EXPECT_EQ(sink.records[1].http->response_body_bytes, 0u);
  EXPECT_EQ(sink.records[1].response_ns, 303u);
  EXPECT_EQ(sink.records[2].status, "200");
  EXPECT_EQ(sink.records[2].http->path, "/z");
  EXPECT_EQ(sink.records[2].response_ns, 404u);
  EXPECT_EQ(stream(kRecv).stats().invalid_frames, 0u);
}

TEST_F(HttpBodies, ExpectContinueInterimResponseIsNotARecord) {
  open(Role::Client);
  sent("PUT /f HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n", {100, 101});
  received("HTTP/1.1 100 Continue\r\n\r\n", {200, 202});
  EXPECT_EQ(sink.records.size(), 0u);
  sent("0123456789", {300, 303});
  received("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", {400, 404});

  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].operation, "PUT");
  EXPECT_EQ(sink.records[0].status, "201");
  EXPECT_EQ(sink.records[0].http->request_body_bytes, 10u);
  EXPECT_EQ(sink.records[0].request_ns, 100u);
  EXPECT_EQ(sink.records[0].response_ns, 404u);
  EXPECT_EQ(stats().interim_responses, 1u);
  EXPECT_EQ(stats().responses, 1u);
  EXPECT_EQ(stream(kRecv).stats().frames_ignored, 1u);
  EXPECT_EQ(stream(kSend).stats().invalid_frames, 0u);
}

TEST_F(HttpBodies, ExpectContinueRefusedWithoutBodyKeepsTheNextRequest) {
  open(Role::Client);
  sent("PUT /f HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1000\r\n\r\n", {100, 101});
  received("HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n", {200, 202});
  sent("GET /g HTTP/1.1\r\n\r\n", {300, 303});
  received("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", {400, 404});

  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(sink.records[0].status, "417");
  EXPECT_EQ(sink.records[0].http->request_body_bytes, 0u);
  EXPECT_EQ(sink.records[1].operation, "GET");
  EXPECT_EQ(sink.records[1].http->path, "/g");
  EXPECT_EQ(sink.records[1].request_ns, 300u);
  EXPECT_EQ(stream(kSend).pending_skip(), 0u);
  EXPECT_EQ(stream(kSend).stats().invalid_frames, 0u);
}

TEST_F(HttpBodies, SwitchingProtocolsEndsTheExchangeAndSkipsTheTunnel) {
  open(Role::Server);
  received("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", {100, 101});
  sent("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", {200, 202});
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].status, "101");
  EXPECT_EQ(sink.records[0].response_ns, 202u);

  // WebSocket frames, even ones that look like HTTP, are not parsed.
  received("\x81\x85GET / HTTP/1.1\r\n\r\n"sv, {300, 303}, 5000);
  sent("\x81\x05HTTP/1.1 200 OK\r\n\r\n"sv, {400, 404});
  close();
  EXPECT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(stats().requests, 1u);
  EXPECT_EQ(stats().responses, 1u);
  EXPECT_EQ(stream(kRecv).stats().invalid_frames, 0u);
  EXPECT_EQ(stream(kSend).stats().invalid_frames, 0u);
  EXPECT_EQ(stream(kRecv).stats().bytes_skipped, 4999u);
  EXPECT_EQ(stream(kRecv).stats().gaps, 0u);
  EXPECT_EQ(stats().requests_unanswered, 0u);
}

TEST_F(HttpBodies, SuccessfulConnectOpensATunnel) {
  open(Role::Client);
  sent("CONNECT db.internal:5432 HTTP/1.1\r\nHost: db.internal:5432\r\n\r\n", {100, 101});
  received("HTTP/1.1 200 Connection Established\r\n\r\n", {200, 202});
  sent("GET / HTTP/1.1\r\n\r\n", {300, 303});  // inside the tunnel
  received("HTTP/1.1 200 OK\r\n\r\n", {400, 404});

  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].operation, "CONNECT");
  EXPECT_EQ(sink.records[0].http->path, "db.internal:5432");
  EXPECT_EQ(sink.records[0].response_ns, 202u);
  EXPECT_EQ(stats().requests, 1u);
  EXPECT_EQ(stats().responses, 1u);
}

// ---- gaps, garbage, close -----------------------------------------------------------

using HttpGaps = HttpTest;

TEST_F(HttpGaps, GapInsideAResponseBodyIsAbsorbedByTheSkip) {
  open(Role::Client);
  sent("GET /f HTTP/1.1\r\n\r\n", {100, 101});
  received("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + std::string(100, 'x'), {200, 202});
  lose(kRecv, 500);
  received(std::string(400, 'x'), {400, 404});

  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].http->response_body_bytes, 1000u);
  EXPECT_EQ(sink.records[0].response_ns, 404u);
  EXPECT_EQ(stream(kRecv).stats().gaps, 0u);
  EXPECT_EQ(stream(kRecv).stats().bytes_skipped, 1000u);
  EXPECT_EQ(stats().requests_unanswered, 0u);
}

TEST_F(HttpGaps, BodyEndingInAHoleEndsWithTheMessageAfterIt) {
  open(Role::Client);
  sent("GET /f HTTP/1.1\r\n\r\n", {100, 101});
  received("HTTP/1.1 200 OK\r\nContent-Length: 300\r\n\r\n" + std::string(100, 'x'), {200, 202});
  lose(kRecv, 200 + 40);  // the rest of the body and a whole 40-byte response
  received("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", {500, 505});

  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].http->response_body_bytes, 300u);
  EXPECT_EQ(sink.records[0].response_ns, 505u);
  // The lost bytes after the body are a gap: nothing pending is trusted.
  EXPECT_EQ(stream(kRecv).stats().gaps, 1u);
  EXPECT_EQ(stats().responses_unmatched, 1u);
}

TEST_F(HttpGaps, GapInsideRequestHeadersResyncsWithoutABogusRecord) {
  open(Role::Server);
  const std::string_view head_start = "GET /a HTTP/1.1\r\nHost: x\r\nAcc";
  received(head_start, {100, 101});
  lose(kRecv, 12);  // "ept: */*\r\n\r\n"
  sent("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA", {200, 202});
  received("GET /b HTTP/1.1\r\nHost: x\r\n\r\n", {300, 303});
  sent("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nB", {400, 404});

  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].http->path, "/b");
  EXPECT_EQ(sink.records[0].request_ns, 303u);
  EXPECT_EQ(sink.records[0].response_ns, 404u);
  EXPECT_EQ(stats().responses_unmatched, 1u);
  EXPECT_EQ(stats().requests, 1u);
  EXPECT_EQ(stream(kRecv).stats().gaps, 1u);
  EXPECT_EQ(stream(kRecv).stats().bytes_discarded, head_start.size());
}

TEST_F(HttpGaps, ResponseToALostRequestIsRecognisedByItsTime) {
  open(Role::Server);
  received("GET /a HTTP/1.1\r\nHo", {100, 101});
  lose(kRecv, 10);  // "st: x\r\n\r\n"
  // The next request is processed before the response to the lost one.
  received("GET /b HTTP/1.1\r\n\r\n", {300, 303});
  sent("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", {200, 202});
  sent("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", {400, 404});

  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].http->path, "/b");
  EXPECT_EQ(sink.records[0].status, "200");
  EXPECT_EQ(stats().responses_unmatched, 1u);
}

TEST_F(HttpGaps, GapInsideResponseHeadersDropsThePendingRequests) {
  open(Role::Client);
  sent("GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", {100, 101});
  received("HTTP/1.1 200 OK\r\nContent-Le", {200, 202});
  lose(kRecv, 100);  // the rest of both responses but the end of the last one
  received("ngth: 0\r\n\r\n", {250, 252});
  EXPECT_EQ(stream(kRecv).stats().gaps, 1u);
  EXPECT_EQ(stats().requests_unanswered, 2u);
  EXPECT_EQ(parser().pending_requests(), 0u);

  sent("GET /c HTTP/1.1\r\n\r\n", {300, 303});
  received("HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", {400, 404});

  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].http->path, "/c");
  EXPECT_EQ(sink.records[0].status, "201");
  EXPECT_EQ(stats().requests_unanswered, 2u);
}

TEST_F(HttpGaps, GarbageBeforeAValidRequestIsSkipped) {
  open(Role::Server);
  const std::string_view garbage = "\x16\x03\x01\x02\x00garbage\r\n\r\n"sv;
  ASSERT_EQ(garbage.size(), 16u);
  received(std::string(garbage) + "GET /ok HTTP/1.1\r\n\r\n", {100, 101});
  sent("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", {200, 202});

  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].http->path, "/ok");
  EXPECT_EQ(stream(kRecv).stats().invalid_frames, 1u);
  EXPECT_EQ(stream(kRecv).stats().bytes_discarded, garbage.size());
  EXPECT_EQ(stream(kRecv).stats().frames, 1u);
}

TEST_F(HttpGaps, OversizedHeadIsDroppedAndTheNextRequestParsed) {
  open(Role::Server);
  const std::string big = "GET /big HTTP/1.1\r\nX-Pad: " + std::string(20000, 'p') + "\r\n\r\n";
  received(big.substr(0, 8000), {100, 101});
  received(big.substr(8000, 8000), {110, 111});
  received(big.substr(16000) + "GET /small HTTP/1.1\r\n\r\n", {120, 121});
  sent("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", {200, 202});

  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].http->path, "/small");
  EXPECT_EQ(stats().requests, 1u);
  EXPECT_EQ(stream(kRecv).stats().invalid_frames, 1u);
  EXPECT_EQ(stream(kRecv).stats().bytes_discarded, big.size());
}

TEST_F(HttpGaps, RequestsWithoutResponseAtCloseAreCountedNotRecorded) {
  open(Role::Client);
  sent("GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n", {100, 101});
  received("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123", {200, 202});  // /1, body cut short
  close();

  EXPECT_EQ(sink.records.size(), 0u);
  EXPECT_EQ(parser().requests_unanswered(), 3u);
  EXPECT_EQ(stats().records, 0u);
}

TEST_F(HttpGaps, ResponseWithoutRequestIsIgnoredButFramed) {
  open(Role::Client);
  received("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nGET / HTTP/1.1\r\n\r\n..", {100, 101});
  sent("GET /x HTTP/1.1\r\n\r\n", {200, 202});
  received("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", {300, 303});

  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].http->path, "/x");
  EXPECT_EQ(stats().responses_unmatched, 1u);
  EXPECT_EQ(stream(kRecv).stats().frames_ignored, 1u);
  EXPECT_EQ(stream(kRecv).stats().bytes_skipped, 20u);
}

// ---- request details ----------------------------------------------------------------

using HttpDetailsTest = HttpTest;

TEST_F(HttpDetailsTest, QueryIsSeparatedFromThePath) {
  open(Role::Server);
  received("GET /search/items?q=secret&page=2 HTTP/1.1\r\n\r\nGET /plain? HTTP/1.1\r\n\r\n", {100, 101});
  sent("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", {200, 202});

  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(sink.records[0].http->path, "/search/items");
  EXPECT_EQ(sink.records[0].http->query, "q=secret&page=2");
  EXPECT_EQ(sink.records[1].http->path, "/plain");
  EXPECT_EQ(sink.records[1].http->query, "");
}

TEST_F(HttpDetailsTest, SigV4AndAmzHeadersAreDetected) {
  open(Role::Client);
  sent("PUT /bucket/key HTTP/1.1\r\nHost: s3.amazonaws.com\r\n"
       "Authorization: AWS4-HMAC-SHA256 Credential=AKIA/20240101/us-east-1/s3/aws4_request\r\n"
       "x-amz-content-sha256: UNSIGNED-PAYLOAD\r\nContent-Length: 3\r\n\r\nabc",
       {100, 101});
  received("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", {200, 202});
  sent("GET /bucket/key HTTP/1.1\r\nX-AMZ-Content-SHA256: UNSIGNED-PAYLOAD\r\n\r\n", {300, 303});
  received("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", {400, 404});
  sent("GET /plain HTTP/1.1\r\nAuthorization: Bearer abc\r\n\r\n", {500, 505});
  received("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", {600, 606});

  ASSERT_EQ(sink.records.size(), 3u);
  EXPECT_TRUE(sink.records[0].http->aws_sigv4);
  EXPECT_TRUE(sink.records[0].http->amz_headers);
  EXPECT_EQ(sink.records[0].http->host, "s3.amazonaws.com");
  EXPECT_EQ(sink.records[0].http->request_body_bytes, 3u);
  EXPECT_FALSE(sink.records[1].http->aws_sigv4);
  EXPECT_TRUE(sink.records[1].http->amz_headers);
  EXPECT_FALSE(sink.records[2].http->aws_sigv4);
  EXPECT_FALSE(sink.records[2].http->amz_headers);
}

TEST_F(HttpDetailsTest, OtherAwsServicesAreNotS3AndChunkedUploadsKeepTheObjectSize) {
  open(Role::Client);
  // DynamoDB: SigV4 for another service, its own x-amz-target header
  sent("POST / HTTP/1.1\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIA/20240101/us-east-1/dynamodb/aws4_request\r\n"
       "X-Amz-Target: DynamoDB_20120810.GetItem\r\nContent-Length: 2\r\n\r\n{}",
       {100, 101});
  received("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", {200, 202});
  // S3 aws-chunked upload: the body is framing + 5 object bytes
  sent("PUT /b/k HTTP/1.1\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIA/20240101/us-east-1/s3/aws4_request\r\n"
       "x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\nx-amz-decoded-content-length: 5\r\n"
       "Content-Length: 15\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
       {300, 301});
  received("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", {400, 404});

  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_FALSE(sink.records[0].http->aws_sigv4);
  EXPECT_FALSE(sink.records[0].http->amz_headers);
  EXPECT_TRUE(sink.records[1].http->aws_sigv4);
  EXPECT_EQ(sink.records[1].http->request_body_bytes, 15u);
  EXPECT_EQ(sink.records[1].http->decoded_content_length, 5u);
}

TEST_F(HttpDetailsTest, ConfiguredSourceHeaderIsCopied) {
  HttpParserOptions options;
  options.source_header = "x-source-service";
  open(Role::Server, options);
  received("GET /a HTTP/1.1\r\nX-Source-Service:  checkout \r\n\r\nGET /b HTTP/1.1\r\n\r\n", {100, 101});
  sent("HTTP/1.1 200 OK\r\nX-Source-Service: ignored\r\nContent-Length: 0\r\n\r\n"
       "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
       {200, 202});

  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(sink.records[0].http->source, "checkout");
  EXPECT_EQ(sink.records[1].http->source, "");
}

TEST_F(HttpDetailsTest, NoSourceHeaderConfiguredCopiesNothing) {
  open(Role::Server);
  received("GET /a HTTP/1.1\r\nX-Source-Service: checkout\r\n\r\n", {100, 101});
  sent("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", {200, 202});

  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].http->source, "");
}

// ---- pending cap and roles ---------------------------------------------------------

using HttpPairing = HttpTest;

TEST_F(HttpPairing, OverThePendingCapTheOldestIsDroppedAndItsResponseSkipped) {
  HttpParserOptions options;
  options.max_pending_requests = 2;
  open(Role::Client, options);
  sent("GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\nGET /4 HTTP/1.1\r\n\r\n", {100, 101});
  EXPECT_EQ(parser().pending_requests(), 2u);
  EXPECT_EQ(stats().requests_evicted, 2u);

  received("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", {200, 201});
  received("HTTP/1.1 201 OK\r\nContent-Length: 0\r\n\r\n", {300, 301});
  received("HTTP/1.1 202 OK\r\nContent-Length: 0\r\n\r\n", {400, 401});
  received("HTTP/1.1 203 OK\r\nContent-Length: 0\r\n\r\n", {500, 501});

  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(sink.records[0].http->path, "/3");
  EXPECT_EQ(sink.records[0].status, "202");
  EXPECT_EQ(sink.records[0].response_ns, 401u);
  EXPECT_EQ(sink.records[1].http->path, "/4");
  EXPECT_EQ(sink.records[1].status, "203");
  EXPECT_EQ(stats().responses_of_evicted, 2u);
  EXPECT_EQ(stats().responses_unmatched, 0u);
  EXPECT_EQ(stats().requests_unanswered, 0u);
}

TEST_F(HttpPairing, UnknownRoleWithRequestReceivedBecomesServer) {
  open(Role::Unknown);
  EXPECT_EQ(parser().role(), Role::Unknown);
  received("GET /in HTTP/1.1\r\n\r\n", {100, 110});
  EXPECT_EQ(parser().role(), Role::Server);
  sent("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", {200, 220});

  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].role, Role::Server);
  EXPECT_EQ(sink.records[0].request_ns, 110u);
  EXPECT_EQ(sink.records[0].response_ns, 220u);
}

TEST_F(HttpPairing, UnknownRoleWithRequestSentBecomesClient) {
  open(Role::Unknown);
  sent("GET /out HTTP/1.1\r\n\r\n", {100, 110});
  EXPECT_EQ(parser().role(), Role::Client);
  received("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", {200, 220});

  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].role, Role::Client);
  EXPECT_EQ(sink.records[0].request_ns, 100u);
  EXPECT_EQ(sink.records[0].response_ns, 220u);
}

TEST_F(HttpPairing, UnknownRoleFirstSeeingASentResponseBecomesServer) {
  open(Role::Unknown);
  // The tail of an exchange that began before the agent.
  sent("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", {100, 110});
  EXPECT_EQ(parser().role(), Role::Server);
  received("GET /next HTTP/1.1\r\n\r\n", {200, 210});
  sent("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", {300, 330});

  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].role, Role::Server);
  EXPECT_EQ(sink.records[0].http->path, "/next");
  EXPECT_EQ(stats().responses_unmatched, 1u);
}

TEST_F(HttpPairing, KnownRoleRejectsMessagesInTheWrongDirection) {
  open(Role::Server);
  sent("GET /not-a-server-thing HTTP/1.1\r\n\r\n", {100, 110});
  received("HTTP/1.1 200 OK\r\n\r\n", {200, 210});

  EXPECT_EQ(sink.records.size(), 0u);
  EXPECT_EQ(stats().requests, 0u);
  // The "HTTP/1.1" inside the request line is tried as a status line too.
  EXPECT_EQ(stream(kSend).stats().invalid_frames, 2u);
  EXPECT_EQ(stream(kRecv).stats().invalid_frames, 1u);
}

TEST(HttpDirect, ParseFrameConsumesTheHeadAndAsksToSkipTheBody) {
  CollectingSink sink;
  HttpProtocolParser parser(sink, Role::Client);
  const FixedFrameClock request_clock({10, 11});
  const FixedFrameClock response_clock({20, 21});
  size_t consumed = 0;

  EXPECT_EQ(parser.parse_frame(kSend, "GET /d HTTP/1.1\r\n", request_clock, consumed), ParseState::NeedsMoreData);
  ASSERT_EQ(parser.parse_frame(kSend, "GET /d HTTP/1.1\r\n\r\nnext", request_clock, consumed), ParseState::Success);
  EXPECT_EQ(consumed, 19u);
  EXPECT_EQ(parser.body_bytes_to_skip(kSend), 0u);

  ASSERT_EQ(parser.parse_frame(kRecv, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n", response_clock, consumed),
            ParseState::Success);
  EXPECT_EQ(consumed, 38u);
  EXPECT_EQ(parser.body_bytes_to_skip(kRecv), 7u);
  EXPECT_EQ(sink.records.size(), 0u);
  parser.on_body_end(kRecv, {30, 31});
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].request_ns, 10u);
  EXPECT_EQ(sink.records[0].response_ns, 31u);
  EXPECT_EQ(sink.records[0].http->response_body_bytes, 7u);

  EXPECT_EQ(parser.parse_frame(kRecv, "SSH-2.0-OpenSSH\r\n", response_clock, consumed), ParseState::Invalid);
  EXPECT_EQ(parser.find_frame_boundary(kRecv, "xxHTTP/1.0 200"), 2u);
  EXPECT_EQ(parser.find_frame_boundary(kSend, "xxHTTP/1.0 200"), std::string_view::npos);
}

TEST(HttpBuiltin, RegisteredAsHttpAndGetsTheTrackersRole) {
  ProtocolRegistry registry;
  register_builtin_protocols(registry);
  EXPECT_EQ(registry.name_of(REDEYE_PROTO_HTTP1), "http");

  CollectingSink sink;
  ConnectionTracker tracker(registry, sink);
  tracker.set_role(Role::Client);
  tracker.set_protocol(REDEYE_PROTO_HTTP1);
  ASSERT_NE(tracker.parser(), nullptr);
  EXPECT_EQ(tracker.parser()->name(), "http");
  EXPECT_EQ(static_cast<const HttpProtocolParser&>(*tracker.parser()).role(), Role::Client);

  tracker.on_data(kSend, 0, 18, "GET / HTTP/1.1\r\n\r\n", {10, 11});
  tracker.on_data(kRecv, 0, 38, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", {20, 21});
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].request_ns, 10u);
  EXPECT_EQ(sink.records[0].response_ns, 21u);
}

}  // namespace
}  // namespace redeye::protocols::http
