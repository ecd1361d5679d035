// Rules file parser (see rules.h). toml++ reports syntax errors by exception; they are turned
// into LoadError values here so no exception leaves this file.
#include "processor/detect/rules.h"

#include <set>
#include <sstream>
#include <toml++/toml.h>

namespace ringward::detect {
namespace {

constexpr std::array<std::string_view, kFieldKindCount> kFieldNames = {
    "path", "http_target", "http_body", "command", "exec_path", "sql_fingerprint"};

constexpr std::array<std::string_view, kDetectorCount> kDetectorNames = {
    "none",
    "traversal_escape",
    "traversal_disguised",
    "traversal_sensitive",
    "encoded_command",
    "web_server_interpreter",
    "masquerade_bracket_name",
    "masquerade_daemon_name",
    "masquerade_argv0_mismatch",
    "privesc_uid_zero",
    "privesc_capabilities",
    "credential_access",
    "privesc_unobserved_root",
    "privesc_gid_zero",
};

int line_of(const toml::node& n) { return static_cast<int>(n.source().begin.line); }

bool valid_rule_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

class Parser {
 public:
  explicit Parser(std::string_view origin) : origin_(origin) {}

  LoadError error(int line, std::string rule_id, std::string message) const {
    return LoadError{origin_, line, std::move(rule_id), std::move(message)};
  }

  // Reads an array of strings; returns false and fills err on a wrong type.
  bool string_array(const toml::node& node, std::string_view key, const std::string& rule_id,
                    std::vector<std::string>& out, LoadError& err) const {
    const toml::array* arr = node.as_array();
    if (arr == nullptr) {
      err = error(line_of(node), rule_id, std::string(key) + " must be an array of strings");
      return false;
    }
    for (const toml::node& el : *arr) {
      const auto* s = el.as_string();
      if (s == nullptr) {
        err = error(line_of(el), rule_id, std::string(key) + " must contain only strings");
        return false;
      }
      out.push_back(s->get());
    }
    return true;
  }

  bool parse_lists(const toml::table& t, Lists& lists, LoadError& err) const {
    struct Entry {
      std::string_view key;
      std::vector<std::string>* out;
    };
    const std::array<Entry, 9> entries = {{
        {"setuid_helpers", &lists.setuid_helpers},
        {"trusted_exec_dirs", &lists.trusted_exec_dirs},
        {"writable_dirs", &lists.writable_dirs},
        {"web_servers", &lists.web_servers},
        {"interpreters", &lists.interpreters},
        {"system_daemon_names", &lists.system_daemon_names},
        {"sensitive_targets", &lists.sensitive_targets},
        {"credential_files", &lists.credential_files},
        {"credential_readers", &lists.credential_readers},
    }};
    for (const auto& [key, node] : t) {
      bool known = false;
      for (const Entry& e : entries) {
        if (key.str() == e.key) {
          known = true;
          if (!string_array(node, e.key, "", *e.out, err)) return false;
        }
      }
      if (!known) {
        err = error(line_of(node), "", "unknown key lists." + std::string(key.str()));
        return false;
      }
    }
    return true;
  }

  bool parse_traversal(const toml::table& t, TraversalSettings& s, LoadError& err) const {
    for (const auto& [key, node] : t) {
      int* target = nullptr;
      int lo = 1, hi = 64;
      if (key.str() == "max_decode_rounds") {
        target = &s.max_decode_rounds;
        hi = 16;
      } else if (key.str() == "http_min_escape_depth") {
        target = &s.http_min_escape_depth;
      } else if (key.str() == "file_min_escape_depth") {
        target = &s.file_min_escape_depth;
      } else {
        err = error(line_of(node), "", "unknown key traversal." + std::string(key.str()));
        return false;
      }
      const auto v = node.value<std::int64_t>();
      if (!v || *v < lo || *v > hi) {
        err = error(line_of(node), "",
                    "traversal." + std::string(key.str()) + " must be an integer in [" +
                        std::to_string(lo) + ", " + std::to_string(hi) + "]");
        return false;
      }
      *target = static_cast<int>(*v);
    }
    return true;
  }

