// ringward-shipper: the only process with network access. Reads the out ring, stores every event
// in the crash-safe disk buffer (shipper/core), and one delivery worker per configured sink
// (file NDJSON, Splunk HEC, OTLP/HTTP, NATS JetStream) delivers it from its own position in the
// buffer: an event is delivered, dead-lettered, or dropped by a counted policy. Serves
// /health, /metrics, /stats on `metrics_listen`. Trust: shipper process (own uid, network); the
// out ring is written by the sandboxed processor and decoded as hostile input.
#include <CLI/CLI.hpp>
#include <capnp/message.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <chrono>
#include <memory>
#include <set>
#include <thread>

#include "common/clock.h"
#include "common/child_main.h"
#include "common/config.h"
#include "common/event_codec.h"
#include "common/log.h"
#include "common/process_args.h"
#include "common/shm.h"
#include "common/stats.h"
#include "common/stats_prometheus.h"
#include "shipper/core/dead_letter_queue.h"
#include "shipper/core/delivery.h"
#include "shipper/core/disk_buffer.h"
#include "shipper/core/file_sink.h"
#include "shipper/core/monitor_server.h"
#include "shipper/core/shipper_metrics.h"
#include "shipper/sinks/sink_config.h"

namespace {

using namespace ringward;
using namespace ringward::shipper;

// "250ms", "5s", "2m", or bare milliseconds; nullopt when it does not parse.
std::optional<std::chrono::milliseconds> parse_duration_ms(const std::string& s) {
  size_t i = 0;
  uint64_t v = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9' && v < (1ull << 40)) v = v * 10 + uint64_t(s[i++] - '0');
  if (i == 0) return std::nullopt;
  std::string unit = s.substr(i);
  if (unit.empty() || unit == "ms") return std::chrono::milliseconds(v);
  if (unit == "s") return std::chrono::milliseconds(v * 1000);
  if (unit == "m") return std::chrono::milliseconds(v * 60'000);
  return std::nullopt;
}

struct ConfiguredSink {
  std::string name;
  std::unique_ptr<Sink> sink;
  SinkWorkerOptions options;
};

// Builds every configured sink; an error names the sink's config origin.
bool build_sinks(const ShipperConfig& cfg, const Clock& clock, std::vector<ConfiguredSink>& out,
                 std::string& error) {
  std::set<std::string> names;
  for (const auto& sc : cfg.sinks) {
    ConfiguredSink cs;
    // A local file takes big batches cheaply; a network peer is asked for less at a time.
    cs.options.batch_size = static_cast<size_t>(
        std::max<int64_t>(1, sc.get_int("batch_size", sc.type == "file" ? 5000 : 500)));
    // The file sink is local: a short default linger keeps the NDJSON close to real time.
    std::string flush = sc.get("flush_interval", sc.type == "file" ? "200ms" : "1s");
    auto fi = parse_duration_ms(flush);
    if (!fi) {
      error = sc.origin + ": key 'shipper.sinks.flush_interval': '" + flush + "' is not a duration";
      return false;
    }
    cs.options.flush_interval = *fi;
    cs.options.backoff.max_retries = static_cast<uint64_t>(std::max<int64_t>(0, sc.get_int("max_retries", 0)));
    if (sc.type == "file") {
      FileSinkOptions fo;
      fo.path = sc.get("path");
      if (fo.path.empty()) {
        error = sc.origin + ": key 'shipper.sinks.path': required for a file sink";
        return false;
      }
      fo.max_file_bytes = static_cast<uint64_t>(std::max<int64_t>(1, sc.get_int("max_file_mb", 1024))) << 20;
      fo.max_files = static_cast<size_t>(std::max<int64_t>(0, sc.get_int("max_files", 5)));
      // `fsync = "always"`: a batch is acknowledged only once it is on disk. Otherwise it is
      // acknowledged once written (it survives a crash of the process, not of the machine) and
      // the disk buffer's fsync policy bounds what a power loss can take.
      fo.fsync = cfg.fsync == "always";
      io::IoError err;
      auto fs = FileSink::open(fo, err);
      if (!fs) {
        error = sc.origin + ": file sink: " + err.what;
        return false;
      }
      if (fs->repaired_bytes())
        spdlog::warn("{}: cut a torn last line of {} bytes left by a crash", fo.path.string(), fs->repaired_bytes());
      cs.sink = std::move(fs);
    } else {
      sinks::SinkConfig nc;
      nc.type = sc.type;
      for (const auto& [k, v] : sc.options) {
        if (k == "name" || k == "max_retries") continue;
        // The config layer accepted the key; a sink that cannot apply it is a configuration
        // error, never a silently ignored setting.
        if (auto e = sinks::set_sink_key(nc, k, v)) {
          error = sc.origin + ": key 'shipper.sinks." + k + "': " + *e;
          return false;
        }
      }
      auto problems = sinks::validate(nc);
      if (!problems.empty()) {
        error = sc.origin + ": " + problems.front();
        return false;
      }
      auto made = sinks::make_sink(nc, clock);
      if (!made.sink) {
        error = sc.origin + ": " + made.error;
        return false;
      }
      cs.sink = std::move(made.sink);
    }
    cs.name = sc.get("name", std::string(cs.sink->name()));
    for (int n = 2; names.count(cs.name); ++n) cs.name = std::string(cs.sink->name()) + "#" + std::to_string(n);
    names.insert(cs.name);
    out.push_back(std::move(cs));
  }
  if (out.empty()) {
    error = "no sink configured ([[shipper.sinks]])";
    return false;
  }
  return true;
}

// Every process's stats page as Prometheus text: its labelled metrics blob plus its counters.
// Every process's statistics page as Prometheus text. The pages are written by other processes (a
// compromised processor writes its own), so names are sanitised by the reader and the labelled
// text each process supplies passes a strict line filter; rejected lines are counted.
std::string pages_metrics_text(const std::string& prefix, uint64_t& rejected_lines) {
  std::vector<NamedSnapshot> pages;
  std::string labelled;
  for (const char* proc : {"supervisor", "capture", "processor", "shipper"}) {
    try {
      auto seg = ShmSegment::open(stats_page_name(prefix, proc), false);
      StatsReader r(seg.data(), seg.size());
      pages.push_back({proc, r.snapshot()});
      rejected_lines += append_sanitized_metrics(r.metrics_text(), labelled);
    } catch (const std::exception&) {
      // Page not there (process not started yet): nothing to show for it.
    }
  }
  std::string out;
  append_stats_prometheus(pages, out);
  out += labelled;
  fmt::format_to(std::back_inserter(out),
                 "# HELP ringward_shipper_metrics_lines_rejected_total Malformed lines dropped from processes' metrics text.\n"
                 "# TYPE ringward_shipper_metrics_lines_rejected_total counter\n"
                 "ringward_shipper_metrics_lines_rejected_total {}\n", rejected_lines);
  return out;
}

int run(const ChildArgs& args, const Config& cfg) {

  auto in_seg = ShmSegment::open(out_ring_name(args.shm_prefix));
  auto stats_seg = ShmSegment::open(stats_page_name(args.shm_prefix, "shipper"));
  RingReader in(in_seg.data(), in_seg.size());
  StatsWriter stats(stats_seg.data(), stats_seg.size());
  SystemClock clock;

  std::vector<ConfiguredSink> sinks;
  std::string error;
  if (!build_sinks(cfg.shipper, clock, sinks, error)) {
    spdlog::error("configuration: {}", error);
    return 2;
  }
  auto fsync = parse_fsync_policy(cfg.shipper.fsync);
  if (!fsync) {
    spdlog::error("configuration: key 'shipper.fsync': '{}' is not always, interval or batch", cfg.shipper.fsync);
    return 2;
  }
  DiskBufferOptions bo;
  bo.dir = cfg.shipper.buffer_dir;
  bo.max_bytes = static_cast<uint64_t>(std::max<int64_t>(1, cfg.shipper.max_buffer_size_mb)) << 20;
  bo.memory_bytes = static_cast<uint64_t>(std::max<int64_t>(0, cfg.shipper.max_memory_buffer_mb)) << 20;
  bo.fsync = *fsync;
  bo.fsync_interval = std::chrono::milliseconds(std::max<int64_t>(1, cfg.shipper.fsync_interval_ms));
  for (const auto& s : sinks) bo.sinks.push_back(s.name);
  io::IoError err;
  auto buffer = DiskBuffer::open(bo, clock, err);
  if (!buffer) {
    spdlog::error("disk buffer {}: {}", bo.dir.string(), err.what);
    return 2;
  }
  {
    auto bst = buffer->stats();
    if (bst.torn_records || bst.corrupt_records)
      spdlog::warn("disk buffer {}: skipped {} torn and {} corrupt records ({} bytes) on open; continuing",
                   bo.dir.string(), bst.torn_records, bst.corrupt_records, bst.skipped_bytes);
  }
  auto dlq = DeadLetterQueue::open(cfg.shipper.dlq_dir,
                                   static_cast<uint64_t>(std::max<int64_t>(1, cfg.shipper.max_dlq_size_mb)) << 20,
                                   clock, err);
  if (!dlq)
    spdlog::error("dead-letter queue {}: {}; refused events will be dropped (counted as dlq_write_failed)",
                  cfg.shipper.dlq_dir, err.what);

  CondvarWaiter waiter;
  std::vector<std::unique_ptr<SinkWorker>> workers;
  for (auto& s : sinks) {
    workers.push_back(std::make_unique<SinkWorker>(s.options, *s.sink, *buffer, s.name, dlq.get(), clock, waiter));
  }

  // Stats page: the names the supervisor's accounting reads. The per-event figures are those of
  // the first sink (each sink keeps the identity for itself; /metrics shows every sink).
  size_t c_in = stats.counter("in"), c_delivered = stats.counter("delivered"),
         c_dup = stats.counter("duplicates"), c_in_pos = stats.counter("in_pos"),
         c_last0 = stats.counter("last_id_capture"), c_last1 = stats.counter("last_id_processor"),
         c_invalid = stats.counter("dropped.shipper.invalid"), c_dl = stats.counter("dead_lettered"),
         c_recovered = stats.counter("recovered_from_sink"), c_buffered = stats.counter("buffered");
  size_t c_last[2] = {c_last0, c_last1};
  std::map<std::string, size_t> c_dropped;
  for (const char* r : {kDropBufferFull, kDropBufferFullCritical, kDropDiskFull, kDropIoError,
                        kDropDlqWriteFailed, kDropRetriesExhausted})
    c_dropped[r] = stats.counter(std::string("dropped.shipper.") + r);
  uint64_t snap = stats.get(c_in_pos);
  if (snap > in.position()) in.seek(snap);
  // Events stored in the buffer just before a crash come again from the ring (its position was
  // not committed yet): skip them by id, as duplicates. Only within a pipeline (its stats page
  // already holds a baseline): a new pipeline has new rings, and the ids of earlier pipelines
  // in the buffer say nothing about its own (after a clock step back they would hide them all).
  if (stats.get(stats.counter("base.set")) != 0)
    for (int o = 0; o < 2; ++o) stats.set(c_last[o], std::max(stats.get(c_last[o]), buffer->max_event_id(o)));

  auto snapshot = [&] {
    ShipperSnapshot s;
    s.buffer = buffer->stats();
    if (dlq) s.dlq = dlq->stats();
    for (auto& w : workers) s.sinks.push_back(w->stats());
    return s;
  };
  MonitorOptions mo;
  mo.listen = cfg.shipper.metrics_listen;
  MonitorServer monitor(mo);
  std::atomic<uint64_t> rejected_metric_lines{0};
  monitor.add_metrics([&] {
    uint64_t n = rejected_metric_lines.load();
    std::string t = pages_metrics_text(args.shm_prefix, n);
    rejected_metric_lines.store(n);
    return t;
  });
  monitor.add_metrics([&] { return shipper_metrics_text(snapshot()); });
  monitor.set_health([&] { return shipper_health(snapshot()); });
  monitor.set_stats([&] { return shipper_stats_json(snapshot()); });
  if (!mo.listen.empty()) {
    std::string merr;
    if (monitor.start(merr))
      spdlog::info("monitoring on {} (port {})", mo.listen, monitor.port());
    else
      spdlog::error("monitoring: {}; continuing without /health /metrics /stats", merr);
  }

  // The buffer's delivery counts are lifetime (checkpointed: they survive service restarts),
  // while `captured` starts at 0 with every pipeline. The first shipper of a pipeline (its stats
  // page is new) records them as the baseline and what the buffer still holds as carried over
  // from earlier pipelines; a shipper restarted within the pipeline keeps that baseline, so the
  // supervisor's identity covers exactly this pipeline.
  const size_t c_base_set = stats.counter("base.set"), c_carried = stats.counter("carried_over");
  const size_t c_base_delivered = stats.counter("base.delivered"),
               c_base_dl = stats.counter("base.dead_lettered"),
               c_base_dup = stats.counter("base.duplicates");
  std::map<std::string, size_t> c_base_dropped;
  for (const auto& [r, idx] : c_dropped) c_base_dropped[r] = stats.counter("base.dropped_" + r);
  auto reason_count = [](const auto& dropped, const std::string& r) -> uint64_t {
    auto it = dropped.find(r);
    return it == dropped.end() ? 0 : it->second;
  };
  if (stats.get(c_base_set) == 0) {
    auto bs = buffer->stats();
    const auto& p = bs.sinks.front();
    stats.set(c_base_delivered, p.delivered);
    stats.set(c_base_dl, p.dead_lettered);
    stats.set(c_base_dup, p.duplicates);
    for (const auto& [r, idx] : c_base_dropped) stats.set(idx, reason_count(p.dropped, r));
    stats.set(c_carried, p.pending_at_open);
    stats.set(c_base_set, 1);
    stats.publish();  // before any work: a successor must find this baseline, not take its own
    if (p.pending_at_open > 0)
      spdlog::info("{} events left in the buffer by an earlier run are delivered first", p.pending_at_open);
  }
  auto since_base = [&](uint64_t lifetime, size_t base) {
    uint64_t b = stats.get(base);
    return lifetime > b ? lifetime - b : 0;
  };
  // `ringwardctl dlq replay` drops a request file into the DLQ directory (only root and the
  // shipper may write there); the shipper, the only writer of the buffer, carries it out.
  size_t c_dlq_replayed = stats.counter("dlq_replayed");
  const std::filesystem::path replay_request = std::filesystem::path(cfg.shipper.dlq_dir) / "replay.request";
  auto serve_replay_request = [&] {
    if (!dlq) return;
    std::error_code ec;
    if (!std::filesystem::exists(replay_request, ec)) return;
    std::string req;
    {
      std::ifstream in(replay_request);
      std::getline(in, req);
    }
    std::filesystem::remove(replay_request, ec);
    DeadLetterQueue::Filter f;
    if (req.rfind("sink=", 0) == 0 && req.size() > 5 && req.substr(5) != "*") f.sink = req.substr(5, 200);
    // The identity follows the first sink: only its entries count. Those it dead-lettered in
    // this pipeline are in flight again (dlq_replayed); older ones enter as carried over.
    const auto first = buffer->stats().sinks.front();
    const uint64_t dl_run = since_base(first.dead_lettered, c_base_dl);
    const uint64_t own_waiting = dl_run > stats.get(c_dlq_replayed) ? dl_run - stats.get(c_dlq_replayed) : 0;
    uint64_t first_replayed = 0;
    size_t n = dlq->replay(f, [&](const std::string& sink, const OutEvent& ev) {
      const bool stored = buffer->append(ev, sink).stored;
      if (stored && sink == first.name) ++first_replayed;
      return stored;
    });
    buffer->commit();
    const uint64_t own = std::min(first_replayed, own_waiting);
    stats.add(c_dlq_replayed, own);
    stats.add(c_carried, first_replayed - own);
    spdlog::info("dlq replay ({}): {} events re-queued", f.sink ? "sink " + *f.sink : "all sinks", n);
  };
  uint64_t last_status_ns = 0, last_status_json_ns = 0;
  uint64_t logged_buffer_drops = 0, logged_buffer_errors = 0;

  auto publish_delivery = [&] {
    auto bs = buffer->stats();
    const auto& p = bs.sinks.front();
    stats.set(c_delivered, since_base(p.delivered, c_base_delivered));
    stats.set(c_dl, since_base(p.dead_lettered, c_base_dl));
    stats.set(c_recovered, since_base(p.duplicates, c_base_dup));
    stats.set(c_buffered, p.backlog);
    for (auto& [r, idx] : c_dropped)
      stats.set(idx, since_base(reason_count(p.dropped, r), c_base_dropped[r]));
  };
  publish_delivery();
  for (auto& w : workers) w->start();

  stats.set_ready();
  int ready_fd = args.ready_fd;
  notify_ready(ready_fd);
  EventDecoder decoder(1 << 20);
  uint64_t last_publish = 0;
  uint64_t last_warn_ns = 0, suppressed = 0;
  std::vector<OutEvent> batch;
  batch.reserve(512);
  while (true) {
    size_t n = 0;
    // Ids of this batch, for de-duplication within it; published (c_last) only once the batch
    // is written, so a crash in between hands every event of it over again.
    uint64_t last[2] = {stats.get(c_last[0]), stats.get(c_last[1])};
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
      if (!event_id_plausible(id, clock.wall_ns())) {
        stats.add(c_invalid);  // an id from the future would poison de-duplication
        continue;
      }
      if (id <= last[origin]) {
        stats.add(c_dup);
        continue;
      }
      OutEvent& oe = batch.emplace_back();
      oe.id = id;
      oe.priority = ev->getPriority();
      oe.wall_ns = ev->getWallNs();
      oe.record.assign(reinterpret_cast<const char*>(rec->data()), rec->size());
      last[origin] = id;
    }
    if (!batch.empty()) {
      // Fail-open: a refused append was dropped and counted by the buffer under its reason.
      for (const auto& r : buffer->append_batch(std::move(batch))) {
        if (r.stored) continue;
        suppressed++;
        if (clock.mono_ns() - last_warn_ns > 1'000'000'000ULL) {  // at most one line a second
          spdlog::warn("{} ({} such drops since the last message; counted in dropped.shipper.*)",
                       r.error, suppressed);
          last_warn_ns = clock.mono_ns();
          suppressed = 0;
        }
      }
      batch.clear();
      for (int o : {0, 1}) stats.set(c_last[o], last[o]);
    }
    if (n > 0) buffer->commit();  // `batch` policy: durable before the ring position moves
    buffer->tick();
    uint64_t now = clock.mono_ns();
    if (n > 0 || now - last_publish > 50'000'000) {
      publish_delivery();
      last_publish = now;
    }
    if (now - last_status_ns > 1'000'000'000ULL) {
      last_status_ns = now;
      // Drops the buffer decided on its own (cap or disk full evicting older events) and I/O
      // errors are said in the log once a second, not only in the counters.
      {
        auto bs = buffer->stats();
        uint64_t dropped = 0;
        std::string reasons;
        for (const auto& [r, v] : bs.dropped) {
          dropped += v;
          if (v) reasons += (reasons.empty() ? "" : ", ") + r + " " + std::to_string(v);
        }
        const uint64_t errors = bs.io_errors + bs.enospc_errors;
        if (dropped > logged_buffer_drops || errors > logged_buffer_errors)
          spdlog::warn("disk buffer {}: {} events dropped so far ({}), {} I/O errors; last error: {}",
                       bo.dir.string(), dropped, reasons.empty() ? "none" : reasons, errors,
                       bs.last_error.empty() ? "none" : bs.last_error);
        logged_buffer_drops = dropped;
        logged_buffer_errors = errors;
      }
      serve_replay_request();
    }
    // The sinks' and the buffer's state for `ringwardctl status`: fresh enough that its sink table
    // agrees with the delivery counters next to it (once a second, it showed 0 delivered beside
    // thousands during the first second of a run).
    if (now - last_status_json_ns > 200'000'000ULL) {
      last_status_json_ns = now;
      stats.set_status_json(shipper_stats_json(snapshot()));
    }
    stats.set(c_in_pos, in.position());
    stats.heartbeat(now);
    stats.publish();
    in.commit();
    if (n == 0) {
      if (stop_requested()) break;
      in.wait(50'000'000);
    }
  }
  // Drain: give the sinks a bounded time to deliver what is buffered; the rest stays on disk
  // and is replayed on the next start.
  const uint64_t drain_until = clock.mono_ns() + 5'000'000'000ULL;
  while (clock.mono_ns() < drain_until && buffer->stats().sinks.front().backlog > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  for (auto& w : workers) w->stop();
  monitor.stop();
  buffer->commit();
  publish_delivery();
  stats.publish();
  spdlog::info("stopped: {} events delivered, {} buffered", stats.get(c_delivered), stats.get(c_buffered));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return ringward::run_child(argc, argv, "shipper",
                             "ringward-shipper: delivers events to the sinks (started by the "
                             "supervisor)",
                             run);
}
