// The supervisor: creates the rings and statistics pages, starts each child with its identity,
// restarts crashed ones, aggregates health and the accounting identity, answers ringwardctl on a
// unix socket (root or the admin group only), and on SIGTERM drains the pipeline in order.
// Trust: root; it never parses event data.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/config.h"
#include "common/shm.h"
#include "supervisor/child.h"

namespace ringward::supervisor {

struct Accounting {
  uint64_t captured = 0;
  uint64_t generated = 0;  // events the processor created (validation samples, health reports)
  uint64_t delivered = 0;
  uint64_t dead_lettered = 0;
  uint64_t in_flight = 0;
  uint64_t duplicates = 0;
  std::vector<std::pair<std::string, uint64_t>> dropped;  // "<stage>.<reason>"
  int64_t unexplained = 0;  // captured + generated - delivered - dead_lettered - dropped - in_flight
};

class Supervisor {
 public:
  Supervisor(Config cfg, std::string config_path, std::string libexec_dir);
  ~Supervisor();
  // Runs until SIGTERM/SIGINT or `ringwardctl stop`; returns the exit code.
  int run();

 private:
  void create_segments();
  void remove_segments();
  void start_children();
  void reap();
  void handle_control_client(int fd);
  std::string command(const std::string& line, bool& stop_after);
  std::string status_json();
  std::string status_text();
  Accounting accounting();
  std::string health(std::vector<std::string>& reasons);
  void shutdown();
  bool wait_ring_empty(const ShmSegment& seg, uint64_t deadline_ns);
  void wait_child_exit(Child& c, uint64_t deadline_ns);
  Child* find(const std::string& name);

  Config cfg_;
  std::string config_path_;
  std::string libexec_dir_;
  std::string prefix_;
  SystemClock clock_;
  uint64_t started_ns_ = 0;
  std::optional<ShmSegment> raw_, out_;
  std::vector<std::pair<std::string, ShmSegment>> stats_;
  std::vector<std::unique_ptr<Child>> children_;
  int signal_fd_ = -1;
  int control_fd_ = -1;
  bool stop_ = false;
};

}  // namespace ringward::supervisor
