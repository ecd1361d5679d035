// The supervisor's event loop, control protocol, health and reload (see supervisor.h).
// Trust: root.
#include "supervisor/supervisor.h"

#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/event_json.h"
#include "common/process_args.h"
#include "common/ring.h"
#include "common/stats.h"

namespace ringward::supervisor {
namespace {

constexpr const char* kChildren[] = {"capture", "processor", "shipper"};
constexpr uint64_t kSecond = 1'000'000'000ULL;
constexpr uint64_t kRateWindowNs = 5 * kSecond;  // events/s shown by status and top

std::string json_str(std::string_view s) {
  std::string out;
  append_json_string(s, out);
  return out;
}

bool write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    s.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Root, or a member (primary or supplementary) of the admin group.
bool peer_allowed(int fd, const std::string& admin_group, std::string& who) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
  who = fmt::format("uid {} gid {} pid {}", cred.uid, cred.gid, cred.pid);
  if (cred.uid == 0) return true;
  group* g = getgrnam(admin_group.c_str());
  if (!g) return false;
  if (cred.gid == g->gr_gid) return true;
  // Supplementary groups of the peer process.
  FILE* f = fopen(fmt::format("/proc/{}/status", cred.pid).c_str(), "re");
  if (!f) return false;
  char line[512];
  bool ok = false;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "Groups:", 7) != 0) continue;
    char* save = nullptr;
    for (char* tok = strtok_r(line + 7, " \t\n", &save); tok; tok = strtok_r(nullptr, " \t\n", &save))
      if (static_cast<gid_t>(strtoul(tok, nullptr, 10)) == g->gr_gid) ok = true;
  }
  fclose(f);
  return ok;
}

// Parsed status JSON of a child's page, or nullopt when it has none or it is malformed.
std::optional<JsonValue> page_status(const ShmSegment* seg) {
  if (!seg) return std::nullopt;
  std::string text = StatsReader(seg->data(), seg->size()).status_json();
  if (text.empty() || text.front() != '{') return std::nullopt;
  return parse_status_json(text);
}

std::string human_rate(double r) {
  if (r >= 1e6) return fmt::format("{:.1f}M", r / 1e6);
  if (r >= 1e4) return fmt::format("{:.1f}k", r / 1e3);
  return fmt::format("{:.0f}", r);
}

std::string human_duration(double s) {
  if (s < 120) return fmt::format("{:.0f}s", s);
  if (s < 7200) return fmt::format("{:.0f}m", s / 60);
  if (s < 172800) return fmt::format("{:.1f}h", s / 3600);
  return fmt::format("{:.1f}d", s / 86400);
}

}  // namespace

std::optional<Identity> resolve_identity(const std::string& configured, const std::string& fallback,
                                         std::string& warning, std::string& error) {
  Identity id;
  if (configured == "root") return id;
  std::string name = configured.empty() ? fallback : configured;
  passwd* pw = getpwnam(name.c_str());
  if (!pw) {
    if (!configured.empty()) {
      error = fmt::format("user '{}' does not exist (create it: systemd-sysusers, or set the key to "
                          "\"root\" for development)", name);
      return std::nullopt;
    }
    warning = fmt::format("user '{}' does not exist: running it as root (install "
                          "systemd/sysusers.d/ringward.conf, or set the user key)", name);
    return id;
  }
  id.user = name;
  id.uid = pw->pw_uid;
  id.gid = pw->pw_gid;
  return id;
}

Supervisor::Supervisor(Config cfg, std::string config_path, std::string libexec_dir)
    : cfg_(std::move(cfg)),
      config_path_(std::move(config_path)),
      libexec_dir_(std::move(libexec_dir)),
      rates_(uint64_t(cfg_.supervisor.health_window_s) * kSecond + 5 * kSecond) {
  prefix_ = fmt::format("/ringward-{}-", getpid());
}

Supervisor::~Supervisor() {
  remove_segments();
  if (control_fd_ >= 0) {
    close(control_fd_);
    unlink(cfg_.supervisor.control_socket.c_str());
  }
  if (signal_fd_ >= 0) close(signal_fd_);
}

bool Supervisor::resolve_identities() {
  std::string warning, error;
  auto p = resolve_identity(cfg_.processor.user, "ringward-proc", warning, error);
  if (!p) {
    spdlog::error("[processor] user: {}", error);
    return false;
  }
  if (!warning.empty()) spdlog::warn("processor: {}", warning);
  warning.clear();
  auto s = resolve_identity(cfg_.shipper.user, "ringward-ship", warning, error);
  if (!s) {
    spdlog::error("[shipper] user: {}", error);
    return false;
  }
  if (!warning.empty()) spdlog::warn("shipper: {}", warning);
  proc_id_ = *p;
  ship_id_ = *s;
  return true;
}

