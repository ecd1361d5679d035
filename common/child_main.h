// The start-up every child process shares: parse the supervisor's arguments (--config,
// --shm-prefix, --ready-fd), load and validate the configuration (exit 2 with file, line and key),
// set up logging and the stop signals, then run the process body; an exception escaping the body
// is logged and ends the process with status 1 (the supervisor restarts it).
#pragma once

#include <functional>
#include <string_view>

#include "common/config.h"
#include "common/process_args.h"

namespace ringward {

using ChildBody = std::function<int(const ChildArgs& args, const Config& cfg)>;

int run_child(int argc, char** argv, std::string_view process, std::string_view description,
              const ChildBody& body);

}  // namespace ringward
