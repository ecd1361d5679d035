// libFuzzer target: the SQL lexer in all three contexts, and the engine's SQL parameter and
// HTTP body entry points (form, JSON, plain) on arbitrary bytes.
// Build: as in detect_traversal_fuzz.cpp, with this file instead; corpus tests/fuzz/corpus/detect_sqli.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "processor/detect/engine.h"
#include "processor/detect/sql_lexer.h"

namespace {

const ringward::detect::Engine& engine() {
  static const ringward::detect::Engine e = [] {
    auto r = ringward::detect::Engine::load_default();
    if (!r) std::abort();
    return std::move(r).value();
  }();
  return e;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  using ringward::detect::SqlContext;
  static std::string fp;
  for (SqlContext c : {SqlContext::raw, SqlContext::single_quote, SqlContext::double_quote}) {
    ringward::detect::sql_fingerprint(in, c, fp);
    if (fp.size() < 2 || fp.size() > 2 + ringward::detect::kSqlMaxTokens) std::abort();
  }
  std::vector<ringward::detect::Finding> f;
  engine().inspect_sql_parameter(in, f);
  engine().inspect_sql_value(in, f);
  engine().inspect_http_body(in, f);
  return 0;
}
