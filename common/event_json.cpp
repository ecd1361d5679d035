#include "common/event_json.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <array>
#include <charconv>
#include <cstring>
#include <ctime>
#include <type_traits>

#include <fmt/format.h>
#include <kj/exception.h>

namespace ringward {
namespace {

using schema::Event;

// Length of a valid UTF-8 sequence starting at s[i], or 0 (overlong, surrogate, > U+10FFFF, cut).
size_t utf8_sequence(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  unsigned char c = b(0);
  size_t n = s.size() - i;
  auto cont = [&](size_t k) { return k < n && (b(k) & 0xC0) == 0x80; };
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c == 0xE0) return cont(1) && b(1) >= 0xA0 && cont(2) ? 3 : 0;
  if (c == 0xED) return cont(1) && b(1) < 0xA0 && cont(2) ? 3 : 0;
  if (c >= 0xE1 && c <= 0xEF) return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xF0) return cont(1) && b(1) >= 0x90 && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xF4) return cont(1) && b(1) < 0x90 && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

std::string_view as_view(capnp::Data::Reader d) {
  return {reinterpret_cast<const char*>(d.begin()), d.size()};
}
std::string_view as_view(capnp::Text::Reader t) { return {t.cStr(), t.size()}; }

// Small writer that keeps commas right.
class Obj {
 public:
  explicit Obj(std::string& out) : out_(out) { out_ += '{'; }
  ~Obj() { out_ += '}'; }
  std::string& key(std::string_view k) {
    if (!first_) out_ += ',';
    first_ = false;
    out_ += '"';
    out_ += k;
    out_ += "\":";
    return out_;
  }
  void str(std::string_view k, std::string_view v) { append_json_string(v, key(k)); }
  void bytes(std::string_view k, capnp::Data::Reader v) { append_json_string(as_view(v), key(k)); }
  void text(std::string_view k, capnp::Text::Reader v) { append_json_string(as_view(v), key(k)); }
  template <class T>
  void num(std::string_view k, T v) {
    if constexpr (std::is_integral_v<T>) {
      char buf[24];
      const auto r = std::to_chars(buf, buf + sizeof buf, v);
      key(k).append(buf, static_cast<size_t>(r.ptr - buf));
    } else {
      fmt::format_to(std::back_inserter(key(k)), "{}", v);
    }
  }
  void boolean(std::string_view k, bool v) { key(k) += v ? "true" : "false"; }
  void addr(std::string_view k, capnp::Data::Reader v) { str(k, format_address(v)); }

 private:
  std::string& out_;
  bool first_ = true;
};

