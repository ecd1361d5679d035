// ringward-shipper: the only process with network access. Reads the out ring and delivers each
// event to its sinks; an event is delivered, dead-lettered, or dropped by a counted policy.
#include <CLI/CLI.hpp>
#include <capnp/message.h>
#include <spdlog/spdlog.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/event_codec.h"
#include "common/event_json.h"
#include "common/log.h"
#include "common/process_args.h"
#include "common/shm.h"
#include "common/stats.h"
#include "shipper/ndjson_file.h"

namespace {

int run(const ringward::ChildArgs& args) {
  using namespace ringward;
  auto loaded = load_config(args.config);
  if (!loaded.config) {
    spdlog::error("configuration: {}", loaded.error);
    return 2;
  }
  const Config& cfg = *loaded.config;
  init_logging("ringward-shipper", cfg.logging.level);
  install_stop_signals();

  auto in_seg = ShmSegment::open(out_ring_name(args.shm_prefix));
  auto stats_seg = ShmSegment::open(stats_page_name(args.shm_prefix, "shipper"));
  RingReader in(in_seg.data(), in_seg.size());
  StatsWriter stats(stats_seg.data(), stats_seg.size());
  SystemClock clock;

  const SinkConfig* file_sink = nullptr;
  for (const auto& s : cfg.shipper.sinks)
    if (s.type == "file") file_sink = &s;
  if (!file_sink) {
    spdlog::error("no usable sink configured");
    return 2;
  }
  shipper::NdjsonFile file(file_sink->get("path"));
  if (file.repaired_bytes())
    spdlog::warn("{}: cut a torn last line of {} bytes left by a crash", file.path(), file.repaired_bytes());

  size_t c_in = stats.counter("in"), c_delivered = stats.counter("delivered"),
         c_dup = stats.counter("duplicates"), c_in_pos = stats.counter("in_pos"),
         c_last0 = stats.counter("last_id_capture"), c_last1 = stats.counter("last_id_processor"),
         c_invalid = stats.counter("dropped.shipper.invalid"), c_dl = stats.counter("dead_lettered"),
         c_recovered = stats.counter("recovered_from_sink");
  (void)c_dl;
  size_t c_last[2] = {c_last0, c_last1};
  uint64_t snap = stats.get(c_in_pos);
  if (snap > in.position()) in.seek(snap);
  // Records the file already holds beyond the snapshot were delivered before a crash: count them
  // as delivered once, write them not again.
  std::array<uint64_t, 2> in_file = file.last_ids();

  stats.set_ready();
  int ready_fd = args.ready_fd;
  notify_ready(ready_fd);
  EventDecoder decoder(1 << 20);
  std::string lines;
  uint64_t last_sync = clock.mono_ns();
  while (true) {
    lines.clear();
    size_t n = 0;
    while (n < 512) {
      auto rec = in.next();
      if (!rec) break;
      ++n;
      stats.add(c_in);
      auto ev = decoder.decode(*rec);
      if (!ev) {
        stats.add(c_invalid);
        continue;
      }
      uint64_t id = ev->getId();
      int origin = static_cast<int>(id >> 63);
      if (id <= stats.get(c_last[origin])) {
        stats.add(c_dup);
        continue;
      }
      stats.set(c_last[origin], id);
      stats.add(c_delivered);
      if (id <= in_file[origin]) {
        stats.add(c_recovered);
        continue;
      }
      append_event_json(*ev, lines);
      lines += '\n';
    }
    if (!lines.empty()) file.append(lines);
    uint64_t now = clock.mono_ns();
    if (cfg.shipper.fsync == "always" || (n > 0 && now - last_sync > uint64_t(cfg.shipper.fsync_interval_ms) * 1'000'000)) {
      file.sync();
      last_sync = now;
    }
    stats.set(c_in_pos, in.position());
    stats.heartbeat(now);
    stats.publish();
    in.commit();
    if (n == 0) {
      if (stop_requested()) break;
      in.wait(100'000'000);
    }
  }
  file.sync();
  spdlog::info("stopped: {} events delivered", stats.get(c_delivered));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  ringward::ChildArgs args;
  CLI::App app{"ringward-shipper: delivers events to the sinks (started by the supervisor)"};
  app.add_option("--config", args.config, "configuration file (default: embedded)");
  app.add_option("--shm-prefix", args.shm_prefix, "shared-memory segment prefix")->required();
  app.add_option("--ready-fd", args.ready_fd, "fd to report readiness on");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(args);
  } catch (const std::exception& e) {
    spdlog::error("fatal: {}", e.what());
    return 1;
  }
}
