#include "proc/psi.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

namespace redeye::proc {
namespace {

namespace fs = std::filesystem;

TEST(ParsePressure, ReadsSomeAndFullTotals) {
    const auto totals = parse_pressure(
        "some avg10=0.00 avg60=0.08 avg300=0.32 total=2488012\n"
        "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");

    ASSERT_TRUE(totals.has_value());
    EXPECT_EQ(totals->some_us, 2488012u);
    EXPECT_EQ(totals->full_us, std::optional<uint64_t>(0));
}

TEST(ParsePressure, FullLineIsOptional) {
    // cpu pressure on kernels before 5.13 has no "full" line.
    const auto totals = parse_pressure("some avg10=1.50 avg60=0.80 avg300=0.20 total=18446744073709551615\n");

    ASSERT_TRUE(totals.has_value());
    EXPECT_EQ(totals->some_us, 18446744073709551615u);
    EXPECT_FALSE(totals->full_us.has_value());
}

TEST(ParsePressure, AcceptsMissingTrailingNewlineAndUnknownLines) {
    const auto totals = parse_pressure(
        "full avg10=0.00 avg60=0.00 avg300=0.00 total=77\n"
        "future avg10=0.00 total=abc\n"
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=123");

    ASSERT_TRUE(totals.has_value());
    EXPECT_EQ(totals->some_us, 123u);
    EXPECT_EQ(totals->full_us, std::optional<uint64_t>(77));
}

TEST(ParsePressure, RejectsMalformedContent) {
    const std::string_view malformed[] = {
        "",
        "\n",
        "garbage",
        "total=5\n",
        "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",           // no "some"
        "some avg10=0.00 avg60=0.08 avg300=0.32\n",                    // no total
        "some avg10=0.00 avg60=0.08 avg300=0.32 total=\n",
        "some avg10=0.00 avg60=0.08 avg300=0.32 total=12abc\n",
        "some avg10=0.00 avg60=0.08 avg300=0.32 total=-1\n",
        "some avg10=0.00 total=99999999999999999999999\n",             // overflow
        "some total=1\nfull total=x\n",                                // bad full line
        "some total=1\nsome total=2\n",                                // repeated line
        "someavg10=0.00 total=1\n",
    };
    for (const auto content : malformed) {
        EXPECT_FALSE(parse_pressure(content).has_value()) << "content: '" << content << "'";
    }
}

class ReadPressureTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "redeye_psi_XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        root_ = pattern;
        fs::create_directories(root_ / "pressure");
    }

    void TearDown() override {
        std::error_code ec;
        fs::remove_all(root_, ec);
    }

    void write_pressure(const std::string& resource, std::string_view content) {
        std::ofstream out(root_ / "pressure" / resource, std::ios::binary);
        out << content;
        ASSERT_TRUE(out.good());
    }

    fs::path root_;
};

TEST_F(ReadPressureTest, ReadsTheNamedResource) {
    write_pressure("memory",
                   "some avg10=0.00 avg60=0.00 avg300=0.00 total=4242\n"
                   "full avg10=0.00 avg60=0.00 avg300=0.00 total=17\n");
    write_pressure("cpu", "some avg10=0.00 avg60=0.00 avg300=0.00 total=9\n");

    const auto memory = read_pressure(root_, "memory");
    ASSERT_TRUE(memory.has_value());
    EXPECT_EQ(memory->some_us, 4242u);
    EXPECT_EQ(memory->full_us, std::optional<uint64_t>(17));

    const auto cpu = read_pressure(root_, "cpu");
    ASSERT_TRUE(cpu.has_value());
    EXPECT_EQ(cpu->some_us, 9u);
    EXPECT_FALSE(cpu->full_us.has_value());
}

TEST_F(ReadPressureTest, MissingEmptyOrGarbageFileIsEmpty) {
    write_pressure("io", "");
    write_pressure("memory", "not psi at all\n");

    EXPECT_FALSE(read_pressure(root_, "io").has_value());
    EXPECT_FALSE(read_pressure(root_, "memory").has_value());
    EXPECT_FALSE(read_pressure(root_, "cpu").has_value());
    EXPECT_FALSE(read_pressure(root_ / "missing", "cpu").has_value());
}

TEST_F(ReadPressureTest, OversizedFileIsEmpty) {
    write_pressure("io", "some avg10=0.00 avg60=0.00 avg300=0.00 total=1\n" +
                             std::string(8192, ' '));

    EXPECT_FALSE(read_pressure(root_, "io").has_value());
}

TEST_F(ReadPressureTest, RejectsUnknownResourceNames) {
    write_pressure("cpu", "some avg10=0.00 avg60=0.00 avg300=0.00 total=9\n");
    fs::create_directories(root_ / "pressure" / "sub");
    std::ofstream(root_ / "pressure" / "sub" / "cpu") << "some total=1\n";

    EXPECT_FALSE(read_pressure(root_, "").has_value());
    EXPECT_FALSE(read_pressure(root_, "sub/cpu").has_value());
    EXPECT_FALSE(read_pressure(root_, "../pressure/cpu").has_value());
    EXPECT_FALSE(read_pressure(root_, "CPU").has_value());
}

}  // namespace
}  // namespace redeye::proc
