// PostgreSQL v3 parser fuzzed through the real capture pipeline (pipeline_fuzzer.h):
// both directions, messages split where the input says, lost and repeated
// bytes, closes and malformed kernel events.
#include "pipeline_fuzzer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  redeye::fuzz::run_pipeline(REDEYE_PROTO_POSTGRES, data, size);
  return 0;
}
