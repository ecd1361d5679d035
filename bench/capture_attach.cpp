// Benchmark helper: attaches the eBPF source with default options and drains it into a counting
// emitter until SIGTERM/SIGINT, then prints what it received and what the kernel dropped.
// Used by bench/capture_overhead.sh to measure the overhead a user pays. Trust: root tool.
#include <signal.h>

#include <chrono>
#include <cstdio>

#include "capture/ebpf/ebpf_source.h"

namespace {

volatile sig_atomic_t g_stop = 0;  // the one thing a signal handler may touch
void on_signal(int) { g_stop = 1; }

class CountingEmitter : public ringward::capture::Emitter {
 public:
  bool emit(ringward::schema::Priority, kj::FunctionParam<void(ringward::schema::Event::Builder)>) override {
    events++;
    return true;
  }
  void report_lost(std::string_view, std::string_view, std::string_view, int, uint64_t n) override {
    lost += n;
  }
  uint64_t events = 0, lost = 0;
};

}  // namespace

int main() {
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  ringward::SystemClock clock;
  ringward::capture::EbpfOptions options;
  auto r = ringward::capture::EbpfSource::create(options, clock);
  if (!r) {
    fprintf(stderr, "%s\n", r.error.c_str());
    return 1;
  }
  fprintf(stderr, "capture_attach: attached\n");
  CountingEmitter em;
  while (!g_stop) r.source->pump(em, std::chrono::milliseconds(50));
  auto c = r.source->counters();
  printf("events=%llu lost=%llu http=%llu\n", (unsigned long long)em.events,
         (unsigned long long)em.lost,
         (unsigned long long)c[ringward::capture::EbpfKind::http].received);
  return 0;
}
