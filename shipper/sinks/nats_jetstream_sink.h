// NATS JetStream sink (libnats): publishes each event to a stream subject with header
// Nats-Msg-Id = event id, asynchronously with a bounded number in flight and a per-message PubAck
// wait, then reports stored / duplicate / failed per event. A retry after an ambiguous failure is
// de-duplicated by the server inside the stream's duplicate window, so delivery is exactly-once
// there. Trust: shipper (network). Not thread-safe: one send() at a time per sink.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "shipper/core/sink.h"
#include "shipper/sinks/sink_config.h"

struct __natsConnection;
struct __natsOptions;
struct __jsCtx;
struct __natsMsg;
struct jsPubAck;
struct jsPubAckErr;

namespace ringward::shipper::sinks {

class NatsJetStreamSink final : public Sink {
 public:
  NatsJetStreamSink(const SinkConfig& c, const Clock& clock);
  ~NatsJetStreamSink() override;
  NatsJetStreamSink(const NatsJetStreamSink&) = delete;
  NatsJetStreamSink& operator=(const NatsJetStreamSink&) = delete;

  std::string_view name() const override { return name_; }
  SendResult send(std::span<const OutEvent> batch) override;

  // Counters since construction (for /stats).
  uint64_t reconnects() const;
  uint64_t streams_created() const { return streams_created_; }

 private:
  enum class Outcome : uint8_t { pending, stored, duplicate, failed, rejected };
  struct BatchState {
    std::unordered_map<std::string, std::vector<size_t>> by_msg_id;  // Nats-Msg-Id -> indexes
    std::vector<Outcome> outcome;
    std::vector<std::string> reason;
    uint64_t generation = 0;
  };

  bool connect(std::string& err);
  bool ensure_stream(std::string& err, bool& permanent);
  void disconnect();
  static void on_ack(__jsCtx* js, __natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure);
  void record_ack(__natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae);

  SinkConfig cfg_;
  const Clock& clock_;
  std::string name_;
  std::vector<std::string> servers_;
  __natsConnection* conn_ = nullptr;
  __jsCtx* js_ = nullptr;
  std::atomic<bool> stream_ready_{false};  // cleared from the ack thread on NoResponders
  uint64_t streams_created_ = 0;

  mutable std::mutex mu_;  // guards state_ against the libnats ack thread
  BatchState state_;
};

}  // namespace ringward::shipper::sinks