void Supervisor::create_segments() {
  // Each segment is mappable only by its two peers (never 0644). Capture runs as root, so root
  // owns what capture writes; the group bit gives the peer access without CAP_DAC_OVERRIDE.
  //   raw ring        capture rw (owner root)    processor rw (group)      0660
  //   out ring        processor rw (owner)       shipper rw (group)        0660
  //   stats pages     their writer rw (owner)    shipper r (group: /metrics) 0640
  uint64_t cap = static_cast<uint64_t>(cfg_.supervisor.event_buffer_size);
  size_t seg = ring_segment_size(cap);
  uint64_t max_rec = static_cast<uint64_t>(cfg_.processor.max_event_size);
  raw_.emplace(ShmSegment::create(raw_ring_name(prefix_), seg, 0660, 0, proc_id_.gid));
  ring_format(raw_->data(), raw_->size(), cap, max_rec, "raw");
  out_.emplace(ShmSegment::create(out_ring_name(prefix_), seg, 0660, proc_id_.uid, ship_id_.gid));
  ring_format(out_->data(), out_->size(), cap, max_rec, "out");
  for (const char* name : kChildren) {
    uid_t owner = std::string(name) == "processor" ? proc_id_.uid
                  : std::string(name) == "shipper" ? ship_id_.uid : 0;
    auto s = ShmSegment::create(stats_page_name(prefix_, name), stats_page_size(), 0640, owner,
                                ship_id_.gid);
    stats_page_format(s.data(), s.size());
    if (std::string(name) == "capture") seed_id_epoch(s);
    stats_.emplace_back(name, std::move(s));
  }
  own_page_.emplace(ShmSegment::create(stats_page_name(prefix_, "supervisor"), stats_page_size(), 0640, 0,
                                       ship_id_.gid));
  stats_page_format(own_page_->data(), own_page_->size());
  own_stats_ = std::make_unique<StatsWriter>(own_page_->data(), own_page_->size());
}

// Event ids carry the pipeline's first second (capture's id_epoch, high bits) and a sequence.
// Sinks and the shipper tell events apart by id (the file sink's last id, JetStream's
// Nats-Msg-Id), so a pipeline started within the same second as the previous one, or after the
// clock stepped back, must not reuse ids: its epoch is at least the last one + 1, kept in
// run_dir. Capture keeps an epoch it finds on its page.
void Supervisor::seed_id_epoch(ShmSegment& capture_page) {
  const auto file = std::filesystem::path(cfg_.supervisor.run_dir) / "id_epoch";
  uint64_t last = 0;
  {
    std::ifstream in(file);
    in >> last;
  }
  const uint64_t now_s = clock_.wall_ns() / 1'000'000'000ULL;
  uint64_t epoch = std::max(now_s, last + 1);
  // The shipper refuses ids more than 5 min ahead of its clock (event_id_plausible): after a
  // larger step back, stay with the clock and say so.
  if (epoch > now_s + 60) {
    spdlog::warn("event ids: the clock is {} s behind the previous pipeline's epoch; ids restart "
                 "from the clock and sinks that de-duplicate by id may take new events for old ones",
                 last - now_s);
    epoch = now_s;
  } else if (epoch != now_s) {
    spdlog::info("event ids: epoch {} (the previous pipeline used {}; the clock says {})", epoch, last, now_s);
  }
  epoch &= 0x7fffffffULL;
  StatsWriter w(capture_page.data(), capture_page.size());
  w.set(w.counter("id_epoch"), epoch);
  w.set(w.counter("id_next_seq"), 0);
  w.publish();
  std::error_code ec;
  const auto tmp = file.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << epoch << "\n";
  }
  std::filesystem::rename(tmp, file, ec);
  if (ec) spdlog::warn("event ids: cannot record the epoch in {}: {}", file.string(), ec.message());
}

// Exposed by the shipper's /metrics like every page: ringward_supervisor_child_up{process},
// ringward_supervisor_child_failed{process}, ringward_supervisor_child_restarts_total{process},
// ringward_supervisor_health_state (0 Healthy, 1 Degraded, 2 Unhealthy, 3 Unknown).
void Supervisor::publish_own_stats(const HealthReport& h) {
  if (!own_stats_) return;
  std::string text =
      "# HELP ringward_supervisor_child_up 1 while the child is running (reported ready).\n"
      "# TYPE ringward_supervisor_child_up gauge\n";
  std::string failed =
      "# HELP ringward_supervisor_child_failed 1 when the child is permanently failed (not restarted).\n"
      "# TYPE ringward_supervisor_child_failed gauge\n";
  std::string restarts =
      "# HELP ringward_supervisor_child_restarts_total Restarts of the child since the supervisor started.\n"
      "# TYPE ringward_supervisor_child_restarts_total counter\n";
  for (auto& c : children_) {
    const std::string& n = c->spec().name;
    text += fmt::format("ringward_supervisor_child_up{{process=\"{}\"}} {}\n", n, c->state() == ChildState::running ? 1 : 0);
    failed += fmt::format("ringward_supervisor_child_failed{{process=\"{}\"}} {}\n", n, c->state() == ChildState::failed ? 1 : 0);
    restarts += fmt::format("ringward_supervisor_child_restarts_total{{process=\"{}\"}} {}\n", n, c->restarts());
    own_stats_->set(own_stats_->counter("restarts." + n), c->restarts());
    own_stats_->set(own_stats_->counter("failed." + n), c->state() == ChildState::failed ? 1 : 0);
  }
  text += failed + restarts +
          "# HELP ringward_supervisor_health_state 0 Healthy, 1 Degraded, 2 Unhealthy, 3 Unknown.\n"
          "# TYPE ringward_supervisor_health_state gauge\n" +
          fmt::format("ringward_supervisor_health_state {}\n", static_cast<int>(h.state));
  text += "# HELP ringward_ring_used_bytes Bytes waiting in a shared-memory ring.\n"
          "# TYPE ringward_ring_used_bytes gauge\n";
  auto ru = ring_usage(raw_->data(), raw_->size(), false);
  auto ou = ring_usage(out_->data(), out_->size(), false);
  text += fmt::format("ringward_ring_used_bytes{{ring=\"raw\"}} {}\nringward_ring_used_bytes{{ring=\"out\"}} {}\n",
                      ru.used_bytes, ou.used_bytes);
  text += "# HELP ringward_ring_capacity_bytes Size of a shared-memory ring.\n"
          "# TYPE ringward_ring_capacity_bytes gauge\n";
  text += fmt::format("ringward_ring_capacity_bytes{{ring=\"raw\"}} {}\nringward_ring_capacity_bytes{{ring=\"out\"}} {}\n",
                      ru.capacity, ou.capacity);
  own_stats_->set(own_stats_->counter("health_state"), static_cast<uint64_t>(h.state));
  own_stats_->set_metrics_text(text);
  own_stats_->set_status_json(fmt::format("{{\"health\":\"{}\"}}", health_name(h.state)));
  own_stats_->heartbeat(clock_.mono_ns());
  own_stats_->publish();
}

