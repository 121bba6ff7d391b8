// What `redeye trace` shows of a SQL statement unless --show-payload is
// given: its shape without its data. Literals become '?', IN lists one '?',
// comments go, whitespace runs become one space.
#pragma once

#include <string>
#include <string_view>

namespace redeye::protocols::sql {

// Masks quoted strings ('..', E'..', $tag$..$tag$), numbers (42, -1.5e3,
// 0x1F) and X'..'/B'..' literals as '?'; keeps identifiers (quoted or not),
// keywords, operators and placeholders ($1, ?, :name). A statement cut in
// the middle of a literal has the rest masked.
std::string mask_sql(std::string_view statement);

}  // namespace redeye::protocols::sql
