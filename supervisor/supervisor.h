// The supervisor: creates the rings and statistics pages (owned so that only the two peers of
// each can map them), starts each child with its own identity and sandbox (capture: root until it
// drops everything itself; processor: [processor] user in an empty network namespace; shipper:
// [shipper] user, owner of the buffer and DLQ directories), restarts crashed ones (naming the
// syscall when seccomp killed one), aggregates health and the accounting identity, talks to
// systemd (readiness, watchdog, status), reloads its configuration on SIGHUP, answers ringwardctl
// on a unix socket (root or the admin group only), and on SIGTERM drains the pipeline in order.
// Trust: root; it never parses event data. Status blobs from children are parsed with limits.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/config.h"
#include "common/shm.h"
#include "common/stats.h"
#include "supervisor/child.h"
#include "supervisor/health.h"
#include "supervisor/seccomp_audit.h"
#include "supervisor/systemd_notify.h"

namespace ringward::supervisor {

struct Accounting {
  uint64_t captured = 0;
  uint64_t generated = 0;  // events the processor created (validation samples, health reports)
  // Events an earlier pipeline left in the shipper's buffer or DLQ, delivered (or re-queued by
  // `dlq replay`) in this one.
  uint64_t carried_over = 0;
  uint64_t delivered = 0;
  uint64_t dead_lettered = 0;
  uint64_t in_flight = 0;
  uint64_t duplicates = 0;
  std::vector<std::pair<std::string, uint64_t>> dropped;  // "<stage>.<reason>"
  int64_t unexplained = 0;  // captured + generated + carried_over - delivered - dead_lettered
                            // - dropped - in_flight
};

// Who a child runs as. uid/gid 0 when it keeps root.
struct Identity {
  std::string user;  // empty: root
  uid_t uid = 0;
  gid_t gid = 0;
};

// Resolves the [processor]/[shipper] `user` key: "" means `fallback` when that user exists, else
// root (with `warning` set); "root" means root; any other name must exist (else `error`).
std::optional<Identity> resolve_identity(const std::string& configured, const std::string& fallback,
                                         std::string& warning, std::string& error);

class Supervisor {
 public:
  Supervisor(Config cfg, std::string config_path, std::string libexec_dir);
  ~Supervisor();
  // Runs until SIGTERM/SIGINT or `ringwardctl stop`; returns the exit code.
  int run();

 private:
  bool resolve_identities();
  void create_segments();
  void seed_id_epoch(ShmSegment& capture_page);
  void remove_segments();
  void prepare_shipper_dirs();
  void start_children();
  void reap();
  void handle_control_client(int fd);
  std::string command(const std::string& line, bool& stop_after);
  // Validates the file and applies it; false (and the reason in `message`) when refused.
  bool reload(std::string& message);
  void sample(uint64_t now_ns);
  std::string status_json();
  std::string status_text();
  Accounting accounting();
  HealthReport health();
  void shutdown();
  bool wait_ring_empty(const ShmSegment& seg, uint64_t deadline_ns);
  void wait_child_exit(Child& c, uint64_t deadline_ns);
  Child* find(const std::string& name);
  const ShmSegment* stats_page(const std::string& name) const;

  Config cfg_;
  std::string config_path_;
  std::string libexec_dir_;
  std::string prefix_;
  SystemClock clock_;
  uint64_t started_ns_ = 0;
  Identity proc_id_, ship_id_;
  std::optional<ShmSegment> raw_, out_;
  std::vector<std::pair<std::string, ShmSegment>> stats_;
  // The supervisor's own page (child states, restarts, health) for the shipper's /metrics.
  std::optional<ShmSegment> own_page_;
  std::unique_ptr<StatsWriter> own_stats_;
  void publish_own_stats(const HealthReport& h);
  std::vector<std::unique_ptr<Child>> children_;
  std::unique_ptr<KmsgSeccompReader> kmsg_;
  SystemdNotifier notifier_;
  RateWindow rates_;
  uint64_t last_sample_ns_ = 0;
  bool announced_ready_ = false;
  std::string last_health_line_;
  int signal_fd_ = -1;
  int control_fd_ = -1;
  bool stop_ = false;
};

}  // namespace ringward::supervisor
