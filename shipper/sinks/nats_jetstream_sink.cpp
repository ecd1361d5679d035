// NATS JetStream sink (see nats_jetstream_sink.h). Trust: shipper. libnats delivers PubAcks and
// PubAck timeouts on its own thread; the per-batch state they touch is guarded by mu_.
#include "shipper/sinks/nats_jetstream_sink.h"

#include <nats/nats.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "shipper/sinks/event_view.h"

namespace ringward::shipper::sinks {

namespace {

std::vector<std::string> split_servers(const std::string& url) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= url.size()) {
    size_t comma = url.find(',', start);
    if (comma == std::string::npos) comma = url.size();
    std::string s = url.substr(start, comma - start);
    s.erase(0, s.find_first_not_of(' '));
    s.erase(s.find_last_not_of(' ') + 1);
    if (!s.empty()) out.push_back(s);
    start = comma + 1;
  }
  return out;
}

std::string status_text(natsStatus s) {
  std::string t = natsStatus_GetText(s);
  const char* last = nats_GetLastError(nullptr);
  if (last && *last && t != last) t += std::string(" (") + last + ")";
  return t;
}

}  // namespace

NatsJetStreamSink::NatsJetStreamSink(const SinkConfig& c, const Clock& clock)
    : cfg_(c), clock_(clock), name_("nats_jetstream:" + c.url + "/" + c.stream), servers_(split_servers(c.url)) {}

NatsJetStreamSink::~NatsJetStreamSink() { disconnect(); }

void NatsJetStreamSink::disconnect() {
  if (conn_) natsConnection_Close(conn_);  // no more ack callbacks once closed
  if (js_) jsCtx_Destroy(js_);
  if (conn_) natsConnection_Destroy(conn_);
  js_ = nullptr;
  conn_ = nullptr;
  stream_ready_ = false;
}

uint64_t NatsJetStreamSink::reconnects() const {
  if (!conn_) return 0;
  natsStatistics* st = nullptr;
  if (natsStatistics_Create(&st) != NATS_OK) return 0;
  uint64_t rc = 0;
  if (natsConnection_GetStats(conn_, st) == NATS_OK) natsStatistics_GetCounts(st, nullptr, nullptr, nullptr, nullptr, &rc);
  natsStatistics_Destroy(st);
  return rc;
}

bool NatsJetStreamSink::connect(std::string& err) {
  if (conn_ && natsConnection_Status(conn_) != NATS_CONN_STATUS_CLOSED) return true;
  disconnect();
  natsOptions* opts = nullptr;
  natsStatus s = natsOptions_Create(&opts);
  std::vector<const char*> urls;
  for (const auto& u : servers_) urls.push_back(u.c_str());
  if (s == NATS_OK) s = natsOptions_SetServers(opts, urls.data(), static_cast<int>(urls.size()));
  if (s == NATS_OK) s = natsOptions_SetName(opts, "ringward-shipper");
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts, cfg_.connect_timeout.count());
  // Reconnect forever in the background; publishes made while disconnected are buffered by libnats
  // and their PubAcks time out (MaxWait) if they never make it, which send() reports as retry.
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 100);
  if (s == NATS_OK) s = natsConnection_Connect(&conn_, opts);
  natsOptions_Destroy(opts);
  if (s != NATS_OK) {
    err = "connect " + cfg_.url + ": " + status_text(s);
    conn_ = nullptr;
    return false;
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = cfg_.request_timeout.count();
  jo.PublishAsync.MaxPending = static_cast<int64_t>(cfg_.max_pending ? cfg_.max_pending : cfg_.batch_size);
  jo.PublishAsync.AckHandler = &NatsJetStreamSink::on_ack;
  jo.PublishAsync.AckHandlerClosure = this;
  jo.PublishAsync.StallWait = 50;
  s = natsConnection_JetStream(&js_, conn_, &jo);
  if (s != NATS_OK) {
    err = "JetStream context: " + status_text(s);
    disconnect();
    return false;
  }
  return true;
}

