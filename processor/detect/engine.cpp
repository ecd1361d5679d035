// Detection engine implementation (see engine.h). Untrusted input everywhere below the public
// entry points: all views are capped, loops are bounded by input size or fixed limits, and the
// only allocations after load are growth of the reused buffers and the findings themselves.
#include "processor/detect/engine.h"

#include <hs/hs.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <istream>
#include <ostream>
#include <string>

#include "common/privilege.h"
#include "processor/detect/cred_tracker.h"
#include "processor/detect/path_normalizer.h"
#include "processor/detect/sql_lexer.h"

namespace ringward::detect {

extern const char kEmbeddedDefaultRules[];
extern const std::size_t kEmbeddedDefaultRulesSize;

namespace {

struct DatabaseDeleter {
  void operator()(hs_database_t* db) const { hs_free_database(db); }
};
struct ScratchDeleter {
  void operator()(hs_scratch_t* s) const { hs_free_scratch(s); }
};
using DatabasePtr = std::unique_ptr<hs_database_t, DatabaseDeleter>;
using ScratchPtr = std::unique_ptr<hs_scratch_t, ScratchDeleter>;

std::string_view basename_of(std::string_view path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

bool starts_with_any(std::string_view s, const std::vector<std::string>& prefixes) {
  for (const std::string& p : prefixes) {
    if (!p.empty() && s.substr(0, p.size()) == p) return true;
  }
  return false;
}

std::string_view as_view(capnp::Data::Reader d) {
  return {reinterpret_cast<const char*>(d.begin()), d.size()};
}
std::string_view as_view(capnp::Text::Reader t) { return {t.cStr(), t.size()}; }

// True if any byte could start a dot, slash or backslash after decoding.
bool may_hold_traversal(std::string_view s) {
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '.' || c == '%' || c == '\\' || c >= 0xC0) return true;
  }
  return false;
}

bool is_b64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '/' || c == '=' || c == '-' || c == '_';
}

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

// Decodes standard or URL-safe base64, stopping at '='. Returns false on a character outside
// the alphabet. UTF-16LE text (PowerShell -EncodedCommand) is folded to bytes.
bool decode_base64(std::string_view in, std::string& out) {
  out.clear();
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    const int v = b64_value(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  if (out.size() >= 4) {
    bool utf16 = true;
    for (std::size_t i = 1; i < out.size(); i += 2) {
      if (out[i] != '\0') {
        utf16 = false;
        break;
      }
    }
    if (utf16) {
      std::size_t w = 0;
      for (std::size_t i = 0; i < out.size(); i += 2) out[w++] = out[i];
      out.resize(w);
    }
  }
  return true;
}

bool mostly_printable(std::string_view s) {
  if (s.empty()) return false;
  std::size_t printable = 0;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    printable += (c >= 0x20 && c < 0x7F) || c == '\n' || c == '\t' || c == '\r';
  }
  return printable * 10 >= s.size() * 9;
}

}  // namespace

struct Engine::Impl {
  RuleSet rules;
  std::array<DatabasePtr, kFieldKindCount> dbs;
  // Pattern id (vectorscan expression id) -> rule index, per field kind.
  std::array<std::vector<std::uint32_t>, kFieldKindCount> rule_of_pattern;
  std::array<int, kDetectorCount> detector_rule{};
  ScratchPtr scratch;

  // Reused per-call working memory (the engine is single-threaded by contract).
  mutable PathNormalizer normalizer;
  mutable std::string decoded_target;
  mutable std::string value_buf;
  mutable std::string fingerprint;
  mutable std::string b64_buf;
  mutable std::string json_buf;
  mutable std::string command_buf;
  mutable std::vector<Finding> inner;
  mutable EngineStats stats;
  mutable CredTracker creds;

  Impl() : normalizer(kMaxTargetBytes, 4) { detector_rule.fill(-1); }

  void add(std::size_t rule_index, std::vector<Finding>& out) const {
    const Rule& r = rules.rules[rule_index];
    for (const Finding& f : out) {
      if (f.rule_id == r.id) return;
    }
    out.push_back(Finding{r.id, r.severity});
  }

