#include "proc/procfs.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <fstream>
#include <limits>
#include <string_view>
#include <system_error>
#include <utility>

namespace redeye::proc {

namespace fs = std::filesystem;

namespace {

// Generous bound for files that are normally tiny (stat, statm, cgroup, ...):
// keeps a corrupted or hostile fixture from making us read without limit.
constexpr size_t kMaxSmallFileBytes = 64 * 1024;
// /proc/net/tcp can be large on busy hosts; still bound it.
constexpr size_t kMaxSocketTableBytes = 64 * 1024 * 1024;

// procfs reports a size of 0 for its files, so read until EOF instead of
// trusting file_size().
std::optional<std::string> read_file(const fs::path& path, size_t max_bytes) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return std::nullopt;
    }
    std::string content;
    std::array<char, 4096> chunk{};
    while (content.size() < max_bytes) {
        const size_t wanted = std::min(chunk.size(), max_bytes - content.size());
        in.read(chunk.data(), static_cast<std::streamsize>(wanted));
        const auto got = static_cast<size_t>(in.gcount());
        content.append(chunk.data(), got);
        if (got < wanted) {
            break;
        }
    }
    if (in.bad()) {
        return std::nullopt;
    }
    return content;
}

std::vector<std::string_view> split_whitespace(std::string_view text) {
    std::vector<std::string_view> tokens;
    size_t pos = 0;
    while (pos < text.size()) {
        const size_t start = text.find_first_not_of(" \t\n", pos);
        if (start == std::string_view::npos) {
            break;
        }
        size_t end = text.find_first_of(" \t\n", start);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        tokens.push_back(text.substr(start, end - start));
        pos = end;
    }
    return tokens;
}

// Strict: the whole token must be a number, no sign or trailing junk.
template <typename Number>
std::optional<Number> parse_number(std::string_view token, int base = 10) {
    Number value{};
    const char* first = token.data();
    const char* last = token.data() + token.size();
    const auto [end, ec] = std::from_chars(first, last, value, base);
    if (token.empty() || ec != std::errc{} || end != last) {
        return std::nullopt;
    }
    return value;
}

bool is_all_digits(std::string_view text) {
    return !text.empty() &&
           std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "socket:[12345]" -> 12345
std::optional<uint64_t> socket_inode_from_link(std::string_view target) {
    constexpr std::string_view kPrefix = "socket:[";
    if (target.size() <= kPrefix.size() + 1 || target.substr(0, kPrefix.size()) != kPrefix ||
        target.back() != ']') {
        return std::nullopt;
    }
    return parse_number<uint64_t>(
        target.substr(kPrefix.size(), target.size() - kPrefix.size() - 1));
}

// Line format of /proc/net/tcp{,6}:
//   sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
struct SocketTableEntry {
    uint16_t local_port = 0;
    bool listening = false;
    uint64_t inode = 0;
};

std::optional<SocketTableEntry> parse_socket_table_line(std::string_view line) {
    constexpr size_t kLocalAddressField = 1;
    constexpr size_t kStateField = 3;
    constexpr size_t kInodeField = 9;
    constexpr std::string_view kListenState = "0A";

    const auto fields = split_whitespace(line);
    if (fields.size() <= kInodeField) {
        return std::nullopt;
    }
    const std::string_view local_address = fields[kLocalAddressField];
    const size_t colon = local_address.rfind(':');
    if (colon == std::string_view::npos) {
        return std::nullopt;
    }
    const auto port = parse_number<uint16_t>(local_address.substr(colon + 1), 16);
    const auto inode = parse_number<uint64_t>(fields[kInodeField]);
    if (!port || !inode) {
        return std::nullopt;
    }
    return SocketTableEntry{*port, fields[kStateField] == kListenState, *inode};
}

template <typename Callback>
void for_each_line(std::string_view text, Callback&& on_line) {
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        on_line(text.substr(pos, end - pos));
        pos = end + 1;
    }
}

std::string strip_trailing_newline(std::string text) {
    if (!text.empty() && text.back() == '\n') {
        text.pop_back();
    }
    return text;
}

}  // namespace

ProcFs::ProcFs(fs::path root) : root_(std::move(root)) {}

fs::path ProcFs::process_dir(int tgid) const { return root_ / std::to_string(tgid); }

