// ringward-supervisor: runs the pipeline in the foreground (under systemd or by hand).
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "common/config.h"
#include "common/log.h"
#include "supervisor/supervisor.h"

int main(int argc, char** argv) {
  std::string config_path;
  std::string libexec_dir;
  bool check_only = false;
  CLI::App app{"ringward-supervisor: creates the rings and runs capture, processor and shipper"};
  app.add_option("--config,-c", config_path, "configuration file (default: the embedded default)");
  app.add_option("--libexec-dir", libexec_dir,
                 "directory holding ringward-capture/-processor/-shipper (default: "
                 "$RINGWARD_LIBEXEC_DIR, then " RINGWARD_LIBEXEC_DIR ")");
  app.add_flag("--check-config", check_only, "validate the configuration and exit");
  app.set_version_flag("--version", RINGWARD_VERSION);
  CLI11_PARSE(app, argc, argv);

  auto loaded = ringward::load_config(config_path);
  if (!loaded.config) {
    std::cerr << "ringward-supervisor: invalid configuration: " << loaded.error << "\n";
    return 2;
  }
  if (check_only) {
    std::cout << "configuration OK: " << loaded.config->origin << "\n";
    return 0;
  }
  ringward::init_logging("ringward-supervisor", loaded.config->logging.level);
  if (libexec_dir.empty()) {
    if (const char* env = std::getenv("RINGWARD_LIBEXEC_DIR")) libexec_dir = env;
  }
  if (libexec_dir.empty()) libexec_dir = loaded.config->supervisor.libexec_dir;
  if (libexec_dir.empty()) libexec_dir = RINGWARD_LIBEXEC_DIR;
  for (const char* child : {"capture", "processor", "shipper"}) {
    std::string exe = libexec_dir + "/ringward-" + child;
    if (access(exe.c_str(), X_OK) != 0) {
      spdlog::error("cannot execute {} (set --libexec-dir or RINGWARD_LIBEXEC_DIR)", exe);
      return 2;
    }
  }
  try {
    ringward::supervisor::Supervisor sup(*loaded.config, config_path, libexec_dir);
    return sup.run();
  } catch (const std::exception& e) {
    spdlog::error("fatal: {}", e.what());
    return 1;
  }
}
