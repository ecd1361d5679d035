#include "common/process_args.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

namespace ringward {
namespace {
// Signal handlers can only reach process-wide state; this flag is the one such piece.
volatile sig_atomic_t g_stop = 0;
void on_stop(int) { g_stop = 1; }
}  // namespace

void notify_ready(int& ready_fd) {
  if (ready_fd < 0) return;
  static constexpr char kMsg[] = "READY\n";
  ssize_t n;
  do {
    n = write(ready_fd, kMsg, sizeof kMsg - 1);
  } while (n < 0 && errno == EINTR);
  close(ready_fd);
  ready_fd = -1;
}

void install_stop_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_stop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

bool stop_requested() { return g_stop != 0; }

}  // namespace ringward
