#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace redeye::proc {

// The subset of /proc/<tgid>/stat the agent needs.
struct ProcStat {
    std::string comm;
    char state = '?';
    uint64_t utime_ticks = 0;
    uint64_t stime_ticks = 0;
    uint64_t start_time_ticks = 0;  // since boot, in clock_ticks() units
    int ppid = 0;
};

// Read-only view of a procfs tree. The root is configurable so tests can
// point it at a fixture directory.
//
// Processes come and go while we read, so every accessor treats missing,
// unreadable or malformed files as "no data" (empty optional / empty value)
// instead of reporting an error.
class ProcFs {
public:
    explicit ProcFs(std::filesystem::path root = "/proc");

    const std::filesystem::path& root() const { return root_; }

    // Numeric directories of the root, ascending.
    std::vector<int> list_tgids() const;

    std::optional<ProcStat> read_stat(int tgid) const;
    std::optional<uint64_t> read_rss_bytes(int tgid) const;
    std::optional<size_t> count_open_fds(int tgid) const;

    // Content without the trailing newline; empty if unreadable.
    std::string read_comm(int tgid) const;
    // Arguments joined by single spaces, at most kMaxCmdlineBytes read.
    std::string read_cmdline(int tgid) const;
    // Basename of the `exe` link, " (deleted)" stripped; empty if unreadable.
    std::string read_exe_name(int tgid) const;
    // Raw content of the `cgroup` file; empty if unreadable.
    std::string read_cgroup(int tgid) const;

    // TCP ports (IPv4 and IPv6) in LISTEN state owned by the process's
    // sockets, ascending and without duplicates.
    std::vector<uint16_t> listening_ports(int tgid) const;

    static long clock_ticks();

    static constexpr size_t kMaxCmdlineBytes = 4096;

private:
    std::filesystem::path process_dir(int tgid) const;

    std::filesystem::path root_;
};

}  // namespace redeye::proc
