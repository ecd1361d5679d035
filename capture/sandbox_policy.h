// Capture's privilege drop: once its eBPF programs are loaded and attached, capture keeps only the
// fds and mappings it already holds. It empties every capability set, sets no_new_privs, and
// installs its seccomp allowlist (one table, in sandbox_policy.cpp).
#pragma once

#include <string>

#include "common/sandbox/sandbox.h"

namespace ringward::capture {

sandbox::SyscallPolicy capture_seccomp_policy();
// Applies rlimits -> capability drop -> no_new_privs -> seccomp. "" on success, else the error.
std::string enter_capture_sandbox();

}  // namespace ringward::capture