void Supervisor::remove_segments() {
  raw_.reset();
  out_.reset();
  stats_.clear();
  own_stats_.reset();
  own_page_.reset();
  ShmSegment::remove(stats_page_name(prefix_, "supervisor"));
  ShmSegment::remove(raw_ring_name(prefix_));
  ShmSegment::remove(out_ring_name(prefix_));
  for (const char* name : kChildren) ShmSegment::remove(stats_page_name(prefix_, name));
}

void Supervisor::prepare_shipper_dirs() {
  // Only the shipper writes the buffer and DLQ directories: they belong to its user.
  for (const std::string& dir : {cfg_.shipper.buffer_dir, cfg_.shipper.dlq_dir}) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      spdlog::warn("cannot create {}: {} (the shipper will report it)", dir, ec.message());
      continue;
    }
    if (ship_id_.uid == 0) continue;
    if (chown(dir.c_str(), ship_id_.uid, ship_id_.gid) != 0 || chmod(dir.c_str(), 0750) != 0)
      spdlog::warn("cannot give {} to user {}: {}", dir, ship_id_.user, strerror(errno));
  }
}

Child* Supervisor::find(const std::string& name) {
  for (auto& c : children_)
    if (c->spec().name == name) return c.get();
  return nullptr;
}

const ShmSegment* Supervisor::stats_page(const std::string& name) const {
  for (auto& [n, seg] : stats_)
    if (n == name) return &seg;
  return nullptr;
}

void Supervisor::start_children() {
  uint64_t now = clock_.mono_ns();
  for (const char* name : kChildren) {
    ChildSpec spec;
    spec.name = name;
    spec.executable = libexec_dir_ + "/ringward-" + name;
    spec.args = {"--shm-prefix", prefix_};
    if (!config_path_.empty()) {
      spec.args.push_back("--config");
      spec.args.push_back(config_path_);
    }
    if (spec.name == "processor") {
      spec.user = proc_id_.user;
      spec.new_netns = true;  // parses hostile bytes: no network at all, not even loopback up
    }
    if (spec.name == "shipper") spec.user = ship_id_.user;
    children_.push_back(std::make_unique<Child>(spec, cfg_.supervisor));
    children_.back()->start(now);
  }
}

void Supervisor::reap() {
  int status = 0;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (auto& c : children_) {
      if (c->pid() != pid) continue;
      std::string detail;
      if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) {
        if (kmsg_ && kmsg_->available()) {
          if (auto rec = kmsg_->find(pid, 300)) detail = "syscall " + rec->syscall_name;
          else detail = "syscall unknown (no audit record in the kernel log; with auditd see ausearch -m SECCOMP)";
        } else {
          detail = "syscall unknown (kernel log not readable)";
        }
      }
      c->on_exit(status, clock_.mono_ns(), detail);
    }
  }
}

