// Detection engine: the rules file compiled once into one vectorscan database per field kind,
// plus the code detectors (path resolution, SQL fingerprinting, command and privilege checks).
// Runs inside the sandboxed processor on attacker-controlled event fields: every input is capped,
// scratch space and buffers are allocated at load and reused, and scan failures are counted,
// never thrown. An Engine is not thread-safe: inspect() mutates the shared scratch and the
// per-thread credential memory (privesc_unobserved_root, which needs the event stream in
// order), so use one Engine per event stream.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string_view>
#include <vector>

#include "event.capnp.h"
#include "processor/detect/expected.h"
#include "processor/detect/finding.h"
#include "processor/detect/rules.h"

namespace ringward::detect {

// Exec-event fields the command detectors look at.
struct CommandInput {
  std::string_view filename;      // executable path as the kernel saw it
  std::string_view argv0;         // argv[0] as given by the caller (may lie)
  std::string_view command_line;  // argv joined by single spaces
  std::string_view comm;          // process name after exec (kernel comm, <= 15 bytes)
  std::string_view parent_comm;   // parent's comm, empty when unknown
};

// privilegeChange-event fields.
struct PrivilegeInput {
  std::string_view syscall;
  std::uint32_t old_uid = 0, new_uid = 0, old_euid = 0, new_euid = 0;
  std::uint32_t old_gid = 0, new_gid = 0, old_egid = 0, new_egid = 0;
  std::uint64_t old_caps = 0, new_caps = 0;
  std::int32_t result = 0;
  std::string_view filename;  // set-uid binary for syscall "exec"
  std::string_view comm;
};

struct EngineStats {
  std::uint64_t events_inspected = 0;
  std::uint64_t values_inspected = 0;  // strings run through a detector
  std::uint64_t inputs_truncated = 0;  // inputs longer than their cap (analysed in part)
  std::uint64_t scan_errors = 0;       // vectorscan returned an error (input not fully scanned)
};

// Input caps. Larger inputs are analysed up to the cap and counted in inputs_truncated.
inline constexpr std::size_t kMaxTargetBytes = 8192;
inline constexpr std::size_t kMaxPathBytes = 4096;
inline constexpr std::size_t kMaxBodyBytes = 65536;
inline constexpr std::size_t kMaxCommandBytes = 32768;
inline constexpr std::size_t kMaxParameters = 64;

class Engine {
 public:
  // Parses and compiles a rules file. `origin` names it in errors ("/etc/ringward/rules.toml").
  static Expected<Engine, LoadError> load(std::string_view rules_toml, std::string_view origin);
  // The rules file built into the binary (processor/rules/default_rules.toml).
  static Expected<Engine, LoadError> load_default();
  static std::string_view default_rules_text();

  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) noexcept;
  ~Engine();

  // Dispatches by event kind; appends findings (each rule id at most once per call).
  void inspect(schema::Event::Reader event, std::vector<Finding>& out) const;

  // Per-kind entry points; the same code inspect() and classify use.
  void inspect_file_path(std::string_view path, std::vector<Finding>& out) const;
  void inspect_http(std::string_view target, std::string_view request,
                    std::vector<Finding>& out) const;
  void inspect_http_target(std::string_view target, std::vector<Finding>& out) const;
  void inspect_http_body(std::string_view body, std::vector<Finding>& out) const;
  // A raw (still URL-encoded) parameter value, decoded with form rules before lexing.
  void inspect_sql_parameter(std::string_view raw_value, std::vector<Finding>& out) const;
  // An already decoded value.
  void inspect_sql_value(std::string_view value, std::vector<Finding>& out) const;
  void inspect_command(const CommandInput& cmd, std::vector<Finding>& out) const;
  void inspect_privilege(const PrivilegeInput& priv, std::vector<Finding>& out) const;

  // An event of the stream went uninspected (invalid, malformed, enrichment bypassed): the
  // per-thread credential memory can no longer tell a reported change from a missing one.
  void forget_thread_credentials();

  const RuleSet& rules() const;
  EngineStats stats() const;

 private:
  struct Impl;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Offline mode for rule authors: reads one string per line, prints "1<TAB>id,id" or "0" per
// line. kind is "sqli" (a query parameter value, URL-encoded or not), "traversal" (an HTTP target
// or path) or "command" (a command line). Returns 0, or 2 for an unknown kind (nothing printed).
int run_classify(const Engine& engine, std::string_view kind, std::istream& in, std::ostream& out);

}  // namespace ringward::detect
