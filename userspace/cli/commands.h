#pragma once

#include "cli/options.h"
#include "cli/trace_options.h"

namespace redeye::cli {

// Exit codes: 0 success, 1 the host cannot run the agent, 2 bad usage.
int run_agent(const RunOptions& options);
int run_check(const CheckOptions& options);
int run_trace(const TraceOptions& options);
int run_top(const TopOptions& options);

}  // namespace redeye::cli