Accounting Supervisor::accounting() {
  Accounting a;
  std::map<std::string, uint64_t> dropped;
  for (auto& [name, seg] : stats_) {
    StatsReader r(seg.data(), seg.size());
    auto snap = r.snapshot();
    for (const auto& [k, v] : snap.counters) {
      if (k.rfind("dropped.", 0) == 0 && v) dropped[k.substr(8)] += v;
    }
    if (name == "capture") a.captured = snap.value("captured");
    if (name == "processor") a.generated = snap.value("generated");
    if (name == "shipper") {
      a.delivered = snap.value("delivered");
      // Events this pipeline dead-lettered and `ringwardctl dlq replay` re-queued are in flight
      // again; what an earlier pipeline left in the buffer or the DLQ is carried over.
      uint64_t dl = snap.value("dead_lettered"), replayed = snap.value("dlq_replayed");
      a.dead_lettered = dl > replayed ? dl - replayed : 0;
      a.carried_over = snap.value("carried_over");
      a.duplicates = snap.value("duplicates");
      a.in_flight += snap.value("buffered");
    }
  }
  a.in_flight += ring_usage(raw_->data(), raw_->size(), true).pending_records;
  a.in_flight += ring_usage(out_->data(), out_->size(), true).pending_records;
  uint64_t dropped_total = 0;
  for (auto& [k, v] : dropped) {
    a.dropped.emplace_back(k, v);
    dropped_total += v;
  }
  a.unexplained = static_cast<int64_t>(a.captured + a.generated + a.carried_over) -
                  static_cast<int64_t>(a.delivered + a.dead_lettered + dropped_total + a.in_flight);
  return a;
}

// One sample of every counter rates and health are computed from, about once a second.
void Supervisor::sample(uint64_t now_ns) {
  std::map<std::string, uint64_t> t;
  for (auto& [name, seg] : stats_) {
    auto snap = StatsReader(seg.data(), seg.size()).snapshot();
    for (const auto& [k, v] : snap.counters)
      if (k.rfind("dropped.", 0) == 0) t[k] += v;
    if (name == "capture") {
      t["capture.in"] = snap.value("captured");
      t["capture.out"] = snap.value("written");
    } else if (name == "processor") {
      t["processor.in"] = snap.value("in");
      t["processor.out"] = snap.value("out");
    } else {
      t["shipper.in"] = snap.value("in");
      t["shipper.out"] = snap.value("delivered");
    }
  }
  rates_.add(now_ns, std::move(t));
  last_sample_ns_ = now_ns;
}

HealthReport Supervisor::health() {
  uint64_t now = clock_.mono_ns();
  HealthInputs in;
  for (auto& c : children_) {
    ChildObservation o;
    o.name = c->spec().name;
    o.state = state_name(c->state());
    o.last_exit = c->last_exit();
    if (const ShmSegment* seg = stats_page(o.name); seg && c->state() == ChildState::running) {
      uint64_t hb = std::max(StatsReader(seg->data(), seg->size()).snapshot().heartbeat_mono_ns,
                             c->started_ns());
      o.heartbeat_age_s = hb <= now ? double(now - hb) / 1e9 : 0;
    }
    in.children.push_back(std::move(o));
  }
  uint64_t window = uint64_t(cfg_.supervisor.health_window_s) * kSecond;
  uint64_t kernel = 0;
  for (const auto& k : rates_.keys_with_prefix("dropped.")) {
    uint64_t inc = rates_.increase(k, window);
    if (inc) in.drops_in_window[k.substr(8)] = inc;
    if (k.rfind("dropped.kernel.", 0) == 0) kernel += inc;
  }
  uint64_t captured = rates_.increase("capture.in", window);
  in.kernel_drop_fraction = captured ? double(kernel) / double(captured) : 0;
  auto ship = page_status(stats_page("shipper"));
  auto proc = page_status(stats_page("processor"));
  in.shipper_status = ship ? &*ship : nullptr;
  in.processor_status = proc ? &*proc : nullptr;
  HealthThresholds th;
  th.window_s = double(cfg_.supervisor.health_window_s);
  th.drops_per_s = cfg_.supervisor.degraded_drops_per_second;
  th.stale_heartbeat_s = double(cfg_.supervisor.stale_heartbeat_s);
  return evaluate_health(in, th);
}

