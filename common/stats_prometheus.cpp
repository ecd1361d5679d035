#include "common/stats_prometheus.h"

#include <cctype>
#include <set>

#include <fmt/format.h>

namespace ringward {
namespace {

bool name_char(char c, bool first) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':' ||
         (!first && std::isdigit(static_cast<unsigned char>(c)));
}

// Counters that are levels, not totals (everything else is a monotonic counter).
bool is_gauge(std::string_view name) {
  static const std::set<std::string_view> kGauges = {"ring_pos", "in_pos", "id_epoch",
                                                     "id_next_seq", "gen_epoch", "gen_next_seq",
                                                     "synthetic_index", "last_id_capture",
                                                     "last_id_processor", "buffered"};
  return kGauges.count(name) > 0;
}

std::string metric_name(std::string_view process, std::string_view counter) {
  std::string n = fmt::format("ringward_{}_", process);
  for (char c : counter) n += (c == '.' || c == ':') ? '_' : c;
  return n;
}

// `name{k="v",...} value [timestamp]` with a bounded, escaped label set.
bool valid_sample(std::string_view l) {
  size_t i = 0;
  if (l.empty() || !name_char(l[0], true)) return false;
  while (i < l.size() && name_char(l[i], i == 0)) ++i;
  if (i < l.size() && l[i] == '{') {
    ++i;
    while (i < l.size() && l[i] != '}') {
      size_t s = i;
      while (i < l.size() && (std::isalnum(static_cast<unsigned char>(l[i])) || l[i] == '_')) ++i;
      if (i == s || i + 1 >= l.size() || l[i] != '=' || l[i + 1] != '"') return false;
      i += 2;
      while (i < l.size() && l[i] != '"') {
        if (l[i] == '\\') {
          if (i + 1 >= l.size() || (l[i + 1] != '\\' && l[i + 1] != '"' && l[i + 1] != 'n')) return false;
          ++i;
        }
        ++i;
      }
      if (i >= l.size()) return false;
      ++i;
      if (i < l.size() && l[i] == ',') ++i;
    }
    if (i >= l.size()) return false;
    ++i;
  }
  if (i >= l.size() || l[i] != ' ') return false;
  ++i;
  size_t s = i;
  while (i < l.size() && (std::isdigit(static_cast<unsigned char>(l[i])) || l[i] == '.' || l[i] == 'e' ||
                          l[i] == 'E' || l[i] == '+' || l[i] == '-' || l[i] == 'I' || l[i] == 'n' ||
                          l[i] == 'f' || l[i] == 'N' || l[i] == 'a'))
    ++i;
  if (i == s) return false;
  if (i < l.size()) {  // optional timestamp
    if (l[i] != ' ') return false;
    ++i;
    while (i < l.size() && std::isdigit(static_cast<unsigned char>(l[i]))) ++i;
  }
  return i == l.size();
}

bool valid_comment(std::string_view l) {
  if (l.rfind("# TYPE ", 0) != 0 && l.rfind("# HELP ", 0) != 0) return false;
  for (char c : l)
    if (static_cast<unsigned char>(c) < 0x20) return false;
  return true;
}

}  // namespace

void append_stats_prometheus(const std::vector<NamedSnapshot>& pages, std::string& out) {
  std::string dropped;
  for (const auto& page : pages) {
    const std::string& process = page.process;
    for (const auto& [name, value] : page.snapshot.counters) {
      if (name.rfind("dropped.", 0) == 0) {
        std::string_view rest = std::string_view(name).substr(8);
        size_t dot = rest.find('.');
        std::string_view stage = rest.substr(0, dot);
        std::string_view reason = dot == std::string_view::npos ? "unknown" : rest.substr(dot + 1);
        fmt::format_to(std::back_inserter(dropped),
                       "ringward_events_dropped_total{{process=\"{}\",stage=\"{}\",reason=\"{}\"}} {}\n",
                       process, stage, reason, value);
        continue;
      }
      std::string m = metric_name(process, name);
      bool gauge = is_gauge(name);
      if (!gauge && (m.size() < 6 || m.compare(m.size() - 6, 6, "_total") != 0)) m += "_total";
      fmt::format_to(std::back_inserter(out), "# HELP {} {} statistic '{}' of ringward-{}.\n# TYPE {} {}\n{} {}\n",
                     m, gauge ? "Level" : "Counter", name, process, m, gauge ? "gauge" : "counter",
                     m, value);
    }
    fmt::format_to(std::back_inserter(out),
                   "# HELP ringward_{0}_up 1 when ringward-{0} reported ready.\n"
                   "# TYPE ringward_{0}_up gauge\nringward_{0}_up {1}\n",
                   process, page.snapshot.ready ? 1 : 0);
  }
  if (!dropped.empty())
    out += "# HELP ringward_events_dropped_total Events dropped by policy, by stage and reason.\n"
           "# TYPE ringward_events_dropped_total counter\n" + dropped;
}

size_t append_sanitized_metrics(std::string_view text, std::string& out) {
  size_t rejected = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.empty()) continue;
    if (line.size() <= 4096 && (valid_comment(line) || valid_sample(line))) {
      out.append(line);
      out += '\n';
    } else {
      ++rejected;
    }
  }
  return rejected;
}

}  // namespace ringward