  bool enabled(Detector d) const { return detector_rule[static_cast<std::size_t>(d)] >= 0; }
  void add(Detector d, std::vector<Finding>& out) const {
    const int idx = detector_rule[static_cast<std::size_t>(d)];
    if (idx >= 0) add(static_cast<std::size_t>(idx), out);
  }

  struct ScanContext {
    const Impl* impl;
    FieldKind kind;
    std::vector<Finding>* out;
    bool matched;
  };

  static int on_match(unsigned int id, unsigned long long /*from*/, unsigned long long /*to*/,
                      unsigned int /*flags*/, void* ctx) {
    auto* c = static_cast<ScanContext*>(ctx);
    const auto& map = c->impl->rule_of_pattern[static_cast<std::size_t>(c->kind)];
    if (id < map.size()) {
      c->impl->add(map[id], *c->out);
      c->matched = true;
    }
    return 0;  // keep scanning: other rules may match too
  }

  // Scans `data` with the database of `kind`. Returns true if any rule matched.
  bool scan(FieldKind kind, std::string_view data, std::vector<Finding>& out) const {
    const hs_database_t* db = dbs[static_cast<std::size_t>(kind)].get();
    if (db == nullptr || data.empty()) return false;
    ScanContext ctx{this, kind, &out, false};
    const hs_error_t rc = hs_scan(db, data.data(), static_cast<unsigned int>(data.size()), 0,
                                  scratch.get(), &Impl::on_match, &ctx);
    if (rc != HS_SUCCESS) ++stats.scan_errors;
    return ctx.matched;
  }

  std::string_view cap(std::string_view s, std::size_t limit) const {
    if (s.size() <= limit) return s;
    ++stats.inputs_truncated;
    return s.substr(0, limit);
  }

  // Traversal detectors on one path-like string. `filesystem` selects file-path semantics:
  // an absolute path that climbs with ".." onto a sensitive file counts even without escaping.
  void check_traversal(std::string_view raw, bool percent, bool plus, int min_depth,
                       bool filesystem, std::vector<Finding>& out) const {
    if (!may_hold_traversal(raw)) return;
    ++stats.values_inspected;
    PathAnalysis a;
    const std::string_view resolved = normalizer.analyse(raw, percent, plus, a);
    if (a.truncated) ++stats.inputs_truncated;
    const bool escaped = a.escape_depth >= min_depth;
    if (escaped) add(Detector::traversal_escape, out);
    if (escaped && (a.disguised || a.decode_rounds_exhausted)) add(Detector::traversal_disguised, out);
    const bool climbed = a.escape_depth > 0 || (filesystem && a.parent_segments > 0);
    if (climbed && enabled(Detector::traversal_sensitive) &&
        is_sensitive_target(resolved, rules.lists.sensitive_targets)) {
      add(Detector::traversal_sensitive, out);
    }
  }

  void check_sql(std::string_view value, std::vector<Finding>& out) const {
    if (dbs[static_cast<std::size_t>(FieldKind::sql_fingerprint)] == nullptr) return;
    if (!sql_worth_lexing(value)) return;
    ++stats.values_inspected;
    if (value.size() > kSqlMaxInput) ++stats.inputs_truncated;
    sql_fingerprint(value, SqlContext::raw, fingerprint);
    scan(FieldKind::sql_fingerprint, fingerprint, out);
    // Quote contexts only make sense when the value can close the application's quote.
    if (value.find('\'') != std::string_view::npos) {
      sql_fingerprint(value, SqlContext::single_quote, fingerprint);
      scan(FieldKind::sql_fingerprint, fingerprint, out);
    }
    if (value.find('"') != std::string_view::npos) {
      sql_fingerprint(value, SqlContext::double_quote, fingerprint);
      scan(FieldKind::sql_fingerprint, fingerprint, out);
    }
  }

  // One URL-encoded parameter value (query string or form body).
  void check_parameter(std::string_view raw_value, std::vector<Finding>& out) const {
    PathAnalysis ignored;
    // decode() folds backslashes too; that is harmless for SQL (a backslash outside a string is
    // not valid SQL) and tells whether the value is path-like at all.
    value_buf.assign(normalizer.decode(raw_value, true, true, ignored));
    // A value is only a path if it has a separator: a search for ".." is not a traversal.
    if (value_buf.find('/') != std::string::npos) {
      check_traversal(raw_value, true, true, rules.traversal.http_min_escape_depth, false, out);
      value_buf.assign(normalizer.decode(raw_value, true, true, ignored));
    }
    check_sql(value_buf, out);
  }

