// ringward-processor: reads attacker-influenced events from the raw ring, validates and enriches
// them, applies the overload policies, and forwards them to the out ring. It runs unprivileged,
// without network, under a seccomp allowlist installed before the first event is read.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string_view>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "common/child_main.h"
#include "common/config.h"
#include "common/log.h"
#include "common/process_args.h"
#include "common/shm.h"
#include "common/stats.h"
#include "processor/detect/engine.h"
#include "processor/pipeline.h"

namespace {

int run(const ringward::ChildArgs& args, const ringward::Config& cfg) {
  using namespace ringward;

  auto in_seg = ShmSegment::open(raw_ring_name(args.shm_prefix));
  auto out_seg = ShmSegment::open(out_ring_name(args.shm_prefix));
  auto stats_seg = ShmSegment::open(stats_page_name(args.shm_prefix, "processor"));
  RingReader in(in_seg.data(), in_seg.size());
  RingWriter out(out_seg.data(), out_seg.size());
  StatsWriter stats(stats_seg.data(), stats_seg.size());
  SystemClock clock;
  processor::Pipeline pipeline(cfg.processor, in, out, stats, clock);
  // Everything that needs a file or a privilege is done above; from here on the sandbox holds.
  if (auto err = pipeline.enter_sandbox(); !err.empty()) {
    spdlog::error("sandbox: {}", err);
    return 4;
  }
  stats.set_ready();
  int ready_fd = args.ready_fd;
  notify_ready(ready_fd);
  pipeline.run([] { return stop_requested(); });
  return 0;
}

}  // namespace

// `ringward-processor classify --kind sqli|traversal|command [--rules FILE]`: one string per line
// on stdin, `1<TAB>rule ids` or `0` per line on stdout, using exactly the pipeline's detection code.
// For rule authors and evaluations; runs without the sandbox and without a supervisor.
int classify_main(int argc, char** argv) {
  std::string kind, rules_file;
  CLI::App app{"ringward-processor classify: run the detection engine over stdin, one string a line"};
  app.add_option("--kind", kind, "sqli | traversal | command")
      ->required()
      ->check(CLI::IsMember({"sqli", "traversal", "command"}));
  app.add_option("--rules", rules_file, "rules file (default: the embedded rules)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto engine = [&]() -> ringward::detect::Expected<ringward::detect::Engine, ringward::detect::LoadError> {
    if (rules_file.empty()) return ringward::detect::Engine::load_default();
    std::ifstream in(rules_file);
    if (!in) {
      return ringward::detect::unexpected(
          ringward::detect::LoadError{rules_file, 0, "", "cannot read the file"});
    }
    std::stringstream ss;
    ss << in.rdbuf();
    return ringward::detect::Engine::load(ss.str(), rules_file);
  }();
  if (!engine) {
    std::cerr << "ringward-processor classify: " << engine.error().to_string() << "\n";
    return 2;
  }
  std::ios::sync_with_stdio(false);
  return ringward::detect::run_classify(*engine, kind, std::cin, std::cout);
}

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "classify") return classify_main(argc - 1, argv + 1);
  return ringward::run_child(argc, argv, "processor",
                             "ringward-processor: validates, inspects and forwards events (started "
                             "by the supervisor; `classify --help` for the offline mode)",
                             run);
}