std::string Supervisor::status_json() {
  uint64_t now = clock_.mono_ns();
  std::string j = "{";
  j += fmt::format("\"version\":\"{}\",\"supervisor_pid\":{},\"uptime_s\":{:.1f},", RINGWARD_VERSION,
                   getpid(), (now - started_ns_) / 1e9);
  j += fmt::format("\"config\":{},", json_str(config_path_.empty() ? "<embedded default>" : config_path_));
  HealthReport h = health();
  j += fmt::format("\"health\":{{\"state\":\"{}\",\"reasons\":[", health_name(h.state));
  for (size_t i = 0; i < h.reasons.size(); ++i) j += (i ? "," : "") + json_str(h.reasons[i]);
  j += "]},\"processes\":[";
  bool first = true;
  for (auto& c : children_) {
    const std::string& name = c->spec().name;
    StatsSnapshot snap;
    std::string status = "{}";
    if (const ShmSegment* seg = stats_page(name)) {
      StatsReader r(seg->data(), seg->size());
      snap = r.snapshot();
      status = r.status_json();
      // Passed through only when it parses: a hostile page must not break the document.
      if (status.empty() || !parse_status_json(status)) status = "{}";
    }
    double uptime = c->pid() > 0 ? (now - c->started_ns()) / 1e9 : 0.0;
    std::string user = name == "processor" ? proc_id_.user : name == "shipper" ? ship_id_.user : "";
    j += fmt::format("{}{{\"name\":\"{}\",\"pid\":{},\"state\":\"{}\",\"restarts\":{},\"uptime_s\":{:.1f},"
                     "\"last_exit\":{},\"user\":{},\"events_in_per_s\":{:.1f},\"events_out_per_s\":{:.1f},"
                     "\"counters\":{{",
                     first ? "" : ",", name, c->pid() > 0 ? c->pid() : 0, state_name(c->state()),
                     c->restarts(), uptime, json_str(c->last_exit()), json_str(user.empty() ? "root" : user),
                     rates_.rate(name + ".in", kRateWindowNs), rates_.rate(name + ".out", kRateWindowNs));
    first = false;
    bool f2 = true;
    for (auto& [k, v] : snap.counters) {
      j += fmt::format("{}\"{}\":{}", f2 ? "" : ",", k, v);
      f2 = false;
    }
    j += "},\"status\":" + status + "}";
  }
  j += "],";
  auto ru = ring_usage(raw_->data(), raw_->size(), true);
  auto ou = ring_usage(out_->data(), out_->size(), true);
  auto ring = [](const char* name, const RingUsage& u) {
    return fmt::format("\"{}\":{{\"capacity_bytes\":{},\"used_bytes\":{},\"utilization\":{:.4f},"
                       "\"pending_records\":{}}}",
                       name, u.capacity, u.used_bytes,
                       u.capacity ? double(u.used_bytes) / double(u.capacity) : 0.0, u.pending_records);
  };
  j += "\"rings\":{" + ring("raw", ru) + "," + ring("out", ou) + "},";
  j += "\"sinks\":[";
  if (auto ship = page_status(stats_page("shipper"))) {
    bool f = true;
    for (const auto& k : (*ship)["sinks"].items) {
      j += fmt::format("{}{{\"name\":{},\"state\":{},\"breaker\":{},\"delivered\":{:.0f},\"backlog\":{:.0f},"
                       "\"dead_lettered\":{:.0f},\"last_error\":{}}}",
                       f ? "" : ",", json_str(k["name"].str("?")), json_str(k["state"].str("unknown")),
                       json_str(k["breaker"].str("unknown")), k["delivered"].num(), k["backlog"].num(),
                       k["dead_lettered"].num(), json_str(k["last_error"].str()));
      f = false;
    }
  }
  j += "],";
  auto a = accounting();
  j += fmt::format("\"accounting\":{{\"captured\":{},\"generated\":{},\"carried_over\":{},\"delivered\":{},"
                   "\"dead_lettered\":{},\"in_flight\":{},\"duplicates\":{},\"unexplained\":{},\"dropped\":{{",
                   a.captured, a.generated, a.carried_over, a.delivered, a.dead_lettered, a.in_flight,
                   a.duplicates, a.unexplained);
  for (size_t i = 0; i < a.dropped.size(); ++i)
    j += fmt::format("{}\"{}\":{}", i ? "," : "", a.dropped[i].first, a.dropped[i].second);
  j += "},\"dropped_per_s\":{";
  for (size_t i = 0; i < a.dropped.size(); ++i)
    j += fmt::format("{}\"{}\":{:.2f}", i ? "," : "", a.dropped[i].first,
                     rates_.rate("dropped." + a.dropped[i].first, kRateWindowNs));
  j += "}}}";
  return j;
}

