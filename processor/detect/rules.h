// The detection rules file model and its parser. The file is TOML (documented in
// processor/rules/default_rules.toml); it is operator-supplied, so it is trusted not to be
// malicious but is expected to contain mistakes: every mistake comes back as a LoadError naming
// the file, the line, the rule id and what is wrong. Nothing here runs per event.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "processor/detect/expected.h"
#include "processor/detect/finding.h"

namespace ringward::detect {

// What a pattern rule is matched against. One vectorscan database is compiled per kind.
enum class FieldKind : std::uint8_t {
  path,             // file paths of file-open events (raw and decoded forms)
  http_target,      // HTTP request targets (raw and decoded forms)
  http_body,        // HTTP request bodies (the captured bytes after the headers)
  command,          // exec command lines (argv joined by spaces) and decoded payloads in them
  exec_path,        // the executable path of exec events
  sql_fingerprint,  // token fingerprints produced by the SQL lexer ("q:s&1o1c")
};
inline constexpr std::size_t kFieldKindCount = 6;
std::string_view to_string(FieldKind k);

// Detection done in code because a regular expression is the wrong tool (path resolution,
// decoding, event fields). Each is enabled by one rule naming it.
enum class Detector : std::uint8_t {
  none,
  traversal_escape,           // ".." climbs above the path's root
  traversal_disguised,        // ... and decoding was needed to see it
  traversal_sensitive,        // ... and it lands on a sensitive target
  encoded_command,            // a base64 blob in a command line decodes to a matching command
  web_server_interpreter,     // a shell/interpreter whose parent is a web server
  masquerade_bracket_name,    // userspace exec named like a kernel thread "[kworker/0:1]"
  masquerade_daemon_name,     // system daemon name run from a world-writable directory
  masquerade_argv0_mismatch,  // argv[0] claims a daemon name the executable does not have
  privesc_uid_zero,           // non-root gains uid/euid 0 outside the set-uid allowlist
  privesc_capabilities,       // non-root gains capabilities outside the allowlist
  credential_access,          // a credential file opened by a process not in the readers list
  privesc_unobserved_root,    // a thread seen as non-root is root with no privilege change seen
  privesc_gid_zero,           // a process with no root id gains gid/egid 0 outside the allowlist
};
inline constexpr std::size_t kDetectorCount = 14;
std::string_view to_string(Detector d);

struct Rule {
  std::string id;
  Severity severity = Severity::low;
  std::string description;
  Detector detector = Detector::none;  // code rule, or
  FieldKind field = FieldKind::command;  // pattern rule field
  std::vector<std::string> patterns;
  bool caseless = true;
  int line = 0;  // where the rule starts in its file
};

// Name lists. Entries ending in '*' match by prefix; all comparisons are exact bytes otherwise.
struct Lists {
  std::vector<std::string> setuid_helpers;
  std::vector<std::string> trusted_exec_dirs;
  std::vector<std::string> writable_dirs;
  std::vector<std::string> web_servers;
  std::vector<std::string> interpreters;
  std::vector<std::string> system_daemon_names;
  std::vector<std::string> sensitive_targets;
  // Absolute paths of credential files ('*' at the end: prefix, at the start: suffix) and the
  // process names (comm) that may open them.
  std::vector<std::string> credential_files;
  std::vector<std::string> credential_readers;
};

struct TraversalSettings {
  int max_decode_rounds = 4;
  int http_min_escape_depth = 1;
  int file_min_escape_depth = 2;
};

struct RuleSet {
  std::string origin;
  std::vector<Rule> rules;
  Lists lists;
  TraversalSettings traversal;
};

struct LoadError {
  std::string origin;   // file name or "<embedded>"
  int line = 0;         // 0 when unknown
  std::string rule_id;  // empty when not about one rule
  std::string message;
  std::string to_string() const;
};

Expected<RuleSet, LoadError> parse_rules(std::string_view toml_text, std::string_view origin);

// True if `name` matches one entry of `list` (exact, or prefix for entries ending in '*').
bool name_in_list(std::string_view name, const std::vector<std::string>& list);
// Like name_in_list, and an entry starting with '*' matches by suffix ("*/.ssh/id_rsa").
bool path_in_list(std::string_view path, const std::vector<std::string>& list);

}  // namespace ringward::detect
