// AMQP 0-9-1 frames built byte by byte from the specification, for the
// frame and exchange tests. Channel 0 carries the connection's methods.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace redeye::testing::amqp_bytes {

inline std::string be16(uint16_t v) { return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)}; }
inline std::string be32(uint32_t v) { return be16(static_cast<uint16_t>(v >> 16)) + be16(static_cast<uint16_t>(v)); }
inline std::string be64(uint64_t v) { return be32(static_cast<uint32_t>(v >> 32)) + be32(static_cast<uint32_t>(v)); }
inline std::string octet(uint8_t v) { return std::string(1, static_cast<char>(v)); }
inline std::string shortstr(std::string_view s) { return octet(static_cast<uint8_t>(s.size())) + std::string(s); }
inline std::string longstr(std::string_view s) { return be32(static_cast<uint32_t>(s.size())) + std::string(s); }
// A field table with one long-string entry, or none.
inline std::string table(std::string_view key = {}, std::string_view value = {}) {
  if (key.empty()) return be32(0);
  const std::string entry = shortstr(key) + "S" + longstr(value);
  return be32(static_cast<uint32_t>(entry.size())) + entry;
}

inline const std::string& protocol_header() {
  static const std::string h("AMQP\0\0\x09\x01", 8);
  return h;
}
inline std::string frame(uint8_t type, uint16_t channel, std::string_view payload) {
  return octet(type) + be16(channel) + be32(static_cast<uint32_t>(payload.size())) + std::string(payload) + "\xCE";
}
inline std::string method(uint16_t channel, uint16_t cls, uint16_t id, std::string_view args = {}) {
  return frame(1, channel, be16(cls) + be16(id) + std::string(args));
}
// Content header with a delivery-mode property (flags bit 12).
inline std::string content_header(uint16_t channel, uint64_t body_size) {
  return frame(2, channel, be16(60) + be16(0) + be64(body_size) + be16(0x1000) + octet(2));
}
inline std::string body(uint16_t channel, std::string_view data) { return frame(3, channel, data); }
inline std::string heartbeat() { return frame(8, 0, ""); }

// connection
inline std::string connection_start() {
  return method(0, 10, 10, octet(0) + octet(9) + table("product", "RabbitMQ") + longstr("PLAIN AMQPLAIN") +
                               longstr("en_US"));
}
inline std::string connection_start_ok() {
  return method(0, 10, 11, table("product", "pika") + shortstr("PLAIN") + longstr(std::string("\0guest\0guest", 12)) +
                               shortstr("en_US"));
}
inline std::string connection_tune() { return method(0, 10, 30, be16(2047) + be32(131072) + be16(60)); }
inline std::string connection_tune_ok() { return method(0, 10, 31, be16(2047) + be32(131072) + be16(60)); }
inline std::string connection_open() { return method(0, 10, 40, shortstr("/") + shortstr("") + octet(0)); }
inline std::string connection_open_ok() { return method(0, 10, 41, shortstr("")); }
inline std::string connection_close(uint16_t code, std::string_view text) {
  return method(0, 10, 50, be16(code) + shortstr(text) + be16(0) + be16(0));
}
inline std::string connection_close_ok() { return method(0, 10, 51); }
inline std::string connection_blocked(std::string_view reason) { return method(0, 10, 60, shortstr(reason)); }
inline std::string connection_unblocked() { return method(0, 10, 61); }
// The client's side and the broker's side of a handshake.
inline std::string client_handshake() {
  return protocol_header() + connection_start_ok() + connection_tune_ok() + connection_open();
}

// channel
inline std::string channel_open(uint16_t ch) { return method(ch, 20, 10, shortstr("")); }
inline std::string channel_open_ok(uint16_t ch) { return method(ch, 20, 11, longstr("")); }
inline std::string channel_close(uint16_t ch, uint16_t code, std::string_view text, uint16_t cls = 0,
                                 uint16_t id = 0) {
  return method(ch, 20, 40, be16(code) + shortstr(text) + be16(cls) + be16(id));
}
inline std::string channel_close_ok(uint16_t ch) { return method(ch, 20, 41); }

// queue
inline std::string queue_declare(uint16_t ch, std::string_view queue) {
  return method(ch, 50, 10, be16(0) + shortstr(queue) + octet(0x02) + table("x-queue-type", "classic"));
}
inline std::string queue_declare_ok(uint16_t ch, std::string_view queue) {
  return method(ch, 50, 11, shortstr(queue) + be32(0) + be32(0));
}
inline std::string queue_bind(uint16_t ch, std::string_view queue, std::string_view exchange, std::string_view key) {
  return method(ch, 50, 20, be16(0) + shortstr(queue) + shortstr(exchange) + shortstr(key) + octet(0) + table());
}
inline std::string queue_bind_ok(uint16_t ch) { return method(ch, 50, 21); }