std::string Supervisor::status_text() {
  uint64_t now = clock_.mono_ns();
  HealthReport h = health();
  std::string t = fmt::format("ringward {}  health: {}  config: {}\n", RINGWARD_VERSION, health_name(h.state),
                              config_path_.empty() ? "<embedded default>" : config_path_);
  for (auto& r : h.reasons) t += "  - " + r + "\n";
  t += fmt::format("\n{:<10} {:>8} {:<9} {:>8} {:>8} {:>9} {:>9} {:>12} {:>12}  {}\n", "PROCESS", "PID",
                   "STATE", "UPTIME", "RESTARTS", "IN/s", "OUT/s", "IN", "OUT", "USER");
  for (auto& c : children_) {
    const std::string& name = c->spec().name;
    StatsSnapshot snap;
    if (const ShmSegment* seg = stats_page(name)) snap = StatsReader(seg->data(), seg->size()).snapshot();
    uint64_t in = name == "capture" ? snap.value("captured") : snap.value("in");
    uint64_t out = name == "capture" ? snap.value("written") : name == "shipper" ? snap.value("delivered") : snap.value("out");
    double up = c->pid() > 0 ? (now - c->started_ns()) / 1e9 : 0.0;
    std::string user = name == "processor" ? proc_id_.user : name == "shipper" ? ship_id_.user : "";
    t += fmt::format("{:<10} {:>8} {:<9} {:>8} {:>8} {:>9} {:>9} {:>12} {:>12}  {}\n", name,
                     c->pid() > 0 ? c->pid() : 0, state_name(c->state()), human_duration(up), c->restarts(),
                     human_rate(rates_.rate(name + ".in", kRateWindowNs)),
                     human_rate(rates_.rate(name + ".out", kRateWindowNs)), in, out,
                     user.empty() ? "root" : user);
    if (c->state() != ChildState::running && !c->last_exit().empty())
      t += fmt::format("{:<10} last exit: {}\n", "", c->last_exit());
  }
  auto ru = ring_usage(raw_->data(), raw_->size(), false);
  auto ou = ring_usage(out_->data(), out_->size(), false);
  t += fmt::format("\nrings: raw {:.1f}% of {} MiB, out {:.1f}% of {} MiB\n",
                   100.0 * ru.used_bytes / ru.capacity, ru.capacity >> 20,
                   100.0 * ou.used_bytes / ou.capacity, ou.capacity >> 20);
  if (auto ship = page_status(stats_page("shipper"))) {
    const JsonValue& b = (*ship)["buffer"];
    if (b.is_object())
      t += fmt::format("disk buffer: {:.1f}% of {} MiB{}\n", 100 * b["use"].num(),
                       uint64_t(b["max_bytes"].num()) >> 20, b["full"].flag() ? " (FULL)" : "");
    if (!(*ship)["sinks"].items.empty()) {
      size_t w = 20;  // sink names such as file:/var/lib/ringward/events.ndjson are long
      for (const auto& k : (*ship)["sinks"].items) w = std::max(w, k["name"].str("?").size());
      t += fmt::format("\n{:<{}} {:<13} {:<10} {:>12} {:>10} {:>8}  {}\n", "SINK", w, "STATE", "CIRCUIT",
                       "DELIVERED", "BACKLOG", "DLQ", "LAST ERROR");
      for (const auto& k : (*ship)["sinks"].items)
        t += fmt::format("{:<{}} {:<13} {:<10} {:>12.0f} {:>10.0f} {:>8.0f}  {}\n", k["name"].str("?"), w,
                         k["state"].str("?"), k["breaker"].str("?"), k["delivered"].num(), k["backlog"].num(),
                         k["dead_lettered"].num(), k["last_error"].str());
    }
  }
  auto a = accounting();
  t += fmt::format("\nevents: captured {}  generated {}{}  delivered {}  dead-lettered {}  in flight {}  "
                   "duplicates {}  unexplained {}\n",
                   a.captured, a.generated,
                   a.carried_over ? fmt::format("  carried over {}", a.carried_over) : std::string(),
                   a.delivered, a.dead_lettered, a.in_flight, a.duplicates, a.unexplained);
  if (!a.dropped.empty()) {
    t += fmt::format("{:<40} {:>12} {:>10}\n", "DROPPED (stage.reason)", "TOTAL", "PER SEC");
    for (auto& [k, v] : a.dropped)
      t += fmt::format("{:<40} {:>12} {:>10}\n", k, v, human_rate(rates_.rate("dropped." + k, kRateWindowNs)));
  }
  return t;
}

bool Supervisor::reload(std::string& message) {
  if (config_path_.empty()) {
    message = "running on the embedded default configuration: there is no file to reload";
    return false;
  }
  auto loaded = load_config(config_path_);
  if (!loaded.config) {
    message = "reload refused, the running configuration stays: " + loaded.error;
    spdlog::error("{}", message);
    return false;
  }
  notifier_.reloading();
  Config next = std::move(*loaded.config);
  // Keys bound to what exists for the whole run (the socket, the segments and their owners)
  // take effect at the next start of the service; everything else applies now.
  std::vector<std::string> deferred;
  auto keep = [&](auto& next_value, const auto& current, const char* key) {
    if (next_value != current) {
      deferred.push_back(key);
      next_value = current;
    }
  };
  keep(next.supervisor.control_socket, cfg_.supervisor.control_socket, "supervisor.control_socket");
  keep(next.supervisor.run_dir, cfg_.supervisor.run_dir, "supervisor.run_dir");
  keep(next.supervisor.libexec_dir, cfg_.supervisor.libexec_dir, "supervisor.libexec_dir");
  keep(next.supervisor.event_buffer_size, cfg_.supervisor.event_buffer_size, "supervisor.event_buffer_size");
  keep(next.supervisor.admin_group, cfg_.supervisor.admin_group, "supervisor.admin_group");
  keep(next.processor.user, cfg_.processor.user, "processor.user");
  keep(next.shipper.user, cfg_.shipper.user, "shipper.user");
  keep(next.processor.max_event_size, cfg_.processor.max_event_size, "processor.max_event_size");
  // Children hold a reference to cfg_.supervisor: assigning in place keeps it valid.
  cfg_ = std::move(next);
  rates_.set_keep(uint64_t(cfg_.supervisor.health_window_s) * kSecond + 5 * kSecond);
  spdlog::set_level(spdlog::level::from_str(cfg_.logging.level));
  prepare_shipper_dirs();
  for (auto& c : children_) c->request_restart();
  message = fmt::format("reloaded {}: restarting capture, processor and shipper with it", config_path_);
  if (!deferred.empty()) {
    std::string keys;
    for (auto& k : deferred) keys += (keys.empty() ? "" : ", ") + k;
    message += "; changed keys that need a service restart (kept as they were): " + keys;
  }
  spdlog::info("{}", message);
  notifier_.ready("reloaded");
  return true;
}

