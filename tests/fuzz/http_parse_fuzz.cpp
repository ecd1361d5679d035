// libFuzzer target: the HTTP/1.x request and response parsers on arbitrary bytes.
// Build (from the repo root):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz/http_parse_fuzz.cpp
//     processor/http/http_parse.cpp -o http_parse_fuzz
//   ./http_parse_fuzz tests/fuzz/corpus/http_parse -max_total_time=20
// The first input byte selects the limits so small caps are exercised too.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "processor/http/http_parse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  ringward::http::ParseLimits limits;
  if (data[0] & 1) {
    limits.max_body_prefix = data[0] >> 2;
    limits.max_headers = 1 + (data[0] >> 4);
    limits.max_messages_per_buffer = 1 + (data[0] >> 5);
  }
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const auto reqs = ringward::http::parse_requests(in, limits);
  std::vector<std::string_view> methods;
  for (const auto& r : reqs.messages) {
    methods.push_back(r.method);
    // Views must point into the input.
    if (r.method.data() < in.data() || r.method.data() + r.method.size() > in.data() + in.size()) {
      abort();
    }
  }
  if (reqs.consumed > in.size()) abort();
  const auto resps = ringward::http::parse_responses(in, limits, methods);
  for (const auto& r : resps.messages) {
    if (r.body.size() > limits.max_body_prefix) abort();
    if (r.status != 0 && (r.status < 100 || r.status > 599)) abort();
  }
  if (resps.consumed > in.size()) abort();
  return 0;
}
