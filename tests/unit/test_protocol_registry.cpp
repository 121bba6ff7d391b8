#include "protocols/protocol.h"

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

namespace redeye::protocols {
namespace {

// A parser that parses nothing; it only remembers what it was built with.
class StubParser : public ProtocolParser {
 public:
  StubParser(std::string name, RecordSink& sink, Role role = Role::Unknown)
      : name_(std::move(name)), sink_(sink), role_(role) {}

  std::string_view name() const override { return name_; }
  ParseState parse_frame(Direction, std::string_view, const FrameClock&, size_t&) override {
    return ParseState::Invalid;
  }
  size_t find_frame_boundary(Direction, std::string_view) const override { return std::string_view::npos; }
  void on_gap(Direction, uint64_t) override {}

  RecordSink& sink() const { return sink_; }
  Role role() const { return role_; }

 private:
  std::string name_;
  RecordSink& sink_;
  Role role_;
};

struct NullSink : RecordSink {
  void on_record(const Record&) override {}
};

class ProtocolRegistryTest : public ::testing::Test {
 protected:
  // A factory building StubParsers named `name`, counting its calls.
  ProtocolRegistry::Factory stub_factory(const std::string& name) {
    return [this, name](RecordSink& bound_sink, Role role) {
      ++factory_calls;
      return std::make_unique<StubParser>(name, bound_sink, role);
    };
  }

