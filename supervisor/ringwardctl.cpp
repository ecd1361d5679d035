// ringwardctl: the operator's command line. Talks to the supervisor over its unix control socket;
// the supervisor checks the caller (root or the admin group) with SO_PEERCRED. `config check` and
// `dlq list|purge` work without a running supervisor (the DLQ directory is read directly, so they
// need the rights on that directory: root, or the shipper's user/group).
//
// Exit codes: 0 ok, 1 the supervisor refused or failed the command (or the config is invalid),
// 2 usage error, 3 the supervisor is not reachable, 4 permission denied.
// Trust: runs as the operator; everything it prints comes from the supervisor or local files.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "common/clock.h"
#include "common/config.h"
#ifdef RINGWARD_CTL_HAVE_DLQ
#include "shipper/core/dead_letter_queue.h"
#endif

namespace {

enum Exit { kOk = 0, kFailed = 1, kUsage = 2, kUnreachable = 3, kDenied = 4 };

volatile sig_atomic_t g_interrupted = 0;
void on_interrupt(int) { g_interrupted = 1; }

struct Reply {
  int code = kOk;
  std::string body;   // for OK
  std::string error;  // for the others
};

Reply request(const std::string& socket_path, const std::string& line) {
  Reply r;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) {
    if (fd >= 0) close(fd);
    return {kUsage, "", "ringwardctl: socket path too long: " + socket_path};
  }
  std::strcpy(addr.sun_path, socket_path.c_str());
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    if (fd >= 0) close(fd);
    if (err == EACCES || err == EPERM)
      return {kDenied, "",
              fmt::format("ringwardctl: permission denied: cannot connect to {} (the control socket "
                          "accepts only root and members of the 'ringward' group)", socket_path)};
    return {kUnreachable, "",
            fmt::format("ringwardctl: the supervisor is not reachable at {}: {} (is ringward running? "
                        "systemctl status ringward)", socket_path, strerror(err))};
  }
  std::string msg = line + "\n";
  // A refusing supervisor answers DENIED and closes without reading: a failed send is not the
  // end, the answer may already be waiting.
  (void)!send(fd, msg.data(), msg.size(), MSG_NOSIGNAL);
  std::string reply;
  char buf[65536];
  pollfd p{fd, POLLIN, 0};
  while (poll(&p, 1, 10000) > 0) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  size_t nl = reply.find('\n');
  std::string head = reply.substr(0, nl);
  std::string body = nl == std::string::npos ? "" : reply.substr(nl + 1);
  if (head == "OK") return {kOk, body, ""};
  if (head == "DENIED") {
    while (!body.empty() && body.back() == '\n') body.pop_back();
    return {kDenied, "", body};
  }
  if (head.empty()) return {kUnreachable, "", "ringwardctl: the supervisor closed the connection without an answer"};
  return {kFailed, "", "ringwardctl: " + head.substr(head.find(' ') + 1)};
}

int print(const Reply& r) {
  if (r.code == kOk) std::cout << r.body;
  else std::cerr << r.error << "\n";
  return r.code;
}

int top(const std::string& socket_path, double interval_s, int iterations) {
  signal(SIGINT, on_interrupt);
  signal(SIGTERM, on_interrupt);
  bool tty = isatty(STDOUT_FILENO);
  for (int i = 0; !g_interrupted && (iterations <= 0 || i < iterations); ++i) {
    Reply r = request(socket_path, "status");
    if (r.code != kOk) return print(r);
    time_t now = time(nullptr);
    char ts[32];
    strftime(ts, sizeof ts, "%H:%M:%S", localtime(&now));
    // Home, clear screen: a plain ANSI redraw, no curses.
    if (tty) std::cout << "\033[H\033[2J";
    std::cout << "ringwardctl top  " << ts << "  (every " << interval_s << " s, Ctrl-C to quit)\n\n"
              << r.body << std::flush;
    if (iterations > 0 && i + 1 >= iterations) break;
    timespec d{static_cast<time_t>(interval_s), static_cast<long>((interval_s - static_cast<long>(interval_s)) * 1e9)};
    nanosleep(&d, nullptr);
  }
  return kOk;
}

