#include "proc/procfs.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

namespace redeye::proc {
namespace {

namespace fs = std::filesystem;

// A throwaway /proc-like tree; each test writes only the files it needs.
class ProcFsTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string pattern = (fs::temp_directory_path() / "redeye_procfs_XXXXXX").string();
        ASSERT_NE(mkdtemp(pattern.data()), nullptr);
        root_ = pattern;
    }

    void TearDown() override {
        std::error_code ec;
        fs::remove_all(root_, ec);
    }

    void write_file(const fs::path& relative, std::string_view content) {
        const fs::path path = root_ / relative;
        fs::create_directories(path.parent_path());
        std::ofstream out(path, std::ios::binary);
        out << content;
        ASSERT_TRUE(out.good()) << path;
    }

    void make_link(const fs::path& relative, const std::string& target) {
        const fs::path path = root_ / relative;
        fs::create_directories(path.parent_path());
        fs::create_symlink(target, path);
    }

    ProcFs procfs() const { return ProcFs(root_); }

    fs::path root_;
};

// Fields after the comm up to starttime (field 22) plus two more, as in proc(5):
// state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
// utime stime cutime cstime priority nice threads itreal starttime vsize rss
constexpr std::string_view kStatTail =
    "S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 98765 12345678 300\n";

TEST_F(ProcFsTest, ListTgidsReturnsOnlyNumericDirectoriesSorted) {
    fs::create_directories(root_ / "42");
    fs::create_directories(root_ / "7");
    fs::create_directories(root_ / "1000");
    fs::create_directories(root_ / "net");
    fs::create_directories(root_ / "12abc");
    write_file("99", "a numeric file, not a process directory");
    make_link("self", "42");

    EXPECT_EQ(procfs().list_tgids(), (std::vector<int>{7, 42, 1000}));
}

TEST_F(ProcFsTest, ListTgidsOfMissingRootIsEmpty) {
    EXPECT_TRUE(ProcFs(root_ / "does-not-exist").list_tgids().empty());
}

TEST_F(ProcFsTest, ReadStatHandlesCommWithSpacesAndParentheses) {
    write_file("1234/stat", "1234 (my (weird)) proc) " + std::string(kStatTail));

    const auto stat = procfs().read_stat(1234);

    ASSERT_TRUE(stat.has_value());
    EXPECT_EQ(stat->comm, "my (weird)) proc");
    EXPECT_EQ(stat->state, 'S');
    EXPECT_EQ(stat->ppid, 1);
    EXPECT_EQ(stat->utime_ticks, 250u);
    EXPECT_EQ(stat->stime_ticks, 75u);
    EXPECT_EQ(stat->start_time_ticks, 98765u);
}

TEST_F(ProcFsTest, ReadStatAcceptsEmptyCommAndLargeCounters) {
    write_file("5/stat",
               "5 () R 0 0 0 0 -1 0 0 0 0 0 18446744073709551615 1 0 0 20 0 1 0 "
               "18446744073709551614");

    const auto stat = procfs().read_stat(5);

    ASSERT_TRUE(stat.has_value());
    EXPECT_EQ(stat->comm, "");
    EXPECT_EQ(stat->state, 'R');
    EXPECT_EQ(stat->ppid, 0);
    EXPECT_EQ(stat->utime_ticks, 18446744073709551615u);
    EXPECT_EQ(stat->stime_ticks, 1u);
    EXPECT_EQ(stat->start_time_ticks, 18446744073709551614u);
}

TEST_F(ProcFsTest, ReadStatRejectsMalformedContent) {
    write_file("1/stat", "");
    write_file("2/stat", "2 (truncated) S 1 2 2 0 -1 4194560 100 0 0 0 250 75\n");
    write_file("3/stat", "3 no parentheses S 1 2 2 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5\n");
    write_file("4/stat", "4 ) backwards ( S 1 2 2 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5\n");
    write_file("5/stat", "5 (x) S 1 2 2 0 -1 0 0 0 0 0 1x 1 0 0 20 0 1 0 5\n");
    write_file("6/stat", "6 (x) SS 1 2 2 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5\n");
    write_file("7/stat", "7 (x) S 1 2 2 0 -1 0 0 0 0 0 -1 1 0 0 20 0 1 0 5\n");
    write_file("8/stat", std::string("8 (x\0y) S", 9));
    fs::create_directories(root_ / "9" / "stat");  // a directory where a file belongs

    const ProcFs fs_view = procfs();
    for (int tgid = 1; tgid <= 9; ++tgid) {
        EXPECT_FALSE(fs_view.read_stat(tgid).has_value()) << "tgid " << tgid;
    }
    EXPECT_FALSE(fs_view.read_stat(404).has_value());
}

TEST_F(ProcFsTest, ReadRssBytesMultipliesResidentPagesByPageSize) {
    write_file("10/statm", "2000 300 150 10 0 500 0\n");

    const auto page_size = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    EXPECT_EQ(procfs().read_rss_bytes(10), std::optional<uint64_t>(300 * page_size));
}