std::vector<int> ProcFs::list_tgids() const {
    std::vector<int> tgids;
    std::error_code ec;
    for (fs::directory_iterator it(root_, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (!is_all_digits(name)) {
            continue;
        }
        std::error_code type_ec;
        if (!it->is_directory(type_ec)) {
            continue;
        }
        if (const auto tgid = parse_number<int>(name); tgid && *tgid > 0) {
            tgids.push_back(*tgid);
        }
    }
    // A process exiting mid-scan can end iteration early; a partial list is
    // still the best answer available, so keep what was collected.
    std::sort(tgids.begin(), tgids.end());
    return tgids;
}

std::optional<ProcStat> ProcFs::read_stat(int tgid) const {
    const auto content = read_file(process_dir(tgid) / "stat", kMaxSmallFileBytes);
    if (!content) {
        return std::nullopt;
    }
    const std::string_view text = *content;

    // comm is arbitrary bytes (spaces and ')' included), so it is delimited by
    // the first '(' and the LAST ')'.
    const size_t open = text.find('(');
    const size_t close = text.rfind(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
        return std::nullopt;
    }

    // Field indices after the comm, from proc(5): field 3 (state) is index 0.
    constexpr size_t kState = 0;
    constexpr size_t kPpid = 1;
    constexpr size_t kUtime = 11;
    constexpr size_t kStime = 12;
    constexpr size_t kStartTime = 19;

    const auto fields = split_whitespace(text.substr(close + 1));
    if (fields.size() <= kStartTime || fields[kState].size() != 1) {
        return std::nullopt;
    }
    const auto ppid = parse_number<int>(fields[kPpid]);
    const auto utime = parse_number<uint64_t>(fields[kUtime]);
    const auto stime = parse_number<uint64_t>(fields[kStime]);
    const auto start_time = parse_number<uint64_t>(fields[kStartTime]);
    if (!ppid || !utime || !stime || !start_time) {
        return std::nullopt;
    }

    ProcStat stat;
    stat.comm = std::string(text.substr(open + 1, close - open - 1));
    stat.state = fields[kState][0];
    stat.ppid = *ppid;
    stat.utime_ticks = *utime;
    stat.stime_ticks = *stime;
    stat.start_time_ticks = *start_time;
    return stat;
}

std::optional<uint64_t> ProcFs::read_rss_bytes(int tgid) const {
    const auto content = read_file(process_dir(tgid) / "statm", kMaxSmallFileBytes);
    if (!content) {
        return std::nullopt;
    }
    constexpr size_t kResidentPagesField = 1;
    const auto fields = split_whitespace(*content);
    if (fields.size() <= kResidentPagesField) {
        return std::nullopt;
    }
    const auto resident_pages = parse_number<uint64_t>(fields[kResidentPagesField]);
    const long page_size = sysconf(_SC_PAGESIZE);
    if (!resident_pages || page_size <= 0) {
        return std::nullopt;
    }
    const auto page_bytes = static_cast<uint64_t>(page_size);
    if (*resident_pages > std::numeric_limits<uint64_t>::max() / page_bytes) {
        return std::nullopt;
    }
    return *resident_pages * page_bytes;
}

std::optional<size_t> ProcFs::count_open_fds(int tgid) const {
    size_t count = 0;
    std::error_code ec;
    fs::directory_iterator it(process_dir(tgid) / "fd", ec);
    for (const fs::directory_iterator end; !ec && it != end; it.increment(ec)) {
        ++count;
    }
    if (ec) {
        return std::nullopt;
    }
    return count;
}

std::string ProcFs::read_comm(int tgid) const {
    return strip_trailing_newline(
        read_file(process_dir(tgid) / "comm", kMaxSmallFileBytes).value_or(std::string{}));
}

std::string ProcFs::read_cmdline(int tgid) const {
    std::string cmdline =
        read_file(process_dir(tgid) / "cmdline", kMaxCmdlineBytes).value_or(std::string{});
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    const size_t last_kept = cmdline.find_last_not_of(' ');
    cmdline.erase(last_kept == std::string::npos ? 0 : last_kept + 1);
    return cmdline;
}

std::string ProcFs::read_exe_name(int tgid) const {
    std::error_code ec;
    const fs::path target = fs::read_symlink(process_dir(tgid) / "exe", ec);
    if (ec) {
        return {};
    }
    // The kernel appends " (deleted)" when the binary was replaced on disk
    // (e.g. by a package upgrade); the process is still the same program.
    constexpr std::string_view kDeletedSuffix = " (deleted)";
    std::string_view name = target.native();
    if (name.size() >= kDeletedSuffix.size() &&
        name.substr(name.size() - kDeletedSuffix.size()) == kDeletedSuffix) {
        name.remove_suffix(kDeletedSuffix.size());
    }
    const size_t slash = name.rfind('/');
    if (slash != std::string_view::npos) {
        name.remove_prefix(slash + 1);
    }
    return std::string(name);
}

std::string ProcFs::read_cgroup(int tgid) const {
    return read_file(process_dir(tgid) / "cgroup", kMaxSmallFileBytes).value_or(std::string{});
}

std::vector<uint16_t> ProcFs::listening_ports(int tgid) const {
    std::vector<uint64_t> socket_inodes;
    std::error_code ec;
    fs::directory_iterator it(process_dir(tgid) / "fd", ec);
    for (const fs::directory_iterator end; !ec && it != end; it.increment(ec)) {
        std::error_code link_ec;
        const fs::path target = fs::read_symlink(it->path(), link_ec);
        if (link_ec) {
            continue;  // fd closed since the directory was listed
        }
        if (const auto inode = socket_inode_from_link(target.native())) {
            socket_inodes.push_back(*inode);
        }
    }
    if (socket_inodes.empty()) {
        return {};  // no sockets: skip reading the (possibly large) tables
    }
    std::sort(socket_inodes.begin(), socket_inodes.end());

    std::vector<uint16_t> ports;
    for (const char* table_name : {"tcp", "tcp6"}) {
        // The process's own view shows its network namespace (containers);
        // the global file is only the host namespace.
        auto table = read_file(process_dir(tgid) / "net" / table_name, kMaxSocketTableBytes);
        if (!table) {
            table = read_file(root_ / "net" / table_name, kMaxSocketTableBytes);
        }
        if (!table) {
            continue;  // e.g. tcp6 absent when IPv6 is disabled
        }
        for_each_line(*table, [&](std::string_view line) {
            const auto entry = parse_socket_table_line(line);
            if (entry && entry->listening && entry->local_port != 0 &&
                std::binary_search(socket_inodes.begin(), socket_inodes.end(), entry->inode)) {
                ports.push_back(entry->local_port);
            }
        });
    }
    std::sort(ports.begin(), ports.end());
    ports.erase(std::unique(ports.begin(), ports.end()), ports.end());
    return ports;
}

long ProcFs::clock_ticks() {
    const long ticks = sysconf(_SC_CLK_TCK);
    // USER_HZ has been 100 on every Linux ABI; better than dividing by <= 0.
    constexpr long kLinuxUserHz = 100;
    return ticks > 0 ? ticks : kLinuxUserHz;
}

}  // namespace redeye::proc
