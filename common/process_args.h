// The command-line contract between the supervisor and its children, and the readiness signal.
// Trust: parsed by each child from argv the supervisor built.
#pragma once

#include <string>

namespace ringward {

struct ChildArgs {
  std::string config;      // config file; empty = embedded default
  std::string shm_prefix;  // e.g. "/ringward-1234-": segments are <prefix>raw, <prefix>out, ...
  int ready_fd = -1;       // write "READY\n" here once ready; -1 = none
};

// Segment names derived from the prefix.
inline std::string raw_ring_name(const std::string& prefix) { return prefix + "raw"; }
inline std::string out_ring_name(const std::string& prefix) { return prefix + "out"; }
inline std::string stats_page_name(const std::string& prefix, const std::string& process) {
  return prefix + "stats-" + process;
}

// Tells the supervisor this child is ready (closes the fd). Safe to call with -1.
void notify_ready(int& ready_fd);

// Installs SIGTERM/SIGINT handlers that set a flag the main loop polls.
void install_stop_signals();
bool stop_requested();

}  // namespace ringward
