// Splunk HTTP Event Collector sink: POST <endpoint>/services/collector/event with a batch of
// concatenated JSON event objects, answers mapped to SendResult per the HEC code table, optional
// indexer acknowledgement so that "ok" means indexed. Trust: shipper (network); HEC answers are
// untrusted and parsed with bounds.
#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "shipper/core/sink.h"
#include "shipper/sinks/http_client.h"
#include "shipper/sinks/sink_config.h"

namespace ringward::shipper::sinks {

class SplunkHecSink final : public Sink {
 public:
  // `c` must have passed validate(); `clock` must outlive the sink.
  SplunkHecSink(const SinkConfig& c, const Clock& clock);

  std::string_view name() const override { return name_; }
  SendResult send(std::span<const OutEvent> batch) override;

  const std::string& channel() const { return channel_; }
  // Builds the request body for `batch`; `sent` receives the batch index of each object written
  // (undecodable records are left out and reported in `rejected`). Exposed for tests and benches.
  std::string build_body(std::span<const OutEvent> batch, std::vector<size_t>& sent,
                         std::vector<Rejection>& rejected) const;

 private:
  SendResult classify(const HttpResponse& r, const std::vector<size_t>& sent);
  SendResult wait_for_ack(int64_t ack_id, SendResult ok);
  std::vector<std::string> headers(bool compressed) const;

  SinkConfig cfg_;
  const Clock& clock_;
  std::string name_;
  std::string url_;
  std::string ack_url_;
  std::string channel_;
  Compression compression_;
  HttpClient http_;
};

// A random RFC 4122 version-4 GUID, the form HEC expects for a channel.
std::string random_guid();

}  // namespace ringward::shipper::sinks