std::string Supervisor::command(const std::string& line, bool& stop_after) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < line.size()) {
    size_t j = line.find(' ', i);
    if (j == std::string::npos) j = line.size();
    if (j > i) words.push_back(line.substr(i, j - i));
    i = j + 1;
  }
  if (words.empty()) return "ERR empty command\n";
  bool json = std::find(words.begin(), words.end(), "--json") != words.end();
  // The protocol: one line in, "OK|ERR ...|DENIED" then the body. Every command needs the
  // caller to be root or in the admin group (checked before this table is reached).
  using Handler = std::function<std::string()>;
  const std::map<std::string, Handler> table = {
      {"status", [&] { return "OK\n" + (json ? status_json() + "\n" : status_text()); }},
      {"health",
       [&] {
         HealthReport h = health();
         if (json) {
           std::string j = fmt::format("{{\"state\":\"{}\",\"reasons\":[", health_name(h.state));
           for (size_t k = 0; k < h.reasons.size(); ++k) j += (k ? "," : "") + json_str(h.reasons[k]);
           return "OK\n" + j + "]}\n";
         }
         std::string t = std::string(health_name(h.state)) + "\n";
         for (auto& r : h.reasons) t += "  - " + r + "\n";
         return "OK\n" + t;
       }},
      {"restart",
       [&]() -> std::string {
         if (words.size() < 2) return "ERR usage: restart <capture|processor|shipper|all>\n";
         std::vector<Child*> targets;
         if (words[1] == "all") {
           for (auto& c : children_) targets.push_back(c.get());
         } else if (Child* c = find(words[1])) {
           targets.push_back(c);
         } else {
           return "ERR unknown process '" + words[1] + "' (capture, processor, shipper, all)\n";
         }
         for (Child* c : targets) c->request_restart();
         spdlog::info("control: restart {} requested", words[1]);
         return "OK\nrestarting " + words[1] + "\n";
       }},
      {"reload",
       [&]() -> std::string {
         std::string msg;
         bool ok = reload(msg);
         return (ok ? "OK\n" : "ERR ") + msg + "\n";
       }},
      {"stop",
       [&] {
         stop_after = true;
         return std::string("OK\nstopping: draining the pipeline\n");
       }},
  };
  auto it = table.find(words[0]);
  if (it == table.end()) return "ERR unknown command '" + words[0] + "' (status, health, restart, reload, stop)\n";
  return it->second();
}

void Supervisor::handle_control_client(int fd) {
  std::string who;
  if (!peer_allowed(fd, cfg_.supervisor.admin_group, who)) {
    spdlog::warn("control socket: refused {} (needs root or group '{}')", who,
                 cfg_.supervisor.admin_group);
    write_all(fd, fmt::format("DENIED\nringwardctl: permission denied: the control socket accepts "
                              "only root and members of the '{}' group\n", cfg_.supervisor.admin_group));
    close(fd);
    return;
  }
  // One bounded line, read with a short timeout so a silent client cannot stall the loop.
  std::string line;
  char buf[512];
  pollfd p{fd, POLLIN, 0};
  while (line.find('\n') == std::string::npos && line.size() < 4096) {
    if (poll(&p, 1, 1000) <= 0) break;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    line.append(buf, static_cast<size_t>(n));
  }
  if (auto nl = line.find('\n'); nl != std::string::npos) line.resize(nl);
  bool stop_after = false;
  write_all(fd, command(line, stop_after));
  close(fd);
  if (stop_after) stop_ = true;
}