#ifdef RINGWARD_CTL_HAVE_DLQ
int dlq_command(const ringward::Config& cfg, bool list, bool purge, const std::string& sink,
                const std::string& key, bool all, bool json) {
  ringward::SystemClock clock;
  ringward::shipper::io::IoError err;
  if (access(cfg.shipper.dlq_dir.c_str(), R_OK | X_OK) != 0) {
    int e = errno;
    std::cerr << "ringwardctl: cannot read the DLQ directory " << cfg.shipper.dlq_dir << ": " << strerror(e)
              << (e == EACCES ? " (run as root or as the shipper's user)" : "") << "\n";
    return e == EACCES ? kDenied : kFailed;
  }
  auto dlq = ringward::shipper::DeadLetterQueue::open(cfg.shipper.dlq_dir,
                                                      uint64_t(cfg.shipper.max_dlq_size_mb) << 20, clock, err);
  if (!dlq) {
    std::cerr << "ringwardctl: DLQ " << cfg.shipper.dlq_dir << ": " << err.what << "\n";
    return err.err == EACCES ? kDenied : kFailed;
  }
  ringward::shipper::DeadLetterQueue::Filter f;
  if (!sink.empty()) f.sink = sink;
  if (!key.empty()) f.key = key;
  if (list) {
    auto entries = dlq->list(f);
    if (json) {
      std::cout << "[";
      for (size_t i = 0; i < entries.size(); ++i) {
        const auto& e = entries[i];
        std::cout << (i ? "," : "")
                  << fmt::format("{{\"key\":\"{}\",\"sink\":\"{}\",\"status\":{},\"event_id\":{},\"bytes\":{},"
                                 "\"dead_wall_ns\":{},\"corrupt\":{}}}",
                                 e.key, e.sink, e.status, e.event_id, e.bytes, e.dead_wall_ns,
                                 e.corrupt ? "true" : "false");
      }
      std::cout << "]\n";
      return kOk;
    }
    std::cout << fmt::format("{:<36} {:<16} {:>6} {:>20} {:>8}  {}\n", "KEY", "SINK", "STATUS", "EVENT ID",
                             "BYTES", "REASON");
    for (const auto& e : entries)
      std::cout << fmt::format("{:<36} {:<16} {:>6} {:>20} {:>8}  {}\n", e.key, e.sink, e.status, e.event_id,
                               e.bytes, e.corrupt ? "(corrupt entry)" : e.reason);
    std::cout << entries.size() << " entries in " << cfg.shipper.dlq_dir << "\n";
    return kOk;
  }
  if (purge) {
    if (sink.empty() && key.empty() && !all) {
      std::cerr << "ringwardctl: dlq purge needs --sink, --key or --all\n";
      return kUsage;
    }
    size_t n = dlq->purge(f);
    std::cout << "purged " << n << " entries\n";
    return kOk;
  }
  return kUsage;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  CLI::App app{"ringwardctl: inspect and control a running ringward\n"
               "exit codes: 0 ok, 1 refused/failed, 2 usage, 3 supervisor unreachable, 4 permission denied"};
  std::string socket_path;
  app.add_option("--socket,-s", socket_path,
                 "supervisor control socket (default: from --config, else /run/ringward/control.sock)");
  std::string config_path;
  app.add_option("--config,-c", config_path, "configuration file to take the socket and DLQ paths from");
  app.require_subcommand(1);

  bool json = false;
  auto* status = app.add_subcommand("status", "processes, events/s, rings, sinks and drops at a glance");
  status->add_flag("--json", json, "one JSON object (stable keys, see docs/operations.md)");
  auto* health = app.add_subcommand("health", "Healthy / Degraded / Unhealthy / Unknown with reasons (exit 1 unless Healthy or Degraded)");
  health->add_flag("--json", json, "JSON output");
  std::string target;
  auto* restart = app.add_subcommand("restart", "restart a process now (not counted as a failure)");
  restart->add_option("process", target, "capture | processor | shipper | all")
      ->required()
      ->check(CLI::IsMember({"capture", "processor", "shipper", "all"}));
  auto* reload = app.add_subcommand("reload", "validate the configuration file and apply it (a bad file is refused)");
  auto* stop = app.add_subcommand("stop", "drain the pipeline and stop the supervisor");
  double interval = 1.0;
  int iterations = 0;
  auto* topc = app.add_subcommand("top", "live view, refreshed in the terminal (plain ANSI)");
  topc->add_option("--interval,-n", interval, "seconds between refreshes")->check(CLI::Range(0.1, 3600.0));
  topc->add_option("--iterations", iterations, "stop after N refreshes (0: until Ctrl-C)");
  std::string check_file;
  auto* config = app.add_subcommand("config", "configuration tools");
  auto* check = config->add_subcommand("check", "validate a configuration file (errors name file, line and key)");
  check->add_option("file", check_file, "the TOML file")->required();
  config->require_subcommand(1);
  auto* dlq = app.add_subcommand("dlq", "dead-letter queue (reads the DLQ directory directly)");
  std::string sink, key;
  bool all = false;
  auto* dlq_list = dlq->add_subcommand("list", "list dead-lettered events");
  dlq_list->add_option("--sink", sink, "only this sink");
  dlq_list->add_flag("--json", json, "JSON array");
  auto* dlq_purge = dlq->add_subcommand("purge", "delete dead-lettered events");
  dlq_purge->add_option("--sink", sink, "only this sink");
  dlq_purge->add_option("--key", key, "only this entry (a KEY from dlq list)");
  dlq_purge->add_flag("--all", all, "every entry");
  auto* dlq_replay = dlq->add_subcommand("replay", "re-queue dead-lettered events for delivery");
  dlq_replay->add_option("--sink", sink, "only this sink");
  dlq->require_subcommand(1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help/--version exit 0; every parse error is a usage error (2), whatever CLI11 numbers it.
    return app.exit(e) == 0 ? kOk : kUsage;
  }

  if (check->parsed()) {
    auto r = ringward::load_config(check_file);
    if (!r.config) {
      std::cerr << "invalid: " << r.error << "\n";
      return kFailed;
    }
    std::cout << "valid: " << check_file << " (" << r.config->shipper.sinks.size() << " sinks)\n";
    return kOk;
  }
  auto loaded = ringward::load_config(config_path);
  if (!loaded.config) {
    std::cerr << "ringwardctl: " << loaded.error << "\n";
    return kUsage;
  }
  if (socket_path.empty()) socket_path = loaded.config->supervisor.control_socket;

  if (dlq->parsed()) {
    if (dlq_replay->parsed()) {
      // Replay must go through the shipper's disk buffer, which only the shipper may write: leave
      // it a request (written atomically) that it serves within a second.
      const std::string dir = loaded.config->shipper.dlq_dir;
      const std::string tmp = dir + "/.replay.request.tmp", req = dir + "/replay.request";
      {
        std::ofstream out(tmp, std::ios::trunc);
        out << "sink=" << (sink.empty() ? "*" : sink) << "\n";
        if (!out) {
          std::cerr << "ringwardctl: cannot write " << tmp << ": " << strerror(errno) << "\n";
          return kFailed;
        }
      }
      if (rename(tmp.c_str(), req.c_str()) != 0) {
        std::cerr << "ringwardctl: cannot place the replay request in " << dir << ": " << strerror(errno) << "\n";
        return kFailed;
      }
      std::cout << "replay of " << (sink.empty() ? std::string("every sink") : "sink " + sink)
                << " requested; the shipper re-queues the entries within a second "
                   "(ringwardctl dlq list shows what is left)\n";
      return 0;
    }
#ifdef RINGWARD_CTL_HAVE_DLQ
    return dlq_command(*loaded.config, dlq_list->parsed(), dlq_purge->parsed(), sink, key, all, json);
#else
    std::cerr << "ringwardctl: built without the shipper core library: no DLQ support\n";
    return kFailed;
#endif
  }
  if (topc->parsed()) return top(socket_path, interval, iterations);
  std::string line;
  if (status->parsed()) line = json ? "status --json" : "status";
  else if (health->parsed()) line = json ? "health --json" : "health";
  else if (restart->parsed()) line = "restart " + target;
  else if (reload->parsed()) line = "reload";
  else if (stop->parsed()) line = "stop";
  Reply r = request(socket_path, line);
  int code = print(r);
  if (code == kOk && health->parsed()) {
    // Scripts and monitoring: non-zero when the pipeline is Unhealthy or Unknown.
    std::string state = r.body.substr(0, r.body.find('\n'));
    if (state.find("Unhealthy") != std::string::npos || state.find("Unknown") != std::string::npos)
      return kFailed;
  }
  return code;
}