  ProtocolRegistry registry;
  NullSink sink;
  int factory_calls = 0;
};

using ProtocolRegistryAdd = ProtocolRegistryTest;
using ProtocolRegistryCreate = ProtocolRegistryTest;

TEST_F(ProtocolRegistryAdd, RegisteredProtocolIsKnownByIdAndName) {
  registry.add(REDEYE_PROTO_POSTGRES, "postgres", stub_factory("postgres"));

  EXPECT_EQ(registry.size(), 1u);
  EXPECT_TRUE(registry.contains(REDEYE_PROTO_POSTGRES));
  EXPECT_FALSE(registry.contains(REDEYE_PROTO_MYSQL));
  EXPECT_EQ(registry.name_of(REDEYE_PROTO_POSTGRES), "postgres");
  EXPECT_EQ(registry.name_of(REDEYE_PROTO_MYSQL), "");
  EXPECT_EQ(factory_calls, 0);  // parsers are built per connection, not at registration
}

TEST_F(ProtocolRegistryAdd, DuplicateIdThrowsAndKeepsTheFirst) {
  registry.add(REDEYE_PROTO_HTTP1, "http1", stub_factory("http1"));

  EXPECT_THROW(registry.add(REDEYE_PROTO_HTTP1, "http2", stub_factory("http2")), std::invalid_argument);
  EXPECT_EQ(registry.size(), 1u);
  EXPECT_EQ(registry.name_of(REDEYE_PROTO_HTTP1), "http1");
  EXPECT_EQ(registry.create(REDEYE_PROTO_HTTP1, sink)->name(), "http1");
}

TEST_F(ProtocolRegistryAdd, DuplicateNameThrows) {
  registry.add(REDEYE_PROTO_HTTP1, "http1", stub_factory("http1"));

  EXPECT_THROW(registry.add(REDEYE_PROTO_AMQP, "http1", stub_factory("http1")), std::invalid_argument);
  EXPECT_EQ(registry.size(), 1u);
  EXPECT_FALSE(registry.contains(REDEYE_PROTO_AMQP));
}

TEST_F(ProtocolRegistryAdd, UnknownIdEmptyNameAndEmptyFactoryAreRejected) {
  EXPECT_THROW(registry.add(REDEYE_PROTO_UNKNOWN, "unknown", stub_factory("unknown")), std::invalid_argument);
  EXPECT_THROW(registry.add(REDEYE_PROTO_MYSQL, "", stub_factory("")), std::invalid_argument);
  EXPECT_THROW(registry.add(REDEYE_PROTO_MYSQL, "mysql", ProtocolRegistry::Factory()), std::invalid_argument);
  EXPECT_EQ(registry.size(), 0u);
}

TEST_F(ProtocolRegistryCreate, UnregisteredIdGivesNullptr) {
  EXPECT_EQ(registry.create(REDEYE_PROTO_MYSQL, sink), nullptr);

  registry.add(REDEYE_PROTO_HTTP1, "http1", stub_factory("http1"));
  EXPECT_EQ(registry.create(REDEYE_PROTO_MYSQL, sink), nullptr);
  EXPECT_EQ(registry.create(REDEYE_PROTO_UNKNOWN, sink), nullptr);
  EXPECT_EQ(factory_calls, 0);
}

TEST_F(ProtocolRegistryCreate, EachCallBuildsAFreshParserBoundToTheGivenSink) {
  registry.add(REDEYE_PROTO_AMQP, "amqp", stub_factory("amqp"));
  NullSink other_sink;

  const std::unique_ptr<ProtocolParser> first = registry.create(REDEYE_PROTO_AMQP, sink);
  const std::unique_ptr<ProtocolParser> second = registry.create(REDEYE_PROTO_AMQP, other_sink);

  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  EXPECT_NE(first.get(), second.get());
  EXPECT_EQ(factory_calls, 2);
  EXPECT_EQ(first->name(), "amqp");
  EXPECT_EQ(&static_cast<StubParser&>(*first).sink(), &sink);
  EXPECT_EQ(&static_cast<StubParser&>(*second).sink(), &other_sink);
}

TEST_F(ProtocolRegistryCreate, TheRoleReachesTheFactoryAndDefaultsToUnknown) {
  registry.add(REDEYE_PROTO_HTTP1, "http1", stub_factory("http1"));

  const std::unique_ptr<ProtocolParser> server = registry.create(REDEYE_PROTO_HTTP1, sink, Role::Server);
  const std::unique_ptr<ProtocolParser> client = registry.create(REDEYE_PROTO_HTTP1, sink, Role::Client);
  const std::unique_ptr<ProtocolParser> unknown = registry.create(REDEYE_PROTO_HTTP1, sink);

  EXPECT_EQ(static_cast<StubParser&>(*server).role(), Role::Server);
  EXPECT_EQ(static_cast<StubParser&>(*client).role(), Role::Client);
  EXPECT_EQ(static_cast<StubParser&>(*unknown).role(), Role::Unknown);
  EXPECT_EQ(factory_calls, 3);
}

TEST_F(ProtocolRegistryAdd, FactoryWithoutRoleIsAccepted) {
  int calls = 0;
  registry.add(REDEYE_PROTO_MYSQL, "mysql", [&calls](RecordSink& bound_sink) {
    ++calls;
    return std::make_unique<StubParser>("mysql", bound_sink);
  });

  const std::unique_ptr<ProtocolParser> parser = registry.create(REDEYE_PROTO_MYSQL, sink, Role::Client);
  ASSERT_NE(parser, nullptr);
  EXPECT_EQ(parser->name(), "mysql");
  EXPECT_EQ(static_cast<StubParser&>(*parser).role(), Role::Unknown);
  EXPECT_EQ(calls, 1);
  EXPECT_THROW(registry.add(REDEYE_PROTO_AMQP, "amqp", ProtocolRegistry::SinkOnlyFactory()),
               std::invalid_argument);
  EXPECT_EQ(registry.size(), 1u);
}

TEST(ProtocolRegistryBuiltins, EveryBuiltinBuildsAParserNamedAsRegistered) {
  ProtocolRegistry registry;
  register_builtin_protocols(registry);
  NullSink sink;

  // Holds for however many protocols are built in (none yet).
  size_t found = 0;
  for (const redeye_protocol id :
       {REDEYE_PROTO_HTTP1, REDEYE_PROTO_POSTGRES, REDEYE_PROTO_MYSQL, REDEYE_PROTO_AMQP}) {
    if (!registry.contains(id)) continue;
    ++found;
    const std::unique_ptr<ProtocolParser> parser = registry.create(id, sink);
    ASSERT_NE(parser, nullptr) << registry.name_of(id);
    EXPECT_EQ(parser->name(), registry.name_of(id));
  }
  EXPECT_EQ(found, registry.size());
  EXPECT_FALSE(registry.contains(REDEYE_PROTO_UNKNOWN));
}

}  // namespace
}  // namespace redeye::protocols