// basic
inline std::string basic_qos(uint16_t ch, uint16_t prefetch) {
  return method(ch, 60, 10, be32(0) + be16(prefetch) + octet(0));
}
inline std::string basic_qos_ok(uint16_t ch) { return method(ch, 60, 11); }
inline std::string basic_consume(uint16_t ch, std::string_view queue, std::string_view tag, bool no_ack = false,
                                 bool no_wait = false) {
  const uint8_t bits = (no_ack ? 0x02 : 0) | (no_wait ? 0x08 : 0);
  return method(ch, 60, 20, be16(0) + shortstr(queue) + shortstr(tag) + octet(bits) + table());
}
inline std::string basic_consume_ok(uint16_t ch, std::string_view tag) { return method(ch, 60, 21, shortstr(tag)); }
inline std::string basic_cancel(uint16_t ch, std::string_view tag, bool no_wait = false) {
  return method(ch, 60, 30, shortstr(tag) + octet(no_wait ? 1 : 0));
}
inline std::string basic_cancel_ok(uint16_t ch, std::string_view tag) { return method(ch, 60, 31, shortstr(tag)); }
inline std::string basic_publish(uint16_t ch, std::string_view exchange, std::string_view key,
                                 bool mandatory = false) {
  return method(ch, 60, 40, be16(0) + shortstr(exchange) + shortstr(key) + octet(mandatory ? 1 : 0));
}
// publish + content header + one body frame: what a client writes per message.
inline std::string publish_message(uint16_t ch, std::string_view exchange, std::string_view key,
                                   std::string_view data, bool mandatory = false) {
  return basic_publish(ch, exchange, key, mandatory) + content_header(ch, data.size()) + body(ch, data);
}
inline std::string basic_return(uint16_t ch, uint16_t code, std::string_view exchange, std::string_view key) {
  return method(ch, 60, 50, be16(code) + shortstr("NO_ROUTE") + shortstr(exchange) + shortstr(key));
}
inline std::string basic_deliver(uint16_t ch, std::string_view tag, uint64_t delivery_tag, std::string_view exchange,
                                 std::string_view key, bool redelivered = false) {
  return method(ch, 60, 60,
                shortstr(tag) + be64(delivery_tag) + octet(redelivered ? 1 : 0) + shortstr(exchange) + shortstr(key));
}
// deliver + content header + body: what a broker writes per delivery.
inline std::string delivery(uint16_t ch, std::string_view tag, uint64_t delivery_tag, std::string_view data,
                            std::string_view exchange = "", std::string_view key = "k") {
  return basic_deliver(ch, tag, delivery_tag, exchange, key) + content_header(ch, data.size()) + body(ch, data);
}
inline std::string basic_get(uint16_t ch, std::string_view queue, bool no_ack = false) {
  return method(ch, 60, 70, be16(0) + shortstr(queue) + octet(no_ack ? 1 : 0));
}
inline std::string basic_get_ok(uint16_t ch, uint64_t delivery_tag, std::string_view exchange, std::string_view key,
                                uint32_t left) {
  return method(ch, 60, 71, be64(delivery_tag) + octet(0) + shortstr(exchange) + shortstr(key) + be32(left));
}
inline std::string basic_get_empty(uint16_t ch) { return method(ch, 60, 72, shortstr("")); }
inline std::string basic_ack(uint16_t ch, uint64_t delivery_tag, bool multiple = false) {
  return method(ch, 60, 80, be64(delivery_tag) + octet(multiple ? 1 : 0));
}
inline std::string basic_reject(uint16_t ch, uint64_t delivery_tag, bool requeue) {
  return method(ch, 60, 90, be64(delivery_tag) + octet(requeue ? 1 : 0));
}
inline std::string basic_nack(uint16_t ch, uint64_t delivery_tag, bool multiple, bool requeue) {
  return method(ch, 60, 120, be64(delivery_tag) + octet((multiple ? 1 : 0) | (requeue ? 2 : 0)));
}

inline std::string basic_recover(uint16_t ch, bool requeue) { return method(ch, 60, 110, octet(requeue ? 1 : 0)); }
inline std::string basic_recover_ok(uint16_t ch) { return method(ch, 60, 111); }

// confirm
inline std::string confirm_select(uint16_t ch) { return method(ch, 85, 10, octet(0)); }
inline std::string confirm_select_ok(uint16_t ch) { return method(ch, 85, 11); }

}  // namespace redeye::testing::amqp_bytes
