// OTLP/HTTP logs sink: POST <endpoint>/v1/logs with an ExportLogsServiceRequest, protobuf (hand
// encoded, see protobuf_writer.h) or JSON, gzip/zstd optional. One LogRecord per event: body = the
// event's JSON, severity from its priority, indexed attributes. Trust: shipper (network); answers
// are untrusted and parsed with bounds.
#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "shipper/core/sink.h"
#include "shipper/sinks/http_client.h"
#include "shipper/sinks/sink_config.h"

namespace ringward::shipper::sinks {

// OTLP severity for a ringward priority: low DEBUG(5), normal INFO(9), high WARN(13),
// critical ERROR(17); severityText is the priority's name.
int otlp_severity_number(schema::Priority p);

class OtlpHttpSink final : public Sink {
 public:
  enum class Encoding { protobuf, json };

  OtlpHttpSink(const SinkConfig& c, const Clock& clock);

  std::string_view name() const override { return name_; }
  SendResult send(std::span<const OutEvent> batch) override;

  // The request body for `batch` (uncompressed); `sent` gets the batch index of each record
  // written, undecodable records go to `rejected`. Exposed for tests and benches.
  std::string build_request(std::span<const OutEvent> batch, std::vector<size_t>& sent,
                            std::vector<Rejection>& rejected) const;

 private:
  SendResult classify(const HttpResponse& r, const std::vector<size_t>& sent);

  SinkConfig cfg_;
  const Clock& clock_;
  std::string name_;
  std::string url_;
  Encoding encoding_;
  Compression compression_;
  HttpClient http_;
};

// Reads ExportLogsServiceResponse.partial_success from a protobuf answer body:
// {rejected_log_records, error_message}; nullopt when the body is not a valid message.
struct PartialSuccess {
  int64_t rejected = 0;
  std::string message;
};
std::optional<PartialSuccess> parse_partial_success_protobuf(std::string_view body);
std::optional<PartialSuccess> parse_partial_success_json(std::string_view body);

}  // namespace ringward::shipper::sinks
