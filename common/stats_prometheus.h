// Prometheus text exposition of the statistics pages, for the shipper's /metrics. Counters named
// "dropped.<stage>.<reason>" become ringward_events_dropped_total{stage,reason}; every other
// counter becomes ringward_<process>_<name>. Text a process supplies for its labelled metrics is
// passed through a strict line filter first: a compromised processor writes its own page, so a
// malformed or oversized line is dropped (and counted), never served.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/stats.h"

namespace ringward {

struct NamedSnapshot {
  std::string process;  // capture, processor, shipper
  StatsSnapshot snapshot;
};
void append_stats_prometheus(const std::vector<NamedSnapshot>& pages, std::string& out);
// Appends the well-formed lines of `text` (comments "# TYPE/# HELP" and samples
// `name{labels} value`); returns the number of lines rejected.
size_t append_sanitized_metrics(std::string_view text, std::string& out);

}  // namespace ringward
