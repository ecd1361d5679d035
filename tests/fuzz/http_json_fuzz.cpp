// libFuzzer target: the tolerant top-level JSON scanner and the business-error rules on top of it.
// Build (from the repo root):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/http_json_fuzz.cpp
//     processor/http/json_scan.cpp processor/http/business.cpp processor/http/http_parse.cpp
//     -o http_json_fuzz
//   ./http_json_fuzz tests/fuzz/corpus/http_json -max_total_time=20
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "processor/http/business.h"
#include "processor/http/json_scan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const ringward::http::JsonScanLimits limits;
  const auto scan = ringward::http::scan_json_object(in, limits);
  if (scan.members.size() > limits.max_members) abort();
  for (const auto& m : scan.members) {
    if (m.key.size() > limits.max_key || m.scalar.size() > limits.max_scalar) abort();
    if (m.raw.data() < in.data() || m.raw.data() + m.raw.size() > in.data() + in.size()) abort();
  }
  static const ringward::http::BusinessErrorDetector detector{ringward::http::BusinessRules{}};
  const auto v = detector.classify(200, "application/json", ringward::http::ContentCoding::kIdentity, in);
  if (!v.error_type.empty() && !v.inspected) abort();
  return 0;
}
