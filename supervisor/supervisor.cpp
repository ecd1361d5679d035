#include "supervisor/supervisor.h"

#include <grp.h>
#include <poll.h>
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
  FILE* f = fopen(fmt::format("/proc/{}/status", cred.pid).c_str(), "r");
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

}  // namespace

Supervisor::Supervisor(Config cfg, std::string config_path, std::string libexec_dir)
    : cfg_(std::move(cfg)), config_path_(std::move(config_path)), libexec_dir_(std::move(libexec_dir)) {
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

void Supervisor::create_segments() {
  uint64_t cap = static_cast<uint64_t>(cfg_.supervisor.event_buffer_size);
  size_t seg = ring_segment_size(cap);
  raw_.emplace(ShmSegment::create(raw_ring_name(prefix_), seg, 0600));
  ring_format(raw_->data(), raw_->size(), cap, static_cast<uint64_t>(cfg_.processor.max_event_size), "raw");
  out_.emplace(ShmSegment::create(out_ring_name(prefix_), seg, 0600));
  ring_format(out_->data(), out_->size(), cap, static_cast<uint64_t>(cfg_.processor.max_event_size), "out");
  for (const char* name : kChildren) {
    auto s = ShmSegment::create(stats_page_name(prefix_, name), stats_page_size(), 0600);
    stats_page_format(s.data(), s.size());
    stats_.emplace_back(name, std::move(s));
  }
}

void Supervisor::remove_segments() {
  raw_.reset();
  out_.reset();
  stats_.clear();
  ShmSegment::remove(raw_ring_name(prefix_));
  ShmSegment::remove(out_ring_name(prefix_));
  for (const char* name : kChildren) ShmSegment::remove(stats_page_name(prefix_, name));
}

Child* Supervisor::find(const std::string& name) {
  for (auto& c : children_)
    if (c->spec().name == name) return c.get();
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
    if (spec.name == "processor") spec.user = cfg_.processor.user;
    if (spec.name == "shipper") spec.user = cfg_.shipper.user;
    children_.push_back(std::make_unique<Child>(spec, cfg_.supervisor));
    children_.back()->start(now);
  }
}

