// Stage 1, validation of hostile records. Every accessor of a Cap'n Proto reader may throw
// kj::Exception on a malformed pointer; validate() turns that into decode_error.
// Trust: sandboxed processor, hostile input.
#include "processor/stages/validator.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <kj/exception.h>

namespace ringward::processor {

std::string_view reason_name(ValidationReason reason) {
  switch (reason) {
    case ValidationReason::kOk:
      return "ok";
    case ValidationReason::kTooLarge:
      return "too_large";
    case ValidationReason::kDecodeError:
      return "decode_error";
    case ValidationReason::kBadTimestamp:
      return "bad_timestamp";
    case ValidationReason::kBadPid:
      return "bad_pid";
    case ValidationReason::kBadComm:
      return "bad_comm";
    case ValidationReason::kBadString:
      return "bad_string";
    case ValidationReason::kUnknownKind:
      return "unknown_kind";
    case ValidationReason::kBadField:
      return "bad_field";
    case ValidationReason::kCount:
      break;
  }
  return "unknown";
}

std::optional<uint32_t> read_pid_max(const char* path) {
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[32] = {};
  ssize_t n;
  do {
    n = read(fd, buf, sizeof(buf) - 1);
  } while (n < 0 && errno == EINTR);
  close(fd);
  if (n <= 0) return std::nullopt;
  uint64_t value = 0;
  ssize_t i = 0;
  for (; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i) {
    value = value * 10 + static_cast<uint64_t>(buf[i] - '0');
    if (value > UINT32_MAX) return std::nullopt;
  }
  if (i == 0 || value == 0) return std::nullopt;
  return static_cast<uint32_t>(value);
}

namespace {

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
bool valid_utf8(const unsigned char* p, size_t n) {
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (n - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

// True when no byte of the 8 in x is outside printable ASCII 0x20..0x7E (SWAR: per byte, the high
// bit of (b - 0x20) & ~b flags b < 0x20; b + 1 overflowing into 0x80 flags b >= 0x7F).
inline bool word_printable_ascii(uint64_t x) {
  constexpr uint64_t k01 = 0x0101010101010101ULL, k80 = 0x8080808080808080ULL;
  const uint64_t below_space = (x - 0x20 * k01) & ~x & k80;
  const uint64_t at_or_above_del = (x + k01) | x;  // 0x7F + 1 and >= 0x80 set the high bit
  return ((below_space | at_or_above_del) & k80) == 0;
}

// True when the bytes can be printed as they are: valid UTF-8 without control characters.
// `p` must be a Cap'n Proto blob as the reader returns it: it starts on a word boundary of the
// segment and its last word is inside the (bounds-checked) segment, so the final partial word is
// read whole and the bytes past `n` (padding) are masked out instead of walked one by one.
bool printable(const unsigned char* p, size_t n) {
  static_assert(std::endian::native == std::endian::little, "the tail mask assumes little-endian");
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x;
    std::memcpy(&x, p + i, 8);
    if (!word_printable_ascii(x)) break;
  }
  if (i + 8 > n) {  // every whole word was printable ASCII: only the tail is left
    if (i == n) return true;
    uint64_t x;
    std::memcpy(&x, p + i, 8);
    const uint64_t pad = ~uint64_t{0} << ((n - i) * 8);  // bytes past the end of the blob
    if (word_printable_ascii((x & ~pad) | (0x6161616161616161ULL & pad))) return true;
  }
  // Bytes before i are printable ASCII already.
  bool ascii_printable = true;
  for (size_t k = i; k < n; ++k) {
    const unsigned char c = p[k];
    if (c < 0x20 || c == 0x7F) return false;
    ascii_printable &= (c < 0x80);
  }
  return ascii_printable || valid_utf8(p, n);
}

bool has_nul(const unsigned char* p, size_t n) { return std::memchr(p, 0, n) != nullptr; }

// Kinds that describe a process (pid/tid/comm are required and meaningful).
constexpr uint32_t kProcessKinds =
    (1u << schema::Event::Kind::PROCESS_EXEC) | (1u << schema::Event::Kind::PROCESS_EXIT) |
    (1u << schema::Event::Kind::FILE_OPEN) | (1u << schema::Event::Kind::NET_CONNECT) |
    (1u << schema::Event::Kind::NET_ACCEPT) | (1u << schema::Event::Kind::PRIVILEGE_CHANGE) |
    (1u << schema::Event::Kind::HTTP);

constexpr ValidationResult fail(ValidationReason reason, const char* field) {
  return ValidationResult{reason, field, false};
}

// Field checks accumulate needs_escape into the Checker; they return false on a hard failure.
class Checker {
 public:

  // Text: must be UTF-8 without NUL inside (capnp already checked the terminator). The common
  // case, printable ASCII, is settled by one SWAR pass that also rules out NUL.
  bool text(capnp::Text::Reader t, size_t max) {
    const auto* p = reinterpret_cast<const unsigned char*>(t.begin());
    const size_t n = t.size();
    if (n > max) return false;
    if (printable(p, n)) return true;
    if (has_nul(p, n) || !valid_utf8(p, n)) return false;
    needs_escape_ = true;  // control characters: valid, but escape on output
    return true;
  }
  // Data holding a kernel C string (path, argv entry): no NUL inside, any other byte allowed.
  bool c_string(capnp::Data::Reader d, size_t max) {
    if (d.size() > max) return false;
    if (printable(d.begin(), d.size())) return true;
    if (has_nul(d.begin(), d.size())) return false;
    needs_escape_ = true;
    return true;
  }
  // Data holding arbitrary bytes shown to people (HTTP targets): the bound, escape marking.
  bool bytes(capnp::Data::Reader d, size_t max) {
    if (d.size() > max) return false;
    note_escape(d);
    return true;
  }
  // Binary payload prefixes (HTTP request/response, samples): only the bound. They are binary by
  // nature and always escaped on output, so scanning them here would only cost time.
  bool binary(capnp::Data::Reader d, size_t max) const { return d.size() <= max; }
  bool needs_escape() const { return needs_escape_; }

 private:
  void note_escape(capnp::Data::Reader d) {
    if (!needs_escape_ && !printable(d.begin(), d.size())) needs_escape_ = true;
  }
  bool needs_escape_ = false;
};

// comm: the kernel's 16-byte buffer; trailing NUL padding is fine, a NUL inside is not.
bool valid_comm(capnp::Data::Reader comm, bool required, bool& needs_escape) {
  size_t n = comm.size();
  if (n > 16) return false;
  while (n > 0 && comm[n - 1] == 0) --n;
  if (n == 0) return !required;
  if (printable(comm.begin(), n)) return true;
  if (has_nul(comm.begin(), n)) return false;
  needs_escape = true;
  return true;
}

bool valid_family_addr(uint16_t family, capnp::Data::Reader addr, bool family_may_be_unknown) {
  const size_t n = addr.size();
  if (family == 2) return n == 0 || n == 4;
  if (family == 10) return n == 0 || n == 16;
  return family_may_be_unknown && family == 0 && n == 0;
}

}  // namespace

Validator::Validator(ValidationConfig config, const Clock& clock)
    : config_(std::move(config)), clock_(clock) {}

ValidationResult Validator::count(ValidationResult result) {
  if (result.ok()) {
    ++counters_.validated;
    if (result.needs_escape) ++counters_.needs_escape;
  } else {
    ++counters_.invalid;
    ++counters_.by_reason[static_cast<size_t>(result.reason)];
  }
  return result;
}

ValidationResult Validator::validate_at(std::span<const std::byte> record, DecodedRecord& out,
                                       uint64_t now_mono, uint64_t now_wall) {
  out.reader_.reset();
  out.event_ = schema::Event::Reader();
  if (record.size() > config_.max_record_bytes) {
    return count(fail(ValidationReason::kTooLarge, "record"));
  }
  if (record.empty() || record.size() % sizeof(capnp::word) != 0) {
    return count(fail(ValidationReason::kDecodeError, "record"));
  }
  const size_t words = record.size() / sizeof(capnp::word);
  const capnp::word* begin = reinterpret_cast<const capnp::word*>(record.data());
  if (reinterpret_cast<uintptr_t>(record.data()) % alignof(capnp::word) != 0) {
    // Cap'n Proto reads words in place; a ring slot need not be 8-aligned, so copy then.
    std::memcpy(out.aligned_.ensure(words), record.data(), record.size());
    begin = out.aligned_.data();
  }
  capnp::ReaderOptions options;
  options.traversalLimitInWords = words * std::max<uint64_t>(config_.traversal_factor, 1);
  options.nestingLimit = config_.nesting_limit;
  try {
    auto& reader = out.reader_.emplace(kj::ArrayPtr<const capnp::word>(begin, words), options);
    // One record is one message: trailing bytes mean a framing error or smuggled data.
    if (reader.getEnd() != begin + words) {
      out.reader_.reset();
      return count(fail(ValidationReason::kDecodeError, "record"));
    }
    schema::Event::Reader event = reader.getRoot<schema::Event>();
    ValidationResult result = check(event, now_mono, now_wall);
    if (!result.ok()) {
      out.reader_.reset();
      return count(result);
    }
    out.event_ = event;
    return count(result);
  } catch (const kj::Exception&) {
    out.reader_.reset();
    return count(fail(ValidationReason::kDecodeError, "record"));
  }
}

ValidationResult Validator::check(const schema::Event::Reader& ev, uint64_t now_mono,
                                  uint64_t now_wall) const {
  using R = ValidationReason;
  const ValidationConfig& c = config_;

  // Kind first: everything after depends on it.
  const auto kind = ev.getKind().which();
  const auto kind_bit = static_cast<unsigned>(kind);
  if (kind_bit > static_cast<unsigned>(schema::Event::Kind::ENDPOINT_HEALTH)) {
    return fail(R::kUnknownKind, "kind");
  }
  if ((c.allowed_kinds & (1u << kind_bit)) == 0) return fail(R::kUnknownKind, "kind");
  const bool process_kind = (kProcessKinds & (1u << kind_bit)) != 0;

  // Timestamps: monotonic is boot-relative (0 = not set), wall must be near now.
  const uint64_t mono = ev.getMonoNs();
  if (mono == 0 || mono > now_mono + c.future_skew_ns) return fail(R::kBadTimestamp, "monoNs");
  const uint64_t wall = ev.getWallNs();
  if (wall > now_wall + c.future_skew_ns || wall + c.max_age_ns < now_wall) {
    return fail(R::kBadTimestamp, "wallNs");
  }

  // Ids: the kernel never hands out pid 0 to a user process; lost/synthetic events carry 0.
  const uint32_t pid = ev.getPid();
  const uint32_t tid = ev.getTid();
  if (pid > c.pid_max || (process_kind && pid == 0)) return fail(R::kBadPid, "pid");
  if (tid > c.pid_max || (process_kind && tid == 0)) return fail(R::kBadPid, "tid");
  if (ev.getPpid() > c.pid_max) return fail(R::kBadPid, "ppid");

  bool escape = false;
  if (!valid_comm(ev.getComm(), process_kind, escape)) return fail(R::kBadComm, "comm");
  if (!valid_comm(ev.getParentComm(), false, escape)) {
    return fail(R::kBadComm, "parentComm");
  }

  if (static_cast<unsigned>(ev.getPriority()) > static_cast<unsigned>(schema::Priority::CRITICAL)) {
    return fail(R::kBadField, "priority");
  }
  Checker s;
  if (c.reject_derived_fields) {
    if (ev.getVerdict() != schema::Verdict::NONE || ev.getScore() != 0.0f || ev.hasRuleIds()) {
      return fail(R::kBadField, "derived");
    }
  } else {
    if (static_cast<unsigned>(ev.getVerdict()) >
        static_cast<unsigned>(schema::Verdict::MALICIOUS)) {
      return fail(R::kBadField, "verdict");
    }
    if (!std::isfinite(ev.getScore())) return fail(R::kBadField, "score");
    auto ids = ev.getRuleIds();
    if (ids.size() > c.max_rule_ids) return fail(R::kBadString, "ruleIds");
    for (auto id : ids) {
      if (!s.text(id, c.max_short_text)) return fail(R::kBadString, "ruleIds");
    }
  }
  if (!s.text(ev.getHost(), c.max_host)) return fail(R::kBadString, "host");

  switch (kind) {
    case schema::Event::Kind::PROCESS_EXEC: {
      auto e = ev.getKind().getProcessExec();
      if (!s.c_string(e.getFilename(), c.max_path)) return fail(R::kBadString, "exec.filename");
      if (!s.c_string(e.getCwd(), c.max_path)) return fail(R::kBadString, "exec.cwd");
      auto argv = e.getArgv();
      if (argv.size() > c.max_argv) return fail(R::kBadString, "exec.argv");
      for (auto arg : argv) {
        if (!s.c_string(arg, c.max_arg)) return fail(R::kBadString, "exec.argv");
      }
      break;
    }
    case schema::Event::Kind::PROCESS_EXIT:
      break;
    case schema::Event::Kind::FILE_OPEN: {
      auto e = ev.getKind().getFileOpen();
      if (!s.c_string(e.getPath(), c.max_path)) return fail(R::kBadString, "fileOpen.path");
      if (!s.text(e.getSyscall(), c.max_short_text)) return fail(R::kBadString, "fileOpen.syscall");
      break;
    }
    case schema::Event::Kind::NET_CONNECT:
    case schema::Event::Kind::NET_ACCEPT: {
      auto e = kind == schema::Event::Kind::NET_CONNECT ? ev.getKind().getNetConnect() : ev.getKind().getNetAccept();
      // A failed accept has no peer: no family, no addresses (a failed connect still names its
      // destination).
      const bool no_peer = kind == schema::Event::Kind::NET_ACCEPT && e.getResult() < 0;
      if (!valid_family_addr(e.getFamily(), e.getSrcAddr(), no_peer) ||
          !valid_family_addr(e.getFamily(), e.getDstAddr(), no_peer)) {
        return fail(R::kBadField, "net.addr");
      }
      break;
    }
    case schema::Event::Kind::PRIVILEGE_CHANGE: {
      auto e = ev.getKind().getPrivilegeChange();
      if (!s.text(e.getSyscall(), c.max_short_text)) return fail(R::kBadString, "priv.syscall");
      if (!s.c_string(e.getFilename(), c.max_path)) return fail(R::kBadString, "priv.filename");
      break;
    }
    case schema::Event::Kind::HTTP: {
      auto e = ev.getKind().getHttp();
      if (!s.text(e.getMethod(), c.max_short_text)) return fail(R::kBadString, "http.method");
      if (!s.bytes(e.getTarget(), c.max_http_target)) return fail(R::kBadString, "http.target");
      if (!s.binary(e.getRequest(), c.max_payload)) return fail(R::kBadString, "http.request");
      if (!s.binary(e.getResponse(), c.max_payload)) return fail(R::kBadString, "http.response");
      if (!s.text(e.getRole(), c.max_short_text)) return fail(R::kBadString, "http.role");
      if (c.reject_derived_fields) {
        if (e.hasRoute() || e.hasService() || e.hasBusinessError() || e.hasBodyEncoding()) {
          return fail(R::kBadField, "http.derived");
        }
      } else if (!s.text(e.getRoute(), c.max_name_text) ||
                 !s.text(e.getService(), c.max_name_text) ||
                 !s.text(e.getBusinessError(), c.max_name_text) ||
                 !s.text(e.getBodyEncoding(), c.max_short_text)) {
        return fail(R::kBadString, "http.derived");
      }
      if (e.getStatus() > 999) return fail(R::kBadField, "http.status");
      if (!valid_family_addr(e.getFamily(), e.getLocalAddr(), true) ||
          !valid_family_addr(e.getFamily(), e.getRemoteAddr(), true)) {
        return fail(R::kBadField, "http.addr");
      }
      break;
    }
    case schema::Event::Kind::LOST: {
      auto e = ev.getKind().getLost();
      if (!s.text(e.getStage(), c.max_short_text) || !s.text(e.getReason(), c.max_short_text) ||
          !s.text(e.getEventKind(), c.max_short_text)) {
        return fail(R::kBadString, "lost");
      }
      break;
    }
    case schema::Event::Kind::VALIDATION_FAILURE: {
      auto e = ev.getKind().getValidationFailure();
      if (!s.text(e.getReason(), c.max_short_text)) return fail(R::kBadString, "vf.reason");
      if (!s.binary(e.getSample(), c.max_sample)) return fail(R::kBadString, "vf.sample");
      break;
    }
    case schema::Event::Kind::ENDPOINT_HEALTH: {
      auto e = ev.getKind().getEndpointHealth();
      if (!s.text(e.getService(), c.max_name_text) || !s.text(e.getRoute(), c.max_name_text) ||
          !s.text(e.getState(), c.max_short_text)) {
        return fail(R::kBadString, "health");
      }
      if (!std::isfinite(e.getScore()) || !std::isfinite(e.getErrorRate5xx()) ||
          !std::isfinite(e.getBusinessErrorRate()) || !std::isfinite(e.getP99Ms())) {
        return fail(R::kBadField, "health.numbers");
      }
      break;
    }
  }
  return ValidationResult{R::kOk, "", escape || s.needs_escape()};
}

// ---- sampler ------------------------------------------------------------------------------------

ValidationSampler::ValidationSampler(const Clock& clock, uint64_t interval_ns, size_t prefix_bytes)
    : clock_(clock), interval_ns_(interval_ns), prefix_bytes_(prefix_bytes) {}

std::optional<ValidationSample> ValidationSampler::offer(const ValidationResult& result,
                                                         std::span<const std::byte> record) {
  if (result.ok()) return std::nullopt;
  Slot& slot = slots_[static_cast<size_t>(result.reason)];
  const uint64_t now = clock_.mono_ns();
  ++slot.pending;
  slot.last_field = result.field;
  if (slot.started && now - slot.interval_start_ns < interval_ns_) return std::nullopt;
  slot.started = true;
  slot.interval_start_ns = now;
  ValidationSample sample{result.reason, result.field, slot.pending, {}};
  const size_t n = std::min(prefix_bytes_, record.size());
  sample.prefix.assign(record.begin(), record.begin() + static_cast<std::ptrdiff_t>(n));
  slot.pending = 0;
  ++emitted_;
  return sample;
}

std::vector<ValidationSample> ValidationSampler::flush_due() {
  std::vector<ValidationSample> due;
  const uint64_t now = clock_.mono_ns();
  for (size_t i = 0; i < slots_.size(); ++i) {
    Slot& slot = slots_[i];
    if (slot.pending == 0 || now - slot.interval_start_ns < interval_ns_) continue;
    // No record bytes kept for suppressed failures: the summary carries the count only.
    due.push_back(ValidationSample{static_cast<ValidationReason>(i), slot.last_field, slot.pending, {}});
    slot.interval_start_ns = now;
    slot.pending = 0;
    ++emitted_;
  }
  return due;
}

void build_validation_failure_event(const ValidationSample& sample, uint64_t id, const Clock& clock,
                                    schema::Event::Builder out) {
  out.setId(id);
  out.setMonoNs(clock.mono_ns());
  out.setWallNs(clock.wall_ns());
  out.setPriority(schema::Priority::HIGH);
  auto vf = out.getKind().initValidationFailure();
  // The stable reason name only, so consumers can aggregate on it (the field goes to logs).
  const std::string_view reason = reason_name(sample.reason);
  vf.setReason(capnp::Text::Reader(reason.data(), reason.size()));
  vf.setCount(sample.count);
  vf.setSample(capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(sample.prefix.data()),
                                   sample.prefix.size()));
}

}  // namespace ringward::processor
