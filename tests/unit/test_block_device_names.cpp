#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>

#include "metrics/block_collector.h"

namespace redeye::metrics {
namespace {

namespace fs = std::filesystem;

constexpr uint32_t dev(uint32_t major, uint32_t minor) { return major << 20 | minor; }

class BlockDeviceNamesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "redeye_sysblock_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  void uevent(const std::string& id, std::string_view content) {
    fs::create_directories(root_ / id);
    std::ofstream out(root_ / id / "uevent");
    out << content;
    ASSERT_TRUE(out.good());
  }

  fs::path root_;
};

TEST_F(BlockDeviceNamesTest, NameFromUevent) {
  uevent("253:0", "MAJOR=253\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\nDISKSEQ=9\n");
  uevent("253:1", "MAJOR=253\nMINOR=1\nPARTN=1\nDEVNAME=vda1\nDEVTYPE=partition\n");
  uevent("259:3", "MAJOR=259\nMINOR=3\nDEVNAME=nvme0n1p2\nDEVTYPE=partition\n");
  BlockDeviceNames names(root_);
  EXPECT_EQ(names.name(dev(253, 0)), "vda");
  EXPECT_EQ(names.name(dev(253, 1)), "vda1");
  EXPECT_EQ(names.name(dev(259, 3)), "nvme0n1p2");
}

TEST_F(BlockDeviceNamesTest, DevEncodingIsMajorShift20OrMinor) {
  // 8:16 is sdb; a decoder with the userspace dev_t layout (major << 8)
  // would look for some other directory.
  uevent("8:16", "MAJOR=8\nMINOR=16\nDEVNAME=sdb\n");
  uevent("8:0", "MAJOR=8\nMINOR=0\nDEVNAME=sda\n");
  BlockDeviceNames names(root_);
  EXPECT_EQ(names.name((8U << 20) | 16U), "sdb");
  EXPECT_EQ(names.name(8U << 20), "sda");
  EXPECT_EQ(names.name(0x00800010U), "sdb");
}

TEST_F(BlockDeviceNamesTest, LargeMinorUsesAllTwentyBits) {
  uevent("259:1048575", "DEVNAME=nvme9n9\n");
  BlockDeviceNames names(root_);
  EXPECT_EQ(names.name(dev(259, (1U << 20) - 1)), "nvme9n9");
}

TEST_F(BlockDeviceNamesTest, UnknownDeviceKeepsItsNumbers) {
  BlockDeviceNames names(root_);
  EXPECT_EQ(names.name(dev(253, 7)), "253:7");
  EXPECT_EQ(names.name(dev(0, 0)), "0:0");
  EXPECT_EQ(names.name(dev(4095, 1048575)), "4095:1048575");
}

TEST_F(BlockDeviceNamesTest, UeventWithoutDevnameKeepsNumbers) {
  uevent("7:0", "MAJOR=7\nMINOR=0\nDEVTYPE=disk\n");
  BlockDeviceNames names(root_);
  EXPECT_EQ(names.name(dev(7, 0)), "7:0");
}

TEST_F(BlockDeviceNamesTest, OnlyLinesStartingWithDevnameCount) {
  uevent("9:0", "OLD_DEVNAME=bogus\nDEVNAME=md0\n");
  BlockDeviceNames names(root_);
  EXPECT_EQ(names.name(dev(9, 0)), "md0");
}

TEST_F(BlockDeviceNamesTest, MissingRootKeepsNumbers) {
  BlockDeviceNames names(root_ / "absent");
  EXPECT_EQ(names.name(dev(253, 0)), "253:0");
}

TEST_F(BlockDeviceNamesTest, NamesAreCached) {
  uevent("253:0", "DEVNAME=vda\n");
  BlockDeviceNames names(root_);
  ASSERT_EQ(names.name(dev(253, 0)), "vda");
  fs::remove_all(root_ / "253:0");
  EXPECT_EQ(names.name(dev(253, 0)), "vda");
}

TEST(DiskOperationName, EveryOperation) {
  EXPECT_STREQ(disk_operation_name(REDEYE_DISK_READ), "read");
  EXPECT_STREQ(disk_operation_name(REDEYE_DISK_WRITE), "write");
  EXPECT_STREQ(disk_operation_name(REDEYE_DISK_FLUSH), "flush");
  EXPECT_STREQ(disk_operation_name(REDEYE_DISK_DISCARD), "discard");
  EXPECT_STREQ(disk_operation_name(REDEYE_DISK_OTHER), "other");
  EXPECT_STREQ(disk_operation_name(REDEYE_DISK_OP_MAX), "other");
  EXPECT_STREQ(disk_operation_name(0xFFFFFFFFU), "other");
}

TEST(DiskOperationName, AbiValuesAreStable) {
  EXPECT_EQ(REDEYE_DISK_READ, 0);
  EXPECT_EQ(REDEYE_DISK_WRITE, 1);
  EXPECT_EQ(REDEYE_DISK_FLUSH, 2);
  EXPECT_EQ(REDEYE_DISK_DISCARD, 3);
  EXPECT_EQ(REDEYE_DISK_OTHER, 4);
  EXPECT_STREQ(disk_operation_name(0), "read");
  EXPECT_STREQ(disk_operation_name(1), "write");
  EXPECT_STREQ(disk_operation_name(2), "flush");
  EXPECT_STREQ(disk_operation_name(3), "discard");
  EXPECT_STREQ(disk_operation_name(4), "other");
}

}  // namespace
}  // namespace redeye::metrics
