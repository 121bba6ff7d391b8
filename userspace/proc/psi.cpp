#include "proc/psi.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <fstream>
#include <string>
#include <vector>

namespace redeye::proc {

namespace {

// Real PSI files are two short lines; anything far bigger is not PSI.
constexpr size_t kMaxPressureFileBytes = 4096;

std::vector<std::string_view> split_on(std::string_view text, char separator) {
    std::vector<std::string_view> parts;
    size_t pos = 0;
    while (pos <= text.size()) {
        size_t end = text.find(separator, pos);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        parts.push_back(text.substr(pos, end - pos));
        pos = end + 1;
    }
    return parts;
}

std::optional<uint64_t> parse_total(std::string_view line_fields) {
    constexpr std::string_view kTotalKey = "total=";
    for (const std::string_view field : split_on(line_fields, ' ')) {
        if (field.substr(0, kTotalKey.size()) != kTotalKey) {
            continue;
        }
        const std::string_view digits = field.substr(kTotalKey.size());
        uint64_t value = 0;
        const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
        if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size()) {
            return std::nullopt;
        }
        return value;
    }
    return std::nullopt;
}

}  // namespace

std::optional<PressureTotals> parse_pressure(std::string_view content) {
    std::optional<uint64_t> some_total;
    std::optional<uint64_t> full_total;
    for (const std::string_view line : split_on(content, '\n')) {
        const size_t kind_end = std::min(line.find(' '), line.size());
        const std::string_view kind = line.substr(0, kind_end);
        std::optional<uint64_t>* slot = nullptr;
        if (kind == "some") {
            slot = &some_total;
        } else if (kind == "full") {
            slot = &full_total;
        } else {
            continue;  // tolerate lines a newer kernel might add
        }
        const auto total = parse_total(line.substr(kind_end));
        if (!total || slot->has_value()) {
            return std::nullopt;  // a bad or repeated line means we misread the format
        }
        *slot = total;
    }
    if (!some_total) {
        return std::nullopt;
    }
    return PressureTotals{*some_total, full_total};
}

std::optional<PressureTotals> read_pressure(const std::filesystem::path& proc_root,
                                            std::string_view resource) {
    constexpr std::array<std::string_view, 4> kResources = {"cpu", "memory", "io", "irq"};
    if (std::find(kResources.begin(), kResources.end(), resource) == kResources.end()) {
        return std::nullopt;
    }
    std::ifstream in(proc_root / "pressure" / std::string(resource), std::ios::binary);
    if (!in) {
        return std::nullopt;
    }
    std::string content(kMaxPressureFileBytes, '\0');
    in.read(content.data(), static_cast<std::streamsize>(content.size()));
    if (in.bad() || static_cast<size_t>(in.gcount()) == content.size()) {
        return std::nullopt;  // read error, or too big to be a PSI file
    }
    content.resize(static_cast<size_t>(in.gcount()));
    return parse_pressure(content);
}

}  // namespace redeye::proc
