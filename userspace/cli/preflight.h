// What the host must offer before any probe is loaded, each with the fix.
#pragma once

#include <string>
#include <vector>

namespace redeye::cli {

struct PreflightItem {
  std::string name;
  bool ok = false;
  bool required = false;  // the agent cannot run without it
  std::string detail;     // what was found
  std::string fix;        // what to do when !ok
};

// mount_missing: mount tracefs when it is absent (needs CAP_SYS_ADMIN).
std::vector<PreflightItem> run_preflight(bool mount_missing);
std::string kernel_release();

}  // namespace redeye::cli