  bool parse_rule(const toml::table& t, Rule& rule, LoadError& err) const {
    rule.line = line_of(t);
    const auto id = t["id"].value<std::string>();
    if (!id) {
      err = error(rule.line, "", "rule without a string 'id'");
      return false;
    }
    rule.id = *id;
    if (!valid_rule_id(rule.id)) {
      err = error(rule.line, rule.id, "rule id must be 1-64 characters of [A-Za-z0-9._-]");
      return false;
    }
    bool has_field = false;
    for (const auto& [key, node] : t) {
      const std::string_view k = key.str();
      if (k == "id") continue;
      if (k == "severity") {
        const auto s = node.value<std::string>();
        const auto sev = s ? parse_severity(*s) : std::nullopt;
        if (!sev) {
          err = error(line_of(node), rule.id, "severity must be low, medium, high or critical");
          return false;
        }
        rule.severity = *sev;
      } else if (k == "description") {
        const auto s = node.value<std::string>();
        if (!s || s->empty()) {
          err = error(line_of(node), rule.id, "description must be a non-empty string");
          return false;
        }
        rule.description = *s;
      } else if (k == "detector") {
        const auto s = node.value<std::string>();
        bool found = false;
        for (std::size_t i = 1; s && i < kDetectorNames.size(); ++i) {
          if (*s == kDetectorNames[i]) {
            rule.detector = static_cast<Detector>(i);
            found = true;
          }
        }
        if (!found) {
          err = error(line_of(node), rule.id,
                      "unknown detector '" + s.value_or("") + "' (see the rules file header)");
          return false;
        }
      } else if (k == "field") {
        const auto s = node.value<std::string>();
        bool found = false;
        for (std::size_t i = 0; s && i < kFieldNames.size(); ++i) {
          if (*s == kFieldNames[i]) {
            rule.field = static_cast<FieldKind>(i);
            found = true;
          }
        }
        if (!found) {
          err = error(line_of(node), rule.id, "unknown field '" + s.value_or("") + "'");
          return false;
        }
        has_field = true;
      } else if (k == "patterns") {
        if (!string_array(node, "patterns", rule.id, rule.patterns, err)) return false;
        for (const std::string& p : rule.patterns) {
          if (p.empty()) {
            err = error(line_of(node), rule.id, "empty pattern");
            return false;
          }
        }
      } else if (k == "caseless") {
        const auto b = node.value<bool>();
        if (!b) {
          err = error(line_of(node), rule.id, "caseless must be true or false");
          return false;
        }
        rule.caseless = *b;
      } else {
        err = error(line_of(node), rule.id, "unknown key '" + std::string(k) + "'");
        return false;
      }
    }
    if (!t.contains("severity") || rule.description.empty()) {
      err = error(rule.line, rule.id, "every rule needs a severity and a description");
      return false;
    }
    const bool is_code = rule.detector != Detector::none;
    if (is_code == !rule.patterns.empty() || (is_code && has_field) ||
        (!is_code && !has_field)) {
      err = error(rule.line, rule.id,
                  "a rule has either 'detector' or both 'field' and 'patterns'");
      return false;
    }
    return true;
  }

