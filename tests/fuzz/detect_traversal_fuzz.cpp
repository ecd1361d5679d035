// libFuzzer target: the traversal normaliser (decode + resolve) and the engine's HTTP-target
// and file-path entry points on arbitrary bytes. Asserts the normaliser's invariants.
// Build (from the repo root):
//   mkdir -p /tmp/detect-gen && capnp compile -oc++:/tmp/detect-gen --src-prefix=schemas schemas/event.capnp
//   python3 processor/detect/embed_rules.py processor/rules/default_rules.toml /tmp/detect-gen/default_rules_embedded.cpp
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. -I/tmp/detect-gen -I/usr/include/hs
//     -DTOML_HEADER_ONLY=0 -DTOML_SHARED_LIB=1 tests/fuzz/detect_traversal_fuzz.cpp
//     processor/detect/{path_normalizer,sql_lexer,rules,engine,classify}.cpp
//     /tmp/detect-gen/default_rules_embedded.cpp /tmp/detect-gen/event.capnp.c++
//     -lhs -ltomlplusplus -lcapnp -lkj -o detect_traversal_fuzz
//   ./detect_traversal_fuzz tests/fuzz/corpus/detect_traversal -max_total_time=20
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "processor/detect/engine.h"
#include "processor/detect/path_normalizer.h"

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
  static ringward::detect::PathNormalizer normalizer(4096, 4);
  for (int mode = 0; mode < 2; ++mode) {
    ringward::detect::PathAnalysis a;
    const std::string_view r = normalizer.analyse(in, true, mode == 1, a);
    if (r.empty() || r.front() != '/') std::abort();
    if (r.find("/../") != std::string_view::npos) std::abort();
    if (a.escape_depth > a.parent_segments) std::abort();
    if (!a.truncated && r.size() > in.size() + 1) std::abort();  // decoding never grows
  }
  std::vector<ringward::detect::Finding> f;
  engine().inspect_http_target(in, f);
  engine().inspect_file_path(in, f);
  return 0;
}
