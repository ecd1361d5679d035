// ringward-capture: the only process that touches the kernel's event sources. It is started with
// the privileges it needs to load and attach eBPF programs, drops every privilege once attached,
// and from then on only moves events from its source into the shared-memory "raw" ring.
#include <unistd.h>

#include <chrono>
#include <memory>

#include <spdlog/spdlog.h>

#include "capture/emitter.h"
#include "capture/synthetic_source.h"
#include "common/child_main.h"
#include "common/config.h"
#include "common/log.h"
#include "common/process_args.h"
#include "common/shm.h"
#include "common/stats.h"

#ifdef RINGWARD_HAVE_EBPF
#include "capture/ebpf/ebpf_source.h"
#endif
#ifdef RINGWARD_HAVE_SANDBOX
#include "capture/sandbox_policy.h"
#endif

namespace {

std::string host_name(const std::string& configured) {
  if (!configured.empty()) return configured;
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

int run(const ringward::ChildArgs& args, const ringward::Config& cfg) {
  using namespace ringward;

  auto ring_seg = ShmSegment::open(raw_ring_name(args.shm_prefix));
  auto stats_seg = ShmSegment::open(stats_page_name(args.shm_prefix, "capture"));
  RingWriter ring(ring_seg.data(), ring_seg.size());
  StatsWriter stats(stats_seg.data(), stats_seg.size());
  SystemClock clock;
  capture::CaptureEmitter emitter(ring, stats, clock, host_name(cfg.capture.host),
                                  static_cast<size_t>(cfg.capture.overflow_events));
  // The synthetic source resumes from the last event written (synthetic_index), so what a killed
  // predecessor still held comes again; the kernel's events do not.
  const bool regenerates = cfg.capture.source == "synthetic";
  emitter.recover(regenerates);

  size_t c_synthetic_index = stats.counter("synthetic_index");
  std::unique_ptr<capture::EventSource> source;
#ifdef RINGWARD_HAVE_EBPF
  capture::EbpfSource* ebpf = nullptr;
#endif
  capture::SyntheticSource* synthetic = nullptr;
  if (cfg.capture.source == "synthetic") {
    auto s = std::make_unique<capture::SyntheticSource>(
        clock, static_cast<uint64_t>(cfg.capture.synthetic_seed),
        static_cast<uint64_t>(cfg.capture.synthetic_events),
        static_cast<uint64_t>(cfg.capture.synthetic_rate), stats.get(c_synthetic_index));
    synthetic = s.get();
    source = std::move(s);
  } else {
#ifdef RINGWARD_HAVE_EBPF
    capture::EbpfOptions opts;
    // Capture and the supervisor by pid; processor and shipper (restarted with new pids) as the
    // supervisor's children named ringward-*.
    opts.exclude_pids = {static_cast<uint32_t>(getpid()), static_cast<uint32_t>(getppid())};
    opts.exclude_children_of = static_cast<uint32_t>(getppid());
    opts.include_comms = cfg.capture.include_comm;
    opts.exclude_comms = cfg.capture.exclude_comm;
    for (int64_t uid : cfg.capture.include_uids) opts.include_uids.push_back(static_cast<uint32_t>(uid));
    for (int64_t uid : cfg.capture.exclude_uids) opts.exclude_uids.push_back(static_cast<uint32_t>(uid));
    // A cgroup that does not exist holds no task: left out with a warning (a unit not started
    // yet must not keep capture down). An include list none of which exists would capture
    // nothing at all, which is surely a mistake.
    const std::string cg_mount = capture::cgroup2_mount();
    auto resolve = [&](const std::vector<std::string>& paths, std::vector<capture::CgroupSubtree>& out,
                       const char* key) {
      for (const auto& p : paths) {
        auto r = capture::resolve_cgroup(cg_mount, p);
        if (r.subtree) {
          spdlog::info("capture.{}: {} is cgroup id {} ({})", key, p, r.subtree->id, r.subtree->dir);
          out.push_back(*r.subtree);
        } else {
          spdlog::warn("capture.{}: {} (left out of the filter)", key, r.error);
        }
      }
    };
    resolve(cfg.capture.include_cgroups, opts.include_cgroups, "include_cgroups");
    resolve(cfg.capture.exclude_cgroups, opts.exclude_cgroups, "exclude_cgroups");
    if (!cfg.capture.include_cgroups.empty() && opts.include_cgroups.empty()) {
      spdlog::error("capture.include_cgroups: none of the listed cgroups exists, nothing would be captured");
      return 3;
    }
    opts.http_capture = cfg.capture.http_capture;
    opts.tls_uprobes = cfg.capture.tls_uprobes;
    opts.http_request_timeout = std::chrono::milliseconds(cfg.capture.http_timeout_ms);
    opts.max_argv_bytes = static_cast<uint32_t>(cfg.capture.max_argv_bytes);
    auto opened = capture::EbpfSource::create(opts, clock);
    if (!opened) {
      spdlog::error("eBPF source: {}", opened.error);
      return 3;
    }
    ebpf = opened.source.get();
    source = std::move(opened.source);
#else
    spdlog::error("this build has no eBPF source; set [capture] source = \"synthetic\"");
    return 3;
#endif
  }
#ifdef RINGWARD_HAVE_SANDBOX
  // Everything privileged is done: the source holds its fds and mappings. Drop it all.
  if (auto err = capture::enter_capture_sandbox(); !err.empty()) {
    spdlog::error("sandbox: {}", err);
    return 4;
  }
#endif
  std::string hooks;
  for (const auto& h : source->active_hooks()) hooks += (hooks.empty() ? "" : "\",\"") + h;
  stats.set_status_json(fmt::format(R"({{"source":"{}","active_hooks":["{}"]}})", cfg.capture.source, hooks));
  emitter.flush();
  stats.set_ready();
  int ready_fd = args.ready_fd;
  notify_ready(ready_fd);
  spdlog::info("capturing from the {} source into ring {}", cfg.capture.source,
               raw_ring_name(args.shm_prefix));

  bool source_open = true;
#ifdef RINGWARD_HAVE_EBPF
  // What the kernel left out on purpose (filters, the agent's own processes) and how pending
  // HTTP requests ended: not losses, but an operator must be able to see them.
  std::vector<size_t> c_filtered;
  size_t c_http_timeouts = 0, c_http_evicted = 0;
  if (ebpf) {
    for (size_t k = 0; k < static_cast<size_t>(capture::EbpfKind::count); k++)
      c_filtered.push_back(stats.counter(
          fmt::format("filtered.{}", capture::ebpf_kind_name(static_cast<capture::EbpfKind>(k)))));
    c_http_timeouts = stats.counter("http.timeouts");
    c_http_evicted = stats.counter("http.evicted");
  }
  uint64_t last_counters_ns = 0;
#endif
  auto record_progress = [&] {
    if (synthetic) stats.set(c_synthetic_index, synthetic->next_index() - emitter.queued());
#ifdef RINGWARD_HAVE_EBPF
    if (ebpf && clock.mono_ns() - last_counters_ns >= 1'000'000'000ULL) {
      last_counters_ns = clock.mono_ns();
      auto c = ebpf->counters();
      for (size_t k = 0; k < c_filtered.size(); k++) stats.set(c_filtered[k], c.kinds[k].filtered);
      stats.set(c_http_timeouts, c.http_timeouts);
      stats.set(c_http_evicted, c.http_evicted);
    }
#endif
    emitter.flush();
  };
  while (!stop_requested()) {
    if (emitter.saturated() && !emitter.drain()) {
      record_progress();
      ring.wait_for_space(4096, 50'000'000);
      continue;
    }
    if (!source_open) {
      record_progress();
      // Exhausted (synthetic count reached): idle until told to stop.
      usleep(50'000);
      continue;
    }
    source_open = source->pump(emitter, std::chrono::milliseconds(5));
    record_progress();
  }
  // Graceful stop: take what the kernel ring still holds (it dies with this process), hand over
  // what waits, bounded in time, and count what could not be handed over. (The synthetic source
  // makes what is still queued again at the next start: synthetic_index excludes it.)
  if (source_open && !regenerates) {
    source->pump(emitter, std::chrono::milliseconds(20));
    source->finish(emitter);
  }
  for (int i = 0; i < 100 && emitter.saturated(); ++i) {
    if (!emitter.drain()) ring.wait_for_space(4096, 20'000'000);
  }
  if (!regenerates)
    if (size_t left = emitter.drop_queued("shutdown"))
      spdlog::warn("stopping with the raw ring full: {} waiting events dropped (dropped.capture.shutdown)", left);
  record_progress();
  spdlog::info("stopped: {} events captured", stats.get(stats.counter("captured")));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return ringward::run_child(argc, argv, "capture",
                             "ringward-capture: moves kernel events into the raw ring (started by "
                             "the supervisor)",
                             run);
}