  void check_query(std::string_view query, std::vector<Finding>& out) const {
    std::size_t count = 0;
    std::size_t i = 0;
    while (i <= query.size() && count < kMaxParameters) {
      std::size_t j = query.find('&', i);
      if (j == std::string_view::npos) j = query.size();
      const std::string_view pair = query.substr(i, j - i);
      if (!pair.empty()) {
        ++count;
        const std::size_t eq = pair.find('=');
        check_parameter(eq == std::string_view::npos ? pair : pair.substr(eq + 1), out);
      }
      i = j + 1;
    }
    if (count == kMaxParameters && i < query.size()) ++stats.inputs_truncated;
  }

  void http_target(std::string_view target, std::vector<Finding>& out) const {
    target = cap(target, kMaxTargetBytes);
    ++stats.values_inspected;
    const std::size_t hash = target.find('#');
    if (hash != std::string_view::npos) target = target.substr(0, hash);
    const std::size_t q = target.find('?');
    const std::string_view path = target.substr(0, q);
    const std::string_view query =
        q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);

    check_traversal(path, true, false, rules.traversal.http_min_escape_depth, false, out);

    // Patterns see the raw target and, if different, its fully decoded form.
    scan(FieldKind::http_target, target, out);
    PathAnalysis a;
    decoded_target.assign(normalizer.decode(target, true, false, a));
    if (decoded_target != target) scan(FieldKind::http_target, decoded_target, out);

