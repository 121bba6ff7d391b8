#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>

namespace redeye::proc {

// Cumulative stall time from a Pressure Stall Information file. Totals are
// monotonic counters, so callers derive rates from successive samples.
struct PressureTotals {
    uint64_t some_us = 0;
    // Absent when the file has no "full" line (cpu on kernels before 5.13).
    std::optional<uint64_t> full_us;
};

// Parses the content of /proc/pressure/{cpu,memory,io,irq}. Requires a "some"
// line with a valid total=; empty optional on malformed content.
std::optional<PressureTotals> parse_pressure(std::string_view content);

// Reads <proc_root>/pressure/<resource>. Only known PSI resource names are
// accepted so the name cannot escape the pressure directory.
std::optional<PressureTotals> read_pressure(const std::filesystem::path& proc_root,
                                            std::string_view resource);

}  // namespace redeye::proc