  Expected<RuleSet, LoadError> parse(std::string_view text) const {
    toml::table root;
    try {
      root = toml::parse(text, origin_);
    } catch (const toml::parse_error& e) {
      return unexpected(error(static_cast<int>(e.source().begin.line), "",
                              std::string("TOML syntax: ") + std::string(e.description())));
    }
    RuleSet set;
    set.origin = origin_;
    LoadError err;
    std::set<std::string, std::less<>> ids;
    std::array<bool, kDetectorCount> detector_seen{};
    for (const auto& [key, node] : root) {
      const std::string_view k = key.str();
      if (k == "schema_version") {
        if (node.value<std::int64_t>() != 1) {
          return unexpected(error(line_of(node), "", "schema_version must be 1"));
        }
      } else if (k == "lists") {
        if (!node.is_table()) return unexpected(error(line_of(node), "", "lists must be a table"));
        if (!parse_lists(*node.as_table(), set.lists, err)) return unexpected(err);
      } else if (k == "traversal") {
        if (!node.is_table()) {
          return unexpected(error(line_of(node), "", "traversal must be a table"));
        }
        if (!parse_traversal(*node.as_table(), set.traversal, err)) return unexpected(err);
      } else if (k == "rule") {
        const toml::array* arr = node.as_array();
        if (arr == nullptr || !arr->is_array_of_tables()) {
          return unexpected(error(line_of(node), "", "rules are written as [[rule]] tables"));
        }
        for (const toml::node& el : *arr) {
          Rule rule;
          if (!parse_rule(*el.as_table(), rule, err)) return unexpected(err);
          if (!ids.insert(rule.id).second) {
            return unexpected(error(rule.line, rule.id, "duplicate rule id"));
          }
          if (rule.detector != Detector::none) {
            auto& seen = detector_seen[static_cast<std::size_t>(rule.detector)];
            if (seen) {
              return unexpected(error(rule.line, rule.id,
                                      "detector '" + std::string(to_string(rule.detector)) +
                                          "' is already used by another rule"));
            }
            seen = true;
          }
          set.rules.push_back(std::move(rule));
        }
      } else {
        return unexpected(error(line_of(node), "", "unknown top-level key '" + std::string(k) + "'"));
      }
    }
    if (!root.contains("schema_version")) {
      return unexpected(error(1, "", "missing schema_version = 1"));
    }
    return set;
  }

 private:
  std::string origin_;
};

}  // namespace

std::string_view to_string(Severity s) {
  switch (s) {
    case Severity::low:
      return "low";
    case Severity::medium:
      return "medium";
    case Severity::high:
      return "high";
    case Severity::critical:
      return "critical";
  }
  return "unknown";
}

std::optional<Severity> parse_severity(std::string_view s) {
  if (s == "low") return Severity::low;
  if (s == "medium") return Severity::medium;
  if (s == "high") return Severity::high;
  if (s == "critical") return Severity::critical;
  return std::nullopt;
}

std::string_view to_string(FieldKind k) { return kFieldNames[static_cast<std::size_t>(k)]; }
std::string_view to_string(Detector d) { return kDetectorNames[static_cast<std::size_t>(d)]; }

std::string LoadError::to_string() const {
  std::ostringstream o;
  o << origin;
  if (line > 0) o << ':' << line;
  o << ": ";
  if (!rule_id.empty()) o << "rule " << rule_id << ": ";
  o << message;
  return o.str();
}

Expected<RuleSet, LoadError> parse_rules(std::string_view toml_text, std::string_view origin) {
  return Parser(origin).parse(toml_text);
}

bool name_in_list(std::string_view name, const std::vector<std::string>& list) {
  for (const std::string& e : list) {
    if (!e.empty() && e.back() == '*') {
      const std::string_view prefix(e.data(), e.size() - 1);
      if (name.substr(0, prefix.size()) == prefix) return true;
    } else if (name == e) {
      return true;
    }
  }
  return false;
}

bool path_in_list(std::string_view path, const std::vector<std::string>& list) {
  for (const std::string& e : list) {
    if (e.size() > 1 && e.front() == '*') {
      const std::string_view suffix(e.data() + 1, e.size() - 1);
      if (path.size() >= suffix.size() && path.substr(path.size() - suffix.size()) == suffix) return true;
    }
  }
  return name_in_list(path, list);
}

}  // namespace ringward::detect