    // REST-style parameters in path segments ("/item/1' or '1'='1").
    PathAnalysis pa;
    decoded_target.assign(normalizer.decode(path, true, false, pa));
    std::size_t seg_start = 0;
    std::size_t segments = 0;
    while (seg_start <= decoded_target.size() && segments < kMaxParameters) {
      std::size_t end = decoded_target.find('/', seg_start);
      if (end == std::string::npos) end = decoded_target.size();
      const std::string_view seg(decoded_target.data() + seg_start, end - seg_start);
      if (!seg.empty()) {
        ++segments;
        check_sql(seg, out);
      }
      seg_start = end + 1;
    }
    if (!query.empty()) check_query(query, out);
  }

  // Extracts JSON string values (not keys) and checks each; bounded by kMaxParameters.
  void check_json(std::string_view body, std::vector<Finding>& out) const {
    std::size_t i = 0, values = 0;
    while (i < body.size() && values < kMaxParameters) {
      if (body[i] != '"') {
        ++i;
        continue;
      }
      json_buf.clear();
      std::size_t j = i + 1;
      while (j < body.size() && body[j] != '"') {
        if (body[j] == '\\' && j + 1 < body.size()) {
          const char e = body[j + 1];
          if (e == 'u' && j + 5 < body.size()) {
            int v = 0;
            bool ok = true;
            for (std::size_t k = j + 2; k < j + 6; ++k) {
              const char h = body[k];
              const int d = (h >= '0' && h <= '9')   ? h - '0'
                            : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                            : (h >= 'A' && h <= 'F') ? h - 'A' + 10
                                                     : -1;
              if (d < 0) ok = false;
              v = v * 16 + std::max(d, 0);
            }
            json_buf.push_back(ok && v < 0x80 ? static_cast<char>(v) : '?');
            j += 6;
            continue;
          }
          json_buf.push_back(e == 'n' ? '\n' : e == 't' ? '\t' : e);
          j += 2;
          continue;
        }
        json_buf.push_back(body[j]);
        ++j;
      }
      std::size_t k = j + 1;
      while (k < body.size() && (body[k] == ' ' || body[k] == '\t' || body[k] == '\n' ||
                                 body[k] == '\r')) {
        ++k;
      }
      const bool is_key = k < body.size() && body[k] == ':';
      if (!is_key) {
        ++values;
        check_traversal(json_buf, true, false, rules.traversal.http_min_escape_depth, false, out);
        value_buf.assign(json_buf);
        check_sql(value_buf, out);
      }
      i = j + 1;
    }
  }

  void http_body(std::string_view body, std::vector<Finding>& out) const {
    body = cap(body, kMaxBodyBytes);
    if (body.empty()) return;
    ++stats.values_inspected;
    scan(FieldKind::http_body, body, out);
    const std::size_t first = body.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) return;
    if (body[first] == '{' || body[first] == '[') {
      check_json(body, out);
    } else if (body.find('=') != std::string_view::npos &&
               body.find('\n') == std::string_view::npos) {
      check_query(body, out);
    } else {
      check_sql(body.substr(0, kSqlMaxInput), out);
    }
  }

  void check_encoded(std::string_view cmd, std::vector<Finding>& out) const {
    if (!enabled(Detector::encoded_command)) return;
    std::size_t i = 0, blobs = 0;
    while (i < cmd.size() && blobs < 4) {
      if (!is_b64_char(cmd[i])) {
        ++i;
        continue;
      }
      std::size_t j = i;
      while (j < cmd.size() && is_b64_char(cmd[j])) ++j;
      const std::string_view run = cmd.substr(i, j - i);
      i = j;
      if (run.size() < 16) continue;
      // Paths and words are base64-alphabet too; real blobs mix upper and lower case.
      const bool has_upper = std::any_of(run.begin(), run.end(), [](char ch) { return ch >= 'A' && ch <= 'Z'; });
      const bool has_lower = std::any_of(run.begin(), run.end(), [](char ch) { return ch >= 'a' && ch <= 'z'; });
      if (!has_upper || !has_lower) continue;
      ++blobs;
      if (!decode_base64(run.substr(0, 8192), b64_buf) || !mostly_printable(b64_buf)) continue;
      inner.clear();
      if (scan(FieldKind::command, b64_buf, inner)) {
        add(Detector::encoded_command, out);
        for (Finding& f : inner) {
          if (std::none_of(out.begin(), out.end(),
                           [&](const Finding& o) { return o.rule_id == f.rule_id; })) {
            out.push_back(std::move(f));
          }
        }
      }
    }
  }

  void command(const CommandInput& c, std::vector<Finding>& out) const {
    ++stats.values_inspected;
    const std::string_view line = cap(c.command_line, kMaxCommandBytes);
    const std::string_view filename = cap(c.filename, kMaxPathBytes);
    scan(FieldKind::command, line, out);
    scan(FieldKind::exec_path, filename, out);
    check_encoded(line, out);

    const std::string_view exe = basename_of(filename);
    const std::string_view arg0 = basename_of(c.argv0);
    const Lists& l = rules.lists;

    if (!c.parent_comm.empty() && name_in_list(c.parent_comm, l.web_servers) &&
        (name_in_list(exe, l.interpreters) || name_in_list(c.comm, l.interpreters))) {
      add(Detector::web_server_interpreter, out);
    }
    if ((!c.argv0.empty() && c.argv0.front() == '[') || (!c.comm.empty() && c.comm.front() == '[')) {
      add(Detector::masquerade_bracket_name, out);
    }
    if (starts_with_any(filename, l.writable_dirs) &&
        (name_in_list(exe, l.system_daemon_names) || name_in_list(arg0, l.system_daemon_names) ||
         name_in_list(c.comm, l.system_daemon_names))) {
      add(Detector::masquerade_daemon_name, out);
    }
    if (!arg0.empty() && name_in_list(arg0, l.system_daemon_names) && arg0 != exe &&
        !filename.empty() && !starts_with_any(filename, l.trusted_exec_dirs)) {
      add(Detector::masquerade_argv0_mismatch, out);
    }
  }

  // A credential file (shadow, sudoers, SSH private keys) opened, or tried, by a process whose
  // name is not among its usual readers: `cat /etc/shadow` from a shell, a script lifting keys.
  // The path is the one the process passed (a relative path is not resolved here) and the name
  // is its comm, which a process chooses itself: this catches the careless, not the careful.
  void credential_access(std::string_view path, std::string_view comm, std::vector<Finding>& out) const {
    if (!enabled(Detector::credential_access)) return;
    if (!path_in_list(path, rules.lists.credential_files)) return;
    if (name_in_list(comm, rules.lists.credential_readers)) return;
    add(Detector::credential_access, out);
  }

  // Credential continuity (see cred_tracker.h). Only events whose envelope is the emitting
  // thread's own at that moment count: an HTTP exchange carries the identity its request had,
  // and processor-made events have none. A report that a privilege change may be missing (a
  // privilege record lost in the kernel, a capture restart, a record capture could not decode)
  // forgets everything; losses of other kinds cannot hide a uid change and keep the memory.
  void track_creds(schema::Event::Reader event, std::vector<Finding>& out) const {
    if (!enabled(Detector::privesc_unobserved_root)) return;
    const auto which = event.getKind().which();
    switch (which) {
      case schema::Event::Kind::LOST: {
        const auto kind = event.getKind().getLost().getEventKind();
        if (kind == "privilege_change" || kind == "" || kind == "unknown") creds.forget_all();
        return;
      }
      case schema::Event::Kind::PROCESS_EXEC:
      case schema::Event::Kind::PROCESS_EXIT:
      case schema::Event::Kind::FILE_OPEN:
      case schema::Event::Kind::NET_CONNECT:
      case schema::Event::Kind::NET_ACCEPT:
      case schema::Event::Kind::PRIVILEGE_CHANGE:
        break;
      default:
        return;
    }
    CredSighting s;
    s.tid = event.getTid();
    s.start_ns = event.getThreadStartNs();
    s.uid = event.getUid();
    s.euid = event.getEuid();
    s.reported_change = which == schema::Event::Kind::PRIVILEGE_CHANGE;
    if (s.reported_change) {
      // The ids the change leaves the thread with: an exec's record is written just before the
      // exec commits them, while its envelope still carries the old ones.
      const auto p = event.getKind().getPrivilegeChange();
      s.uid = p.getNewUid();
      s.euid = p.getNewEuid();
    }
    s.exec = which == schema::Event::Kind::PROCESS_EXEC;
    if (creds.observe(s)) add(Detector::privesc_unobserved_root, out);
  }

  void privilege(const PrivilegeInput& p, std::vector<Finding>& out) const {
    ++stats.values_inspected;
    if (p.result < 0) return;  // the kernel refused: nothing was gained
    if (p.old_uid == 0 && p.old_euid == 0) return;
    const CredIds before{p.old_uid, p.old_euid, p.old_gid, p.old_egid};
    const CredIds after{p.new_uid, p.new_euid, p.new_gid, p.new_egid};
    const bool gains_root = gains_root_uid(before, after);
    const bool gains_caps = (p.new_caps & ~p.old_caps) != 0;
    // Group root (files and devices owned by group 0): a set-gid binary of group root, or a
    // setgid family call that CAP_SETGID alone allowed. Said once: with uid 0 it is implied.
    const bool gains_root_group = !gains_root && gains_group_root(before, after);
    if (!gains_root && !gains_caps && !gains_root_group) return;
    const Lists& l = rules.lists;
    bool allowlisted;
    if (!p.filename.empty()) {
      // Only the real helper binaries: a copy elsewhere is not set-uid, and a name alone lies.
      allowlisted = name_in_list(basename_of(p.filename), l.setuid_helpers) &&
                    starts_with_any(p.filename, l.trusted_exec_dirs);
    } else {
      allowlisted = name_in_list(p.comm, l.setuid_helpers);
    }
    if (allowlisted) return;
    if (gains_root) add(Detector::privesc_uid_zero, out);
    if (gains_caps) add(Detector::privesc_capabilities, out);
    if (gains_root_group) add(Detector::privesc_gid_zero, out);
  }
};

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;
Engine::~Engine() = default;

