#pragma once

namespace redeye::metrics {

// Something the agent's main loop asks, once per interval, to bring its
// series up to date. Collectors run on the main loop thread only.
class Collector {
 public:
  virtual ~Collector() = default;
  virtual void collect() = 0;
};

}  // namespace redeye::metrics
