// Detection results shared by the engine, the processor pipeline and classify. Trusted types.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ringward::detect {

enum class Severity : std::uint8_t { low = 0, medium = 1, high = 2, critical = 3 };

std::string_view to_string(Severity s);
std::optional<Severity> parse_severity(std::string_view s);

struct Finding {
  std::string rule_id;
  Severity severity = Severity::low;

  bool operator==(const Finding&) const = default;
};

}  // namespace ringward::detect