Expected<Engine, LoadError> Engine::load(std::string_view rules_toml, std::string_view origin) {
  auto parsed = parse_rules(rules_toml, origin);
  if (!parsed) return unexpected(parsed.error());
  auto impl = std::make_unique<Impl>();
  impl->rules = std::move(parsed).value();
  impl->normalizer = PathNormalizer(kMaxTargetBytes, impl->rules.traversal.max_decode_rounds);
  const std::vector<Rule>& rules = impl->rules.rules;
  for (std::size_t r = 0; r < rules.size(); ++r) {
    if (rules[r].detector != Detector::none) {
      impl->detector_rule[static_cast<std::size_t>(rules[r].detector)] = static_cast<int>(r);
    }
  }
  for (std::size_t k = 0; k < kFieldKindCount; ++k) {
    std::vector<const char*> exprs;
    std::vector<unsigned> flags;
    std::vector<unsigned> ids;
    std::vector<std::pair<std::size_t, std::size_t>> origin_of;  // (rule, pattern index)
    for (std::size_t r = 0; r < rules.size(); ++r) {
      const Rule& rule = rules[r];
      if (rule.detector != Detector::none || static_cast<std::size_t>(rule.field) != k) continue;
      for (std::size_t p = 0; p < rule.patterns.size(); ++p) {
        ids.push_back(static_cast<unsigned>(exprs.size()));
        exprs.push_back(rule.patterns[p].c_str());
        flags.push_back(HS_FLAG_SINGLEMATCH | HS_FLAG_DOTALL |
                        (rule.caseless ? HS_FLAG_CASELESS : 0u));
        impl->rule_of_pattern[k].push_back(static_cast<std::uint32_t>(r));
        origin_of.emplace_back(r, p);
      }
    }
    if (exprs.empty()) continue;
    hs_database_t* db = nullptr;
    hs_compile_error_t* err = nullptr;
    const hs_error_t rc =
        hs_compile_multi(exprs.data(), flags.data(), ids.data(), static_cast<unsigned>(exprs.size()),
                         HS_MODE_BLOCK, nullptr, &db, &err);
    if (rc != HS_SUCCESS) {
      LoadError e{std::string(origin), 0, "", ""};
      const std::string msg = err != nullptr && err->message != nullptr ? err->message : "unknown";
      if (err != nullptr && err->expression >= 0 &&
          static_cast<std::size_t>(err->expression) < origin_of.size()) {
        const auto [r, p] = origin_of[static_cast<std::size_t>(err->expression)];
        e.line = rules[r].line;
        e.rule_id = rules[r].id;
        e.message = "pattern " + std::to_string(p + 1) + " '" + rules[r].patterns[p] +
                    "': " + msg;
      } else {
        e.message = "compiling the " + std::string(to_string(static_cast<FieldKind>(k))) +
                    " database: " + msg;
      }
      hs_free_compile_error(err);
      return unexpected(std::move(e));
    }
    impl->dbs[k].reset(db);
    hs_scratch_t* scratch = impl->scratch.release();
    if (hs_alloc_scratch(db, &scratch) != HS_SUCCESS) {
      impl->scratch.reset(scratch);
      return unexpected(LoadError{std::string(origin), 0, "",
                                  "allocating vectorscan scratch space failed"});
    }
    impl->scratch.reset(scratch);
  }
  return Engine(std::move(impl));
}