void Supervisor::reap() {
  int status = 0;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (auto& c : children_) {
      if (c->pid() == pid) c->on_exit(status, clock_.mono_ns());
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
      a.dead_lettered = snap.value("dead_lettered");
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
  a.unexplained = static_cast<int64_t>(a.captured + a.generated) -
                  static_cast<int64_t>(a.delivered + a.dead_lettered + dropped_total + a.in_flight);
  return a;
}

std::string Supervisor::health(std::vector<std::string>& reasons) {
  bool failed = false, degraded = false, unknown = false;
  for (auto& c : children_) {
    if (c->state() == ChildState::failed) {
      failed = true;
      reasons.push_back(c->spec().name + " permanently failed: " + c->last_exit());
    } else if (c->state() != ChildState::running) {
      degraded = true;
      reasons.push_back(c->spec().name + " is " + state_name(c->state()));
    }
  }
  if (children_.empty()) unknown = true;
  auto acc = accounting();
  for (auto& [k, v] : acc.dropped)
    if (v) {
      degraded = true;
      reasons.push_back(fmt::format("{} events dropped ({})", v, k));
    }
  if (failed) return "Unhealthy";
  if (unknown) return "Unknown";
  return degraded ? "Degraded" : "Healthy";
}

std::string Supervisor::status_json() {
  uint64_t now = clock_.mono_ns();
  std::string j = "{";
  j += fmt::format("\"version\":\"{}\",\"supervisor_pid\":{},\"uptime_s\":{:.1f},", RINGWARD_VERSION,
                   getpid(), (now - started_ns_) / 1e9);
  std::vector<std::string> reasons;
  std::string h = health(reasons);
  j += fmt::format("\"health\":{{\"state\":\"{}\",\"reasons\":[", h);
  for (size_t i = 0; i < reasons.size(); ++i) j += (i ? "," : "") + json_str(reasons[i]);
  j += "]},\"processes\":[";
  bool first = true;
  for (auto& c : children_) {
    StatsSnapshot snap;
    std::string status = "{}";
    for (auto& [name, seg] : stats_)
      if (name == c->spec().name) {
        StatsReader r(seg.data(), seg.size());
        snap = r.snapshot();
        status = r.status_json();
        if (status.empty() || status.front() != '{') status = "{}";
      }
    double uptime = c->pid() > 0 ? (now - c->started_ns()) / 1e9 : 0.0;
    j += fmt::format("{}{{\"name\":\"{}\",\"pid\":{},\"state\":\"{}\",\"restarts\":{},\"uptime_s\":{:.1f},"
                     "\"last_exit\":{},\"counters\":{{",
                     first ? "" : ",", c->spec().name, c->pid() > 0 ? c->pid() : 0,
                     state_name(c->state()), c->restarts(), uptime, json_str(c->last_exit()));
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
  auto a = accounting();
  j += fmt::format("\"accounting\":{{\"captured\":{},\"generated\":{},\"delivered\":{},"
                   "\"dead_lettered\":{},\"in_flight\":{},\"duplicates\":{},\"unexplained\":{},\"dropped\":{{",
                   a.captured, a.generated, a.delivered, a.dead_lettered, a.in_flight, a.duplicates,
                   a.unexplained);
  for (size_t i = 0; i < a.dropped.size(); ++i)
    j += fmt::format("{}\"{}\":{}", i ? "," : "", a.dropped[i].first, a.dropped[i].second);
  j += "}}}";
  return j;
}

std::string Supervisor::status_text() {
  uint64_t now = clock_.mono_ns();
  std::vector<std::string> reasons;
  std::string h = health(reasons);
  std::string t = fmt::format("ringward {}  health: {}\n", RINGWARD_VERSION, h);
  for (auto& r : reasons) t += "  - " + r + "\n";
  t += fmt::format("\n{:<10} {:>8} {:<9} {:>10} {:>8} {:>12} {:>12}\n", "PROCESS", "PID", "STATE",
                   "UPTIME", "RESTARTS", "IN", "OUT");
  for (auto& c : children_) {
    StatsSnapshot snap;
    for (auto& [name, seg] : stats_)
      if (name == c->spec().name) snap = StatsReader(seg.data(), seg.size()).snapshot();
    uint64_t in = c->spec().name == "capture" ? snap.value("captured") : snap.value("in");
    uint64_t out = c->spec().name == "capture" ? snap.value("written")
                   : c->spec().name == "shipper" ? snap.value("delivered") : snap.value("out");
    double up = c->pid() > 0 ? (now - c->started_ns()) / 1e9 : 0.0;
    t += fmt::format("{:<10} {:>8} {:<9} {:>9.0f}s {:>8} {:>12} {:>12}\n", c->spec().name,
                     c->pid() > 0 ? c->pid() : 0, state_name(c->state()), up, c->restarts(), in, out);
  }
  auto ru = ring_usage(raw_->data(), raw_->size(), false);
  auto ou = ring_usage(out_->data(), out_->size(), false);
  t += fmt::format("\nrings: raw {:.1f}% of {} MiB, out {:.1f}% of {} MiB\n",
                   100.0 * ru.used_bytes / ru.capacity, ru.capacity >> 20,
                   100.0 * ou.used_bytes / ou.capacity, ou.capacity >> 20);
  auto a = accounting();
  t += fmt::format("events: captured {}  generated {}  delivered {}  dead-lettered {}  in flight {}  "
                   "duplicates {}  unexplained {}\n",
                   a.captured, a.generated, a.delivered, a.dead_lettered, a.in_flight, a.duplicates,
                   a.unexplained);
  if (!a.dropped.empty()) {
    t += "dropped:\n";
    for (auto& [k, v] : a.dropped) t += fmt::format("  {:<40} {}\n", k, v);
  }
  return t;
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
  const std::string& cmd = words[0];
  bool json = std::find(words.begin(), words.end(), "--json") != words.end();
  if (cmd == "status") return "OK\n" + (json ? status_json() + "\n" : status_text());
  if (cmd == "health") {
    std::vector<std::string> reasons;
    std::string h = health(reasons);
    if (json) {
      std::string j = fmt::format("{{\"state\":\"{}\",\"reasons\":[", h);
      for (size_t k = 0; k < reasons.size(); ++k) j += (k ? "," : "") + json_str(reasons[k]);
      return "OK\n" + j + "]}\n";
    }
    std::string t = h + "\n";
    for (auto& r : reasons) t += "  - " + r + "\n";
    return "OK\n" + t;
  }
  if (cmd == "restart") {
    if (words.size() < 2) return "ERR usage: restart <capture|processor|shipper|all>\n";
    std::vector<Child*> targets;
    if (words[1] == "all") {
      for (auto& c : children_) targets.push_back(c.get());
    } else if (Child* c = find(words[1])) {
      targets.push_back(c);
    } else {
      return "ERR unknown process '" + words[1] + "' (capture, processor, shipper, all)\n";
    }
    for (Child* c : targets) {
      c->reset_failure();
      c->request_stop(SIGTERM);
    }
    return "OK\nrestarting " + words[1] + "\n";
  }
  if (cmd == "stop") {
    stop_after = true;
    return "OK\nstopping: draining the pipeline\n";
  }
  return "ERR unknown command '" + cmd + "' (status, health, restart, stop)\n";
}

void Supervisor::handle_control_client(int fd) {
  std::string who;
  if (!peer_allowed(fd, cfg_.supervisor.admin_group, who)) {
    spdlog::warn("control socket: refused {} (needs root or group '{}')", who,
                 cfg_.supervisor.admin_group);
    write_all(fd, fmt::format("DENIED\nringward: permission denied: the control socket accepts only "
                              "root and members of the '{}' group\n", cfg_.supervisor.admin_group));
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
  uint64_t deadline = clock_.mono_ns() + uint64_t(cfg_.supervisor.shutdown_timeout_s) * 1'000'000'000ULL;
  for (auto& c : children_) c->set_stopping(true);
  const ShmSegment* rings[] = {&*raw_, &*out_};
  for (size_t i = 0; i < children_.size(); ++i) {
    Child& c = *children_[i];
    if (i > 0 && children_[i - 1]->state() != ChildState::failed && c.pid() > 0)
      wait_ring_empty(*rings[i - 1], deadline);
    c.request_stop(SIGTERM);
    wait_child_exit(c, deadline);
  }
}

int Supervisor::run() {
  started_ns_ = clock_.mono_ns();
  sigset_t mask;
  sigemptyset(&mask);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&mask, s);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  signal(SIGPIPE, SIG_IGN);
  signal_fd_ = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

  std::error_code ec;
  std::filesystem::create_directories(cfg_.supervisor.run_dir, ec);
  std::filesystem::create_directories(std::filesystem::path(cfg_.supervisor.control_socket).parent_path(), ec);
  create_segments();

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
    chmod(addr.sun_path, 0666);  // the per-client check refuses everyone but root
  }
  start_children();
  spdlog::info("supervising capture, processor and shipper; control socket {}",
               cfg_.supervisor.control_socket);

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
    for (auto& c : children_)
      if (c->restart_due(now)) {
        if (c->start(now)) {
          // counted as a restart once started again
        }
      }
  }
  spdlog::info("stopping: draining capture -> processor -> shipper");
  shutdown();
  auto a = accounting();
  spdlog::info("stopped: captured {} delivered {} dead-lettered {} in flight {} unexplained {}",
               a.captured, a.delivered, a.dead_lettered, a.in_flight, a.unexplained);
  return 0;
}

}  // namespace ringward::supervisor
