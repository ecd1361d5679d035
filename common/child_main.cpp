#include "common/child_main.h"

#include <string>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "common/log.h"

namespace ringward {

int run_child(int argc, char** argv, std::string_view process, std::string_view description,
              const ChildBody& body) {
  ChildArgs args;
  CLI::App app{std::string(description)};
  app.add_option("--config", args.config, "configuration file (default: embedded)");
  app.add_option("--shm-prefix", args.shm_prefix, "shared-memory segment prefix")->required();
  app.add_option("--ready-fd", args.ready_fd, "fd to report readiness on");
  CLI11_PARSE(app, argc, argv);
  auto loaded = load_config(args.config);
  if (!loaded.config) {
    spdlog::error("configuration: {}", loaded.error);
    return 2;
  }
  init_logging("ringward-" + std::string(process), loaded.config->logging.level);
  install_stop_signals();
  try {
    return body(args, *loaded.config);
  } catch (const std::exception& e) {
    spdlog::error("fatal: {}", e.what());
    return 1;
  }
}

}  // namespace ringward