std::string_view Engine::default_rules_text() {
  return {kEmbeddedDefaultRules, kEmbeddedDefaultRulesSize};
}

Expected<Engine, LoadError> Engine::load_default() {
  return load(default_rules_text(), "<embedded default_rules.toml>");
}

void Engine::forget_thread_credentials() { impl_->creds.forget_all(); }

const RuleSet& Engine::rules() const { return impl_->rules; }
EngineStats Engine::stats() const { return impl_->stats; }

void Engine::inspect_file_path(std::string_view path, std::vector<Finding>& out) const {
  path = impl_->cap(path, kMaxPathBytes);
  ++impl_->stats.values_inspected;
  impl_->check_traversal(path, true, false, impl_->rules.traversal.file_min_escape_depth, true,
                         out);
  impl_->scan(FieldKind::path, path, out);
  PathAnalysis a;
  const std::string_view decoded = impl_->normalizer.decode(path, true, false, a);
  if (decoded != path) {
    impl_->decoded_target.assign(decoded);
    impl_->scan(FieldKind::path, impl_->decoded_target, out);
  }
}

void Engine::inspect_http(std::string_view target, std::string_view request,
                          std::vector<Finding>& out) const {
  if (!target.empty()) impl_->http_target(target, out);
  const std::size_t hdr_end = request.find("\r\n\r\n");
  if (hdr_end != std::string_view::npos) impl_->http_body(request.substr(hdr_end + 4), out);
}

