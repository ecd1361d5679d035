// Renders the shipper's own state (disk buffer, DLQ, one SinkWorker per sink) as Prometheus text,
// the /stats JSON and the /health verdict. Pure functions of stats snapshots. Trust: shipper.
#pragma once

#include <string>
#include <vector>

#include "shipper/core/dead_letter_queue.h"
#include "shipper/core/delivery.h"
#include "shipper/core/disk_buffer.h"
#include "shipper/core/monitor_server.h"

namespace ringward::shipper {

struct ShipperSnapshot {
  DiskBufferStats buffer;
  DlqStats dlq;
  std::vector<SinkWorkerStats> sinks;
};

// Families ringward_shipper_* (see docs/shipper.md for the list).
std::string shipper_metrics_text(const ShipperSnapshot& s);
std::string shipper_stats_json(const ShipperSnapshot& s);
// Healthy: every sink normal. Degraded: some sink in backpressure / buffer_full / unavailable
// while another still delivers, or the buffer is dropping. Unhealthy: every sink unavailable.
// Unknown: no sinks.
HealthReport shipper_health(const ShipperSnapshot& s);

}  // namespace ringward::shipper
