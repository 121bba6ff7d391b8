#pragma once

#include "cli/options.h"

namespace redeye::cli {

// Exit codes: 0 success, 1 the host cannot run the agent, 2 bad usage.
int run_agent(const RunOptions& options);
int run_check(const CheckOptions& options);

}  // namespace redeye::cli
