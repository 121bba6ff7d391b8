// BasicAuth: the --basic-auth-file format and the Authorization check.
#include "exporters/prometheus/basic_auth.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace redeye::exporters {
namespace {

// crypt(3) SHA-512 of "open sesame" (openssl passwd -6 -salt fixedsaltfixed).
constexpr const char* kHash = "$6$fixedsaltfixed$2e3qP5pvdi3nHJYor0MAYuACGUIP9kIRDhSeYvewlgrX.tgQKlDEbtMGV2wKRlNsXevV9PENLsJrBuxLLGrbQ.";

class BasicAuthTest : public ::testing::Test {
 protected:
  std::string file(const std::string& text) {
    const auto path = std::filesystem::temp_directory_path() /
                      ("redeye-basic-auth-" + std::to_string(::getpid()) + "-" + std::to_string(++n_));
    std::ofstream(path) << text;
    paths_.push_back(path);
    return path;
  }
  void TearDown() override {
    for (const auto& p : paths_) std::filesystem::remove(p);
  }
  static std::string header(const std::string& base64) { return "Basic " + base64; }

 private:
  int n_ = 0;
  std::vector<std::filesystem::path> paths_;
};

TEST(Base64, DecodesWithAndWithoutPadding) {
  std::string out;
  ASSERT_TRUE(decode_base64("cHJvbTpvcGVuIHNlc2FtZQ==", out));
  EXPECT_EQ(out, "prom:open sesame");
  ASSERT_TRUE(decode_base64("YWJj", out));
  EXPECT_EQ(out, "abc");
  ASSERT_TRUE(decode_base64("YWI=", out));
  EXPECT_EQ(out, "ab");
  EXPECT_TRUE(decode_base64("", out));
  EXPECT_FALSE(decode_base64("YWJ", out));      // not a multiple of 4
  EXPECT_FALSE(decode_base64("Y=Jj", out));     // padding inside
  EXPECT_FALSE(decode_base64("YW!j", out));     // not the alphabet
  EXPECT_FALSE(decode_base64("YQ==YWJj", out)); // padding before the end
}

TEST_F(BasicAuthTest, AcceptsTheRightPasswordOnly) {
  const auto auth = BasicAuth::load(file("# scrapers\n\nprom:" + std::string(kHash) + "\r\n"));
  EXPECT_EQ(auth.users(), 1u);
  EXPECT_TRUE(auth.allows(header("cHJvbTpvcGVuIHNlc2FtZQ==").c_str()));  // prom:open sesame
  EXPECT_TRUE(auth.allows(header("cHJvbTpvcGVuIHNlc2FtZQ==").c_str()));  // again, from the cache
  EXPECT_FALSE(auth.allows(header("cHJvbTpvcGVuIHNlc2FtZg==").c_str())); // prom:open sesamf
  EXPECT_FALSE(auth.allows(header("b3RoZXI6b3BlbiBzZXNhbWU=").c_str())); // other:open sesame
  EXPECT_FALSE(auth.allows(header("cHJvbW9wZW4=").c_str()));             // no colon
  EXPECT_FALSE(auth.allows("Bearer cHJvbTpvcGVuIHNlc2FtZQ=="));
  EXPECT_FALSE(auth.allows(nullptr));
  EXPECT_FALSE(auth.allows(header(std::string(2000, 'A')).c_str()));
}

TEST_F(BasicAuthTest, RejectsUnusableFilesWithTheLine) {
  auto message = [&](const std::string& text) {
    try {
      BasicAuth::load(file(text));
    } catch (const BasicAuthError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(message("prom:secret\n").find("line 1: the password must be a crypt(3) hash"), std::string::npos);
  EXPECT_NE(message("# x\nnocolon\n").find("line 2: expected USER:HASH"), std::string::npos);
  EXPECT_NE(message(":" + std::string(kHash) + "\n").find("line 1: expected USER:HASH"), std::string::npos);
  EXPECT_NE(message("a:" + std::string(kHash) + "\na:" + kHash + "\n").find("line 2: user listed twice"),
            std::string::npos);
  EXPECT_NE(message("# only comments\n").find("no USER:HASH line"), std::string::npos);
  EXPECT_THROW(BasicAuth::load("/nonexistent/redeye-users"), BasicAuthError);
  EXPECT_THROW(BasicAuth::load("/tmp"), BasicAuthError);
}

}  // namespace
}  // namespace redeye::exporters