TEST_F(ProcFsTest, ReadRssBytesRejectsMalformedContent) {
    write_file("1/statm", "");
    write_file("2/statm", "2000\n");
    write_file("3/statm", "2000 abc 150\n");
    write_file("4/statm", "2000 18446744073709551615 1\n");  // overflows when scaled

    const ProcFs fs_view = procfs();
    for (int tgid = 1; tgid <= 4; ++tgid) {
        EXPECT_FALSE(fs_view.read_rss_bytes(tgid).has_value()) << "tgid " << tgid;
    }
    EXPECT_FALSE(fs_view.read_rss_bytes(404).has_value());
}

TEST_F(ProcFsTest, CountOpenFdsCountsEveryEntry) {
    make_link("20/fd/0", "/dev/null");
    make_link("20/fd/1", "pipe:[555]");
    make_link("20/fd/2", "socket:[123]");
    fs::create_directories(root_ / "21" / "fd");

    const ProcFs fs_view = procfs();
    EXPECT_EQ(fs_view.count_open_fds(20), std::optional<size_t>(3));
    EXPECT_EQ(fs_view.count_open_fds(21), std::optional<size_t>(0));
    EXPECT_FALSE(fs_view.count_open_fds(404).has_value());
}

TEST_F(ProcFsTest, ReadCommStripsTrailingNewline) {
    write_file("30/comm", "my worker\n");
    write_file("31/comm", "");

    const ProcFs fs_view = procfs();
    EXPECT_EQ(fs_view.read_comm(30), "my worker");
    EXPECT_EQ(fs_view.read_comm(31), "");
    EXPECT_EQ(fs_view.read_comm(404), "");
}

TEST_F(ProcFsTest, ReadCmdlineJoinsArgumentsWithSpaces) {
    write_file("40/cmdline", std::string("/usr/bin/python3\0-m\0http.server\0\0", 33));

    EXPECT_EQ(procfs().read_cmdline(40), "/usr/bin/python3 -m http.server");
}

TEST_F(ProcFsTest, ReadCmdlineIsCappedAt4096Bytes) {
    std::string long_cmdline = "prog";
    long_cmdline += '\0';
    long_cmdline += std::string(5000, 'a');
    write_file("41/cmdline", long_cmdline);

    const std::string cmdline = procfs().read_cmdline(41);

    EXPECT_EQ(cmdline.size(), 4096u);
    EXPECT_EQ(cmdline, "prog " + std::string(4091, 'a'));
}

TEST_F(ProcFsTest, ReadCmdlineOfKernelThreadOrMissingProcessIsEmpty) {
    write_file("42/cmdline", "");
    write_file("43/cmdline", std::string("\0\0\0", 3));

    const ProcFs fs_view = procfs();
    EXPECT_EQ(fs_view.read_cmdline(42), "");
    EXPECT_EQ(fs_view.read_cmdline(43), "");
    EXPECT_EQ(fs_view.read_cmdline(404), "");
}

TEST_F(ProcFsTest, ReadExeNameReturnsBasenameWithoutDeletedSuffix) {
    make_link("50/exe", "/usr/sbin/nginx");
    make_link("51/exe", "/opt/app/bin/my server (deleted)");
    make_link("52/exe", "relative-binary");
    write_file("53/exe", "not a symlink");

    const ProcFs fs_view = procfs();
    EXPECT_EQ(fs_view.read_exe_name(50), "nginx");
    EXPECT_EQ(fs_view.read_exe_name(51), "my server");
    EXPECT_EQ(fs_view.read_exe_name(52), "relative-binary");
    EXPECT_EQ(fs_view.read_exe_name(53), "");
    EXPECT_EQ(fs_view.read_exe_name(404), "");
}

TEST_F(ProcFsTest, ReadCgroupReturnsRawContent) {
    const std::string v1_content =
        "12:pids:/system.slice/nginx.service\n"
        "1:name=systemd:/system.slice/nginx.service\n"
        "0::/system.slice/nginx.service\n";
    write_file("60/cgroup", v1_content);
    write_file("61/cgroup", "0::/\n");

    const ProcFs fs_view = procfs();
    EXPECT_EQ(fs_view.read_cgroup(60), v1_content);
    EXPECT_EQ(fs_view.read_cgroup(61), "0::/\n");
    EXPECT_EQ(fs_view.read_cgroup(404), "");
}

constexpr std::string_view kTcpHeader =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
    "timeout inode\n";

std::string tcp_line(std::string_view local, std::string_view state, std::string_view inode) {
    return "   0: " + std::string(local) + " 00000000:0000 " + std::string(state) +
           " 00000000:00000000 00:00000000 00000000     0        0 " + std::string(inode) +
           " 1 0000000000000000 100 0 0 10 0\n";
}

