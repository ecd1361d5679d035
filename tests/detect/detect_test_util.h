// Shared helpers for the detection tests: one engine from the embedded default rules, and
// "which rule ids fired" helpers. Test code only.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "processor/detect/engine.h"

namespace ringward::detect::testing {

inline const Engine& default_engine() {
  // One engine for the whole test binary: loading compiles every vectorscan database.
  static const Engine engine = [] {
    auto e = Engine::load_default();
    if (!e) {
      ADD_FAILURE() << e.error().to_string();
      std::abort();
    }
    return std::move(e).value();
  }();
  return engine;
}

inline std::vector<std::string> ids(const std::vector<Finding>& findings) {
  std::vector<std::string> out;
  for (const Finding& f : findings) out.push_back(f.rule_id);
  return out;
}

inline bool has(const std::vector<Finding>& findings, std::string_view id) {
  return std::any_of(findings.begin(), findings.end(),
                     [&](const Finding& f) { return f.rule_id == id; });
}

inline bool has_prefix(const std::vector<Finding>& findings, std::string_view prefix) {
  return std::any_of(findings.begin(), findings.end(), [&](const Finding& f) {
    return f.rule_id.compare(0, prefix.size(), prefix) == 0;
  });
}

inline std::string joined(const std::vector<Finding>& findings) {
  std::string s;
  for (const Finding& f : findings) s += f.rule_id + " ";
  return s;
}

}  // namespace ringward::detect::testing
