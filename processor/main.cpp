// ringward-processor: reads attacker-influenced events from the raw ring, validates and enriches
// them, applies the overload policies, and forwards them to the out ring. It runs unprivileged,
// without network, under a seccomp allowlist installed before the first event is read.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "common/config.h"
#include "common/log.h"
#include "common/process_args.h"
#include "common/shm.h"
#include "common/stats.h"
#include "processor/pipeline.h"

namespace {

int run(const ringward::ChildArgs& args) {
  using namespace ringward;
  auto loaded = load_config(args.config);
  if (!loaded.config) {
    spdlog::error("configuration: {}", loaded.error);
    return 2;
  }
  const Config& cfg = *loaded.config;
  init_logging("ringward-processor", cfg.logging.level);
  install_stop_signals();

  auto in_seg = ShmSegment::open(raw_ring_name(args.shm_prefix));
  auto out_seg = ShmSegment::open(out_ring_name(args.shm_prefix));
  auto stats_seg = ShmSegment::open(stats_page_name(args.shm_prefix, "processor"));
  RingReader in(in_seg.data(), in_seg.size());
  RingWriter out(out_seg.data(), out_seg.size());
  StatsWriter stats(stats_seg.data(), stats_seg.size());
  SystemClock clock;
  processor::Pipeline pipeline(cfg.processor, in, out, stats, clock);
  // Everything that needs a file or a privilege is done above; from here on the sandbox holds.
  if (auto err = pipeline.enter_sandbox(); !err.empty()) {
    spdlog::error("sandbox: {}", err);
    return 4;
  }
  stats.set_ready();
  int ready_fd = args.ready_fd;
  notify_ready(ready_fd);
  pipeline.run([] { return stop_requested(); });
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  ringward::ChildArgs args;
  CLI::App app{"ringward-processor: validates, inspects and forwards events (started by the supervisor)"};
  app.add_option("--config", args.config, "configuration file (default: embedded)");
  app.add_option("--shm-prefix", args.shm_prefix, "shared-memory segment prefix");
  app.add_option("--ready-fd", args.ready_fd, "fd to report readiness on");
  CLI11_PARSE(app, argc, argv);
  if (args.shm_prefix.empty()) {
    std::cerr << "--shm-prefix is required\n";
    return 2;
  }
  try {
    return run(args);
  } catch (const std::exception& e) {
    spdlog::error("fatal: {}", e.what());
    return 1;
  }
}