bool NatsJetStreamSink::ensure_stream(std::string& err, bool& permanent) {
  permanent = false;
  if (stream_ready_) return true;
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&si, js_, cfg_.stream.c_str(), nullptr, &jerr);
  if (s == NATS_OK) {
    jsStreamInfo_Destroy(si);
    stream_ready_ = true;
    return true;
  }
  if (s != NATS_NOT_FOUND && jerr != JSStreamNotFoundErr) {
    err = "stream info '" + cfg_.stream + "': " + status_text(s);
    return false;
  }
  if (!cfg_.create_stream) {
    // An operator may create it later: retry, not permanent.
    err = "stream '" + cfg_.stream + "' does not exist and create_stream = false";
    return false;
  }
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  const char* subjects[] = {cfg_.subject.c_str()};
  sc.Name = cfg_.stream.c_str();
  sc.Subjects = subjects;
  sc.SubjectsLen = 1;
  sc.Storage = js_FileStorage;
  sc.Replicas = cfg_.stream_replicas;
  sc.Duplicates = int64_t{120} * 1'000'000'000;  // the de-duplication window retries rely on
  jerr = static_cast<jsErrCode>(0);
  s = js_AddStream(&si, js_, &sc, nullptr, &jerr);
  if (s == NATS_OK || jerr == JSStreamNameExistErr) {  // created, or by someone else meanwhile
    if (si) jsStreamInfo_Destroy(si);
    if (s == NATS_OK) ++streams_created_;
    stream_ready_ = true;
    return true;
  }
  err = "create stream '" + cfg_.stream + "' on subject '" + cfg_.subject + "': " + status_text(s) +
        (jerr ? " (JetStream error " + std::to_string(jerr) + ")" : "");
  // Conflicts with existing streams' subjects or bad names do not heal by retrying.
  permanent = jerr != 0 && s != NATS_TIMEOUT;
  return false;
}

void NatsJetStreamSink::on_ack(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
  static_cast<NatsJetStreamSink*>(closure)->record_ack(msg, pa, pae);
  natsMsg_Destroy(msg);
}

void NatsJetStreamSink::record_ack(natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae) {
  const char* id = nullptr;
  if (!msg || natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) != NATS_OK || !id) return;
  std::lock_guard lk(mu_);
  auto it = state_.by_msg_id.find(id);
  if (it == state_.by_msg_id.end()) return;  // from an earlier batch already given up on
  for (size_t idx : it->second) {
    if (state_.outcome[idx] != Outcome::pending) continue;
    if (pa) {
      state_.outcome[idx] = pa->Duplicate ? Outcome::duplicate : Outcome::stored;
    } else {
      bool too_big = pae && pae->ErrCode == JSStreamMessageExceedsMaximumErr;
      state_.outcome[idx] = too_big ? Outcome::rejected : Outcome::failed;
      state_.reason[idx] = pae ? std::string(natsStatus_GetText(pae->Err)) +
                                     (pae->ErrText ? std::string(": ") + pae->ErrText : std::string()) +
                                     (pae->ErrCode ? " (JetStream error " + std::to_string(pae->ErrCode) + ")" : "")
                               : "publish failed";
      if (pae && pae->Err == NATS_NO_RESPONDERS) stream_ready_ = false;  // stream gone? check again
    }
    break;
  }
}