void kind_fields(Event::Reader ev, Obj& o, std::string& out) {
  auto kind = ev.getKind();
  switch (kind.which()) {
    case Event::Kind::PROCESS_EXEC: {
      auto x = kind.getProcessExec();
      o.bytes("filename", x.getFilename());
      std::string& a = o.key("argv");
      a += '[';
      bool first = true;
      for (auto arg : x.getArgv()) {
        if (!first) a += ',';
        first = false;
        append_json_string(as_view(arg), a);
      }
      a += ']';
      o.bytes("cwd", x.getCwd());
      if (x.getArgvTruncated()) o.boolean("argv_truncated", true);
      break;
    }
    case Event::Kind::PROCESS_EXIT:
      o.num("exit_code", kind.getProcessExit().getExitCode());
      break;
    case Event::Kind::FILE_OPEN: {
      auto x = kind.getFileOpen();
      o.bytes("path", x.getPath());
      o.num("flags", x.getFlags());
      o.num("mode", x.getMode());
      o.num("result", x.getResult());
      o.text("syscall", x.getSyscall());
      break;
    }
    case Event::Kind::NET_CONNECT:
    case Event::Kind::NET_ACCEPT: {
      auto x = kind.which() == Event::Kind::NET_CONNECT ? kind.getNetConnect() : kind.getNetAccept();
      o.num("family", x.getFamily());
      o.addr("src_addr", x.getSrcAddr());
      o.num("src_port", x.getSrcPort());
      o.addr("dst_addr", x.getDstAddr());
      o.num("dst_port", x.getDstPort());
      o.num("result", x.getResult());
      break;
    }
    case Event::Kind::PRIVILEGE_CHANGE: {
      auto x = kind.getPrivilegeChange();
      o.text("syscall", x.getSyscall());
      o.num("old_uid", x.getOldUid());
      o.num("new_uid", x.getNewUid());
      o.num("old_euid", x.getOldEuid());
      o.num("new_euid", x.getNewEuid());
      o.num("old_gid", x.getOldGid());
      o.num("new_gid", x.getNewGid());
      o.num("old_egid", x.getOldEgid());
      o.num("new_egid", x.getNewEgid());
      o.num("old_caps", x.getOldCaps());
      o.num("new_caps", x.getNewCaps());
      o.num("result", x.getResult());
      if (x.hasFilename()) o.bytes("filename", x.getFilename());
      break;
    }
    case Event::Kind::HTTP: {
      auto x = kind.getHttp();
      o.text("method", x.getMethod());
      o.bytes("target", x.getTarget());
      o.num("status", x.getStatus());
      o.num("latency_ns", x.getLatencyNs());
      o.num("request_size", x.getRequestSize());
      o.num("response_size", x.getResponseSize());
      o.bytes("request", x.getRequest());
      o.bytes("response", x.getResponse());
      o.boolean("timed_out", x.getTimedOut());
      o.boolean("tls", x.getTls());
      o.text("role", x.getRole());
      o.addr("local_addr", x.getLocalAddr());
      o.num("local_port", x.getLocalPort());
      o.addr("remote_addr", x.getRemoteAddr());
      o.num("remote_port", x.getRemotePort());
      if (x.hasRoute()) o.text("route", x.getRoute());
      if (x.hasService()) o.text("service", x.getService());
      if (x.hasBusinessError()) o.text("business_error", x.getBusinessError());
      if (x.hasBodyEncoding()) o.text("body_encoding", x.getBodyEncoding());
      break;
    }
    case Event::Kind::LOST: {
      auto x = kind.getLost();
      o.num("count", x.getCount());
      o.text("stage", x.getStage());
      o.text("reason", x.getReason());
      o.text("event_kind", x.getEventKind());
      o.num("cpu", x.getCpu());
      break;
    }
    case Event::Kind::VALIDATION_FAILURE: {
      auto x = kind.getValidationFailure();
      o.text("reason", x.getReason());
      o.num("count", x.getCount());
      o.bytes("sample", x.getSample());
      break;
    }
    case Event::Kind::ENDPOINT_HEALTH: {
      auto x = kind.getEndpointHealth();
      o.text("service", x.getService());
      o.text("route", x.getRoute());
      o.num("health_score", x.getScore());
      o.text("state", x.getState());
      o.num("requests", x.getRequests());
      o.num("error_rate_5xx", x.getErrorRate5xx());
      o.num("business_error_rate", x.getBusinessErrorRate());
      o.num("p99_ms", x.getP99Ms());
      break;
    }
  }
  (void)out;
}

}  // namespace

void append_json_string(std::string_view s, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  // Bytes copied as they are: printable ASCII except the quote and the backslash. Runs of them
  // (nearly all of most strings) go out with one append.
  static constexpr auto kPlain = [] {
    std::array<bool, 256> t{};
    for (int c = 0x20; c < 0x7f; ++c) t[static_cast<size_t>(c)] = c != '"' && c != '\\';
    return t;
  }();
  out.reserve(out.size() + s.size() + 2);
  out += '"';
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    size_t run = i;
    while (run < n && kPlain[p[run]]) ++run;
    if (run != i) {
      out.append(s.data() + i, run - i);
      i = run;
      if (i == n) break;
    }
    const unsigned char c = p[i];
    if (c >= 0x80) {
      const size_t len = utf8_sequence(s, i);
      if (len == 0) {
        const char esc[5] = {'\\', '\\', 'x', kHex[c >> 4], kHex[c & 15]};
        out.append(esc, sizeof esc);
        ++i;
      } else {
        out.append(s.data() + i, len);
        i += len;
      }
      continue;
    }
    switch (c) {
      case '"': out.append("\\\"", 2); break;
      case '\\': out.append("\\\\", 2); break;
      case '\n': out.append("\\n", 2); break;
      case '\r': out.append("\\r", 2); break;
      case '\t': out.append("\\t", 2); break;
      default: {  // other control characters and DEL
        const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        out.append(esc, sizeof esc);
      }
    }
    ++i;
  }
  out += '"';
}

std::string_view event_type_name(schema::Event::Reader ev) {
  switch (ev.getKind().which()) {
    case Event::Kind::PROCESS_EXEC: return "process_exec";
    case Event::Kind::PROCESS_EXIT: return "process_exit";
    case Event::Kind::FILE_OPEN: return "file_open";
    case Event::Kind::NET_CONNECT: return "net_connect";
    case Event::Kind::NET_ACCEPT: return "net_accept";
    case Event::Kind::PRIVILEGE_CHANGE: return "privilege_change";
    case Event::Kind::HTTP: return "http";
    case Event::Kind::LOST: return "lost";
    case Event::Kind::VALIDATION_FAILURE: return "validation_failure";
    case Event::Kind::ENDPOINT_HEALTH: return "endpoint_health";
  }
  return "unknown";
}

