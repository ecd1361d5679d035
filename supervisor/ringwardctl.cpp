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

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <string>
#include <tuple>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "common/clock.h"
#include "common/config.h"
#include "supervisor/json_lite.h"
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

// ---- per-endpoint HTTP health (the processor's status JSON, "endpoints") ----

struct EndpointRow {
  std::string service, route, state;
  double score = 0, error_rate_5xx = 0, business_error_rate = 0, p99_ms = 0;
  uint64_t requests = 0;
};

struct EndpointTable {
  bool available = false;  // false: no processor status (not running, or nothing published yet)
  std::vector<EndpointRow> rows;
  double window_s = 0;
  uint64_t series = 0, series_max = 0;
};

// The processor writes its own status page and may be compromised: its strings go to a terminal,
// so control bytes (escape sequences) are replaced.
std::string printable(std::string s) {
  for (auto& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return s;
}

std::string json_escape(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += static_cast<char>(c);
    else if (c < 0x20) out += fmt::format("\\u{:04x}", c);
    else out += static_cast<char>(c);
  }
  return out + "\"";
}

// From `status --json`: processes[name == "processor"].status.endpoints.
EndpointTable endpoint_table(const std::string& status_json) {
  EndpointTable t;
  ringward::supervisor::JsonLimits limits;
  limits.max_bytes = 4u << 20;
  limits.max_elements = 200000;
  auto doc = ringward::supervisor::parse_json(status_json, nullptr, limits);
  if (!doc) return t;
  for (const auto& proc : (*doc)["processes"].items()) {
    if (proc["name"].str() != "processor") continue;
    const auto& ep = proc["status"]["endpoints"];
    if (!ep.is_object()) return t;
    t.available = true;
    t.window_s = ep["window_ns"].num() / 1e9;
    t.series = static_cast<uint64_t>(ep["series"].num());
    t.series_max = static_cast<uint64_t>(ep["series_max"].num());
    for (const auto& e : ep["endpoints"].items()) {
      EndpointRow r;
      r.service = printable(e["service"].str());
      r.route = printable(e["route"].str());
      r.state = printable(e["state"].str());
      r.score = e["score"].num();
      r.requests = static_cast<uint64_t>(e["requests"].num());
      r.error_rate_5xx = e["error_rate_5xx"].num();
      r.business_error_rate = e["business_error_rate"].num();
      r.p99_ms = e["p99_ms"].num();
      t.rows.push_back(std::move(r));
    }
  }
  // Worst first: the endpoint an operator should look at is on top.
  std::sort(t.rows.begin(), t.rows.end(), [](const EndpointRow& a, const EndpointRow& b) {
    if (a.score != b.score) return a.score < b.score;
    return std::tie(a.service, a.route) < std::tie(b.service, b.route);
  });
  return t;
}

void print_endpoint_table(const EndpointTable& t) {
  if (!t.available) {
    std::cout << "\nENDPOINTS: not available (the processor is not running or has not published)\n";
    return;
  }
  std::cout << fmt::format("\nENDPOINTS ({} with traffic in the last {:.0f} s; {} live metric series, "
                           "max_series {})\n",
                           t.rows.size(), t.window_s, t.series, t.series_max);
  if (t.rows.empty()) return;
  size_t ws = 7, wr = 5;
  for (const auto& r : t.rows) {
    ws = std::min<size_t>(std::max(ws, r.service.size()), 64);
    wr = std::min<size_t>(std::max(wr, r.route.size()), 96);
  }
  std::cout << fmt::format("{:<{}}  {:<{}}  {:>5}  {:<9}  {:>9}  {:>8}  {:>8}  {:>9}\n", "SERVICE", ws,
                           "ROUTE", wr, "SCORE", "STATE", "REQUESTS", "5XX", "BUSINESS", "P99 MS");
  for (const auto& r : t.rows)
    std::cout << fmt::format("{:<{}}  {:<{}}  {:>5.1f}  {:<9}  {:>9}  {:>7.2f}%  {:>7.2f}%  {:>9.1f}\n",
                             r.service, ws, r.route, wr, r.score, r.state, r.requests,
                             r.error_rate_5xx * 100, r.business_error_rate * 100, r.p99_ms);
}

std::string endpoints_json(const EndpointTable& t) {
  std::string j = "[";
  for (size_t i = 0; i < t.rows.size(); ++i) {
    const auto& r = t.rows[i];
    j += fmt::format("{}{{\"service\":{},\"route\":{},\"score\":{},\"state\":{},\"requests\":{},"
                     "\"error_rate_5xx\":{},\"business_error_rate\":{},\"p99_ms\":{}}}",
                     i ? "," : "", json_escape(r.service), json_escape(r.route), r.score,
                     json_escape(r.state), r.requests, r.error_rate_5xx, r.business_error_rate,
                     r.p99_ms);
  }
  return j + "]";
}

// `health`: the supervisor's verdict, then the per-endpoint table from the processor's status.
int health_command(const std::string& socket_path, bool json) {
  Reply r = request(socket_path, json ? "health --json" : "health");
  if (r.code != kOk) return print(r);
  Reply st = request(socket_path, "status --json");
  EndpointTable table = st.code == kOk ? endpoint_table(st.body) : EndpointTable{};
  if (json) {
    std::string body = r.body;
    while (!body.empty() && (body.back() == '\n' || body.back() == ' ')) body.pop_back();
    if (!body.empty() && body.back() == '}') {
      body.pop_back();
      body += ",\"endpoints\":" + (table.available ? endpoints_json(table) : std::string("null")) + "}";
    }
    std::cout << body << "\n";
  } else {
    std::cout << r.body;
    print_endpoint_table(table);
  }
  // Scripts and monitoring: non-zero when the pipeline is Unhealthy or Unknown.
  std::string state = r.body.substr(0, r.body.find('\n'));
  if (state.find("Unhealthy") != std::string::npos || state.find("Unknown") != std::string::npos)
    return kFailed;
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
  if (health->parsed()) return health_command(socket_path, json);
  std::string line;
  if (status->parsed()) line = json ? "status --json" : "status";
  else if (restart->parsed()) line = "restart " + target;
  else if (reload->parsed()) line = "reload";
  else if (stop->parsed()) line = "stop";
  return print(request(socket_path, line));
}
