// Logging setup shared by every process: spdlog to stderr, one line per event, the process name in
// each line. Under systemd (JOURNAL_STREAM set) no timestamp is printed: the journal adds its own.
#pragma once

#include <string_view>

namespace ringward {
void init_logging(std::string_view process_name, std::string_view level);
}