bool Supervisor::wait_ring_empty(const ShmSegment& seg, uint64_t deadline_ns) {
  while (clock_.mono_ns() < deadline_ns) {
    if (ring_usage(seg.data(), seg.size(), false).used_bytes == 0) return true;
    usleep(10'000);
  }
  return false;
}

void Supervisor::wait_child_exit(Child& c, uint64_t deadline_ns) {
  while (c.pid() > 0 && clock_.mono_ns() < deadline_ns) {
    reap();
    if (c.pid() > 0) usleep(10'000);
  }
  if (c.pid() > 0) {
    spdlog::warn("{}: did not stop in time, killing pid {}", c.spec().name, c.pid());
    c.request_stop(SIGKILL);
    while (c.pid() > 0) {
      reap();
      usleep(5'000);
    }
  }
}

void Supervisor::shutdown() {
  // Drain in pipeline order: stop the source, let each ring empty, then stop its consumer.
  uint64_t deadline = clock_.mono_ns() + uint64_t(cfg_.supervisor.shutdown_timeout_s) * kSecond;
  for (auto& c : children_) c->set_stopping(true);
  const ShmSegment* rings[] = {&*raw_, &*out_};
  for (size_t i = 0; i < children_.size(); ++i) {
    Child& c = *children_[i];
    // Wait for ring i-1 to drain only if everything downstream is alive to drain it; with a
    // dead shipper the processor blocks on the full out ring and the raw ring never empties.
    bool downstream_alive = std::all_of(children_.begin() + static_cast<long>(i), children_.end(),
                                        [](const auto& d) { return d->pid() > 0; });
    if (i > 0 && children_[i - 1]->state() != ChildState::failed && downstream_alive)
      wait_ring_empty(*rings[i - 1], deadline);
    c.request_stop(SIGTERM);
    wait_child_exit(c, deadline);
  }
}

int Supervisor::run() {
  started_ns_ = clock_.mono_ns();
  if (!resolve_identities()) return 2;
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&mask, s);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  signal(SIGPIPE, SIG_IGN);
  signal_fd_ = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

  if (cfg_.supervisor.seccomp_audit) {
    kmsg_ = std::make_unique<KmsgSeccompReader>();
    if (!kmsg_->available())
      spdlog::warn("{}: a child killed by seccomp will be reported without the syscall name",
                   kmsg_->open_error());
  }

  std::error_code ec;
  std::filesystem::create_directories(cfg_.supervisor.run_dir, ec);
  std::filesystem::create_directories(std::filesystem::path(cfg_.supervisor.control_socket).parent_path(), ec);
  try {
    create_segments();
  } catch (const std::exception& e) {
    spdlog::error("shared memory: {}", e.what());
    return 2;
  }
  prepare_shipper_dirs();

  control_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (cfg_.supervisor.control_socket.size() >= sizeof addr.sun_path) {
    spdlog::error("control socket path too long: {}", cfg_.supervisor.control_socket);
    return 2;
  }
  std::strcpy(addr.sun_path, cfg_.supervisor.control_socket.c_str());
  unlink(addr.sun_path);
  if (bind(control_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(control_fd_, 16) != 0) {
    spdlog::error("control socket {}: {}", cfg_.supervisor.control_socket, strerror(errno));
    return 2;
  }
  // Only root and the admin group may connect at all; SO_PEERCRED is checked again per client.
  if (group* g = getgrnam(cfg_.supervisor.admin_group.c_str())) {
    if (chown(addr.sun_path, 0, g->gr_gid) != 0)
      spdlog::warn("chown control socket: {}", strerror(errno));
    chmod(addr.sun_path, 0660);
  } else {
    // Reachable by all so that a refused caller is told why; the per-client check refuses
    // everyone but root.
    chmod(addr.sun_path, 0666);
  }
  start_children();
  spdlog::info("supervising capture (root), processor ({}, own network namespace), shipper ({}); "
               "control socket {}", proc_id_.user.empty() ? "root" : proc_id_.user,
               ship_id_.user.empty() ? "root" : ship_id_.user, cfg_.supervisor.control_socket);
  notifier_.status("starting capture, processor, shipper");

  while (!stop_) {
    std::vector<pollfd> fds = {{signal_fd_, POLLIN, 0}, {control_fd_, POLLIN, 0}};
    for (auto& c : children_)
      if (c->ready_fd() >= 0) fds.push_back({c->ready_fd(), POLLIN, 0});
    int n = poll(fds.data(), fds.size(), 100);
    if (n < 0 && errno != EINTR) break;
    uint64_t now = clock_.mono_ns();
    if (fds[0].revents & POLLIN) {
      signalfd_siginfo si;
      while (read(signal_fd_, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) stop_ = true;
        if (si.ssi_signo == SIGCHLD) reap();
        if (si.ssi_signo == SIGHUP) {
          std::string msg;
          spdlog::info("SIGHUP: reloading {}", config_path_.empty() ? "<embedded default>" : config_path_);
          reload(msg);
        }
      }
    }
    for (size_t i = 2; i < fds.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP))) continue;
      for (auto& c : children_)
        if (c->ready_fd() == fds[i].fd) {
          char buf[16];
          ssize_t r = read(c->ready_fd(), buf, sizeof buf);
          if (r > 0) c->on_ready(now);
          else c->close_ready_fd();  // died before ready; SIGCHLD handles it
        }
    }
    if (fds[1].revents & POLLIN) {
      int cfd;
      while ((cfd = accept4(control_fd_, nullptr, nullptr, SOCK_CLOEXEC)) >= 0) handle_control_client(cfd);
    }
    reap();
    now = clock_.mono_ns();
    for (auto& c : children_)
      if (c->restart_due(now)) c->start(now);
    if (now - last_sample_ns_ >= kSecond) {
      sample(now);
      HealthReport h = health();
      publish_own_stats(h);
      std::string line = health_name(h.state);
      if (!h.reasons.empty()) line += ": " + h.reasons.front();
      if (line != last_health_line_) {
        if (!last_health_line_.empty()) spdlog::info("health: {}", line);
        last_health_line_ = line;
        if (announced_ready_) notifier_.status(line);
      }
    }
    if (!announced_ready_ &&
        std::all_of(children_.begin(), children_.end(),
                    [](const auto& c) { return c->state() == ChildState::running; })) {
      announced_ready_ = true;
      notifier_.ready("pipeline running");
      spdlog::info("every child reported ready");
    }
    // The loop is alive: keep the service manager's watchdog fed.
    notifier_.watchdog_tick(now);
  }
  spdlog::info("stopping: draining capture -> processor -> shipper");
  notifier_.stopping("draining the pipeline");
  shutdown();
  auto a = accounting();
  spdlog::info("stopped: captured {} delivered {} dead-lettered {} in flight {} unexplained {}",
               a.captured, a.delivered, a.dead_lettered, a.in_flight, a.unexplained);
  return 0;
}

}  // namespace ringward::supervisor