SendResult NatsJetStreamSink::send(std::span<const OutEvent> batch) {
  SendResult result;
  std::string err;
  if (!connect(err)) {
    result.status = SendStatus::retry;
    result.detail = "JetStream " + err;
    return result;
  }
  bool permanent = false;
  if (!ensure_stream(err, permanent)) {
    result.status = permanent ? SendStatus::permanent : SendStatus::retry;
    result.detail = "JetStream " + err;
    return result;
  }

  {
    std::lock_guard lk(mu_);
    state_.by_msg_id.clear();
    state_.outcome.assign(batch.size(), Outcome::pending);
    state_.reason.assign(batch.size(), std::string());
    ++state_.generation;
  }
  const uint64_t deadline = clock_.mono_ns() + static_cast<uint64_t>(cfg_.publish_timeout.count()) * 2'000'000ULL;
  const bool as_json = cfg_.encoding != "capnp";
  size_t published = 0;
  std::string publish_error;
  for (size_t i = 0; i < batch.size(); ++i) {
    std::string payload;
    auto bad = with_event(batch[i], [&](schema::Event::Reader e) {
      if (as_json) append_event_json_object(e, payload);
    });
    std::unique_lock lk(mu_);
    if (bad) {
      state_.outcome[i] = Outcome::rejected;
      state_.reason[i] = *bad;
      continue;
    }
    if (!publish_error.empty()) {  // the connection failed mid-batch: the rest waits for a retry
      state_.outcome[i] = Outcome::failed;
      state_.reason[i] = publish_error;
      continue;
    }
    const std::string msg_id = std::to_string(batch[i].id);
    state_.by_msg_id[msg_id].push_back(i);
    if (!as_json) payload = batch[i].record;
    natsMsg* msg = nullptr;
    natsStatus s = natsMsg_Create(&msg, cfg_.subject.c_str(), nullptr, payload.data(), static_cast<int>(payload.size()));
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = cfg_.publish_timeout.count();
    po.MsgId = msg_id.c_str();
    // The ack handler takes mu_: release it while publishing (a stall waits for acks).
    lk.unlock();
    while (s == NATS_OK) {
      s = js_PublishMsgAsync(js_, &msg, &po);
      // NATS_TIMEOUT here means MaxPending publishes are in flight: wait for acks, then retry.
      if (s != NATS_TIMEOUT || clock_.mono_ns() >= deadline) break;
      s = NATS_OK;
    }
    natsMsg_Destroy(msg);  // no-op when libnats took ownership
    lk.lock();
    if (s == NATS_OK) {
      ++published;
    } else if (s == NATS_MAX_PAYLOAD) {
      state_.outcome[i] = Outcome::rejected;
      state_.reason[i] = "event of " + std::to_string(payload.size()) + " bytes exceeds the server's max_payload";
    } else {
      state_.outcome[i] = Outcome::failed;
      state_.reason[i] = "publish: " + status_text(s);
      if (s != NATS_TIMEOUT) publish_error = state_.reason[i];
    }
  }

  if (published > 0) {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    int64_t left_ms = static_cast<int64_t>((deadline - std::min(deadline, clock_.mono_ns())) / 1'000'000ULL);
    po.MaxWait = std::max<int64_t>(left_ms, cfg_.publish_timeout.count()) + 100;
    natsStatus s = js_PublishAsyncComplete(js_, &po);
    if (s != NATS_OK) {
      // Take back what is still unacknowledged: no callback will come for these now, and a resend
      // with the same Nats-Msg-Id is de-duplicated if the first copy was stored after all.
      natsMsgList pending{};
      if (js_PublishAsyncGetPendingList(&pending, js_) == NATS_OK) natsMsgList_Destroy(&pending);
    }
  }

  std::lock_guard lk(mu_);
  size_t stored = 0, failed = 0;
  std::string first_failure;
  for (size_t i = 0; i < batch.size(); ++i) {
    switch (state_.outcome[i]) {
      case Outcome::stored: ++stored; break;
      case Outcome::duplicate: ++result.duplicates; break;
      case Outcome::rejected: result.rejected.push_back(Rejection{i, 0, state_.reason[i]}); break;
      case Outcome::pending:
        state_.reason[i] = "no PubAck within " + std::to_string(cfg_.publish_timeout.count()) + " ms";
        [[fallthrough]];
      case Outcome::failed:
        if (first_failure.empty()) first_failure = state_.reason[i];
        ++failed;
        break;
    }
  }
  state_.by_msg_id.clear();  // late acks for this batch are ignored from here on
  if (failed > 0) {
    result.status = SendStatus::retry;
    result.backpressure = first_failure.find("imeout") != std::string::npos;
  }
  result.detail = "JetStream " + cfg_.stream + ": " + std::to_string(stored) + " stored, " +
                  std::to_string(result.duplicates) + " duplicate, " + std::to_string(result.rejected.size()) +
                  " rejected, " + std::to_string(failed) + " to retry" +
                  (first_failure.empty() ? "" : " (" + first_failure + ")");
  return result;
}

}  // namespace ringward::shipper::sinks
