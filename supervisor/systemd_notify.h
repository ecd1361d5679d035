// systemd integration of the supervisor: Type=notify readiness (READY=1 once every child reported
// ready the first time), RELOADING=1/STOPPING=1, a one-line STATUS=, and watchdog keep-alives at
// half of WatchdogSec (sd_watchdog_enabled). Without $NOTIFY_SOCKET every call is a no-op.
// Trust: supervisor (root); talks only to the service manager's socket.
#pragma once

#include <cstdint>
#include <string>

namespace ringward::supervisor {

class SystemdNotifier {
 public:
  SystemdNotifier();
  bool enabled() const { return enabled_; }
  uint64_t watchdog_interval_ns() const { return watchdog_ns_; }

  void ready(const std::string& status);
  void reloading();
  void status(const std::string& status);
  void stopping(const std::string& status);
  // Sends WATCHDOG=1 when half the watchdog timeout passed since the last keep-alive. The caller
  // calls it from its main loop only while the loop is healthy, so a hung loop stops the pings.
  void watchdog_tick(uint64_t now_ns);

 private:
  void send(const std::string& msg);
  bool enabled_ = false;
  uint64_t watchdog_ns_ = 0;
  uint64_t last_ping_ns_ = 0;
};

}  // namespace ringward::supervisor
