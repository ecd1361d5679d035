// Scriptable HEC receiver and dropping peer (see http_receiver.h). Trust: test only.
#include "tests/sinks/http_receiver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zstd.h>

#include <cctype>
#include <stdexcept>

#include "shipper/sinks/http_client.h"

namespace ringward::shipper::sinks::test {

HttpReceiver::HttpReceiver() {
  server_.set_read_timeout(5, 0);
  server_.set_write_timeout(5, 0);
  server_.set_keep_alive_timeout(5);
}

HttpReceiver::~HttpReceiver() {
  server_.stop();
  if (thread_.joinable()) thread_.join();
}

void HttpReceiver::start() {
  port_ = server_.bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("test receiver: bind 127.0.0.1 failed");
  thread_ = std::thread([this] { server_.listen_after_bind(); });
  for (int i = 0; i < 500 && !server_.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

void HttpReceiver::script(Reply r) {
  std::lock_guard lk(mu_);
  script_.push_back(std::move(r));
}

std::vector<Received> HttpReceiver::requests() const {
  std::lock_guard lk(mu_);
  return log_;
}

size_t HttpReceiver::request_count() const {
  std::lock_guard lk(mu_);
  return log_.size();
}

std::optional<std::string> HttpReceiver::decode_body(const httplib::Request& req) {
  std::string enc = req.get_header_value("Content-Encoding");
  if (enc.empty()) return req.body;
  // cpp-httplib (built with zlib) inflates gzip bodies itself and refuses bad ones with 400, so a
  // body without the gzip magic here was already decoded by it.
  if (enc == "gzip") {
    if (req.body.size() >= 2 && req.body[0] == '\x1f' && req.body[1] == '\x8b') return gunzip(req.body, 256u << 20);
    return req.body;
  }
  if (enc == "zstd") {
    auto n = ZSTD_getFrameContentSize(req.body.data(), req.body.size());
    if (n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN || n > (256u << 20)) return std::nullopt;
    std::string out(n, '\0');
    size_t got = ZSTD_decompress(out.data(), out.size(), req.body.data(), req.body.size());
    if (ZSTD_isError(got)) return std::nullopt;
    out.resize(got);
    return out;
  }
  return std::nullopt;
}

bool HttpReceiver::scripted(httplib::Response& res) {
  Reply r;
  {
    std::lock_guard lk(mu_);
    if (script_.empty()) return false;
    r = std::move(script_.front());
    script_.pop_front();
  }
  if (r.delay.count() > 0) std::this_thread::sleep_for(r.delay);
  res.status = r.status;
  for (auto& [k, v] : r.headers) res.set_header(k, v);
  res.set_content(r.body, r.content_type);
  return true;
}

void HttpReceiver::record(const httplib::Request& req, const std::string& decoded) {
  Received rec;
  rec.path = req.path;
  for (auto& [k, v] : req.headers) {
    std::string lower;
    for (char c : k) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    rec.headers[lower] = v;
  }
  rec.raw_body = req.body;
  rec.body = decoded;
  std::lock_guard lk(mu_);
  log_.push_back(std::move(rec));
}

void HttpReceiver::reply_json(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, "application/json");
}

HecReceiver::HecReceiver(std::string token, bool ack_enabled) : token_(std::move(token)), ack_enabled_(ack_enabled) {
  auto on_event = [this](const httplib::Request& req, httplib::Response& res) {
    auto decoded = decode_body(req);
    record(req, decoded.value_or(""));
    if (scripted(res)) return;
    std::string auth = req.get_header_value("Authorization");
    if (auth.empty()) return reply_json(res, 401, R"({"text":"Token is required","code":2})");
    if (auth != "Splunk " + token_) return reply_json(res, 403, R"({"text":"Invalid token","code":4})");
    if (!decoded) return reply_json(res, 400, R"({"text":"Invalid data format","code":6})");
    std::string channel = req.get_header_value("X-Splunk-Request-Channel");
    if (ack_enabled_ && channel.empty()) return reply_json(res, 400, R"({"text":"Data channel is missing","code":10})");
    // Parse the whole request first, as HEC does: one bad object refuses the request.
    std::vector<JsonValue> batch;
    size_t pos = 0;
    const std::string& b = *decoded;
    while (true) {
      while (pos < b.size() && std::isspace(static_cast<unsigned char>(b[pos]))) ++pos;
      if (pos >= b.size()) break;
      auto v = parse_json_value(b, pos);
      if (!v || !v->is_object()) {
        return reply_json(res, 400, R"({"text":"Invalid data format","code":6,"invalid-event-number":)" +
                                        std::to_string(batch.size()) + "}");
      }
      const JsonValue* ev = v->get("event");
      if (!ev) {
        return reply_json(res, 400, R"({"text":"Event field is required","code":12,"invalid-event-number":)" +
                                        std::to_string(batch.size()) + "}");
      }
      batch.push_back(std::move(*v));
    }
    if (batch.empty()) return reply_json(res, 400, R"({"text":"No data","code":5})");
    std::lock_guard lk(mu_);
    events_.insert(events_.end(), batch.begin(), batch.end());
    if (ack_enabled_) {
      int64_t id = next_ack_[channel]++;
      return reply_json(res, 200, R"({"text":"Success","code":0,"ackId":)" + std::to_string(id) + "}");
    }
    reply_json(res, 200, R"({"text":"Success","code":0})");
  };
  server_.Post("/services/collector/event", on_event);
  server_.Post("/services/collector", on_event);
  server_.Post("/services/collector/ack", [this](const httplib::Request& req, httplib::Response& res) {
    ++ack_polls_;
    if (!ack_enabled_) return reply_json(res, 400, R"({"text":"ACK is disabled","code":14})");
    if (req.get_header_value("Authorization") != "Splunk " + token_)
      return reply_json(res, 403, R"({"text":"Invalid token","code":4})");
    std::string channel = req.get_header_value("X-Splunk-Request-Channel");
    auto v = parse_json(req.body);
    const JsonValue* acks = v ? v->get("acks") : nullptr;
    if (!acks || acks->type != JsonValue::Type::array) return reply_json(res, 400, R"({"text":"Invalid data format","code":6})");
    std::string out = R"({"acks":{)";
    bool first = true;
    std::lock_guard lk(mu_);
    for (const auto& a : acks->items) {
      auto id = a.as_int();
      if (!id) continue;
      int seen = ++polls_[{channel, *id}];
      bool known = next_ack_.count(channel) && *id < next_ack_[channel];
      int after = ack_after_polls_.load();
      bool done = known && after >= 0 && seen >= after;
      if (!first) out += ',';
      first = false;
      out += "\"" + std::to_string(*id) + "\":" + (done ? "true" : "false");
    }
    out += "}}";
    reply_json(res, 200, out);
  });
  start();
}

std::vector<JsonValue> HecReceiver::events() const {
  std::lock_guard lk(mu_);
  return events_;
}

DroppingPeer::DroppingPeer() {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0)
    throw std::runtime_error("dropping peer: bind/listen failed");
  socklen_t len = sizeof a;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      ++accepted_;
      char buf[4096];
      pollfd q{c, POLLIN, 0};
      if (::poll(&q, 1, 200) > 0) (void)::read(c, buf, sizeof buf);  // take part of the request
      ::close(c);                                                    // then hang up, no answer
    }
  });
}

DroppingPeer::~DroppingPeer() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace ringward::shipper::sinks::test
