// MonitorServer: the shipper's HTTP monitoring endpoint on `metrics_listen` (default
// 127.0.0.1:9464): `/health` (Healthy / Degraded / Unhealthy / Unknown with reasons; 200 for the
// first two, 503 otherwise), `/metrics` (Prometheus text from provider callbacks: the lead's text
// of every process's counters plus the shipper's own), `/stats` (JSON detail), `/` (index).
// Bounded: a fixed pool of handler threads, read/write/keep-alive timeouts, GET only, tiny request
// bodies. Trust: shipper process; requests come from anyone who can reach the address (loopback
// by default), so nothing in a request changes state.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}

namespace ringward::shipper {

enum class HealthState { healthy, degraded, unhealthy, unknown };
const char* to_string(HealthState s);  // "Healthy", "Degraded", "Unhealthy", "Unknown"

struct HealthReport {
  HealthState state = HealthState::unknown;
  std::vector<std::string> reasons;
};

struct MonitorOptions {
  std::string listen = "127.0.0.1:9464";  // host:port; port 0 picks a free port (tests)
  size_t threads = 4;                     // concurrent connections served
  std::chrono::seconds read_timeout{5};
  std::chrono::seconds write_timeout{5};
  std::chrono::seconds keep_alive_timeout{2};
  size_t keep_alive_max = 20;
};

class MonitorServer {
 public:
  explicit MonitorServer(MonitorOptions o);
  ~MonitorServer();
  MonitorServer(const MonitorServer&) = delete;
  MonitorServer& operator=(const MonitorServer&) = delete;

  // Providers are called on handler threads and must be thread-safe. Set before start().
  void add_metrics(std::function<std::string()> prometheus_text);
  void set_health(std::function<HealthReport()> health);
  void set_stats(std::function<std::string()> json);

  // Binds and serves on a background thread. False with `err` when the address cannot be bound.
  bool start(std::string& err);
  void stop();
  int port() const { return port_; }

 private:
  MonitorOptions o_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::vector<std::function<std::string()>> metrics_;
  std::function<HealthReport()> health_;
  std::function<std::string()> stats_;
};

// Prometheus text exposition builder: one HELP/TYPE per family, names and label values checked
// and escaped so the output always parses (promtool check metrics).
class PromText {
 public:
  // Starts a family; type is "counter" or "gauge". Counter names must end in _total.
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
              double value);
  void sample(std::string_view name, const std::vector<std::pair<std::string, std::string>>& labels,
              double value);
  const std::string& str() const { return out_; }
  static bool valid_name(std::string_view n);

 private:
  void write_sample(std::string_view name, const std::vector<std::pair<std::string, std::string>>& labels,
                    double value);
  std::string out_;
};

}  // namespace ringward::shipper
