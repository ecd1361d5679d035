// MonitorServer implementation (cpp-httplib). Trust: shipper process, loopback clients.
#include "shipper/core/monitor_server.h"

#include "common/event_json.h"

#include <httplib.h>

#include <cmath>
#include <cstdio>

namespace ringward::shipper {

const char* to_string(HealthState s) {
  switch (s) {
    case HealthState::healthy: return "Healthy";
    case HealthState::degraded: return "Degraded";
    case HealthState::unhealthy: return "Unhealthy";
    case HealthState::unknown: return "Unknown";
  }
  return "Unknown";
}

MonitorServer::MonitorServer(MonitorOptions o) : o_(std::move(o)) {}

MonitorServer::~MonitorServer() { stop(); }

void MonitorServer::add_metrics(std::function<std::string()> f) { metrics_.push_back(std::move(f)); }
void MonitorServer::set_health(std::function<HealthReport()> f) { health_ = std::move(f); }
void MonitorServer::set_stats(std::function<std::string()> f) { stats_ = std::move(f); }

namespace {
// The reasons are rendered as JSON string bodies; one escaping rule for all of ringward.
std::string json_escape(std::string_view s) {
  std::string quoted;
  append_json_string(s, quoted);
  return quoted.substr(1, quoted.size() - 2);
}
}  // namespace

bool MonitorServer::start(std::string& err) {
  auto colon = o_.listen.rfind(':');
  if (colon == std::string::npos) {
    err = "metrics_listen '" + o_.listen + "': expected host:port";
    return false;
  }
  std::string host = o_.listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = 0;
  try {
    port = std::stoi(o_.listen.substr(colon + 1));
  } catch (...) {
    port = -1;
  }
  if (port < 0 || port > 65535) {
    err = "metrics_listen '" + o_.listen + "': bad port";
    return false;
  }
  server_ = std::make_unique<httplib::Server>();
  auto& s = *server_;
  const size_t threads = std::max<size_t>(1, o_.threads);
  s.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.set_read_timeout(o_.read_timeout);
  s.set_write_timeout(o_.write_timeout);
  s.set_keep_alive_timeout(static_cast<time_t>(o_.keep_alive_timeout.count()));
  s.set_keep_alive_max_count(o_.keep_alive_max);
  s.set_payload_max_length(4096);

  s.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(
        "<html><head><title>ringward shipper</title></head><body><h1>ringward shipper</h1><ul>"
        "<li><a href=\"/health\">/health</a> Healthy / Degraded / Unhealthy / Unknown</li>"
        "<li><a href=\"/metrics\">/metrics</a> Prometheus text</li>"
        "<li><a href=\"/stats\">/stats</a> JSON detail per sink and buffer</li></ul></body></html>\n",
        "text/html; charset=utf-8");
  });
  s.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    HealthReport h;
    if (health_) h = health_();
    else h.reasons.push_back("no health provider");
    std::string body = "{\"status\":\"" + std::string(to_string(h.state)) + "\",\"reasons\":[";
    for (size_t i = 0; i < h.reasons.size(); ++i)
      body += (i ? ",\"" : "\"") + json_escape(h.reasons[i]) + "\"";
    body += "]}\n";
    res.status = (h.state == HealthState::healthy || h.state == HealthState::degraded) ? 200 : 503;
    res.set_content(body, "application/json");
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    std::string body;
    for (auto& f : metrics_) {
      std::string t = f();
      if (!t.empty() && t.back() != '\n') t += '\n';
      body += t;
    }
    res.set_content(body, "text/plain; version=0.0.4; charset=utf-8");
  });
  s.Get("/stats", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(stats_ ? stats_() + "\n" : std::string("{}\n"), "application/json");
  });
  // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, which would let a second
  // shipper share the port silently instead of failing to start with a clear error.
  s.set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });

  if (port == 0) {
    port_ = s.bind_to_any_port(host);
    if (port_ <= 0) {
      err = "metrics_listen '" + o_.listen + "': cannot bind";
      return false;
    }
  } else {
    if (!s.bind_to_port(host, port)) {
      err = "metrics_listen '" + o_.listen + "': cannot bind (in use or bad address)";
      return false;
    }
    port_ = port;
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // httplib's stop() is a no-op until the accept loop runs: wait for it so stop() always works.
  for (int i = 0; i < 5000 && !server_->is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return true;
}

void MonitorServer::stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

// ---------------------------------------------------------------------------------------------
bool PromText::valid_name(std::string_view n) {
  if (n.empty()) return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

void PromText::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  for (char c : help) {
    if (c == '\\') out_ += "\\\\";
    else if (c == '\n') out_ += "\\n";
    else out_ += c;
  }
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void PromText::sample(std::string_view name,
                      std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
                      double value) {
  std::vector<std::pair<std::string, std::string>> v;
  for (auto& [k, val] : labels) v.emplace_back(std::string(k), std::string(val));
  write_sample(name, v, value);
}

void PromText::sample(std::string_view name,
                      const std::vector<std::pair<std::string, std::string>>& labels, double value) {
  write_sample(name, labels, value);
}

void PromText::write_sample(std::string_view name,
                            const std::vector<std::pair<std::string, std::string>>& labels,
                            double value) {
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    bool first = true;
    for (auto& [k, v] : labels) {
      if (!first) out_ += ',';
      first = false;
      out_ += k;
      out_ += "=\"";
      for (char c : v) {
        if (c == '\\') out_ += "\\\\";
        else if (c == '"') out_ += "\\\"";
        else if (c == '\n') out_ += "\\n";
        else out_ += c;
      }
      out_ += '"';
    }
    out_ += '}';
  }
  char buf[64];
  if (std::isnan(value)) std::snprintf(buf, sizeof buf, " NaN\n");
  else if (std::isinf(value)) std::snprintf(buf, sizeof buf, value > 0 ? " +Inf\n" : " -Inf\n");
  else if (value == std::floor(value) && std::fabs(value) < 1e15) std::snprintf(buf, sizeof buf, " %.0f\n", value);
  else std::snprintf(buf, sizeof buf, " %.9g\n", value);
  out_ += buf;
}

}  // namespace ringward::shipper