TEST_F(ProcFsTest, ListeningPortsMatchesSocketInodesInListenState) {
    make_link("70/fd/3", "socket:[123]");
    make_link("70/fd/4", "socket:[456]");  // established, not listening
    make_link("70/fd/5", "socket:[789]");  // IPv6 listener
    make_link("70/fd/6", "/var/log/app.log");
    write_file("net/tcp", std::string(kTcpHeader) +
                              tcp_line("00000000:1F90", "0A", "123") +   // 8080, ours
                              tcp_line("0100007F:0016", "0A", "999") +   // 22, other process
                              tcp_line("0100007F:C350", "01", "456"));   // 50000, ESTABLISHED
    write_file("net/tcp6",
               std::string(kTcpHeader) +
                   tcp_line("00000000000000000000000000000000:0050", "0A", "789") +  // 80
                   tcp_line("00000000000000000000000000000000:1F90", "0A", "123"));  // dup 8080

    EXPECT_EQ(procfs().listening_ports(70), (std::vector<uint16_t>{80, 8080}));
}

TEST_F(ProcFsTest, ListeningPortsPrefersTheProcessNetworkNamespaceView) {
    make_link("71/fd/3", "socket:[123]");
    write_file("71/net/tcp", std::string(kTcpHeader) + tcp_line("00000000:0BB8", "0A", "123"));
    write_file("net/tcp", std::string(kTcpHeader) + tcp_line("00000000:1F90", "0A", "123"));

    EXPECT_EQ(procfs().listening_ports(71), (std::vector<uint16_t>{3000}));
}

TEST_F(ProcFsTest, ListeningPortsIgnoresMalformedLinesAndMissingTables) {
    make_link("72/fd/3", "socket:[123]");
    make_link("72/fd/4", "socket:[]");
    make_link("72/fd/5", "socket:[12x]");
    write_file("net/tcp", std::string(kTcpHeader) + "garbage\n\n" +
                              "   0: 00000000 00000000:0000 0A x x x x x 123\n" +
                              tcp_line("00000000:XYZ1", "0A", "123") +
                              tcp_line("00000000:10000", "0A", "123") +  // port > 65535
                              tcp_line("00000000:0000", "0A", "123") +   // port 0
                              tcp_line("00000000:0019", "0A", "123"));   // 25, valid
    // no net/tcp6 at all

    EXPECT_EQ(procfs().listening_ports(72), (std::vector<uint16_t>{25}));
}

TEST_F(ProcFsTest, ListeningPortsIsEmptyWithoutSocketsOrProcess) {
    make_link("73/fd/0", "/dev/null");
    write_file("net/tcp", std::string(kTcpHeader) + tcp_line("00000000:1F90", "0A", "123"));
    write_file("74/net/tcp", "");
    make_link("74/fd/3", "socket:[123]");

    const ProcFs fs_view = procfs();
    EXPECT_TRUE(fs_view.listening_ports(73).empty());
    EXPECT_TRUE(fs_view.listening_ports(74).empty());  // own (empty) netns view wins
    EXPECT_TRUE(fs_view.listening_ports(404).empty());
}

// The fixture tests pin the parsing rules; this checks them against the
// formats the running kernel actually produces.
TEST(ProcFsLive, ReadsOwnProcessFromRealProc) {
    const ProcFs real_proc;
    const int self = static_cast<int>(getpid());

    const auto stat = real_proc.read_stat(self);
    ASSERT_TRUE(stat.has_value());
    EXPECT_EQ(stat->ppid, static_cast<int>(getppid()));
    EXPECT_EQ(stat->state, 'R');
    EXPECT_EQ(stat->comm, real_proc.read_comm(self));

    const auto tgids = real_proc.list_tgids();
    EXPECT_TRUE(std::binary_search(tgids.begin(), tgids.end(), self));
    EXPECT_EQ(real_proc.read_exe_name(self),
              fs::read_symlink("/proc/self/exe").filename().string());
}

TEST(ProcFsLive, FindsOwnListeningSocket) {
    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0) {
        GTEST_SKIP() << "cannot create a TCP socket here";
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        listen(listener, 1) != 0 ||
        getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        close(listener);
        GTEST_SKIP() << "cannot listen on loopback here";
    }
    const uint16_t port = ntohs(address.sin_port);

    const auto ports = ProcFs().listening_ports(static_cast<int>(getpid()));
    close(listener);

    EXPECT_TRUE(std::find(ports.begin(), ports.end(), port) != ports.end()) << "port " << port;
}

TEST(ProcFsClockTicks, MatchesSysconf) {
    EXPECT_EQ(ProcFs::clock_ticks(), sysconf(_SC_CLK_TCK));
}

TEST(ProcFsRoot, DefaultsToProc) {
    EXPECT_EQ(ProcFs().root(), fs::path("/proc"));
}

}  // namespace
}  // namespace redeye::proc
