// Offline classification for rule authors (`ringward-processor classify --kind K`): one input
// string per line through exactly the pipeline's detection entry points. Input is untrusted text
// from stdin; no sandbox is required because nothing here touches files or the network.
#include <istream>
#include <ostream>
#include <string>

#include "processor/detect/engine.h"

namespace ringward::detect {
namespace {

enum class ClassifyKind { sqli, traversal, command };

std::string_view basename_of(std::string_view path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

void classify_line(const Engine& engine, ClassifyKind kind, std::string_view line,
                   std::vector<Finding>& findings) {
  switch (kind) {
    case ClassifyKind::sqli:
      engine.inspect_sql_parameter(line, findings);
      break;
    case ClassifyKind::traversal:
      engine.inspect_http_target(line, findings);
      break;
    case ClassifyKind::command: {
      // The line is a command line; its first word plays argv[0] and the executable, and the
      // kernel's comm is its basename cut to 15 bytes, as an exec of that word would produce.
      const std::size_t sp = line.find_first_of(" \t");
      const std::string_view first = line.substr(0, sp);
      CommandInput c;
      c.argv0 = first;
      c.filename = first;
      c.command_line = line;
      c.comm = basename_of(first).substr(0, 15);
      engine.inspect_command(c, findings);
      break;
    }
  }
}

}  // namespace

int run_classify(const Engine& engine, std::string_view kind, std::istream& in,
                 std::ostream& out) {
  ClassifyKind k;
  if (kind == "sqli") {
    k = ClassifyKind::sqli;
  } else if (kind == "traversal") {
    k = ClassifyKind::traversal;
  } else if (kind == "command") {
    k = ClassifyKind::command;
  } else {
    return 2;
  }
  std::string line;
  std::string result;
  std::vector<Finding> findings;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    findings.clear();
    classify_line(engine, k, line, findings);
    result.clear();
    if (findings.empty()) {
      result = "0";
    } else {
      result = "1\t";
      for (std::size_t i = 0; i < findings.size(); ++i) {
        if (i > 0) result.push_back(',');
        result += findings[i].rule_id;
      }
    }
    result.push_back('\n');
    out << result;
  }
  out.flush();
  return 0;
}

}  // namespace ringward::detect
