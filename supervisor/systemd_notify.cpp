// sd_notify wrapper (see systemd_notify.h). Trust: supervisor.
#include "supervisor/systemd_notify.h"

#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <ctime>

#include <spdlog/spdlog.h>

namespace ringward::supervisor {

SystemdNotifier::SystemdNotifier() {
  enabled_ = std::getenv("NOTIFY_SOCKET") != nullptr;
  uint64_t usec = 0;
  // unset_environment=0: children must not inherit it either way; the supervisor strips it.
  if (enabled_ && sd_watchdog_enabled(0, &usec) > 0) watchdog_ns_ = usec * 1000 / 2;
}

void SystemdNotifier::send(const std::string& msg) {
  if (!enabled_) return;
  int r = sd_notify(0, msg.c_str());
  if (r < 0) spdlog::warn("sd_notify({}): error {}", msg.substr(0, msg.find('\n')), -r);
}

void SystemdNotifier::ready(const std::string& s) { send("READY=1\nSTATUS=" + s); }
void SystemdNotifier::reloading() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t usec = uint64_t(ts.tv_sec) * 1000000 + uint64_t(ts.tv_nsec) / 1000;
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}
void SystemdNotifier::status(const std::string& s) { send("STATUS=" + s); }
void SystemdNotifier::stopping(const std::string& s) { send("STOPPING=1\nSTATUS=" + s); }

void SystemdNotifier::watchdog_tick(uint64_t now_ns) {
  if (!enabled_ || watchdog_ns_ == 0) return;
  if (now_ns - last_ping_ns_ < watchdog_ns_) return;
  last_ping_ns_ = now_ns;
  send("WATCHDOG=1");
}

}  // namespace ringward::supervisor