std::string_view priority_name(schema::Priority p) {
  switch (p) {
    case schema::Priority::LOW: return "low";
    case schema::Priority::NORMAL: return "normal";
    case schema::Priority::HIGH: return "high";
    case schema::Priority::CRITICAL: return "critical";
  }
  return "normal";
}

std::string_view verdict_name(schema::Verdict v) {
  switch (v) {
    case schema::Verdict::NONE: return "none";
    case schema::Verdict::CLEAN: return "clean";
    case schema::Verdict::SUSPICIOUS: return "suspicious";
    case schema::Verdict::MALICIOUS: return "malicious";
  }
  return "none";
}

namespace {
// "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" into `out` (30 bytes). A uint64 of nanoseconds ends in 2554,
// so the year always has four digits. The date and time of day are computed once per second
// (events come in runs of the same second); the nanoseconds are written by hand.
size_t write_rfc3339_ns(uint64_t wall_ns, char* out) {
  thread_local uint64_t cached_secs = UINT64_MAX;
  thread_local char cached[20];  // "YYYY-MM-DDTHH:MM:SS" and a NUL
  const uint64_t secs = wall_ns / 1'000'000'000ULL;
  if (secs != cached_secs) {
    const time_t t_secs = static_cast<time_t>(secs);
    tm t{};
    gmtime_r(&t_secs, &t);
    fmt::format_to_n(cached, sizeof cached, "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}", t.tm_year + 1900,
                     t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec);
    cached_secs = secs;
  }
  std::memcpy(out, cached, 19);
  out[19] = '.';
  uint64_t ns = wall_ns % 1'000'000'000ULL;
  for (int i = 28; i >= 20; --i) {
    out[i] = static_cast<char>('0' + ns % 10);
    ns /= 10;
  }
  out[29] = 'Z';
  return 30;
}
}  // namespace

std::string format_rfc3339_ns(uint64_t wall_ns) {
  char buf[30];
  return std::string(buf, write_rfc3339_ns(wall_ns, buf));
}

std::string format_address(capnp::Data::Reader addr) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr.size() == 4) inet_ntop(AF_INET, addr.begin(), buf, sizeof buf);
  else if (addr.size() == 16) inet_ntop(AF_INET6, addr.begin(), buf, sizeof buf);
  return buf;
}

namespace {
void render_event(schema::Event::Reader ev, std::string& out) {
  Obj o(out);
  {
    char id[24];
    const auto r = std::to_chars(id, id + sizeof id, ev.getId());
    o.str("id", std::string_view(id, static_cast<size_t>(r.ptr - id)));
  }
  o.str("type", event_type_name(ev));
  o.str("priority", priority_name(ev.getPriority()));
  char time[30];
  o.str("time", std::string_view(time, write_rfc3339_ns(ev.getWallNs(), time)));
  o.num("mono_ns", ev.getMonoNs());
  o.text("host", ev.getHost());
  o.num("pid", ev.getPid());
  o.num("tid", ev.getTid());
  const bool from_kernel = ev.getThreadStartNs() != 0;  // the envelope the kernel filled
  if (from_kernel) o.num("thread_start_ns", ev.getThreadStartNs());
  o.num("ppid", ev.getPpid());
  o.num("uid", ev.getUid());
  if (from_kernel) o.num("euid", ev.getEuid());
  o.num("gid", ev.getGid());
  o.bytes("comm", ev.getComm());
  if (ev.hasParentComm()) o.bytes("parent_comm", ev.getParentComm());
  o.num("cgroup_id", ev.getCgroupId());
  if (ev.getVerdict() != schema::Verdict::NONE) {
    o.str("verdict", verdict_name(ev.getVerdict()));
    std::string& r = o.key("rule_ids");
    r += '[';
    bool first = true;
    for (auto id : ev.getRuleIds()) {
      if (!first) r += ',';
      first = false;
      append_json_string(as_view(id), r);
    }
    r += ']';
    o.num("score", ev.getScore());
  }
  kind_fields(ev, o, out);
}

}  // namespace

bool append_event_json(schema::Event::Reader ev, std::string& out) {
  const size_t mark = out.size();
  try {
    render_event(ev, out);
    return true;
  } catch (const kj::Exception&) {
    out.resize(mark);
    return false;
  }
}

std::string event_to_json(schema::Event::Reader ev) {
  std::string s;
  if (!append_event_json(ev, s)) s.clear();
  return s;
}

}  // namespace ringward