void Engine::inspect_http_target(std::string_view target, std::vector<Finding>& out) const {
  impl_->http_target(target, out);
}

void Engine::inspect_http_body(std::string_view body, std::vector<Finding>& out) const {
  impl_->http_body(body, out);
}

void Engine::inspect_sql_parameter(std::string_view raw_value, std::vector<Finding>& out) const {
  PathAnalysis ignored;
  impl_->value_buf.assign(impl_->normalizer.decode(impl_->cap(raw_value, kMaxTargetBytes), true,
                                                   true, ignored));
  impl_->check_sql(impl_->value_buf, out);
}

void Engine::inspect_sql_value(std::string_view value, std::vector<Finding>& out) const {
  impl_->check_sql(value, out);
}

void Engine::inspect_command(const CommandInput& cmd, std::vector<Finding>& out) const {
  impl_->command(cmd, out);
}

void Engine::inspect_privilege(const PrivilegeInput& priv, std::vector<Finding>& out) const {
  impl_->privilege(priv, out);
}

void Engine::inspect(schema::Event::Reader event, std::vector<Finding>& out) const {
  ++impl_->stats.events_inspected;
  impl_->track_creds(event, out);
  const auto kind = event.getKind();
  switch (kind.which()) {
    case schema::Event::Kind::PROCESS_EXEC: {
      const auto exec = kind.getProcessExec();
      const auto argv = exec.getArgv();
      std::string& line = impl_->command_buf;
      line.clear();
      for (auto arg : argv) {
        if (line.size() >= kMaxCommandBytes) {
          ++impl_->stats.inputs_truncated;
          break;
        }
        if (!line.empty()) line.push_back(' ');
        line.append(as_view(arg));
      }
      CommandInput c;
      c.filename = as_view(exec.getFilename());
      c.argv0 = argv.size() > 0 ? as_view(argv[0]) : std::string_view{};
      c.command_line = line.empty() ? c.filename : std::string_view(line);
      const std::string_view comm = as_view(event.getComm());
      c.comm = comm.substr(0, std::min(comm.find('\0'), comm.size()));
      const std::string_view pcomm = as_view(event.getParentComm());
      c.parent_comm = pcomm.substr(0, std::min(pcomm.find('\0'), pcomm.size()));
      impl_->command(c, out);
      break;
    }
    case schema::Event::Kind::FILE_OPEN: {
      const std::string_view path = as_view(kind.getFileOpen().getPath());
      inspect_file_path(path, out);
      const std::string_view comm = as_view(event.getComm());
      impl_->credential_access(impl_->cap(path, kMaxPathBytes),
                               comm.substr(0, std::min(comm.find('\0'), comm.size())), out);
      break;
    }
    case schema::Event::Kind::PRIVILEGE_CHANGE: {
      const auto pc = kind.getPrivilegeChange();
      PrivilegeInput p;
      p.syscall = as_view(pc.getSyscall());
      p.old_uid = pc.getOldUid();
      p.new_uid = pc.getNewUid();
      p.old_euid = pc.getOldEuid();
      p.new_euid = pc.getNewEuid();
      p.old_gid = pc.getOldGid();
      p.new_gid = pc.getNewGid();
      p.old_egid = pc.getOldEgid();
      p.new_egid = pc.getNewEgid();
      p.old_caps = pc.getOldCaps();
      p.new_caps = pc.getNewCaps();
      p.result = pc.getResult();
      p.filename = as_view(pc.getFilename());
      const std::string_view comm = as_view(event.getComm());
      p.comm = comm.substr(0, std::min(comm.find('\0'), comm.size()));
      impl_->privilege(p, out);
      break;
    }
    case schema::Event::Kind::HTTP: {
      const auto h = kind.getHttp();
      inspect_http(as_view(h.getTarget()), as_view(h.getRequest()), out);
      break;
    }
    default:
      break;
  }
}

}  // namespace ringward::detect
